"""Recipes that ship inside the package.

`quick/<family>.toml`: each family's one-CPU-minute recipe (issue 15's "defaults that learn in a
minute"): what `python -m genlab train FAMILY` and the app's Train tab run when no recipe is
given, so a first run draws recognisable digits. The full recipes live in experiments/.
"""
from __future__ import annotations

from pathlib import Path

QUICK_DIR = Path(__file__).with_name("quick")


def quick_recipe(family: str) -> Path | None:
    """The family's quick recipe, or None where it has none (families whose data are not digits)."""
    path = QUICK_DIR / f"{family}.toml"
    return path if path.is_file() else None
