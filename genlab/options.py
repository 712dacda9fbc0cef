"""Config options: `option(...)` declares a config field's accepted values and `check_config`
refuses a value outside them, naming the option, the value and the range."""
from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import field


def option(default, *, low=None, high=None, choices=None, help: str = "", resumable: bool = False,
           shapes: str = ""):
    """A config field with its accepted values, checked when a model is built:

        width: int = option(64, low=8)
        dropout: float = option(0.5, low=0.0, high=0.99)
        net: str = option("mlp", choices=("mlp", "conv"))
        r1: float = option(10.0, low=0.0, resumable=True)

    Fields declared plainly follow `check_config`'s defaults (ints >= 1, floats finite).
    `resumable` marks a loss weight or a training schedule that shapes no weight tensor: a resumed
    or warm-started run may change it (a [model] value is otherwise fixed for the life of a run).
    `shapes` names the one sub-module whose weights the option shapes, where that is a module only
    training uses (a GAN's discriminator): a warm start from a shipped file that left the module out
    builds it fresh, so it may build it to another shape."""
    return field(default=default, metadata={"low": low, "high": high, "choices": choices, "help": help,
                                            "resumable": resumable, "shapes": shapes})


def resumable_options(config_class) -> set[str]:
    """The [model] options a resumed or warm-started run may change (`option(..., resumable=True)`)."""
    return {f.name for f in dataclasses.fields(config_class) if f.metadata.get("resumable")}


def fresh_module_options(config_class, dropped_modules) -> set[str]:
    """The [model] options a warm start may change because they shape only a module the start file
    left out (`option(..., shapes=...)`; see `genlab.checkpoint.slim_for_release`)."""
    return {f.name for f in dataclasses.fields(config_class) if f.metadata.get("shapes") in set(dropped_modules or ())}


def check_config(family: str, config) -> None:
    """Refuse a config value outside its accepted range, naming the option, the value and the range.

    An int option is a count or a size (>= 1) unless its field says otherwise; a tuple of
    ints is a list of sizes; floats must be finite; `option(...)` metadata narrows any of these."""
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        value, meta, hint = getattr(config, f.name), f.metadata, hints.get(f.name)
        where = f"option {f.name}"
        if meta.get("choices") is not None and value not in meta["choices"]:
            raise ValueError(f"{where} must be one of {', '.join(map(str, meta['choices']))}, got {value!r}")
        numbers = [value] if isinstance(value, (int, float)) and not isinstance(value, bool) else \
            list(value) if isinstance(value, tuple) else []
        is_int = hint is int or "tuple[int" in str(hint)
        low = meta.get("low", None)
        low = 1 if low is None and is_int else low
        for v in numbers:
            if isinstance(v, float) and not math.isfinite(v):
                raise ValueError(f"{where} must be a finite number, got {value!r}")
            if low is not None and v < low:
                raise ValueError(f"{where} must be >= {low}, got {value!r}")
            if meta.get("high") is not None and v > meta["high"]:
                raise ValueError(f"{where} must be <= {meta['high']}, got {value!r}")
