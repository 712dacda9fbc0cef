"""Which checkpoints the app can show, and a read-only cache of loaded models.

The catalogue is re-scanned from disk on every call (a glob over two folders),
so a run finished in the Train tab, or a checkpoint shipped while the app is
up, appears without a restart. Loaded models live in one process-wide cache
keyed by (file, modification time, size): models are only ever used under
`torch.inference_mode()` in eval mode, so sessions can share them safely; a
run that is overwritten gets a new key and is loaded afresh.
"""
from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from genlab.errors import CheckpointError, GenlabError
from genlab.model import GenerativeModel
from genlab.paths import CHECKPOINT_DIR
from genlab.registry import load
from genlab.checkpoint import RUNS_DIR
from genlab.checkpoint import CHECKPOINT_NAME, trained_steps

RUN_PREFIX = "run:"


@dataclass(frozen=True)
class Entry:
    key: str  # what pickers and the API use: "dcgan-mnist" or "run:my-run"
    path: Path
    shipped: bool


# Room for every shipped checkpoint (24 at stop 19) and many runs: `loadable()` walks the whole
# catalogue in order, so a cache smaller than the catalogue missed on every file of every walk
# (measured: 336 checkpoint loads, 17 s, to build the app; every picker refresh reloaded them all).
MODEL_CACHE_SIZE = 256


@functools.lru_cache(maxsize=MODEL_CACHE_SIZE)
def _load_cached(path: str, mtime_ns: int, size: int) -> GenerativeModel:
    try:
        model = load(path)
    except GenlabError:
        raise
    except Exception as e:  # a damaged file must not take the app down; say which file
        raise CheckpointError(f"{path} could not be loaded ({type(e).__name__}: {e})") from None
    for p in model.parameters():  # shared between sessions: nobody trains it
        p.requires_grad_(False)
    return model


@functools.lru_cache(maxsize=64)
def _derived_cached(path: str, mtime_ns: int, size: int, fn) -> object:
    return fn(_load_cached(path, mtime_ns, size))


_thread = threading.local()


def use_threads(n: int) -> None:
    """Give the calling thread n intra-op threads. torch.set_num_threads in the main thread does
    not reach threads started later (Gradio's workers, ours): their OpenMP teams keep the default
    size while torch.get_num_threads() still reports n. On a busy 2-core machine that cost 20-60x
    on small models (measured: 0.3 s -> 18 s for the same sample), so every handler calls this."""
    if getattr(_thread, "threads", None) != n:
        torch.set_num_threads(n)
        _thread.threads = n


class Catalog:
    def __init__(self, checkpoint_dir: str | Path = CHECKPOINT_DIR, runs_dir: str | Path = RUNS_DIR,
                 threads: int | None = None):
        self.checkpoint_dir, self.runs_dir = Path(checkpoint_dir), Path(runs_dir)
        self.threads = threads or torch.get_num_threads()  # as set by launch_ui.py --threads

    def entries(self) -> list[Entry]:
        shipped = [Entry(p.stem, p, True) for p in sorted(self.checkpoint_dir.glob("*.pt"))]
        runs = sorted(self.runs_dir.glob(f"*/{CHECKPOINT_NAME}"), key=lambda p: p.parent.name)
        return shipped + [Entry(RUN_PREFIX + p.parent.name, p, False) for p in runs]

    def entry(self, key: str) -> Entry:
        for e in self.entries():
            if e.key == key:
                return e
        known = ", ".join(e.key for e in self.entries()) or "none yet"
        raise GenlabError(f"no checkpoint named {key!r}; available: {known}")

    @staticmethod
    def _file_key(path: Path) -> tuple[str, int, int]:
        st = path.stat()
        return str(path.resolve()), st.st_mtime_ns, st.st_size

    def model(self, key: str, need: str | None = None) -> GenerativeModel:
        """The loaded model for a catalogue key; `need` names a capability it must have."""
        use_threads(self.threads)  # every handler comes through here, on a Gradio worker thread
        if not key:
            raise GenlabError("pick a model first")
        entry = self.entry(key)
        model = _load_cached(*self._file_key(entry.path))
        if need is not None and need not in model.capabilities:
            having = [e.key for e, m in self.loadable() if need in m.capabilities]
            raise GenlabError(f"{key} is a {model.family} model, which has no '{need}' capability; "
                              f"models that have it: {', '.join(having) or 'none yet'}")
        return model

    def derived(self, key: str, fn):
        """`fn(model)`, computed once per checkpoint file; `fn` must be a module-level function
        (it is part of the cache key), e.g. principal directions or the typical |z|."""
        return _derived_cached(*self._file_key(self.entry(key).path), fn)

    def loadable(self) -> list[tuple[Entry, GenerativeModel]]:
        """Every catalogue entry that loads; unreadable files are skipped here (the Models tab names them)."""
        out = []
        for e in self.entries():
            try:
                out.append((e, _load_cached(*self._file_key(e.path))))
            except (GenlabError, OSError):
                continue
        return out

    def choices(self, capability: str | Callable[[GenerativeModel], bool] | None = None) -> list[tuple[str, str]]:
        """(label, key) pairs for a dropdown: models with `capability` (a name, or a test on the model)."""
        return [(label(e, m), e.key) for e, m in self.loadable() if matches(m, capability)]


def matches(model: GenerativeModel, capability) -> bool:
    if capability is None:
        return True
    if callable(capability):
        return bool(capability(model))
    return capability in model.capabilities


def label(entry: Entry, model: GenerativeModel) -> str:
    """'dcgan-mnist · 3,000 steps': the family only where the name does not already say it (long
    names such as alias_free_baseline-mnist were cut off in the pickers)."""
    step = trained_steps(model.checkpoint) if isinstance(model.checkpoint.get("step"), int) else None
    where = "" if entry.shipped else " (your run)"
    family = "" if model.family in entry.key else f" · {model.family}"
    return f"{entry.key}{where}{family} · {f'{step:,}' if isinstance(step, int) else '?'} steps"


def seeded(seed: int | float | None) -> torch.Generator:
    """The app's seed boxes: empty means 0, anything else follows genlab's one rule (an integer in
    [0, 2**63 - 1], refused by name otherwise: the same seed gives the same samples as the CLI)."""
    from genlab.model import seeded as checked

    return checked(0 if seed is None else seed)
