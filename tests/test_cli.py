"""The CLI: real commands in a subprocess; where only the message and exit code matter, main() in
this process (what `python -m genlab` calls), which saves a torch import per case."""
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


def genlab(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "genlab", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def genlab_here(capsys, *args) -> tuple[int, str]:
    """main() in this process, as `python -m genlab` calls it (saves a torch import per call):
    the exit code and what went to stderr."""
    from genlab.cli import main

    try:
        code = main([str(a) for a in args])
    except SystemExit as e:  # argparse's own refusals
        code = e.code
    return code, capsys.readouterr().err


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    r = genlab("train", "dcgan", "--steps", 3, "--out", out, "--no-progress", "--set", "width=8",
               "--set", "latent_dim=8", "--set", "batch_size=8", "--set", "sample_every=3")
    assert r.returncode == 0, r.stderr
    return out / "latest.pt"


def test_sample_writes_png_grid_and_uint8_npz(tiny_checkpoint, tmp_path):
    r = genlab("sample", tiny_checkpoint, "--n", 5, "--seed", 3, "--out", tmp_path / "s.npz")
    assert r.returncode == 0, r.stderr
    images = np.load(tmp_path / "s.npz")["images"]
    assert images.shape == (5, 28, 28) and images.dtype == np.uint8
    again = genlab("sample", tiny_checkpoint, "--n", 5, "--seed", 3, "--out", tmp_path / "t.npz")
    assert again.returncode == 0 and np.array_equal(np.load(tmp_path / "t.npz")["images"], images)
    r = genlab("sample", tiny_checkpoint, "--n", 4, "--out", tmp_path / "grid.png")
    assert r.returncode == 0 and (tmp_path / "grid.png").stat().st_size > 100


def test_dry_run_prints_the_resolved_recipe():
    r = genlab("train", "--config", "experiments/dcgan_mnist.toml", "--set", "lr_g=1e-4", "--set", "steps=7",
               "--dry-run")
    assert r.returncode == 0, r.stderr
    assert 'family = "dcgan"' in r.stdout and "lr_g = 0.0001" in r.stdout and "steps = 7" in r.stdout


def test_list_names_families():
    r = genlab("list")
    assert r.returncode == 0 and "dcgan" in r.stdout


@pytest.mark.parametrize("args, message", [
    (["train", "dcgn"], "unknown model family 'dcgn'; choose one of .*dcgan"),
    (["train", "dcgan", "--set", "lr=1e-4"], "unknown option 'lr'.*lr_d.*lr_g"),
    (["train", "dcgan", "--set", "steps=many"], "steps must be int, got 'many'"),
    (["train", "dcgan", "--set", "batch_size"], "--set 'batch_size' is not key=value"),
    (["train", "dcgan", "--data", "imagenet"], "unknown data set 'imagenet'; choose one of mnist"),
    (["train", "--config", "experiments/nope.toml"], "recipe experiments/nope.toml does not exist"),
    (["sample", "nothing.pt", "--out", "x.png"], "checkpoint nothing.pt does not exist"),
    (["sample", "nosuchmodel", "--out", "x.png"], "no checkpoint named 'nosuchmodel'"),
    (["eval", "missing/latest.pt"], "checkpoint missing/latest.pt does not exist"),
    (["eval", "dcgan-mnist", "--seeds", "0"], "--seeds: needs at least two different seeds"),
    (["eval", "dcgan-mnist", "--seeds", "0,x"], "--seeds: takes comma-separated integers .*not an integer"),
    (["eval", "dcgan-mnist", "--seeds", "0,-1"], "--seeds: takes comma-separated integers .*'0,-1'"),
    (["eval", "--all", "--seeds", "0,1"], "--seeds goes with one CHECKPOINT, not --all"),
    (["train", "dcgan", "--steps", "x"], "argument --steps: invalid int value: 'x'"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_user_errors_are_one_line_with_exit_code_2(args, message, capsys):
    """A clean one-line message and exit code 2, no traceback (in this process; the next test
    runs the same through `python -m genlab` once)."""
    code, err = genlab_here(capsys, *args)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("genlab: error:")
    assert re.search(message, lines[0]), lines[0]


def test_a_user_error_from_the_command_line_is_one_line_with_exit_code_2():
    r = genlab("train", "dcgn")
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr.strip().splitlines() == [r.stderr.strip()] and "unknown model family 'dcgn'" in r.stderr


def test_eval_seeds_prints_a_table_of_each_seed_and_their_spread(tiny_checkpoint, tmp_path, capsys):
    from genlab.cli import main

    code = main(["eval", str(tiny_checkpoint), "--n", "20", "--seeds", "0,1", "--out", str(tmp_path / "s.json")])
    out = capsys.readouterr().out
    assert code == 0
    lines = [line for line in out.splitlines() if line.startswith("|")]
    assert lines[0].startswith("| seed | fid | kid |") and set(lines[1]) == set("|-")
    assert lines[1].count("|") == lines[0].count("|") and [line.split(" | ")[0] for line in lines[2:]] == [
        "| 0", "| 1", "| mean +- sd"]
    saved = json.loads((tmp_path / "s.json").read_text())
    assert saved["seeds"] == [0, 1] and f"{saved['per_seed']['1']['fid']:.4g}" in lines[3]


def test_bad_sample_output_suffix_and_count(tiny_checkpoint):
    r = genlab("sample", tiny_checkpoint, "--out", "x.jpg")
    assert r.returncode == 2 and ".png" in r.stderr and ".npz" in r.stderr
    r = genlab("sample", tiny_checkpoint, "--n", 0, "--out", "x.png")
    assert r.returncode == 2 and "--n must be at least 1" in r.stderr


def test_corrupt_checkpoint_is_refused_by_the_cli(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    r = genlab("sample", bad, "--out", tmp_path / "x.png")
    assert r.returncode == 2 and "bad.pt" in r.stderr and "Traceback" not in r.stderr


def test_gallery_writes_an_index_and_a_page_per_checkpoint(tiny_checkpoint, tmp_path):
    r = genlab("gallery", tiny_checkpoint, "--out", tmp_path / "g", "--n", 4, "--frames", 4)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "g"
    stem = tiny_checkpoint.parent.name  # a run's latest.pt is named after its folder
    assert {"index.html", f"{stem}.html"} <= {p.name for p in out.iterdir()}
    pictures = {p.name for p in (out / stem).iterdir()}
    assert {"samples.png", "thumb.png", "interpolation.png", "interpolation.gif"} <= pictures
    assert f'href=\'{stem}.html\'' in (out / "index.html").read_text()
    assert f"src='{stem}/interpolation.gif'" in (out / f"{stem}.html").read_text()
    assert f"[1/1] {tiny_checkpoint}" in r.stdout and "interpolation" in r.stdout
    from PIL import Image
    gif = Image.open(out / stem / "interpolation.gif")
    assert gif.n_frames > 5


def test_sample_controls_are_checked_against_the_model(tmp_path, capsys):
    code, err = genlab_here(capsys, "sample", "nade-mnist", "--n", 1, "--truncation", 0.5, "--out", tmp_path / "x.png")
    assert code == 2 and "nade has no sample control truncation; it takes temperature" in err
    code, err = genlab_here(capsys, "sample", "infogan-mnist", "--n", 2, "--control", "digit_code=11",
                            "--out", tmp_path / "y.png")
    assert code == 2 and "digit_code must be one of random, 0, 1" in err
    code, err = genlab_here(capsys, "sample", "infogan-mnist", "--n", 2, "--control", "digit_code=3",
                            "--out", tmp_path / "y.png")
    assert code == 0 and (tmp_path / "y.png").exists(), err
    code, err = genlab_here(capsys, "sample", "nade-mnist", "--n", 2, "--temperature", 0.7, "--out", tmp_path / "t.png")
    assert code == 0 and (tmp_path / "t.png").exists(), err


def test_a_bad_gan_option_is_refused_before_training(capsys, tmp_path):
    code, _ = genlab_here(capsys, "train", "dcgan", "--steps", 1, "--set", 'generator_loss="wasserstein"', "--dry-run")
    assert code == 2  # a dry run makes the same checks
    out = tmp_path / "never-written"
    code, err = genlab_here(capsys, "train", "dcgan", "--steps", 1, "--out", out, "--set",
                            'generator_loss="wasserstein"')
    assert code == 2 and "option generator_loss must be one of non_saturating, minimax, got 'wasserstein'" in err
    assert "Traceback" not in err and not out.exists()


def test_train_help_lists_every_registered_data_set(monkeypatch):
    """--data's help comes from the data registry: every registered set, and the two-folder form."""
    from genlab import data
    from genlab.cli import build_parser

    r = genlab("train", "--help")
    assert r.returncode == 0, r.stderr
    words = set(r.stdout.replace(",", " ").split())
    # the sets a fresh process registers (test modules add toy sets to this one)
    fresh = subprocess.run([sys.executable, "-c", "from genlab import data; print(*data.dataset_names())"],
                           capture_output=True, text=True, check=True).stdout.split()
    assert "mnist-styles8" in fresh
    for name in ("mnist", "mnist-binary", "folder:PATH", "pair:DIR_A", "mnist-pad32", "mnist-styles2",
                 "mnist-styles8", "shapes3d", *fresh):
        assert name.split(",")[0] in words, name  # whole: no name broken across lines at its hyphen
    assert "pair:DIR_A,DIR_B" in r.stdout
    # generated, not typed: a set registered later is listed too
    monkeypatch.setitem(data._REGISTERED, "my-new-set", lambda *a: None)
    train = next(a for a in build_parser()._subparsers._group_actions[0].choices["train"]._actions
                 if "--data" in a.option_strings)
    assert "my-new-set" in train.help
