"""Data-parallel training under torchrun, 2 CPU processes on the gloo backend."""
import json
import socket
import subprocess
import sys
from pathlib import Path

import torch

from genlab.checkpoint import load_checkpoint
from genlab.training.distributed import DistInfo, shard_indices

ROOT = Path(__file__).resolve().parent.parent


def test_shards_are_disjoint_and_cover_the_data():
    shards = [shard_indices(103, DistInfo(rank=r, world_size=3)) for r in range(3)]
    together = torch.cat(shards).sort().values
    assert torch.equal(together, torch.arange(103))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_two_gloo_processes_train_in_sync_and_only_rank0_writes(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), "-m", "genlab", "train", "dcgan", "--steps", "6", "--out", str(out),
           "--no-progress", "--device", "cpu"]
    for kv in ["width=8", "latent_dim=8", "batch_size=8", "log_every=3", "checkpoint_every=3",
               "sample_every=6", "grid_size=4", "threads=1"]:
        cmd += ["--set", kv]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    # check_in_sync (an all-gather of weight checksums before each save) raises if ranks differ.
    state = load_checkpoint(out / "latest.pt")
    assert state["step"] == 6 and state["device"] == "cpu x2"
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [3, 6]  # one writer: no duplicated lines
    assert proc.stdout.count("checkpoint:") == 1  # only rank 0 reports
    # Throughput counts both ranks' images.
    assert all(r["images_per_s"] > 0 for r in rows)
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["step_0000006.png"]


PROBE = Path(__file__).resolve().parent / "dist_probe.py"


def _torchrun(nproc: int, *args) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_addr",
           "127.0.0.1", "--master_port", str(_free_port()), str(PROBE), *map(str, args)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_ranks_draw_their_own_noise_and_average_to_the_combined_batch_gradient(tmp_path):
    _torchrun(2, "noise", tmp_path / "noise.json")
    result = json.loads((tmp_path / "noise.json").read_text())
    assert result["noise_differs"]  # before the fix every rank drew the same fake batch
    assert result["max_grad_diff"] <= 1e-6 * max(1.0, result["grad_scale"])


def test_resume_on_three_ranks_with_uneven_shards_is_exact(tmp_path):
    _torchrun(3, "train", tmp_path / "whole", 6)
    _torchrun(3, "train", tmp_path / "split", 4)  # 100 examples: shards of 34, 33 and 33
    _torchrun(3, "train", tmp_path / "split", 6, "--resume")
    whole, split = load_checkpoint(tmp_path / "whole/latest.pt"), load_checkpoint(tmp_path / "split/latest.pt")
    assert len(split["rng_ranks"]) == 3
    assert [len(r["batches"]["perm"]) for r in split["rng_ranks"]] == [34, 33, 33]
    for k, v in whole["model"].items():
        assert torch.equal(v, split["model"][k]), k
    for r in range(3):
        assert torch.equal(whole["rng_ranks"][r]["torch"], split["rng_ranks"][r]["torch"])


def test_a_signal_to_one_rank_stops_every_rank_at_the_same_step_and_rank0_saves(tmp_path):
    """SIGTERM reaching one worker only (a scheduler may signal one process): the ranks agree on
    the step (an all-reduce of the stop flag), rank 0 writes the checkpoint, torchrun exits non-zero."""
    import os
    import signal
    import time

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), "-m", "genlab", "train", "dcgan", "--steps", "100000", "--out",
           str(out), "--no-progress", "--device", "cpu"]
    for kv in ["width=8", "latent_dim=8", "batch_size=8", "log_every=1", "checkpoint_every=100000",
               "sample_every=100000", "grid_size=4", "threads=1"]:
        cmd += ["--set", kv]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    log = out / "metrics.jsonl"
    deadline = time.time() + 180
    while time.time() < deadline and (not log.exists() or len(log.read_text().splitlines()) < 3):
        time.sleep(0.2)
    workers = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert len(workers) == 2, workers
    os.kill(int(workers[-1]), signal.SIGTERM)  # one rank only
    stdout, stderr = proc.communicate(timeout=180)
    assert proc.returncode != 0 and "SIGTERM received" in stderr, stderr[-3000:]
    state = load_checkpoint(out / "latest.pt")  # check_in_sync ran before this save: same weights
    assert 3 <= state["step"] < 100000 and state["device"] == "cpu x2"
    assert stdout.count("checkpoint:") == 1
