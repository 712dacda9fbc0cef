"""The engine's second-edition contract: stages, schedules, resume with changes, extra batch
tensors and unpaired draws, EMA statistics, long step chains."""
import json

import pytest
import torch

import toy_models  # noqa: F401  (registers the 'toy' and 'toy_staged' families)
from genlab.checkpoint import load_checkpoint
from genlab.data import ImageDataset
from genlab.errors import GenlabError
from genlab.model import CameraSpec, Control, DataSpec
from genlab.training import make_recipe, resolve_run
from genlab.training.batches import InMemoryBatches
from genlab.training.distributed import DistInfo
from genlab.training.ema import EMA
from genlab.training.schedules import Schedule
from genlab.training.trainer import Trainer
from state_checks import assert_same

STAGED = ["batch_size=8", "log_every=1", "checkpoint_every=1000", "sample_every=1000", "grid_size=4"]


def fit(out, family="toy_staged", steps=10, resume=False, overrides=(), config=None):
    recipe, out = resolve_run(family, config, None, steps, list(overrides), None, out, resume)
    trainer = Trainer(recipe, out, resume=resume, progress=False)
    trainer.fit()
    return trainer


# ----- stages ------------------------------------------------------------------------------------
@pytest.mark.parametrize("first_leg", [3, 5, 6])  # before, at and after the stage boundary (step 5)
def test_a_stage_change_resumes_bitwise(tmp_path, first_leg):
    whole = fit(tmp_path / "whole", overrides=STAGED)
    fit(tmp_path / "split", steps=first_leg, overrides=STAGED)
    split = fit(tmp_path / "split", resume=True, overrides=STAGED)
    a, b = load_checkpoint(tmp_path / "whole/latest.pt"), load_checkpoint(tmp_path / "split/latest.pt")
    for key in ("model", "optimizers", "step_state", "ema", "rng"):
        assert_same(a[key], b[key], key)
    assert a["step_state"] == {"stage": 1, "alpha": 1.0}
    assert set(a["optimizers"]) == {"critic", "generator", "refine"}  # the phase set grew at the boundary
    assert whole.step == split.step == 10


def test_the_stage_change_resets_the_named_optimiser_only(tmp_path):
    trainer = Trainer(make_recipe("toy_staged", steps=10, overrides=STAGED), tmp_path, progress=False)
    trainer.tc.steps = 5
    trainer.fit()
    critic, gen = trainer.optimizers["critic"], trainer.optimizers["generator"]
    assert critic.state and gen.state  # both have Adam moments after 5 steps
    reset = trainer.model.advance(5)
    assert reset == {"generator"}
    trainer._bind(reset)
    assert trainer.optimizers["critic"] is critic and trainer.optimizers["generator"] is not gen
    assert not trainer.optimizers["generator"].state and "refine" in trainer.optimizers


# ----- schedules -----------------------------------------------------------------------------------
def test_schedules_give_the_learning_rates_asked_for(tmp_path):
    sched = ["schedule.kind='linear_decay'", "schedule.decay_steps=50",
             "schedule.generator.kind='cosine'", "schedule.generator.warmup_steps=10"]
    trainer = Trainer(make_recipe("toy", steps=100, overrides=["batch_size=8", *sched]), tmp_path, progress=False)
    lr = trainer.learning_rate
    assert lr("critic", 0) == lr("critic", 49) == pytest.approx(1e-2)  # constant until the last 50 steps
    assert lr("critic", 75) == pytest.approx(1e-2 * 0.5)  # halfway down
    assert lr("critic", 99) == pytest.approx(1e-2 * 0.02)  # the last step: 1/50 of the rate left
    assert lr("generator", 0) == pytest.approx(1e-3)  # warm-up: 1/10
    assert lr("generator", 9) == pytest.approx(1e-2)
    assert lr("generator", 55) == pytest.approx(1e-2 * 0.5)  # cosine, halfway through the 90 steps after warm-up
    trainer._run_phase(trainer.phases[1], next(trainer.batches))
    assert trainer.optimizers["generator"].param_groups[0]["lr"] == pytest.approx(1e-3)
    assert Schedule("cosine").factor(0, 100) == 1.0


def test_bad_schedules_are_named(tmp_path):
    with pytest.raises(GenlabError, match="kind 'exp' is not one of constant, warmup, linear_decay, cosine"):
        Trainer(make_recipe("toy", overrides=["schedule.kind='exp'"]), tmp_path, progress=False)
    with pytest.raises(GenlabError, match=r"\[schedule.gen\]: no such training phase; phases are critic, generator"):
        Trainer(make_recipe("toy", overrides=["schedule.gen.kind='cosine'"]), tmp_path, progress=False)


