"""One self-describing checkpoint file, written atomically, read without running code.

Training writes it and inference (registry, CLI sample/eval, the app) reads it,
so it sits below the registry rather than inside genlab.training.

Layout (a plain dict of tensors and Python literals, so `torch.load(...,
weights_only=True)` can read it and a pickle that carries code is refused):

    format, format_version, genlab_version, family, config, data_spec,
    train_config, recipe, step, model, ema, optimizers, scalers, rng,
    metrics, train_seconds, created, and warm_start where the run began from
    another checkpoint's weights ({"from", "from_step", "steps_before",
    "train_seconds_before", "ema_steps_before"}: what lies behind the weights it
    started from, and where its EMA's warm-up goes on from)
"""
from __future__ import annotations

import errno
import os
import pickle
import shutil
from pathlib import Path

import torch

from genlab.atomic import write_atomically
from genlab.errors import CheckpointError
from genlab.manifest import verify as verify_against_manifest
from genlab.version import __version__

CHECKPOINT_NAME = "latest.pt"  # a run folder's checkpoint
RUNS_DIR = Path("runs")  # where runs go unless told otherwise

ZIP_MAGIC = b"PK\x03\x04"
FORMAT = "genlab-checkpoint"
FORMAT_VERSION = 1
REQUIRED_KEYS = ("family", "config", "data_spec", "step", "model")


def save_checkpoint(state: dict, path: str | os.PathLike) -> Path:
    """Write `state` to `path` atomically (genlab.atomic): a crash at any point leaves either
    the old file or the new one, never a torn file."""
    path = Path(path)
    state = {"format": FORMAT, "format_version": FORMAT_VERSION, "genlab_version": __version__, **state}

    def write(tmp: Path) -> None:
        with tmp.open("wb") as f:  # through a file object: _disk_full knows the errors torch raises then
            torch.save(state, f)

    try:
        write_atomically(path, write)
    except (OSError, RuntimeError) as e:
        if _disk_full(e, path.parent):
            # torch's writer reports ENOSPC as "[enforce fail at inline_container.cc] ... unexpected pos"
            raise OSError(errno.ENOSPC, f"no space left on the device of {path.parent} "
                                        f"({_free_mb(path.parent):.1f} MB free, the checkpoint needs about "
                                        f"{_state_mb(state):.1f} MB); free some space or write elsewhere "
                                        f"with --out") from None
        raise
    return path


def _disk_full(error: BaseException, folder: Path) -> bool:
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(error)
    return "No space left" in text or ("unexpected pos" in text and _free_mb(folder) < 64)


def _free_mb(folder: Path) -> float:
    try:
        return shutil.disk_usage(folder).free / 2**20
    except OSError:
        return float("nan")


def _state_mb(state) -> float:
    """The tensors' bytes in a (nested) checkpoint state, MB: what a write of it needs at least."""
    if isinstance(state, torch.Tensor):
        return state.numel() * state.element_size() / 2**20
    if isinstance(state, dict):
        return sum(_state_mb(v) for v in state.values())
    if isinstance(state, (list, tuple)):
        return sum(_state_mb(v) for v in state)
    return 0.0


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Read a genlab checkpoint; refuse anything else with a message naming the file."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a checkpoint file (a run's checkpoint is {path / CHECKPOINT_NAME})")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with path.open("rb") as f:
            head = f.read(4)
    except OSError as e:
        raise CheckpointError(f"checkpoint {path} cannot be read: {e.strerror or e}") from None
    if head != ZIP_MAGIC:  # torch.save writes a zip archive; anything else is some other file
        raise CheckpointError(f"{path} is not a genlab checkpoint (not a file written by torch.save: "
                              f"{'empty' if not head else 'it starts with ' + repr(head)})")
    verify_against_manifest(path)  # a shipped checkpoint must be the file that was released
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        # weights_only refuses any pickle that names a global outside the allow-list: nothing in
        # the file ran. Torch's own message advises turning that safety off; genlab never does.
        raise CheckpointError(f"{path} is not a genlab checkpoint: it holds Python objects other than "
                              "tensors and plain values (code could hide there), so it was refused unread") from None
    except Exception as e:  # garbage inside a zip reaches torch's reader in many ways (IndexError, ...)
        raise CheckpointError(f"{path} is not a readable checkpoint (truncated or corrupt: {type(e).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a genlab checkpoint (no '{FORMAT}' header)")
    if state.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{path} has format version {state['format_version']}; this genlab reads "
                              f"up to {FORMAT_VERSION}: upgrade genlab")
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise CheckpointError(f"{path} is missing {', '.join(missing)}")
    return state


def trained_steps(state: dict) -> int:
    """Steps of training behind a checkpoint's weights: its run's own `step` and, for a warm
    start, every step behind the checkpoint it began from."""
    return int(state.get("step", 0)) + int((state.get("warm_start") or {}).get("steps_before", 0))


def trained_seconds(state: dict) -> float:
    """Seconds of training behind a checkpoint's weights (the trainer's clock), as trained_steps."""
    return float(state.get("train_seconds", 0.0)) + float((state.get("warm_start") or {}).get("train_seconds_before", 0.0))


def warm_start_record(source: dict, path, same_data: bool) -> dict:
    """What a run that begins from `source`'s weights stores as its `warm_start`.

    `ema_steps_before`: where the EMA's warm-up goes on from. On the data `source` was trained on,
    the loaded average keeps its horizon (restarting the warm-up made it a copy of the live
    weights within a few steps: GRAF's EMA generator scores FID 41.8 where its live one scores
    115, docs/models/graf.md, stop 25). On other data it starts again, so that the samples follow
    the new pictures within a few hundred steps instead of a few thousand."""
    steps = trained_steps(source)
    return {"from": str(path), "from_step": int(source["step"]), "steps_before": steps,
            "train_seconds_before": trained_seconds(source), "ema_steps_before": steps if same_data else 0}


def slim_for_release(state: dict, half: bool = True, drop: tuple[str, ...] = ()) -> dict:
    """Drop optimiser/RNG state and store floating weights in fp16 (for shipped checkpoints).

    `drop`: sub-modules only training uses (the family's `training_only_modules`, e.g. a GAN's
    discriminator): their weights are left out and listed under "dropped_modules", which
    `genlab.registry.model_from_state` accepts as missing."""
    dropped = tuple(f"{m}." for m in drop)

    def shrink(sd: dict) -> dict:
        return {k: (v.half() if half and v.is_floating_point() else v) for k, v in sd.items()
                if not (dropped and k.startswith(dropped))}

    slim = {k: v for k, v in state.items() if k not in ("optimizers", "scalers", "rng", "format", "format_version", "genlab_version")}
    # Inference needs only one copy of the EMA'd sub-modules: fold EMA into the weights.
    model = dict(slim["model"])
    model.update(slim.get("ema") or {})
    slim["model"] = shrink(model)
    slim["ema"] = {}
    slim["released_fp16"] = half
    if drop:
        slim["dropped_modules"] = list(drop)
    return slim
