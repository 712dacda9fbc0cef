"""Training options, TOML recipes and `--set key=value` overrides.

A recipe (experiments/*.toml) is a diff of the defaults:

    family = "dcgan"
    data = "mnist"
    [train]
    steps = 3000
    [model]
    latent_dim = 100

`--set lr=1e-4` finds `lr` in [train] or [model]; a name in both needs a prefix
(`--set model.lr=1e-4`).
"""
from __future__ import annotations

import dataclasses
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path

from genlab.errors import GenlabError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


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
    sample_every: int = 500
    log_every: int = 50
    grid_size: int = 64  # images in each sample grid
    num_workers: int = 2  # DataLoader workers for streamed data sets
    threads: int = 0  # CPU threads for torch (0 = leave torch's default)

    def validate(self) -> None:
        if self.precision not in PRECISIONS:
            raise GenlabError(f"precision {self.precision!r} is not one of {', '.join(PRECISIONS)}")
        for name in ("steps", "batch_size", "checkpoint_every", "sample_every", "log_every"):
            if getattr(self, name) < 1:
                raise GenlabError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise GenlabError(f"ema_decay must be in [0, 1), got {self.ema_decay}")


@dataclass
class Recipe:
    family: str
    data: str | None = None  # None: the family's default_data
    data_root: str | None = None
    train: TrainConfig = field(default_factory=TrainConfig)
    model: dict = field(default_factory=dict)  # values for the family's Config
    source: str = ""  # the recipe's TOML text, stored in checkpoints


def read_recipe(path: str | Path) -> Recipe:
    path = Path(path)
    if not path.is_file():
        raise GenlabError(f"recipe {path} does not exist")
    text = path.read_text()
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise GenlabError(f"recipe {path} is not valid TOML: {e}") from None
    allowed = {"family", "data", "data_root", "train", "model", "description"}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise GenlabError(f"recipe {path}: unknown key {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
    if "family" not in raw:
        raise GenlabError(f"recipe {path} does not say which family (family = \"...\")")
    train = TrainConfig()
    _apply(train, raw.get("train", {}), f"recipe {path} [train]")
    return Recipe(family=raw["family"], data=raw.get("data"), data_root=raw.get("data_root"),
                  train=train, model=dict(raw.get("model", {})), source=text)


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


def apply_overrides(recipe: Recipe, overrides: list[str], model_config_cls) -> None:
    """Apply `key=value` strings to the recipe's train or model section."""
    train_names = {f.name for f in dataclasses.fields(TrainConfig)}
    model_hints = typing.get_type_hints(model_config_cls)
    for item in overrides:
        if "=" not in item:
            raise GenlabError(f"--set {item!r} is not key=value")
        key, text = (s.strip() for s in item.split("=", 1))
        value = parse_value(text)
        section, _, name = key.rpartition(".")
        in_train, in_model = name in train_names, name in model_hints
        if section == "train" or (not section and in_train and not in_model):
            _apply(recipe.train, {name: value}, "--set train")
        elif section == "model" or (not section and in_model and not in_train):
            if name not in model_hints:
                raise GenlabError(f"--set: {recipe.family} has no model option {name!r}; "
                                  f"options are {', '.join(sorted(model_hints))}")
            recipe.model[name] = _coerce(value, model_hints[name], f"--set model {name}")
        elif in_train and in_model:
            raise GenlabError(f"--set {name} is both a train and a model option; write train.{name} or model.{name}")
        else:
            raise GenlabError(f"--set: unknown option {key!r}; train options: {', '.join(sorted(train_names))}; "
                              f"{recipe.family} options: {', '.join(sorted(model_hints))}")


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
    lines.append("\n[train]")
    lines += [f"{k} = {toml_literal(v)}" for k, v in dataclasses.asdict(recipe.train).items()]
    lines.append("\n[model]")
    lines += [f"{k} = {toml_literal(v)}" for k, v in recipe.model.items() if v is not None]
    return "\n".join(lines) + "\n"
