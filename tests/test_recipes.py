"""Every recipe in experiments/: each family has a CPU and a GPU one, each resolves, each trains.

A recipe belongs to the family its `family = ` key names; `*_gpu.toml` files are the GPU
(full-size) recipes, the others the CPU ones. Training runs 2 steps through the real CLI,
in-process, on CPU with batch 4 and no sample grids, so the whole file stays within a few
minutes on one thread.
"""
import tomllib
from pathlib import Path

import pytest

from genlab.cli import main
from genlab.registry import get_family, list_families, shipped_checkpoints
from genlab.training.trainer import Trainer

EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"
RECIPES = sorted(EXPERIMENTS.glob("*.toml"))

# GPU recipes whose full-size nets take seconds per CPU step (up to 24 s for two): the same keys with
# smaller values, so the test still checks that every key is valid and the family trains from the
# file (--dry-run above builds the full-size net). The other GPU recipes train here at full width.
SHRINK = {
    "pixelcnn_mnist_gpu": ["features=16", "layers=3", "head_features=16"],
    "aae_mnist_gpu": ["hidden=[64, 64]", "disc_hidden=[64, 64]"],
    "cyclegan_mnist_gpu": ["width=8", "blocks=1"],
    "progan_mnist_gpu": ["fmap_base=64", "fmap_max=16", "latent_dim=16"],
    "alias_free_mnist_gpu": ["num_layers=4", "channel_base=128", "channel_max=8", "d_width=8"],
    "alias_free_baseline_mnist_gpu": ["num_layers=4", "channel_base=128", "channel_max=8", "d_width=8"],
}


def family_of(path: Path) -> str:
    return tomllib.loads(path.read_text())["family"]


def is_gpu(path: Path) -> bool:
    return path.stem.endswith("_gpu")


def cli(*args) -> int:
    return main([str(a) for a in args])


def stand_in_start(recipe: Path) -> list[str]:
    """`--set` for a recipe that goes on from a run's own checkpoint (runs/ is not in git): where
    that file is absent, the family's shipped model stands in, so the rest is still checked."""
    start = tomllib.loads(recipe.read_text()).get("train", {}).get("init_from", "")
    if not start or start in shipped_checkpoints() or Path(start).exists():
        return []
    stand_in = next((name for name in shipped_checkpoints() if name.startswith(f"{family_of(recipe)}-")), None)
    assert stand_in, f"{recipe.name} starts from {start}, which is absent, and no shipped model of its family stands in"
    return ["--set", f'init_from="{stand_in}"']


def test_every_family_has_a_cpu_and_a_gpu_recipe():
    cpu = {family_of(p) for p in RECIPES if not is_gpu(p)}
    gpu = {family_of(p) for p in RECIPES if is_gpu(p)}
    # genlab's own families: test modules register toy families in the same process
    families = {f for f in list_families() if get_family(f).__module__.startswith("genlab.")}
    assert families - cpu == set(), "families without a CPU recipe in experiments/"
    assert families - gpu == set(), "families without a GPU recipe (*_gpu.toml) in experiments/"


def test_shrunk_recipes_exist():
    assert set(SHRINK) <= {p.stem for p in RECIPES}


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_recipe_resolves(recipe, tmp_path, capsys):
    assert cli("train", "--config", recipe, "--dry-run", "--out", tmp_path / "run", *stand_in_start(recipe)) == 0
    assert f'family = "{family_of(recipe)}"' in capsys.readouterr().out
    assert not (tmp_path / "run").exists(), "--dry-run wrote something"


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_recipe_trains_two_steps(recipe, tmp_path, monkeypatch):
    monkeypatch.setattr(Trainer, "save_samples", lambda self, bar=None: None)  # no sample grids: they cost seconds
    overrides = ["batch_size=4", "log_every=1", "checkpoint_every=1000", "threads=1", *SHRINK.get(recipe.stem, [])]
    sets = [a for o in overrides for a in ("--set", o)] + stand_in_start(recipe)
    out = tmp_path / "run"
    assert cli("train", "--config", recipe, "--steps", 2, "--device", "cpu", "--out", out, "--no-progress",
               *sets) == 0
    assert (out / "latest.pt").is_file()
    assert (out / "metrics.jsonl").read_text().strip(), "no losses logged"
