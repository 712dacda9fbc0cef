import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from genlab.errors import CheckpointError
from genlab.checkpoint import load_checkpoint, save_checkpoint

ROOT = Path(__file__).resolve().parent.parent


def _state(step: int) -> dict:
    return {"family": "toy", "config": {}, "data_spec": {}, "step": step,
            "model": {"w": torch.full((4,), float(step))}}


def test_round_trip_reads_back_exactly(tmp_path):
    path = save_checkpoint(_state(3), tmp_path / "latest.pt")
    state = load_checkpoint(path)
    assert state["step"] == 3 and torch.equal(state["model"]["w"], torch.full((4,), 3.0))
    assert state["format"] == "genlab-checkpoint"
    assert [p.name for p in tmp_path.iterdir()] == ["latest.pt"]  # no temp files left behind


def test_a_write_killed_midway_leaves_the_previous_checkpoint_loadable(tmp_path):
    path = tmp_path / "latest.pt"
    save_checkpoint(_state(1), path)
    before = path.read_bytes()
    # A second save of a big state, killed (SIGKILL, no cleanup) after the temp file is
    # written but before it is renamed over the old one.
    script = textwrap.dedent(f"""
        import os, sys, time, torch
        sys.path.insert(0, {str(ROOT)!r})
        from genlab import checkpoint
        real_fsync = os.fsync
        def slow_fsync(fd):
            print("writing", flush=True)
            time.sleep(60)
        os.fsync = slow_fsync
        state = {{"family": "toy", "config": {{}}, "data_spec": {{}}, "step": 2,
                  "model": {{"w": torch.randn(2_000_000)}}}}
        checkpoint.save_checkpoint(state, {str(path)!r})
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert path.read_bytes() == before
    assert load_checkpoint(path)["step"] == 1
    leftovers = [p for p in tmp_path.iterdir() if p.name != "latest.pt"]
    assert leftovers and all(p.name.endswith(".tmp") for p in leftovers)  # the torn write is only a temp file


def test_missing_file_is_named(tmp_path):
    with pytest.raises(CheckpointError, match=f"{tmp_path / 'none.pt'} does not exist"):
        load_checkpoint(tmp_path / "none.pt")


@pytest.mark.parametrize("seed", range(20))
def test_random_bytes_are_refused(tmp_path, seed):
    import random
    path = tmp_path / "noise.pt"
    rng = random.Random(seed)
    # Some start like a pickle (protocol 2 header), which drives the unpickler deeper.
    head = b"\x80\x02" if seed % 2 else b""
    path.write_bytes(head + bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 5000))))
    with pytest.raises(CheckpointError, match=str(path)) as refused:
        load_checkpoint(path)
    assert "weights_only" not in str(refused.value)


def test_truncated_checkpoint_is_refused(tmp_path):
    path = save_checkpoint(_state(1), tmp_path / "full.pt")
    cut = tmp_path / "cut.pt"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="cut.pt.*truncated or corrupt"):
        load_checkpoint(cut)


def test_other_torch_files_are_refused(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"w": torch.zeros(3)}, path)
    with pytest.raises(CheckpointError, match="weights.pt is not a genlab checkpoint"):
        load_checkpoint(path)


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("container", ["raw_pickle", "torch_zip"])
def test_a_pickle_that_carries_code_is_refused_and_nothing_runs(tmp_path, container):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    payload = {"format": "genlab-checkpoint", "family": "toy", "config": _Exploit(marker)}
    if container == "raw_pickle":
        path.write_bytes(pickle.dumps(payload))
    else:
        torch.save(payload, path)
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="evil.pt is not a genlab checkpoint") as refused:
        load_checkpoint(path)
    if container == "torch_zip":
        assert "other than tensors and plain values" in str(refused.value)
    assert "weights_only" not in str(refused.value)  # never advise turning the safety off
    time.sleep(0.1)
    assert not marker.exists()


def test_a_folder_or_random_bytes_are_named_for_what_they_are(tmp_path):
    with pytest.raises(CheckpointError, match="is a folder, not a checkpoint file"):
        load_checkpoint(tmp_path)
    noise = tmp_path / "noise.pt"
    noise.write_bytes(b"\x13\x37 not a checkpoint")
    with pytest.raises(CheckpointError, match="not a file written by torch.save") as refused:
        load_checkpoint(noise)
    assert "unsafe" not in str(refused.value) and "weights_only" not in str(refused.value)


def test_checkpoint_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = save_checkpoint(_state(1), tmp_path / "latest.pt")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


def test_a_checkpoint_of_an_unknown_family_or_misfit_weights_is_refused_naming_the_file(tmp_path):
    import genlab

    state = _state(1)
    state.update(family="stylegan9", config={}, data_spec={})
    alien = save_checkpoint(state, tmp_path / "alien.pt")
    with pytest.raises(CheckpointError, match=r"alien.pt: unknown model family 'stylegan9'; choose one of .*dcgan"):
        genlab.load(alien)
    model = genlab.build("dcgan", {"width": 8, "latent_dim": 8})
    state.update(family="dcgan", config={"width": 16, "latent_dim": 8}, data_spec={},
                 model=model.state_dict())
    misfit = save_checkpoint(state, tmp_path / "misfit.pt")
    with pytest.raises(CheckpointError, match=r"misfit.pt: weights do not fit a dcgan model.*size mismatch"):
        genlab.load(misfit)
