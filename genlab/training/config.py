"""Training options, TOML recipes and `--set key=value` overrides.

A recipe (experiments/*.toml) is a diff of the defaults:

    family = "dcgan"
    data = "mnist"
    [train]
    steps = 3000
    [model]
    latent_dim = 100
    [optim]
    lr_g = 1e-4
    [schedule]
    kind = "cosine"

[model] builds the network (a resumed run cannot change it); [train], [optim]
(the family's optimiser settings) and [schedule] (learning-rate schedules,
see schedules.py) say how it is trained, and a resume may change them.

`--set lr_g=1e-4` finds `lr_g` in [train], [model] or [optim]; a name in more
than one needs a prefix (`--set model.width=32`); schedules always take one
(`--set schedule.kind=cosine`, `--set schedule.generator.warmup_steps=100`).
"""
from __future__ import annotations

import dataclasses
import math
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path

from genlab.errors import GenlabError
from genlab.model import seeded

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass
class TrainConfig:
    steps: int = 1000
    batch_size: int = 64
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    precision: str = "auto"  # auto (bf16 on CUDA, fp32 elsewhere) | fp32 | bf16 | fp16
    ema_decay: float = 0.0  # 0 = no EMA; else e.g. 0.999 for the model's ema_modules
    grad_clip: float = 0.0  # max global grad norm per phase; 0 = off
    compile: bool = False  # torch.compile the model
    checkpoint_every: int = 500
    keep_every: int = 0  # also keep the checkpoint every this many steps as step_0009000.pt beside latest.pt
                         # (to score a run along the way; each copy is a full checkpoint); 0 = none
    sample_every: int = 500
    log_every: int = 50
    grid_size: int = 64  # images in each sample grid
    num_workers: int = 2  # DataLoader workers for streamed data sets
    threads: int = 0  # CPU threads for torch (0 = leave torch's default)
    # Data augmentation of training images (genlab/data/augment.py), before dynamic binarisation;
    # evaluation never sees it. 0 = off.
    augment_shift: float = 0.0  # max translation, pixels each way (sub-pixel)
    augment_rotate: float = 0.0  # max rotation, degrees each way
    augment_elastic: float = 0.0  # elastic distortion's alpha in pixels (Simard et al. 2003; sigma 4 px)
    # Warm start: a checkpoint (a shipped name, a .pt file or a run folder) whose weights and EMA this
    # run starts from: fine-tuning on new pictures, or taking a shipped model further. The network
    # config is the checkpoint's; optimisers, step count, schedules and data order start afresh.
    # "" = random initial weights. A --resume of the run continues from its own checkpoint instead.
    init_from: str = ""

    def validate(self) -> None:
        if self.precision not in PRECISIONS:
            raise GenlabError(f"precision {self.precision!r} is not one of {', '.join(PRECISIONS)}")
        for name in ("steps", "batch_size", "checkpoint_every", "sample_every", "log_every", "grid_size"):
            if getattr(self, name) < 1:
                raise GenlabError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("threads", "num_workers", "keep_every"):
            if getattr(self, name) < 0:
                raise GenlabError(f"{name} must be 0 or more, got {getattr(self, name)}")
        try:
            seeded(self.seed)
        except ValueError as e:
            raise GenlabError(str(e)) from None
        if not 0.0 <= self.ema_decay < 1.0:
            raise GenlabError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        for name in ("augment_shift", "augment_rotate", "augment_elastic"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise GenlabError(f"{name} must be a finite number >= 0 (0 = off), got {value}")
        if self.augment_rotate > 180:
            raise GenlabError(f"augment_rotate is in degrees each way, at most 180, got {self.augment_rotate}")
        if not (math.isfinite(self.grad_clip) and self.grad_clip >= 0):
            raise GenlabError(f"grad_clip must be a finite number >= 0 (0 = off), got {self.grad_clip}")
        device = self.device.split(":")[0]
        if device not in DEVICES or (":" in self.device and not self.device.split(":", 1)[1].isdigit()):
            raise GenlabError(f"device {self.device!r} is not one of auto, cpu, cuda, cuda:N, mps")


@dataclass
class Recipe:
    family: str
    data: str | None = None  # None: the family's default_data
    data_root: str | None = None
    image_size: int | None = None  # None: the data set's own size; folder:/torchvision sets resize to it
    train: TrainConfig = field(default_factory=TrainConfig)
    model: dict = field(default_factory=dict)  # values for the family's Config
    optim: dict = field(default_factory=dict)  # values for the family's Optim (learning rates, betas)
    schedule: dict = field(default_factory=dict)  # the [schedule] table (see schedules.py)
    source: str = ""  # the recipe's TOML text, stored in checkpoints


def parse_recipe(text: str, where: str) -> Recipe:
    """A recipe from TOML text (a file's, or the one stored in a checkpoint)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise GenlabError(f"{where} is not valid TOML: {e}") from None
    allowed = {"family", "data", "data_root", "image_size", "train", "model", "optim", "schedule", "description"}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise GenlabError(f"{where}: unknown key {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
    if "family" not in raw:
        raise GenlabError(f"{where} does not say which family (family = \"...\")")
    train = TrainConfig()
    _apply(train, raw.get("train", {}), f"{where} [train]")
    return Recipe(family=raw["family"], data=raw.get("data"), data_root=raw.get("data_root"),
                  image_size=check_image_size(raw.get("image_size"), f"{where}: image_size"), train=train,
                  model=dict(raw.get("model", {})), optim=dict(raw.get("optim", {})),
                  schedule=dict(raw.get("schedule", {})), source=text)


MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 8, 1024


def check_image_size(value, where: str) -> int | None:
    """None, or a whole number of pixels in [8, 1024]; anything else is refused in one line."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_IMAGE_SIZE <= value <= MAX_IMAGE_SIZE:
        raise GenlabError(f"{where} must be a whole number of pixels from {MIN_IMAGE_SIZE} to {MAX_IMAGE_SIZE} "
                          f"(the side of the square images), got {value!r}")
    return value


def read_recipe(path: str | Path) -> Recipe:
    path = Path(path)
    if not path.is_file():
        raise GenlabError(f"recipe {path} does not exist")
    return parse_recipe(path.read_text(), f"recipe {path}")


def parse_value(text: str):
    """A TOML literal ('1e-4', 'true', '[0.5, 0.999]', '"adam"') or, failing that, the bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _coerce(value, hint, where: str):
    origin = typing.get_origin(hint) or hint
    if origin is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if origin is tuple and isinstance(value, list):
        return tuple(value)
    if origin in (int, float, str, bool) and not isinstance(value, origin):
        raise GenlabError(f"{where} must be {origin.__name__}, got {value!r}")
    return value


def _apply(obj, values: dict, where: str) -> None:
    hints = typing.get_type_hints(type(obj))
    names = {f.name for f in dataclasses.fields(obj)}
    for k, v in values.items():
        if k not in names:
            raise GenlabError(f"{where}: unknown option {k!r}; options are {', '.join(sorted(names))}")
        setattr(obj, k, _coerce(v, hints[k], f"{where} {k}"))


def move_optimizer_settings(recipe: Recipe, optim_cls) -> None:
    """Recipes and checkpoints written before optimiser settings left the model config kept
    them under [model]: move any such key to [optim]."""
    for name in [f.name for f in dataclasses.fields(optim_cls)]:
        if name in recipe.model:
            recipe.optim.setdefault(name, recipe.model.pop(name))


def check_optim_values(optim) -> None:
    """Learning rates must be finite and positive, betas in [0, 1): one line naming the option."""
    for f in dataclasses.fields(optim):
        v = getattr(optim, f.name)
        if f.name.startswith("lr") and not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise GenlabError(f"[optim] {f.name} must be a finite learning rate > 0, got {v}")
        if f.name.startswith("beta") and not 0.0 <= v < 1.0:
            raise GenlabError(f"[optim] {f.name} must be in [0, 1), got {v}")
        if f.name == "weight_decay" and not (isinstance(v, (int, float)) and 0.0 <= v < 1.0):
            raise GenlabError(f"[optim] weight_decay must be a number in [0, 1), got {v}")


def make_optim(family_cls, values: dict | None = None):
    """A family's Optim (optimiser settings) from the recipe's [optim] values, checked."""
    cls = family_cls.Optim
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values or {}) - names)
    if unknown:
        raise GenlabError(f"{family_cls.family} has no optimiser option {', '.join(unknown)}; "
                          f"options are {', '.join(sorted(names)) or 'none'}")
    optim = cls(**(values or {}))
    check_optim_values(optim)
    return optim


def apply_overrides(recipe: Recipe, overrides: list[str], model_config_cls, optim_cls) -> None:
    """Apply `key=value` strings to the recipe's train, model, optim or schedule section."""
    sections = {"train": {f.name for f in dataclasses.fields(TrainConfig)},
                "model": set(typing.get_type_hints(model_config_cls)),
                "optim": set(typing.get_type_hints(optim_cls))}
    for item in overrides:
        if "=" not in item:
            raise GenlabError(f"--set {item!r} is not key=value")
        key, text = (s.strip() for s in item.split("=", 1))
        value = parse_value(text)
        if key.startswith("schedule."):  # schedule.kind or schedule.PHASE.kind
            *phase, name = key.split(".")[1:]
            table = recipe.schedule.setdefault(phase[0], {}) if phase else recipe.schedule
            table[name] = value
            continue
        section, _, name = key.rpartition(".")
        if section and section not in sections:
            raise GenlabError(f"--set {key}: no section {section!r}; sections are train, model, optim, schedule")
        owners = [section] if section else [s for s, names in sections.items() if name in names]
        if section and name not in sections[section] or not owners:
            raise GenlabError(f"--set: unknown option {key!r}; " + "; ".join(
                f"{s} options: {', '.join(sorted(names)) or 'none'}" for s, names in sections.items()))
        if len(owners) > 1:
            raise GenlabError(f"--set {name} is an option of {' and '.join(owners)}; write "
                              f"{' or '.join(f'{s}.{name}' for s in owners)}")
        owner = owners[0]
        if owner == "train":
            _apply(recipe.train, {name: value}, "--set train")
        else:
            cls = model_config_cls if owner == "model" else optim_cls
            target = recipe.model if owner == "model" else recipe.optim
            target[name] = _coerce(value, typing.get_type_hints(cls)[name], f"--set {owner} {name}")


def toml_literal(v) -> str:
    """A Python value as a TOML literal (the inverse of parse_value)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_literal(x) for x in v) + "]"
    return repr(v)


def recipe_to_toml(recipe: Recipe) -> str:
    """The resolved recipe as TOML (written next to every run's checkpoints)."""
    lines = [f"family = {toml_literal(recipe.family)}", f"data = {toml_literal(recipe.data)}"]
    if recipe.data_root:
        lines.append(f"data_root = {toml_literal(recipe.data_root)}")
    if recipe.image_size:
        lines.append(f"image_size = {recipe.image_size}")
    lines.append("\n[train]")
    lines += [f"{k} = {toml_literal(v)}" for k, v in dataclasses.asdict(recipe.train).items()]
    for section in ("model", "optim"):
        lines.append(f"\n[{section}]")
        lines += [f"{k} = {toml_literal(v)}" for k, v in getattr(recipe, section).items() if v is not None]
    common = {k: v for k, v in recipe.schedule.items() if not isinstance(v, dict)}
    if recipe.schedule:
        lines.append("\n[schedule]")
        lines += [f"{k} = {toml_literal(v)}" for k, v in common.items()]
    for phase, table in recipe.schedule.items():
        if isinstance(table, dict):
            lines.append(f"\n[schedule.{phase}]")
            lines += [f"{k} = {toml_literal(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def recipe_changes(old: Recipe, new: Recipe) -> dict[str, tuple]:
    """{"section.key": (old, new)} for every value that differs (what a resume changed)."""
    def flat(r: Recipe) -> dict:
        out = {"data": r.data, "data_root": r.data_root, "image_size": r.image_size}
        out.update({f"train.{k}": v for k, v in dataclasses.asdict(r.train).items()})
        for section in ("model", "optim"):
            out.update({f"{section}.{k}": v for k, v in getattr(r, section).items()})
        for k, v in r.schedule.items():
            if isinstance(v, dict):
                out.update({f"schedule.{k}.{kk}": vv for kk, vv in v.items()})
            else:
                out[f"schedule.{k}"] = v
        return out

    def plain(v):  # TOML gives lists where --set gives tuples: the same value
        return list(v) if isinstance(v, tuple) else v

    a, b = ({k: plain(v) for k, v in flat(r).items()} for r in (old, new))
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}
