"""Warm start (`[train] init_from`, `genlab train --init-from`): a run that begins from another
checkpoint's weights, e.g. a shipped model fine-tuned on new pictures or taken further. The
weights and EMA are the checkpoint's; optimisers, step and schedules start afresh."""
import json

import pytest
import torch

from genlab.checkpoint import load_checkpoint, save_checkpoint, slim_for_release, trained_seconds, trained_steps
from genlab.results import steps_cell
from genlab.cli import main
from genlab.errors import GenlabError
from genlab.training import make_recipe
from genlab.training.trainer import Trainer
from state_checks import assert_same

TINY_DCGAN = ["width=8", "latent_dim=8", "batch_size=16", "log_every=2", "sample_every=1000",
              "grid_size=4", "ema_decay=0.9", "threads=1"]


def trainer(tmp, steps=3, overrides=(), data=None, family="dcgan", **kw):
    return Trainer(make_recipe(family, steps=steps, overrides=list(overrides), data=data), tmp, progress=False, **kw)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 4-step tiny DCGAN run: its weights, EMA and Adam moments are all non-trivial."""
    out = tmp_path_factory.mktemp("source")
    trainer(out, steps=4, overrides=TINY_DCGAN).fit()
    return out / "latest.pt"


def test_a_warm_start_begins_with_the_checkpoints_weights_and_ema_and_fresh_optimisers(trained, tmp_path):
    source = load_checkpoint(trained)
    t = trainer(tmp_path, overrides=TINY_DCGAN + [f'init_from="{trained}"'], dry_run=True)
    assert_same(source["model"], t.model.state_dict(), "model")
    assert_same(source["ema"], t.ema.state_dict(), "ema")
    assert t.step == 0
    assert all(not opt.state for opt in t.optimizers.values()), "Adam's moments should start afresh"
    fresh = trainer(tmp_path / "fresh", overrides=TINY_DCGAN, dry_run=True)
    differ = [k for k, v in fresh.model.state_dict().items() if v.is_floating_point() and not torch.equal(v, source["model"][k])]
    assert differ, "a fresh run's weights equal the checkpoint's: the probe above proves nothing"


@pytest.mark.parametrize("data, warmed_up_by", [(None, 4), ("mnist-dynbin", 0)])
def test_the_ema_goes_on_from_the_checkpoints_steps_on_its_data_and_starts_again_on_other_data(
        trained, tmp_path, data, warmed_up_by):
    """The EMA's warm-up (decay min(d, (1 + s) / (10 + s)) at step s) counts the steps behind the
    weights on the same data, so the loaded average keeps its horizon; on other data it counts
    from 0 and the average follows the new pictures at once. One step, checked exactly."""
    source = load_checkpoint(trained)  # 4 steps on mnist
    t = trainer(tmp_path, steps=1, data=data, overrides=TINY_DCGAN + [f'init_from="{trained}"', "ema_decay=0.3"])
    t.fit()
    decay = min(0.3, (1 + warmed_up_by) / (10 + warmed_up_by))  # 0.3 when going on, 0.1 when starting again
    live = t.model.state_dict()
    for k, before in source["ema"].items():
        if before.is_floating_point():
            want = torch.lerp(before.float(), live[k].float(), 1 - decay)
            assert torch.allclose(t.ema.state_dict()[k].float(), want, atol=1e-6), k
    assert load_checkpoint(tmp_path / "latest.pt")["warm_start"]["ema_steps_before"] == warmed_up_by


def test_a_warm_start_from_a_shipped_file_keeps_fresh_weights_where_the_file_left_them_out(trained, tmp_path):
    """A shipped file is fp16 with the EMA folded in and may leave out the discriminator: the
    generator starts from the file's (EMA) weights, the discriminator from this run's own init."""
    shipped = tmp_path / "shipped.pt"
    save_checkpoint(slim_for_release(load_checkpoint(trained), drop=("discriminator",)), shipped)
    t = trainer(tmp_path / "run", overrides=TINY_DCGAN + [f'init_from="{shipped}"'], dry_run=True)
    fresh = trainer(tmp_path / "fresh", overrides=TINY_DCGAN, dry_run=True)
    source, mine = load_checkpoint(trained), t.model.state_dict()
    for k, v in source["ema"].items():  # G: the EMA, through fp16
        assert torch.equal(mine[k], v.half().to(mine[k].dtype)), k
    d_keys = [k for k in mine if k.startswith("discriminator.")]
    assert d_keys
    for k in d_keys:
        assert torch.equal(mine[k], fresh.model.state_dict()[k]), k


def test_training_from_a_warm_start_and_resuming_it_continues_its_own_run(trained, tmp_path):
    overrides = TINY_DCGAN + [f'init_from="{trained}"', "checkpoint_every=2"]
    trainer(tmp_path / "straight", steps=4, overrides=overrides).fit()
    trainer(tmp_path / "split", steps=2, overrides=overrides).fit()
    trainer(tmp_path / "split", steps=4, overrides=overrides, resume=True).fit()
    a, b = (load_checkpoint(tmp_path / run / "latest.pt") for run in ("straight", "split"))
    assert a["step"] == b["step"] == 4
    assert_same(a["model"], b["model"], "model")
    events = [json.loads(line) for line in (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()]
    assert {"step": 0, "event": "init_from", "path": str(trained), "from_step": 4}.items() <= next(
        e for e in events if e.get("event") == "init_from").items()


def test_a_checkpoint_counts_the_steps_and_time_behind_the_weights_it_began_from(trained, tmp_path):
    """A warm start records what lies behind its first weights; a resume keeps the record, and a
    warm start from a warm start adds both legs: the zoo table and cards report the whole."""
    source = load_checkpoint(trained)
    overrides = TINY_DCGAN + [f'init_from="{trained}"', "checkpoint_every=2"]
    trainer(tmp_path / "a", steps=2, overrides=overrides).fit()
    trainer(tmp_path / "a", steps=3, overrides=overrides, resume=True).fit()
    a = load_checkpoint(tmp_path / "a" / "latest.pt")
    assert a["warm_start"] == {"from": str(trained), "from_step": 4, "steps_before": 4,
                               "train_seconds_before": source["train_seconds"], "ema_steps_before": 4}
    assert trained_steps(a) == 7 and trained_seconds(a) == a["train_seconds"] + source["train_seconds"]
    trainer(tmp_path / "b", steps=2, overrides=TINY_DCGAN + [f'init_from="{tmp_path / "a"}"']).fit()
    b = load_checkpoint(tmp_path / "b" / "latest.pt")
    assert b["warm_start"]["from_step"] == 3 and trained_steps(b) == 4 + 3 + 2
    assert steps_cell(b) == "9 (7 behind the checkpoint it began from, then 2)"
    assert load_checkpoint(trained).get("warm_start") is None and trained_steps(source) == 4


def test_a_warm_start_trains_the_checkpoints_network_and_says_so_where_the_recipe_asked_another(
        trained, tmp_path, capsys):
    t = trainer(tmp_path, overrides=TINY_DCGAN + ["width=16", f'init_from="{trained}"'], dry_run=True)
    assert t.model.config.width == 8 and t.recipe.model["width"] == 8
    err = capsys.readouterr().err
    assert "the network is" in err and "width 8 (not 16)" in err


def test_a_warm_start_refuses_another_family(trained, tmp_path):
    with pytest.raises(GenlabError, match="holds a dcgan model, not vae"):
        trainer(tmp_path, family="vae", overrides=[f'init_from="{trained}"'], dry_run=True)


def test_a_warm_start_refuses_data_of_another_shape_and_says_which(trained, tmp_path):
    with pytest.raises(GenlabError, match=r"trained on 1-channel 28x28 images \(data 'mnist'\), and data "
                                          r"'shapes3d' gives 3-channel 32x32; pick data of that shape"):
        trainer(tmp_path, overrides=[f'init_from="{trained}"', "threads=1"], data="shapes3d", dry_run=True)


def test_a_warm_start_from_a_missing_checkpoint_names_it(tmp_path):
    with pytest.raises(GenlabError, match="no checkpoint named 'no-such-model'"):
        trainer(tmp_path, overrides=TINY_DCGAN + ['init_from="no-such-model"'], dry_run=True)


def test_the_cli_takes_family_network_and_data_from_the_checkpoint(trained, tmp_path, capsys):
    assert main(["train", "--init-from", str(trained), "--steps", "2", "--out", str(tmp_path / "run"),
                 "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert 'family = "dcgan"' in printed and 'data = "mnist"' in printed and f'init_from = "{trained}"' in printed


TINY_GRAF = ["width=8", "depth=2", "shape_dim=4", "appearance_dim=4", "samples=4", "patch=4", "d_width=8",
             "pos_freqs=2", "dir_freqs=1", "batch_size=2", "ema_decay=0", "sample_every=100", "grid_size=4",
             "threads=1"]


@pytest.mark.parametrize("drop", [True, False])
def test_a_warm_start_may_reshape_the_discriminator_only_where_the_file_left_it_out(tmp_path, capsys, drop):
    """GRAF's patch size K and D's width shape D alone: from a shipped file without D, the new run
    builds its fresh D to the recipe's K (the field keeps the file's weights); from a file that
    holds D, the file's D and K are kept, and the run says so."""
    source = tmp_path / "source"
    trainer(source, steps=1, family="graf", overrides=TINY_GRAF).fit()
    start = tmp_path / "start.pt"
    save_checkpoint(slim_for_release(load_checkpoint(source / "latest.pt"), drop=("discriminator",) if drop else ()),
                    start)
    t = trainer(tmp_path / "run", family="graf", dry_run=True,
                overrides=TINY_GRAF + ["patch=8", "d_width=4", "width=16", f'init_from="{start}"'])
    assert t.model.config.width == 8, "the field is the file's"
    assert (t.model.config.patch, t.model.config.d_width) == ((8, 4) if drop else (4, 8))
    assert t.model.fake_patches(2).shape[-1] == t.model.config.patch
    field = {k: v for k, v in load_checkpoint(start)["model"].items() if k.startswith("generator.")}
    mine = t.model.state_dict()
    for k, v in field.items():
        assert torch.equal(mine[k], v.to(mine[k].dtype)), k
    err = capsys.readouterr().err
    assert "width 8 (not 16)" in err and (("patch" in err) != drop)


