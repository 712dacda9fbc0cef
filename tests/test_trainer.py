import json

import pytest
import torch

import genlab
import toy_models  # noqa: F401  (registers the 'toy' family)
from genlab.errors import GenlabError, TrainingDiverged
from genlab.training import make_recipe
from genlab.checkpoint import load_checkpoint
from genlab.training.trainer import Trainer
from state_checks import assert_same

TINY_DCGAN = ["width=8", "latent_dim=8", "batch_size=16", "log_every=2", "sample_every=1000",
              "grid_size=4", "ema_decay=0.9"]


def run(tmp, family="dcgan", steps=10, resume=False, overrides=(), data=None, **kw):
    recipe = make_recipe(family, steps=steps, overrides=list(overrides), data=data)
    trainer = Trainer(recipe, tmp, resume=resume, progress=False, **kw)
    trainer.fit()
    return trainer


def test_resume_gives_bitwise_identical_weights(tmp_path):
    overrides = TINY_DCGAN + ["checkpoint_every=6"]
    straight = run(tmp_path / "straight", steps=12, overrides=overrides)
    run(tmp_path / "split", steps=6, overrides=overrides)  # stop at step 6 ...
    resumed = run(tmp_path / "split", steps=12, resume=True, overrides=overrides)  # ... and go on
    a = load_checkpoint(tmp_path / "straight" / "latest.pt")
    b = load_checkpoint(tmp_path / "split" / "latest.pt")
    assert a["step"] == b["step"] == 12
    assert_same(a["model"], b["model"], "model")
    assert_same(a["ema"], b["ema"], "ema")
    assert_same(a["optimizers"], b["optimizers"], "optimizers")
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])
    assert straight.step == resumed.step == 12


def test_resume_with_dynamic_binarisation_gives_bitwise_identical_weights(tmp_path):
    """mnist-dynbin draws every batch's pixels afresh: its generator is part of the saved data order."""
    overrides = ["hidden=[16]", "latent_dim=4", "batch_size=32", "checkpoint_every=5", "sample_every=1000"]
    run(tmp_path / "straight", family="vae", steps=10, overrides=overrides, data="mnist-dynbin")
    run(tmp_path / "split", family="vae", steps=5, overrides=overrides, data="mnist-dynbin")
    run(tmp_path / "split", family="vae", steps=10, resume=True, overrides=overrides, data="mnist-dynbin")
    a = load_checkpoint(tmp_path / "straight" / "latest.pt")
    b = load_checkpoint(tmp_path / "split" / "latest.pt")
    assert_same(a["model"], b["model"], "model")
    assert_same(a["optimizers"], b["optimizers"], "optimizers")


def test_resuming_a_dynamic_binarisation_run_on_a_fixed_draw_is_refused_and_keeps_the_checkpoint(tmp_path):
    overrides = ["hidden=[16]", "latent_dim=4", "batch_size=32", "sample_every=1000"]
    run(tmp_path, family="vae", steps=3, overrides=overrides, data="mnist-dynbin")
    before = (tmp_path / "latest.pt").read_bytes()
    with pytest.raises(GenlabError, match=r"cannot resume .* with data 'mnist-binary': .*binarisation.*"
                                          r"Resume with the run's data \('mnist-dynbin'\) or use a new --out"):
        run(tmp_path, family="vae", steps=6, resume=True, overrides=overrides, data="mnist-binary")
    assert (tmp_path / "latest.pt").read_bytes() == before


def test_resume_without_weights_restored_would_differ(tmp_path):
    """The equality above is not vacuous: a fresh 6-step run ends elsewhere than steps 7-12."""
    overrides = TINY_DCGAN + ["checkpoint_every=6"]
    run(tmp_path / "a", steps=12, overrides=overrides)
    run(tmp_path / "b", steps=6, overrides=overrides)
    a = load_checkpoint(tmp_path / "a" / "latest.pt")["model"]
    b = load_checkpoint(tmp_path / "b" / "latest.pt")["model"]
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_nan_loss_stops_with_step_and_phase_and_keeps_last_good_checkpoint(tmp_path):
    overrides = ["nan_at_call=8", "batch_size=8", "checkpoint_every=5", "log_every=1", "sample_every=100"]
    with pytest.raises(TrainingDiverged, match=r"phase 'generator' became nan at step 8.*untouched"):
        run(tmp_path, family="toy", steps=20, overrides=overrides)
    state = load_checkpoint(tmp_path / "latest.pt")
    assert state["step"] == 5
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())


def test_nan_is_caught_even_between_log_points_before_a_save(tmp_path):
    overrides = ["nan_at_call=3", "batch_size=8", "checkpoint_every=4", "log_every=50", "sample_every=100"]
    with pytest.raises(TrainingDiverged, match="at step 3.*no checkpoint was written"):
        run(tmp_path, family="toy", steps=20, overrides=overrides)
    assert not (tmp_path / "latest.pt").exists()


