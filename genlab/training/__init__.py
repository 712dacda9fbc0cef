"""Training: `train(...)` for scripts, `Trainer` for finer control."""
from __future__ import annotations

import datetime as _dt
import tomllib
from pathlib import Path

from genlab.registry import get_family
from genlab.training.config import (Recipe, TrainConfig, apply_overrides, check_image_size, move_optimizer_settings,
                                    parse_recipe, read_recipe, toml_literal)
from genlab.checkpoint import CHECKPOINT_NAME, RUNS_DIR
from genlab.training.trainer import Trainer



def make_recipe(family: str | None = None, config: str | Path | None = None, data: str | None = None,
                steps: int | None = None, overrides: list[str] | dict | None = None,
                data_root: str | None = None, base: Recipe | None = None,
                image_size: int | None = None) -> Recipe:
    """A recipe from a TOML file and/or a family name, with overrides applied.

    With `base` (a resumed run's own recipe) the run continues its recipe: a --config
    file's sections and the overrides are laid over it, everything else is kept."""
    from genlab.errors import GenlabError

    if base is not None:
        recipe = parse_recipe(base.source, "the run's recipe") if base.source else base
        if config is not None:
            given = read_recipe(config)
            if given.family != recipe.family:
                raise GenlabError(f"recipe {config} is for {given.family}, not {recipe.family} (the run's family)")
            for k in tomllib.loads(given.source).get("train", {}):  # only what the file sets
                setattr(recipe.train, k, getattr(given.train, k))
            recipe.model.update(given.model)
            recipe.optim.update(given.optim)
            recipe.schedule.update(given.schedule)
        if family is not None and family != recipe.family:
            raise GenlabError(f"the run to resume is a {recipe.family} run, not {family}")
    elif config is not None:
        recipe = read_recipe(config)
        if family is not None and family != recipe.family:
            raise GenlabError(f"recipe {config} is for {recipe.family}, not {family}")
    else:
        if family is None:
            raise GenlabError("say which family to train (or give --config RECIPE.toml)")
        from genlab.recipes import quick_recipe

        quick = quick_recipe(family)  # the family's one-CPU-minute recipe, where it has one
        recipe = read_recipe(quick) if quick else Recipe(family=family)
    cls = get_family(recipe.family)
    recipe.data = data or recipe.data or cls.default_data
    if data_root is not None:
        recipe.data_root = data_root
    if image_size is not None:
        recipe.image_size = check_image_size(image_size, "image size")
    if isinstance(overrides, dict):
        overrides = [f"{k}={toml_literal(v)}" for k, v in overrides.items()]
    move_optimizer_settings(recipe, cls.Optim)
    apply_overrides(recipe, list(overrides or []), cls.Config, cls.Optim)
    if steps is not None:
        recipe.train.steps = steps
    return recipe


def default_out(recipe: Recipe, resume: bool) -> Path:
    """runs/<family>-<data>-<time>; with resume, the newest such run."""
    stem = f"{recipe.family}-{recipe.data.replace(':', '_').replace('/', '_')}"
    if resume:
        runs = sorted(RUNS_DIR.glob(f"{stem}-*/{CHECKPOINT_NAME}"), key=lambda p: p.stat().st_mtime)
        if runs:
            return runs[-1].parent
    return RUNS_DIR / f"{stem}-{_dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"


def resolve_run(family: str | None = None, config: str | Path | None = None, data: str | None = None,
                steps: int | None = None, overrides: list[str] | dict | None = None,
                data_root: str | None = None, out: str | Path | None = None,
                resume: bool = False, image_size: int | None = None) -> tuple[Recipe, Path]:
    """(recipe, run folder) for a new run or a resume. A resume continues the run's own
    recipe (stored in its checkpoint); what is given here overrides it explicitly. Resuming a
    named folder needs nothing else: `genlab train --out runs/x --resume`."""
    given = (family, config, data, steps, overrides, data_root)
    if not (resume and out is not None and (Path(out) / CHECKPOINT_NAME).is_file()):
        recipe = make_recipe(*given, image_size=image_size)
        out = Path(out) if out is not None else default_out(recipe, resume)
    checkpoint = Path(out) / CHECKPOINT_NAME
    if resume and checkpoint.is_file():
        from genlab.checkpoint import load_checkpoint

        stored = load_checkpoint(checkpoint).get("recipe") or ""
        base = parse_recipe(stored, f"the recipe stored in {checkpoint}") if stored else None
        recipe = make_recipe(*given, base=base, image_size=image_size)
    return recipe, Path(out)


def train(family: str | None = None, *, config: str | Path | None = None, data: str | None = None,
          steps: int | None = None, out: str | Path | None = None, resume: bool = False,
          overrides: list[str] | dict | None = None, data_root: str | None = None,
          image_size: int | None = None, progress: bool = True, on_event=None, stop=None):
    """Train a family and return the ready model (with EMA weights, eval mode).

    >>> model = genlab.train("dcgan", steps=200, overrides={"batch_size": 32}, out="runs/try")
    """
    from genlab.registry import load

    recipe, out = resolve_run(family, config, data, steps, overrides, data_root, out, resume, image_size)
    trainer = Trainer(recipe, out, resume=resume, progress=progress, on_event=on_event, stop=stop)
    path = trainer.fit()
    if path is None:  # not the main rank
        return None
    return load(path)


__all__ = ["train", "Trainer", "TrainConfig", "Recipe", "make_recipe", "read_recipe", "resolve_run"]
