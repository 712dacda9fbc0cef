"""The shipped checkpoints' manifest: their sha256, checked whenever one is loaded.

    python -m genlab manifest           # record the files in checkpoints/ as they are now
    python -m genlab manifest --check   # compare them with the manifest, change nothing

`checkpoints/MANIFEST.json` maps each file name to its sha256 and size.
`python -m genlab.release` updates it when it writes a checkpoint. Any
checkpoint in a folder that holds a MANIFEST.json must be listed there with
its hash, so a damaged, tampered or hand-copied file is refused when loaded;
checkpoints elsewhere (your runs in runs/) have no manifest and load as before.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from genlab.atomic import write_atomically
from genlab.errors import CheckpointError
from genlab.paths import CHECKPOINT_DIR

MANIFEST_NAME = "MANIFEST.json"
FORMAT = "genlab-manifest"

_hash_cache: dict[tuple, str] = {}  # (path, size, mtime) -> sha256: the app loads the same files often


def sha256_of(path: str | os.PathLike) -> str:
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _hash_cache:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _hash_cache[key] = digest.hexdigest()
    return _hash_cache[key]


def read_manifest(folder: str | os.PathLike | None = None) -> dict[str, dict] | None:
    """{file name: {"sha256", "bytes"}} of a folder's manifest, or None when it has none."""
    path = Path(folder or CHECKPOINT_DIR) / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        return dict(data["files"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{path} is not a readable manifest ({type(e).__name__}: {e}); "
                              "rewrite it with `python -m genlab manifest`") from None


def _write(folder: Path, files: dict[str, dict]) -> Path:
    """Write the manifest atomically (a reader never sees half of it)."""
    path = folder / MANIFEST_NAME
    text = json.dumps({"format": FORMAT, "files": dict(sorted(files.items()))}, indent=2) + "\n"
    return write_atomically(path, lambda tmp: tmp.write_text(text))


def _entry(path: Path) -> dict:
    return {"sha256": sha256_of(path), "bytes": path.stat().st_size}


def write_manifest(folder: str | os.PathLike | None = None) -> Path:
    """Record every *.pt in the folder as it is now (entries of vanished files are dropped)."""
    folder = Path(folder or CHECKPOINT_DIR)
    return _write(folder, {p.name: _entry(p) for p in sorted(folder.glob("*.pt"))})


def record(path: str | os.PathLike) -> Path:
    """Add or update one checkpoint's entry in its folder's manifest (what release calls)."""
    path = Path(path)
    files = read_manifest(path.parent) or {}
    files[path.name] = _entry(path)
    return _write(path.parent, files)


def problems(folder: str | os.PathLike | None = None) -> list[str]:
    """What does not match between a folder's *.pt files and its manifest (empty: all good)."""
    folder = Path(folder or CHECKPOINT_DIR)
    files = read_manifest(folder)
    if files is None:
        return [f"{folder / MANIFEST_NAME} does not exist"]
    found = []
    for p in sorted(folder.glob("*.pt")):
        try:
            verify(p)
        except CheckpointError as e:
            found.append(str(e))
    found += [f"{folder / name} is in {MANIFEST_NAME} but missing" for name in sorted(files)
              if not (folder / name).is_file()]
    return found


def verify(path: str | os.PathLike) -> None:
    """Refuse a checkpoint whose folder has a manifest that does not list it with this sha256."""
    path = Path(path)
    files = read_manifest(path.parent)
    if files is None:  # not a shipped folder: nothing to check against
        return
    manifest = path.parent / MANIFEST_NAME
    entry = files.get(path.name)
    if entry is None:
        raise CheckpointError(f"{path} is not listed in {manifest}, so it cannot be verified: ship checkpoints "
                              "with `python -m genlab.release` (which records them), or record the folder as it "
                              "is with `python -m genlab manifest`")
    actual = sha256_of(path)
    if actual != entry.get("sha256"):
        raise CheckpointError(f"{path} does not match {manifest} (sha256 {actual[:12]}..., expected "
                              f"{str(entry.get('sha256'))[:12]}...): the file was changed or damaged after it was "
                              f"released. Restore it (`git checkout -- {path}`) or, if you replaced it on purpose, "
                              "record it with `python -m genlab manifest`")