def test_phases_update_only_their_own_parameters(tmp_path):
    trainer = Trainer(make_recipe("toy", steps=1, overrides=["batch_size=8"]), tmp_path, progress=False)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    batch = next(trainer.batches)
    trainer._run_phase(trainer.phases[0], batch)  # critic only
    after = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    assert not torch.equal(before["critic.weight"], after["critic.weight"])
    assert torch.equal(before["mean.weight"], after["mean.weight"])
    trainer._run_phase(trainer.phases[1], batch)  # generator only
    after2 = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    assert torch.equal(after["critic.weight"], after2["critic.weight"])
    assert not torch.equal(after["mean.weight"], after2["mean.weight"])


def test_logs_samples_recipe_and_ema_are_written(tmp_path):
    trainer = run(tmp_path, steps=8, overrides=TINY_DCGAN + ["sample_every=4", "checkpoint_every=4"])
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4, 6, 8]
    assert {"discriminator/loss", "generator/loss", "discriminator/D(x)", "images_per_s"} <= rows[-1].keys()
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["step_0000004.png", "step_0000008.png"]
    assert "latent_dim = 8" in (tmp_path / "recipe.toml").read_text()
    state = load_checkpoint(tmp_path / "latest.pt")
    assert state["ema"] and all(k.startswith("generator.") for k in state["ema"])
    # The EMA lags the live weights.
    k = next(k for k in state["ema"] if k.endswith("project.0.weight"))  # G's projection of z
    assert not torch.equal(state["ema"][k], state["model"][k])
    assert trainer.train_seconds > 0


def test_keep_every_keeps_the_checkpoint_of_those_steps(tmp_path):
    """keep_every = 3 keeps step_0000003.pt and step_0000006.pt beside latest.pt (checkpoints every 4
    steps otherwise), each the very state the run saved at that step."""
    run(tmp_path / "kept", steps=7, overrides=TINY_DCGAN + ["checkpoint_every=4", "keep_every=3"])
    assert sorted(p.name for p in (tmp_path / "kept").glob("*.pt")) == [
        "latest.pt", "step_0000003.pt", "step_0000006.pt"]
    run(tmp_path / "straight", steps=6, overrides=TINY_DCGAN + ["checkpoint_every=4"])
    kept = load_checkpoint(tmp_path / "kept" / "step_0000006.pt")
    straight = load_checkpoint(tmp_path / "straight" / "latest.pt")
    assert kept["step"] == straight["step"] == 6
    assert_same(kept["model"], straight["model"], "model")
    assert load_checkpoint(tmp_path / "kept" / "step_0000003.pt")["step"] == 3
    with pytest.raises(GenlabError, match="keep_every must be 0 or more"):
        make_recipe("dcgan", overrides=["keep_every=-1"]).train.validate()


def test_ema_asked_of_a_family_without_one_is_refused(tmp_path):
    """A recipe's ema_decay on a family with no EMA modules (the VAE, the AAE) must not be
    silently ignored."""
    with pytest.raises(GenlabError, match=r"ema_decay = 0.99.*'vae' keeps no EMA.*set ema_decay = 0"):
        Trainer(make_recipe("vae", steps=1, overrides=["batch_size=8", "ema_decay=0.99"]), tmp_path, progress=False)


def test_an_autoregressive_model_averages_every_weight_and_loads_the_average(tmp_path):
    """Polyak averaging (ema_modules = ("",)): the EMA covers every weight of the NADE, differs
    from the live weights, and is what genlab.load gives for a run's checkpoint."""
    trainer = run(tmp_path, "nade", steps=4, data="mnist-dynbin",
                  overrides=["hidden=8", "depth=2", "batch_size=4", "ema_decay=0.5", "sample_every=1000",
                             "grid_size=4", "log_every=2"])
    state = load_checkpoint(tmp_path / "latest.pt")
    assert set(state["ema"]) == set(state["model"]) and state["ema"]
    assert any(not torch.equal(state["ema"][k], state["model"][k]) for k in state["model"])
    loaded = genlab.load(tmp_path / "latest.pt").state_dict()
    assert all(torch.equal(loaded[k], state["ema"][k]) for k in state["ema"])
    assert trainer.step == 4


def test_warmup_scales_the_learning_rate(tmp_path):
    trainer = Trainer(make_recipe("toy", steps=1, overrides=["batch_size=8", "schedule.warmup_steps=10"]),
                      tmp_path, progress=False)
    trainer._run_phase(trainer.phases[0], next(trainer.batches))
    assert trainer.optimizers["critic"].param_groups[0]["lr"] == pytest.approx(1e-2 / 10)


