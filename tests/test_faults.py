"""Bad input ends in one line naming what was wrong (exit 2), and no fault loses a good checkpoint
(issues 16 and 17). In-process CLI calls (`genlab.cli.main`) keep these fast."""
import json

import pytest
import torch

import toy_models  # noqa: F401
from genlab.checkpoint import CHECKPOINT_NAME, load_checkpoint
from genlab.cli import main
from genlab.errors import TrainingDiverged
from genlab.training import make_recipe
from genlab.training.trainer import Trainer

TINY = ["--set", "width=8", "--set", "latent_dim=8", "--set", "batch_size=8", "--no-progress"]


def cli(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("args, message", [
    (["--steps", "-5"], "steps must be at least 1, got -5"),
    (["--data", "mnst"], "unknown data set 'mnst'"),
    (["--set", "batch_size=0"], "batch_size must be at least 1, got 0"),
    (["--set", "generator_loss='foo'"], "option generator_loss must be one of non_saturating, minimax, got 'foo'"),
    (["--set", "latent_dim=-3"], "option latent_dim must be >= 1, got -3"),
    (["--set", "latent_dim=0"], "option latent_dim must be >= 1, got 0"),
    (["--set", "width=0"], "option width must be >= 1, got 0"),
    (["--set", "lr_g=-1e-3"], r"\[optim\] lr_g must be a finite learning rate > 0"),
    (["--set", "lr_g=nan"], r"\[optim\] lr_g must be a finite learning rate > 0, got nan"),
    (["--set", "beta1=2"], r"\[optim\] beta1 must be in \[0, 1\), got 2"),
    (["--set", "grid_size=0"], "grid_size must be at least 1, got 0"),
    (["--set", "threads=-1"], "threads must be 0 or more, got -1"),
    (["--set", "seed=1180591620717411303424"], r"seed must be an integer in \[0, 2\*\*63 - 1\]"),
    (["--device", "tpu9"], "device 'tpu9' is not one of auto, cpu, cuda, cuda:N, mps"),
])
def test_dry_run_makes_every_check_a_real_run_makes(capsys, tmp_path, args, message):
    import re

    code, out, err = cli(capsys, "train", "dcgan", "--dry-run", "--out", tmp_path / "run", *args)
    assert code == 2 and re.search(message, err), err
    assert err.count("\n") == 1  # one line, no traceback
    assert not (tmp_path / "run").exists()  # a dry run writes nothing


def test_a_good_dry_run_prints_the_recipe_and_writes_nothing(capsys, tmp_path):
    code, out, _ = cli(capsys, "train", "dcgan", "--dry-run", "--out", tmp_path / "run", "--set", "lr_g=1e-4")
    assert code == 0 and 'family = "dcgan"' in out and "[optim]\nlr_g = 0.0001" in out
    assert not (tmp_path / "run").exists()


def test_infinite_weights_are_never_checkpointed(tmp_path):
    """An update can make weights inf before any loss shows NaN (lr_g=inf did): the save refuses."""
    recipe = make_recipe("toy", steps=2, overrides=["batch_size=8", "checkpoint_every=1", "log_every=1"])
    trainer = Trainer(recipe, tmp_path, progress=False)
    trainer.fit()
    good = load_checkpoint(tmp_path / CHECKPOINT_NAME)
    with torch.no_grad():
        trainer.model.mean.weight[0, 0] = float("inf")
    with pytest.raises(TrainingDiverged, match=r"weight mean.weight became non-finite by step 2.*untouched"):
        trainer.save()
    after = load_checkpoint(tmp_path / CHECKPOINT_NAME)
    assert torch.equal(after["model"]["mean.weight"], good["model"]["mean.weight"])
    for opt in trainer.optimizers.values():  # optimiser moments are checked too
        for st in opt.state.values():
            st["exp_avg"].fill_(float("nan"))
    with torch.no_grad():
        trainer.model.mean.weight[0, 0] = 0.0
    with pytest.raises(TrainingDiverged, match="optimiser state exp_avg"):
        trainer.save()


def test_sample_refuses_non_finite_images(capsys, tmp_path):
    from genlab.checkpoint import save_checkpoint

    state = load_checkpoint("checkpoints/dcgan-mnist.pt")
    state["model"] = {k: (v * float("inf") if "project" in k and v.is_floating_point() else v)
                      for k, v in state["model"].items()}
    save_checkpoint(state, tmp_path / "broken.pt")
    code, _, err = cli(capsys, "sample", tmp_path / "broken.pt", "--n", 4, "--out", tmp_path / "s.npz")
    assert code == 2 and "NaN/inf pixels" in err and not (tmp_path / "s.npz").exists()


def test_resume_after_a_kill_keeps_each_log_step_once_and_clears_temp_files(tmp_path):
    base = ["width=8", "latent_dim=8", "batch_size=8", "log_every=1", "checkpoint_every=3", "sample_every=1000"]
    Trainer(make_recipe("dcgan", steps=3, overrides=base), tmp_path, progress=False).fit()
    log = tmp_path / "metrics.jsonl"
    # What a kill -9 between two saves leaves: rows after the checkpoint's step, a torn row, a temp file.
    log.write_text(log.read_text() + json.dumps({"step": 4, "x": 1}) + "\n" + '{"step": 5, "x"')
    (tmp_path / f".{CHECKPOINT_NAME}.abc123.tmp").write_bytes(b"half a checkpoint")
    Trainer(make_recipe("dcgan", steps=6, overrides=base), tmp_path, resume=True, progress=False).fit()
    steps = [json.loads(line)["step"] for line in log.read_text().splitlines() if "event" not in line]
    assert steps == [1, 2, 3, 4, 5, 6]
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("where", ["file", "under_file"])
def test_an_unwritable_out_is_one_line(capsys, tmp_path, where):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    out = blocker if where == "file" else blocker / "run"
    code, _, err = cli(capsys, "train", "dcgan", "--steps", 1, "--out", out, *TINY)
    assert code == 2 and "cannot write the run folder" in err and str(blocker) in err


def test_eval_checks_its_output_path_before_evaluating(capsys, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    code, out, err = cli(capsys, "eval", "dcgan-mnist", "--out", blocker / "x.json")
    assert code == 2 and "cannot be written" in err and "fid" not in out


def test_seeds_out_of_range_are_named(capsys, tmp_path):
    code, _, err = cli(capsys, "sample", "dcgan-mnist", "--seed", 2**70, "--out", tmp_path / "s.png")
    assert code == 2 and "seed must be an integer in [0, 2**63 - 1]" in err


def test_plots_say_what_a_latent_model_lacks(capsys, tmp_path):
    code, _, err = cli(capsys, "plots", "dcgan-mnist", "--out", tmp_path)
    assert code == 2 and "latent space has 100 dimensions and no encoder" in err


def test_a_folder_of_few_or_broken_pictures_is_named_before_training(capsys, tmp_path):
    from PIL import Image

    folder = tmp_path / "pics" / "all"
    folder.mkdir(parents=True)
    for i in range(3):
        Image.new("RGB", (8, 8), (i * 60, 0, 0)).save(folder / f"{i}.png")
    code, _, err = cli(capsys, "train", "dcgan", "--data", f"folder:{tmp_path / 'pics'}", "--dry-run",
                       "--set", "batch_size=8", "--set", "num_workers=0")
    assert code == 2 and "batch_size 8 is larger than the 3 images found" in err
    (folder / "notes.png").write_text("not a picture")
    code, _, err = cli(capsys, "train", "dcgan", "--data", f"folder:{tmp_path / 'pics'}", "--dry-run",
                       "--set", "batch_size=2")
    assert code == 0 and "skipped 1 of 4 files" in err and "notes.png" in err
    for f in folder.glob("?.png"):
        f.unlink()
    code, _, err = cli(capsys, "train", "dcgan", "--data", f"folder:{tmp_path / 'pics'}", "--dry-run")
    assert code == 2 and "none of the 1 files" in err and "readable picture" in err


def test_list_aligns_long_names(capsys):
    code, out, _ = cli(capsys, "list")
    rows = [line for line in out.splitlines() if line.startswith("  ") and "step" in line]
    assert code == 0 and len({row.index("step") for row in rows}) == 1


def test_a_full_disk_keeps_the_last_good_checkpoint_and_says_so(tmp_path, monkeypatch):
    import errno

    from genlab.errors import GenlabError
    from genlab.training import trainer as trainer_module

    recipe = make_recipe("toy", steps=2, overrides=["batch_size=8", "checkpoint_every=1", "log_every=1"])
    run = Trainer(recipe, tmp_path, progress=False)
    run.fit()
    good = (tmp_path / CHECKPOINT_NAME).read_bytes()

    def full(state, path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(trainer_module, "save_checkpoint", full)
    with pytest.raises(GenlabError, match="No space left on device; the last good checkpoint .* is untouched"):
        run.save()
    assert (tmp_path / CHECKPOINT_NAME).read_bytes() == good


def test_a_missing_torchvision_set_suggests_a_command_that_exists(tmp_path):
    from genlab.data import load_dataset
    from genlab.errors import GenlabError

    with pytest.raises(GenlabError) as missing:
        load_dataset("fashion-mnist", root=str(tmp_path / "nothing-here"))
    message = str(missing.value)
    assert "genlab train ... --data fashion-mnist --download" in message
    from genlab.cli import build_parser  # the suggested flags parse

    args = build_parser().parse_args(["train", "dcgan", "--data", "fashion-mnist", "--download"])
    assert args.download and args.data == "fashion-mnist"


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_a_signal_stops_at_a_step_saves_and_resumes_bitwise(tmp_path, sig):
    """kill (SIGTERM) or Ctrl+C (SIGINT): the run finishes its step, writes its checkpoint, says so and
    exits 128 + the signal; resuming it to step K + 4 equals one uninterrupted run of K + 4 steps."""
    import signal
    import subprocess
    import sys
    import time

    from state_checks import assert_same

    sets = ["width=8", "latent_dim=8", "batch_size=8", "log_every=1", "checkpoint_every=100000",
            "sample_every=100000", "threads=1"]
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "genlab", "train", "dcgan", "--steps", "100000", "--out", str(run), "--no-progress"]
    cmd += [a for s in sets for a in ("--set", s)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = run / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not log.exists() or len(log.read_text().splitlines()) < 3):
        time.sleep(0.2)
    proc.send_signal(getattr(signal, sig))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + int(getattr(signal, sig)), err
    assert f"{sig} received" in err and "stopped by" in err and "--resume" in err, err
    k = load_checkpoint(run / CHECKPOINT_NAME)["step"]
    assert 3 <= k < 100000 and f"({k} steps" in out
    assert not list(run.glob("*.tmp"))

    base = [s for s in sets if not s.startswith("threads")] + ["checkpoint_every=1000"]
    Trainer(make_recipe("dcgan", steps=k + 4, overrides=base), tmp_path / "straight", progress=False).fit()
    Trainer(make_recipe("dcgan", steps=k + 4, overrides=base), run, resume=True, progress=False).fit()
    a, b = load_checkpoint(tmp_path / "straight" / CHECKPOINT_NAME), load_checkpoint(run / CHECKPOINT_NAME)
    assert a["step"] == b["step"] == k + 4
    assert_same(a["model"], b["model"], "model")
    assert_same(a["optimizers"], b["optimizers"], "optimizers")


def test_a_checkpoint_whose_images_would_be_nan_never_replaces_the_good_one(tmp_path):
    """lr_g = 1e10 leaves finite weights of ~1e10 that draw NaN: the save refuses them, names why,
    and the checkpoint kept still samples finite images."""
    import genlab

    base = ["width=8", "latent_dim=8", "batch_size=8", "checkpoint_every=1", "sample_every=1000"]
    Trainer(make_recipe("dcgan", steps=2, overrides=base), tmp_path, progress=False).fit()
    with pytest.raises(TrainingDiverged, match=r"images of 4 fixed latents are NaN/inf at step 3.*untouched"):
        Trainer(make_recipe("dcgan", steps=6, overrides=base + ["lr_g=1e10"]), tmp_path, resume=True,
                progress=False).fit()
    assert load_checkpoint(tmp_path / CHECKPOINT_NAME)["step"] == 2
    images = genlab.load(tmp_path / CHECKPOINT_NAME).sample(8, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(images).all()


def test_a_full_disk_is_one_line_keeps_the_last_checkpoint_and_no_temp_file(capsys, tmp_path, monkeypatch):
    """torch reports ENOSPC from its zip writer as a RuntimeError ('unexpected pos'): one line
    naming the folder, the free and the needed space; the last good checkpoint kept, no temp file."""
    import shutil
    from collections import namedtuple

    run = tmp_path / "run"
    assert cli(capsys, "train", "dcgan", "--steps", 2, "--out", run, *TINY)[0] == 0
    good = (run / CHECKPOINT_NAME).read_bytes()
    real_save = torch.save

    def full_disk_save(obj, f, *a, **k):
        real_save(obj, f, *a, **k)
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 4160 vs 4054")

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(torch, "save", full_disk_save)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9, 0))
    code, _, err = cli(capsys, "train", "dcgan", "--steps", 4, "--resume", "--out", run, *TINY)
    assert code == 2 and len(err.strip().splitlines()) <= 2, err
    assert f"no space left on the device of {run}" in err and "0.0 MB free" in err and "untouched" in err
    assert (run / CHECKPOINT_NAME).read_bytes() == good and not list(run.glob("*.tmp"))


def test_sample_names_an_empty_folder_and_takes_a_run_folder(capsys, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = cli(capsys, "sample", empty, "--n", 2, "--out", tmp_path / "s.png")
    assert code == 2 and "is a folder with no checkpoint in it" in err and str(empty) in err
    run = tmp_path / "run"
    assert cli(capsys, "train", "dcgan", "--steps", 1, "--out", run, *TINY)[0] == 0
    code, _, err = cli(capsys, "sample", run, "--n", 2, "--out", tmp_path / "s.png")
    assert code == 0 and (tmp_path / "s.png").exists(), err


def test_a_model_too_large_for_memory_is_refused_before_it_is_built(capsys, tmp_path):
    """Counted on the meta device (nothing allocated): one line naming the option and the estimate."""
    code, _, err = cli(capsys, "train", "vae", "--set", "latent_dim=100000000", "--steps", 1, "--out", tmp_path / "r")
    assert code == 2 and "latent_dim=100000000" in err and "parameters" in err and "GB free" in err, err
    assert len(err.strip().splitlines()) == 1
