"""Family name -> model class, and loading ready models from checkpoints.

Adding a family = its file in genlab/models/ plus one import line in
genlab/models/__init__.py. CLI choices, tests and UI tabs read this registry.

The registry sits below the families (each imports `register` from here), so it never
imports them: genlab/__init__.py hands it the import of genlab.models, which it runs
before any lookup. Python runs the package's __init__ before any of its modules, so
the table is full whichever genlab module a program imports first.
"""
from __future__ import annotations

import dataclasses
import os
import typing
from pathlib import Path
from typing import Callable

import torch

from genlab.checkpoint import CHECKPOINT_NAME, load_checkpoint
from genlab.errors import CheckpointError, GenlabError
from genlab.model import DataSpec, GenerativeModel
from genlab.paths import CHECKPOINT_DIR

_FAMILIES: dict[str, type[GenerativeModel]] = {}
_import_families: Callable[[], None] | None = None  # set by genlab/__init__.py


def register(cls: type[GenerativeModel]) -> type[GenerativeModel]:
    if not cls.family:
        raise ValueError(f"{cls.__name__} has no family name")
    _FAMILIES[cls.family] = cls
    return cls


def set_family_importer(import_families: Callable[[], None]) -> None:
    """How to import every family module (each registers itself on import); called before any lookup."""
    global _import_families
    _import_families = import_families


def _ensure_imported() -> None:
    if _import_families is not None:
        _import_families()


def list_families() -> list[str]:
    _ensure_imported()
    return sorted(_FAMILIES)


def get_family(name: str) -> type[GenerativeModel]:
    _ensure_imported()
    if name not in _FAMILIES:
        raise GenlabError(f"unknown model family {name!r}; choose one of {', '.join(sorted(_FAMILIES))}")
    return _FAMILIES[name]


def make_config(family: str, values: dict | None = None):
    """Build a family's Config from a dict, naming any key it does not have.

    Optimiser settings (the family's Optim fields) are skipped: checkpoints written
    before they left the model config still carry them. A family may map renamed options
    (`renamed_options = {"old": "new"}`, declared on the contract): an old key is read as the
    new one, and where both are given the later key in the dict wins (a resume's override comes
    after the stored recipe's value)."""
    family_cls = get_family(family)
    cls = family_cls.Config
    optim_names = {f.name for f in dataclasses.fields(family_cls.Optim)}
    renamed = family_cls.renamed_options
    values = {k: v for k, v in (values or {}).items() if k not in optim_names}
    values = {renamed.get(k, k): v for k, v in values.items()}
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise GenlabError(f"{family} has no config option {', '.join(unknown)}; options are {', '.join(sorted(names))}")
    hints = typing.get_type_hints(cls)
    for k, v in values.items():  # checkpoints and TOML store tuples as lists
        if isinstance(v, list) and "tuple" in str(hints.get(k, "")):
            values[k] = tuple(v)
    return cls(**values)


def parameter_count(family: str, config, data_spec: DataSpec) -> int | None:
    """How many parameters `build` would allocate, counted on PyTorch's meta device (no memory);
    None where a family's constructor needs real tensors (numpy filters, precomputed buffers)."""
    cls = get_family(family)
    try:
        with torch.device("meta"):
            model = cls(config, data_spec)
    except Exception:  # noqa: BLE001 - the real build reports real errors
        return None
    return sum(p.numel() for p in model.parameters())


def check_fits_in_memory(family: str, config, data_spec: DataSpec, device: torch.device,
                         copies: int = 5) -> None:
    """Refuse, in one line, a model whose training state cannot fit: its weights plus gradients,
    two Adam moments and the EMA (`copies` x fp32) against the memory free on `device`."""
    n = parameter_count(family, config, data_spec)
    if n is None:
        return
    if device.type == "cuda":
        free = torch.cuda.mem_get_info(device)[0]
    else:
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return
    need = n * 4 * copies
    if need > free:
        defaults = make_config(family, None)
        changed = [f"{f.name}={getattr(config, f.name)!r}" for f in dataclasses.fields(config)
                   if getattr(config, f.name) != getattr(defaults, f.name)]
        raise GenlabError(f"{family} with {', '.join(changed) or 'its default options'} has {n:,} parameters "
                          f"({n * 4 / 2**30:.1f} GB); training needs about {need / 2**30:.1f} GB with gradients, "
                          f"Adam moments and the EMA, and {device.type} has {free / 2**30:.1f} GB free: "
                          "make those options smaller")