def test_a_decay_longer_than_the_run_decays_over_the_whole_run(tmp_path, capsys):
    # A pilot of a long recipe (--steps 100 on decay_steps 5000) must start at the full rate, not
    # 98% of the way down the ramp, and say what it did.
    sched = ["schedule.kind='linear_decay'", "schedule.decay_steps=5000"]
    trainer = Trainer(make_recipe("toy", steps=100, overrides=["batch_size=8", *sched]), tmp_path, progress=False)
    lr = trainer.learning_rate
    assert lr("critic", 0) == pytest.approx(1e-2)
    assert lr("critic", 50) == pytest.approx(1e-2 * 0.5)
    assert "decay_steps 5000 is longer than the 100-step run" in capsys.readouterr().err
    assert Schedule("linear_decay", warmup_steps=20, decay_steps=500).decay_length(100) == 80
    assert Schedule("linear_decay", decay_steps=30).decay_length(100) == 30


# ----- optimiser settings belong to the recipe --------------------------------------------------------
def test_a_resume_may_change_the_learning_rate_and_logs_it(tmp_path):
    tiny = ["width=8", "latent_dim=8", "batch_size=16", "log_every=2", "checkpoint_every=2", "sample_every=1000",
            "grid_size=4", "ema_decay=0.9"]
    fit(tmp_path, "dcgan", steps=4, overrides=tiny + ["lr_g=2e-4"])
    trainer = fit(tmp_path, "dcgan", steps=6, resume=True, overrides=["lr_g=1e-4"])
    assert trainer.optimizers["generator"].param_groups[0]["lr"] == pytest.approx(1e-4)
    assert trainer.optimizers["discriminator"].param_groups[0]["lr"] == pytest.approx(2e-4)
    # Everything not given at resume is the run's own recipe, not the defaults.
    assert trainer.tc.batch_size == 16 and trainer.tc.ema_decay == 0.9 and trainer.model.config.width == 8
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    event = next(r for r in rows if r.get("event") == "resume")
    assert event["step"] == 4 and event["changed"] == {"optim.lr_g": [2e-4, 1e-4], "train.steps": [4, 6]}
    assert [r["step"] for r in rows if "event" not in r] == [2, 4, 6]
    assert "lr_g = 0.0001" in (tmp_path / "recipe.toml").read_text()


def test_a_resume_may_change_the_weight_decay(tmp_path):
    """A loaded optimiser state carries its own weight decay; the resumed recipe's must win."""
    tiny = ["hidden=8", "batch_size=8", "log_every=2", "checkpoint_every=2", "sample_every=1000", "grid_size=4"]
    fit(tmp_path, "nade", steps=2, overrides=tiny + ["weight_decay=0.01"])
    trainer = fit(tmp_path, "nade", steps=4, resume=True, overrides=["weight_decay=0.2"])
    assert type(trainer.optimizers["likelihood"]) is torch.optim.AdamW
    assert {g["weight_decay"] for g in trainer.optimizers["likelihood"].param_groups} == {0.2}
    event = next(json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()
                 if json.loads(line).get("event") == "resume")
    assert event["changed"]["optim.weight_decay"] == [0.01, 0.2]


def test_bf16_autocast_on_a_cpu_trains_fp32_weights_with_the_fp32_runs_losses(tmp_path):
    """precision = "bf16" on a CPU (the stop-40 likelihood recipes): products run in bf16, the
    weights stay fp32, and the logged NLL follows the fp32 run's to within bf16 rounding."""
    tiny = ["hidden=8", "batch_size=8", "log_every=1", "checkpoint_every=4", "sample_every=1000", "grid_size=4"]
    runs = {p: fit(tmp_path / p, "nade", steps=4, overrides=tiny + [f"precision={p}"]) for p in ("fp32", "bf16")}
    assert runs["bf16"].amp_dtype is torch.bfloat16 and runs["fp32"].amp_dtype is None
    a, b = (load_checkpoint(tmp_path / p / "latest.pt")["model"] for p in ("fp32", "bf16"))
    assert all(t.dtype == torch.float32 for t in b.values())
    assert any(not torch.equal(a[k], b[k]) for k in a)  # autocast did change the arithmetic
    losses = {p: [json.loads(line)["likelihood/nats"] for line in (tmp_path / p / "metrics.jsonl").read_text().splitlines()
                  if "likelihood/nats" in line] for p in runs}
    assert len(losses["bf16"]) == 4
    for fp32, bf16 in zip(losses["fp32"], losses["bf16"]):
        assert abs(bf16 - fp32) < 0.005 * fp32


