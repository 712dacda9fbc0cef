"""The quick recipes (genlab/recipes/quick): one per digit family, valid, and what training without a
recipe starts from (the CLI and the app's Train tab)."""
from pathlib import Path

import pytest

from genlab.data import load_dataset
from genlab.recipes import QUICK_DIR, quick_recipe
from genlab.registry import build, list_families, make_config
from genlab.training import make_recipe
from genlab.training.config import read_recipe

import toy_models  # noqa: F401  (registers the toy family)

FIRST_EIGHT = ("nade", "row_lstm", "diagonal_bilstm", "pixelcnn", "vae", "aae", "gan", "dcgan", "infogan")
QUICK = sorted(p.stem for p in QUICK_DIR.glob("*.toml"))


def test_every_family_of_the_first_eight_has_a_quick_recipe():
    assert set(FIRST_EIGHT) <= set(QUICK)
    assert set(QUICK) <= set(list_families())


@pytest.mark.parametrize("family", QUICK)
def test_quick_recipe_builds_and_is_what_training_without_a_recipe_uses(family):
    path = quick_recipe(family)
    recipe = read_recipe(path)
    assert recipe.family == family and recipe.train.steps > 0
    spec = load_dataset(recipe.data, "test").spec
    build(family, make_config(family, {**recipe.model, **recipe.optim}), spec)  # every setting is a real option
    bare = make_recipe(family, steps=7, overrides=["batch_size=8"])
    assert bare.model == recipe.model and bare.optim == recipe.optim and bare.data == recipe.data
    assert bare.train.steps == 7 and bare.train.batch_size == 8  # what the caller says still wins


def test_a_family_without_a_quick_recipe_trains_from_its_defaults():
    assert quick_recipe("toy") is None
    assert make_recipe("toy").model == {}


def test_train_tab_presets_the_quick_budget_within_its_sliders():
    from ui.tabs.train import MAX_STEPS, quick_budget

    recipe = read_recipe(Path(QUICK_DIR / "dcgan.toml"))
    assert quick_budget("dcgan") == (recipe.train.steps, recipe.train.batch_size)
    assert quick_budget("toy") == (300, 64)
    for family in QUICK:  # the steps slider spans 10..MAX_STEPS, the batch slider 8..256 in steps of 4
        steps, batch = quick_budget(family)
        assert 10 <= steps <= MAX_STEPS and 8 <= batch <= 256 and batch % 4 == 0, family