def build(family: str, config=None, data_spec: DataSpec | None = None) -> GenerativeModel:
    cls = get_family(family)
    if config is None or isinstance(config, dict):
        config = make_config(family, config)
    spec = data_spec or DataSpec()
    try:
        return cls(config, spec)
    except ValueError as e:
        raise GenlabError(f"{family}: {e}") from None


def shipped_checkpoints() -> dict[str, Path]:
    """Checkpoints that ship with genlab, by name (file stem)."""
    return {p.stem: p for p in sorted(CHECKPOINT_DIR.glob("*.pt"))}


def resolve_checkpoint(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.is_file():
        return path
    if path.is_dir():  # a run folder: its latest checkpoint
        if (path / CHECKPOINT_NAME).is_file():
            return path / CHECKPOINT_NAME
        raise CheckpointError(f"{path} is a folder with no checkpoint in it (a run folder holds {CHECKPOINT_NAME}); "
                              "give a .pt file, a run folder or a shipped name")
    shipped = shipped_checkpoints()
    if str(name_or_path) in shipped:
        return shipped[str(name_or_path)]
    by_family = [p for stem, p in shipped.items() if stem.split("-")[0] == str(name_or_path)]
    if len(by_family) == 1:
        return by_family[0]
    if path.suffix or "/" in str(name_or_path):
        raise CheckpointError(f"checkpoint {path} does not exist")
    raise GenlabError(f"no checkpoint named {name_or_path!r}; shipped: {', '.join(shipped) or 'none'} "
                      "(or give a path to a .pt file)")


def model_from_state(state: dict, use_ema: bool = True) -> GenerativeModel:
    spec = DataSpec.from_dict(state["data_spec"])
    model = build(state["family"], state["config"], spec)
    model.load_step_state(state.get("step_state") or {})
    weights = dict(state["model"])
    if use_ema:
        weights.update(state.get("ema") or {})
    load_weights(model, weights, state["family"], state.get("dropped_modules") or ())
    return model


def load_weights(model: torch.nn.Module, weights: dict, family: str, dropped_modules=()) -> None:
    """Lay a checkpoint's weights into `model`, cast to its dtypes (a shipped file is fp16). The
    sub-modules in `dropped_modules` may be missing: a shipped file leaves out what only training
    uses (genlab.checkpoint.slim_for_release); anything else that does not fit is a CheckpointError."""
    own = model.state_dict()
    weights = {k: v.to(own[k].dtype) if k in own else v for k, v in weights.items()}
    dropped = tuple(f"{m}." for m in dropped_modules)
    try:
        if not dropped:
            model.load_state_dict(weights)
        else:
            missing, unexpected = model.load_state_dict(weights, strict=False)
            wrong = [k for k in missing if not k.startswith(dropped)] + list(unexpected)
            if wrong:
                raise RuntimeError(f"weights do not fit:\nmissing or unexpected: {', '.join(wrong[:5])}")
    except RuntimeError as e:
        detail = next((line.strip() for line in str(e).splitlines()[1:] if line.strip()), str(e))
        raise CheckpointError(f"weights do not fit a {family} model with this config ({detail})") from None


def load(name_or_path: str | Path, device: str | torch.device = "cpu", use_ema: bool = True) -> GenerativeModel:
    """A ready model (eval mode) from a shipped name ('dcgan') or a checkpoint path.

    `model.checkpoint` keeps the file's metadata (step, metrics, recipe, ...).
    """
    path = resolve_checkpoint(name_or_path)
    state = load_checkpoint(path)
    try:
        model = model_from_state(state, use_ema=use_ema)
    except GenlabError as e:  # unknown family, misfit weights: say which file
        raise CheckpointError(f"{path}: {e}") from None
    model = model.to(device).eval()
    model.checkpoint = {k: v for k, v in state.items() if k not in ("model", "ema", "optimizers", "scalers", "rng")}
    model.checkpoint["path"] = str(path)
    return model