def test_a_run_saved_without_loss_scaling_resumes_in_fp16(tmp_path):
    """A bf16 (or fp32) run stores its GradScaler switched off, as {}; resumed in fp16 the scaler is
    on and starts afresh instead of refusing the empty state."""
    tiny = ["hidden=8", "batch_size=8", "log_every=1", "checkpoint_every=2", "sample_every=1000", "grid_size=4"]
    fit(tmp_path, "nade", steps=2, overrides=tiny + ["precision=bf16"])
    trainer = fit(tmp_path, "nade", steps=4, resume=True, overrides=["precision=fp16"])
    assert trainer.step == 4 and trainer.scalers["likelihood"].is_enabled()
    assert load_checkpoint(tmp_path / "latest.pt")["scalers"]["likelihood"]  # saved on, with its scale


def test_optimiser_values_are_checked_with_one_line():
    with pytest.raises(GenlabError, match=r"\[optim\] lr_g must be a finite learning rate > 0, got -1"):
        Trainer(make_recipe("dcgan", overrides=["lr_g=-1"]), "/tmp/unused-lr", progress=False)
    with pytest.raises(GenlabError, match=r"\[optim\] beta1 must be in \[0, 1\), got 2"):
        Trainer(make_recipe("dcgan", overrides=["beta1=2"]), "/tmp/unused-beta", progress=False)


def test_old_recipes_and_checkpoints_with_learning_rates_in_model_still_work():
    from genlab.registry import make_config
    from genlab.training.config import parse_recipe

    recipe = make_recipe("dcgan", overrides=[])
    old = parse_recipe('family = "dcgan"\n[model]\nwidth = 8\nlr_g = 1e-4\n', "old recipe")
    from genlab.training import make_recipe as mk
    moved = mk(base=old)
    assert moved.model == {"width": 8} and moved.optim == {"lr_g": 1e-4}
    assert make_config("dcgan", {"width": 8, "lr_g": 1e-4, "beta1": 0.5}).width == 8
    assert recipe.optim == {"lr_g": 1e-3, "lr_d": 2e-4} and "lr_g" not in recipe.model  # the quick recipe's rates


# ----- data beyond image + label ---------------------------------------------------------------------
def _two_domain_set():
    return toy_models.two_domain_toy("train")


def test_unpaired_batches_never_line_up_by_index():
    data = _two_domain_set()
    batches = InMemoryBatches(data, 8, torch.device("cpu"), seed=0, dist=DistInfo())
    source = data.extras["source"]
    for _ in range(300):  # many epochs: coincidences would appear by chance (p = 1/40 per position)
        batch = next(batches)
        a, b = batches.last_indices[:8], batches.last_indices[8:]
        assert (batch["domain"][:8] == 0).all() and (batch["domain"][8:] == 1).all()
        assert not (source[a] == source[b]).any()
        assert "source" not in batch  # the pairing is evaluation-only
    # The two halves come from separate shuffles: B's order of sources is not A's.
    order_a, order_b = (source[g[s.perm]] for g, s in zip(batches.groups, batches.streams))
    assert (order_a != order_b).float().mean() > 0.9


def test_batches_carry_the_data_sets_extra_tensors_and_resume_exactly():
    data = _two_domain_set()
    one = InMemoryBatches(data, 4, torch.device("cpu"), seed=3, dist=DistInfo())
    for _ in range(7):
        next(one)
    two = InMemoryBatches(data, 4, torch.device("cpu"), seed=99, dist=DistInfo())
    two.load_state_dict(one.state_dict())
    for _ in range(20):
        assert_same(next(one), next(two))


def test_a_family_that_only_translates_trains_on_unpaired_domains(tmp_path):
    trainer = fit(tmp_path, "toy_translator", steps=30, overrides=["batch_size=8", "log_every=10", "sample_every=30",
                                                                 "checkpoint_every=30", "grid_size=4", "lr=0.05"])
    model = trainer.model
    assert "sample" not in model.capabilities and "translate" in model.capabilities
    assert (tmp_path / "samples/step_0000030.png").exists()  # the grid shows translations
    x = toy_models.two_domain_toy("test").images[:40]  # domain 0 of the test split
    truth = 0.5 * x + 0.3  # the true counterparts, never seen paired in training
    before = (x - truth).abs().mean()
    after = (model.translate(x, 1).detach() - truth).abs().mean()
    assert after < 0.5 * before
    from genlab.registry import load
    assert "sample" not in load(tmp_path / "latest.pt").capabilities


