"""Write a file atomically: readers and crashes see the old file or the new one, never half.

The one way genlab replaces a file (checkpoints, the manifest, the app's pictures):
the content goes to a temporary file beside the target, which is synced and then
renamed onto it; a failed write leaves the target as it was and no temporary file.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Callable


def write_atomically(path: str | os.PathLike, write: Callable[[Path], object], *, durable: bool = True,
                     keep_extension: bool = False) -> Path:
    """Call `write(tmp)` to fill a temporary file beside `path`, then rename it onto `path`.

    durable: fsync the file before the rename and the folder after it, so the new file
    survives a crash too (not only a reader): what checkpoints and the manifest need.
    keep_extension: name the temporary file `.stem.XXXX.tmp.png` instead of
    `.name.XXXX.tmp`, for writers that choose their format from the extension (PIL).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_temp_file(path, keep_extension)
    try:
        write(tmp)
        if durable:
            _fsync(tmp)
        os.replace(tmp, path)  # atomic on POSIX: the same folder, hence the same file system
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        _fsync(path.parent)  # the rename is only on disk once the folder entry is
    return path


def _new_temp_file(path: Path, keep_extension: bool) -> Path:
    """Create an empty, unused temporary file beside `path` and return its name.

    Created with O_EXCL, so concurrent writers of one target never share a temporary
    file, and with mode 0o666 less the umask, so the renamed file has the permissions
    of any ordinary new file (tempfile.mkstemp would make it 0600)."""
    for _ in range(100):
        token = secrets.token_hex(6)
        name = f".{path.stem}.{token}.tmp{path.suffix}" if keep_extension else f".{path.name}.{token}.tmp"
        tmp = path.with_name(name)
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def _fsync(target: Path) -> None:
    """Flush a file's (or a folder's) data to disk. Folders that cannot be opened or synced
    (some file systems, Windows) are skipped: the rename has happened either way."""
    try:
        fd = os.open(target, os.O_RDONLY)
    except OSError:
        if target.is_dir():
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not target.is_dir():
            raise
    finally:
        os.close(fd)