def test_resume_refuses_a_changed_model_config(tmp_path):
    run(tmp_path, steps=2, overrides=TINY_DCGAN)
    with pytest.raises(GenlabError, match="different model config.*width: 8 -> 16"):
        run(tmp_path, steps=4, resume=True, overrides=TINY_DCGAN + ["width=16"])


TINY_GRAF = ["width=8", "depth=2", "shape_dim=4", "appearance_dim=4", "samples=4", "patch=4", "d_width=8",
             "pos_freqs=2", "dir_freqs=1", "batch_size=2", "ema_decay=0", "sample_every=100", "grid_size=4"]


def test_resume_may_change_a_loss_weight_but_not_the_network(tmp_path):
    """GRAF's R1 weight shapes no tensor: a run forked from a checkpoint may weaken it (logged as
    a change and stored in the checkpoint), while the field's width stays refused."""
    run(tmp_path, family="graf", steps=2, overrides=TINY_GRAF + ["r1=10.0"])
    run(tmp_path, family="graf", steps=3, resume=True, overrides=TINY_GRAF + ["r1=1.0"])
    state = load_checkpoint(tmp_path / "latest.pt")
    assert state["step"] == 3 and state["config"]["r1"] == 1.0
    events = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert any(e.get("event") == "resume" and e["changed"]["model.r1"] == [10.0, 1.0] for e in events)
    refusal = (r"width: 8 -> 16\); use a new --out \(a resume may change only anneal_every, anneal_steps, "
               r"d_steps, noise_std, noise_steps, opacity_prior, pixel_patches, r1, scale_final, scale_start, supersample\)")
    with pytest.raises(GenlabError, match=refusal):
        run(tmp_path, family="graf", steps=4, resume=True, overrides=TINY_GRAF + ["width=16"])


def test_graf_d_steps_trains_the_generator_on_every_nth_step_only(tmp_path):
    """d_steps = 2: D trains on every step, G on steps 0, 2, 4, ..."""
    def weights(trainer, part):
        return {k: v.clone() for k, v in getattr(trainer.model, part).state_dict().items()}
    trainer = Trainer(make_recipe("graf", steps=3, overrides=TINY_GRAF + ["d_steps=2"]), tmp_path, progress=False)
    seen = []
    for _ in range(3):
        before = weights(trainer, "generator"), weights(trainer, "discriminator")
        trainer.train_step()
        after = weights(trainer, "generator"), weights(trainer, "discriminator")
        seen.append(tuple(any(not torch.equal(b[k], a[k]) for k in b) for b, a in zip(before, after)))
    assert seen == [(True, True), (False, True), (True, True)]


def test_bad_train_options_are_named():
    with pytest.raises(GenlabError, match="precision 'fp8' is not one of"):
        Trainer(make_recipe("toy", overrides=["precision='fp8'"]), "/tmp/unused", progress=False)
    with pytest.raises(GenlabError, match="batch_size 20000 is larger"):
        Trainer(make_recipe("toy", overrides=["batch_size=20000"]), "/tmp/unused-2", progress=False)


def test_python_api_trains_and_loads(tmp_path):
    import genlab

    model = genlab.train("dcgan", steps=2, out=tmp_path, progress=False,
                         overrides={"width": 8, "latent_dim": 8, "batch_size": 8})
    assert not model.training and model.checkpoint["step"] == 2
    x = model.sample(3, generator=torch.Generator().manual_seed(0))
    assert x.shape == (3, 1, 28, 28) and x.abs().max() <= 1


def test_a_checkpoint_between_log_points_loses_no_logged_steps(tmp_path):
    # The toy's generator logs its call count; each log row must average all steps since the last row.
    run(tmp_path, family="toy", steps=8,
        overrides=["batch_size=8", "log_every=4", "checkpoint_every=3", "sample_every=100"])
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [4, 8]
    assert [r["generator/calls"] for r in rows] == [2.5, 6.5]  # calls 1..4 and 5..8


def test_a_slow_sampler_says_it_is_drawing_its_grid_and_the_grid_can_be_sized_down(tmp_path, capsys):
    """DDPM's grid runs its whole reverse chain: the progress bar says so (and how to draw fewer)
    instead of sitting silent; grid_size sets how many images the grid holds."""
    from PIL import Image

    recipe = make_recipe("ddpm", steps=1, overrides={"batch_size": 4, "grid_size": 4, "timesteps": 10, "width": 8,
                                                                "default_steps": 5})
    Trainer(recipe, tmp_path, progress=True).fit()
    err = capsys.readouterr().err
    assert "ddpm: drawing the 4-image sample grid (fewer: --set grid_size=16)" in err
    grid = Image.open(tmp_path / "samples" / "step_0000001.png")
    assert grid.size[0] < 200  # 4 images of 28 px at scale 2 with padding, not 64