def test_data_spec_round_trips_with_domains_and_camera_and_reads_old_checkpoints():
    spec = DataSpec(channels=3, height=32, width=32, name="shapes3d", camera=CameraSpec(elevation=(10.0, 80.0)),
                    domains=("a", "b"), attributes=("bold",))
    assert DataSpec.from_dict(spec.to_dict()) == spec
    old = {"channels": 1, "height": 28, "width": 28, "num_classes": 10, "binary": False, "name": "mnist"}
    assert DataSpec.from_dict(old) == DataSpec(num_classes=10)
    with pytest.raises(ValueError, match="camera elevation range"):
        CameraSpec(elevation=(80.0, 10.0))


# ----- declared controls ------------------------------------------------------------------------------
def test_controls_are_declared_and_checked():
    from genlab.registry import load

    info = load("infogan-mnist")
    assert [c.name for c in info.controls_for("decode")] == ["digit_code", "code_1", "code_2"]
    assert "truncation" in [c.name for c in info.controls_for("sample")]
    assert info.check_controls("sample", {"digit_code": "3"})["digit_code"] == 3
    with pytest.raises(ValueError, match=r"code_1 must lie in \[-2.0, 2.0\], got 5"):
        info.check_controls("decode", {"code_1": 5})
    with pytest.raises(ValueError, match="infogan has no decode control truncation"):
        info.check_controls("decode", {"truncation": 0.5})
    with pytest.raises(ValueError, match="applies_to"):
        Control("x", "slider", 0.0, applies_to=("paint",))


# ----- EMA of batch-norm statistics -------------------------------------------------------------------
def test_ema_averages_batchnorm_statistics_with_the_weights():
    net = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.BatchNorm1d(3))
    holder = torch.nn.Module()
    holder.net = net
    ema = EMA(holder, ("net",), decay=0.5)
    start = ema.shadow["net.1.running_mean"].clone()
    net.train()
    net(torch.randn(64, 3) + 5)  # live statistics jump toward 5
    ema.update(step=10**6)  # past warm-up: decay 0.5
    live = net[1].running_mean
    assert torch.allclose(ema.shadow["net.1.running_mean"], 0.5 * start + 0.5 * live)
    assert ema.shadow["net.1.num_batches_tracked"] == net[1].num_batches_tracked


# ----- long step chains ------------------------------------------------------------------------------
@pytest.mark.parametrize("length", [1, 2, 40, 41, 1000, 1001])
def test_even_frames_keep_the_first_and_last_and_spread_evenly(length):
    from genlab.explore import even_frames

    kept = even_frames(iter(range(length)), 41)
    assert kept[0] == 0 and kept[-1] == length - 1 and len(kept) == min(length, 41)
    gaps = [b - a for a, b in zip(kept, kept[1:])] or [0]
    ideal = (length - 1) / 40
    assert max(gaps) - min(gaps) <= max(2, 0.25 * ideal)  # evenly spaced, up to the holding stride


def test_a_tuple_given_at_resume_is_no_change_from_the_stored_list():
    from genlab.training.config import parse_recipe, recipe_changes

    stored = parse_recipe('family = "vae"\n[model]\nhidden = [64, 64]\n', "stored")
    given = parse_recipe('family = "vae"\n[model]\nhidden = [64, 64]\n', "given")
    given.model["hidden"] = (64, 64)  # what --set model.hidden=[64,64] makes of it
    assert recipe_changes(stored, given) == {}


def test_ema_leaves_non_persistent_buffers_alone():
    net = torch.nn.Linear(2, 2)
    net.register_buffer("derived", torch.ones(3), persistent=False)  # e.g. a resampling matrix
    holder = torch.nn.Module()
    holder.net = net
    ema = EMA(holder, ("net",), decay=0.5)
    assert "net.derived" not in ema.state_dict() and set(ema.state_dict()) <= set(holder.state_dict())


def test_a_stopped_run_logs_and_saves_at_the_step_it_stopped(tmp_path):
    import threading

    stop = threading.Event()
    recipe = make_recipe("toy", steps=100, overrides=["batch_size=8", "log_every=10", "checkpoint_every=1000",
                                                      "sample_every=1000"])
    seen = []

    def on_event(event):
        if event["kind"] == "log":
            seen.append(event["step"])

    trainer = Trainer(recipe, tmp_path, progress=False, stop=stop, on_event=on_event)
    trainer.model.advance = lambda step: (stop.set() if step == 13 else None) or set()  # Stop pressed at step 13
    trainer.fit()
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert trainer.step == 14 and load_checkpoint(tmp_path / "latest.pt")["step"] == 14
    assert [r["step"] for r in rows] == [10, 14] and seen == [10, 14]