def test_a_radiance_field_goes_on_at_another_image_size_and_a_cnn_does_not(tmp_path, trained):
    """A GRAF field is queried along rays, so no weight depends on the image size: a field trained
    at one size may warm-start a run at another (e.g. 32 -> 64 px, where D sees edges and corners
    at full resolution). A CNN's may not (the refusal above)."""
    source = tmp_path / "source"
    trainer(source, steps=1, family="graf", overrides=TINY_GRAF).fit()
    state = load_checkpoint(source / "latest.pt")
    # as if trained on the same scenes rendered at 16 px ("shapes3d-16")
    state["data_spec"] = {**state["data_spec"], "height": 16, "width": 16, "name": "shapes3d-16"}
    save_checkpoint(state, tmp_path / "small.pt")
    t = trainer(tmp_path / "run", family="graf", dry_run=True,
                overrides=TINY_GRAF + [f'init_from="{tmp_path / "small.pt"}"'])
    assert t.model.data_spec.height == 32
    assert t.ema_steps_before == 1, "the same scenes at another size: the EMA goes on, not starts again"
    mine = t.model.state_dict()
    for k, v in state["model"].items():
        if k.startswith("generator."):
            assert torch.equal(mine[k], v.to(mine[k].dtype)), k
    assert t.model.eval().sample(1).shape == (1, 3, 32, 32)
    cnn = load_checkpoint(trained)
    cnn["data_spec"] = {**cnn["data_spec"], "height": 14, "width": 14}
    save_checkpoint(cnn, tmp_path / "cnn14.pt")
    with pytest.raises(GenlabError, match="trained on 1-channel 14x14 images"):
        trainer(tmp_path / "cnn", overrides=[f'init_from="{tmp_path / "cnn14.pt"}"', "threads=1"], dry_run=True)
