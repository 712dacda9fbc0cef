"""kill -9 trials: does a killed training resume to exactly the run it would have been?

Two kinds of trial, each on a small DCGAN (width 8, latent 16, batch 16, one torch thread):

- training: `genlab train` is killed with SIGKILL after a random number of logged steps
  (checkpoints every 5 steps, so the kill usually lands between two checkpoints);
- checkpoint write: checkpoints every step, and the process is killed the moment a checkpoint
  temp file (`.latest.pt.*.tmp`) is seen in the run folder, i.e. in the middle of a write.

Each killed run is resumed with `genlab train --resume --out RUN` and run to the end. A trial
*holds* when: the resumed run's final weights, EMA and optimiser state are bitwise equal to an
uninterrupted run of the same recipe; `latest.pt` loads (`genlab.load`) after the kill and after
the resume; `metrics.jsonl` holds every step once; and no temp file is left behind.

    python experiments/fault_trials.py                 # 10 + 10 trials, ~10 min on a busy 2-core box
    python experiments/fault_trials.py --trials 3 --steps 20 --keep /tmp/ft   # smaller; keep the runs

Prints one line per trial and the tried / held counts per kind; exit 1 if any trial did not hold.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent


def recipe(steps: int, checkpoint_every: int) -> list[str]:
    return ["dcgan", "--data", "mnist", "--steps", str(steps), "--no-progress",
            "--set", "width=8", "--set", "latent_dim=16", "--set", "batch_size=16", "--set", "threads=1",
            "--set", "log_every=1", "--set", "sample_every=100000", "--set", f"checkpoint_every={checkpoint_every}",
            "--set", "ema_decay=0.9", "--set", "seed=0"]


def env() -> dict:
    e = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    return e


def train_cmd(args: list[str], out: Path, resume: bool = False) -> list[str]:
    cmd = [sys.executable, "-m", "genlab", "train", *args, "--out", str(out)]
    if resume:  # the run's own recipe (recipe.toml), as the README shows
        cmd = [sys.executable, "-m", "genlab", "train", "dcgan", "--resume", "--out", str(out), "--no-progress"]
    return cmd


def run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, env=env(), capture_output=True, text=True)


def logged_steps(out: Path) -> list[int]:
    path = out / "metrics.jsonl"
    if not path.exists():
        return []
    steps = []
    for line in path.read_text().splitlines():
        try:
            steps.append(int(json.loads(line)["step"]))
        except (ValueError, KeyError):
            pass  # a half-written last line is the kill's doing; counted as a failure below if it stays
    return steps


def tensors(obj, prefix=""):
    """Every tensor in a nested checkpoint dict, by path."""
    if isinstance(obj, torch.Tensor):
        yield prefix, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from tensors(v, f"{prefix}/{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from tensors(v, f"{prefix}/{i}")


def state(path: Path) -> dict:
    ck = torch.load(path, map_location="cpu", weights_only=True)
    return {k: v for part in ("model", "ema", "optim", "optimizers", "optimizer")
            if part in ck for k, v in tensors(ck[part], part)}


def same(a: dict, b: dict) -> tuple[bool, str]:
    if a.keys() != b.keys():
        return False, f"different tensors: {sorted(a.keys() ^ b.keys())[:3]}"
    for k in a:
        if a[k].shape != b[k].shape or not torch.equal(a[k], b[k]):
            return False, f"{k} differs"
    return True, ""


def loadable(path: Path) -> tuple[bool, str]:
    r = run([sys.executable, "-c", "import sys, genlab; genlab.load(sys.argv[1])", str(path)])
    return r.returncode == 0, r.stderr.strip().splitlines()[-1] if r.returncode else ""


def kill_after_logged(proc: subprocess.Popen, out: Path, at: int) -> str:
    while proc.poll() is None:
        if len(logged_steps(out)) >= at:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return f"killed after {len(logged_steps(out))} logged steps"
        time.sleep(0.005)
    return "finished before the kill"


def kill_in_write(proc: subprocess.Popen, out: Path, nth: int) -> str:
    seen, names = 0, set()
    while proc.poll() is None:
        try:
            tmps = [e.name for e in os.scandir(out) if e.name.startswith(".latest.pt.") and e.name.endswith(".tmp")]
        except FileNotFoundError:
            tmps = []
        new = [t for t in tmps if t not in names]
        if new:
            names.update(new)
            seen += 1
            if seen >= nth:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return f"killed during checkpoint write #{seen}"
    return "finished before the kill"


def trial(kind: str, i: int, work: Path, args: list[str], ref: dict, steps: int, rng: random.Random) -> dict:
    out = work / f"{kind}-{i}"
    proc = subprocess.Popen(train_cmd(args, out), cwd=ROOT, env=env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    how = (kill_after_logged(proc, out, rng.randint(2, steps - 2)) if kind == "training"
           else kill_in_write(proc, out, rng.randint(1, steps - 2)))
    problems = []
    ck = out / "latest.pt"
    if ck.exists():
        ok, why = loadable(ck)
        if not ok:
            problems.append(f"latest.pt not loadable after the kill: {why}")
    r = run(train_cmd(args, out, resume=ck.exists()))
    if r.returncode != 0:
        problems.append(f"resume failed: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}")
    else:
        ok, why = loadable(ck)
        if not ok:
            problems.append(f"latest.pt not loadable after resume: {why}")
        ok, why = same(state(ck), ref)
        if not ok:
            problems.append(f"weights differ from the uninterrupted run: {why}")
    logged = logged_steps(out)
    if len(logged) != len(set(logged)):
        dup = sorted({s for s in logged if logged.count(s) > 1})
        problems.append(f"metrics.jsonl repeats steps {dup[:5]}{'...' if len(dup) > 5 else ''}")
    if sorted(set(logged)) != list(range(1, steps + 1)):
        problems.append(f"metrics.jsonl misses steps (has {len(set(logged))} of {steps})")
    tmps = [p.name for p in out.glob(".*.tmp")]
    if tmps:
        problems.append(f"temp files left: {tmps}")
    return {"kind": kind, "trial": i, "how": how, "held": not problems, "problems": problems}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=10, help="trials of each kind")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0, help="seeds when to kill")
    ap.add_argument("--keep", help="keep the run folders here (default: a temp folder, removed)")
    ap.add_argument("--json", help="write the results here")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    work = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="genlab-fault-"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    results = []
    try:
        for kind, every in (("training", 5), ("checkpoint-write", 1)):
            args = recipe(a.steps, every)
            ref_out = work / f"reference-{kind}"
            r = run(train_cmd(args, ref_out))
            if r.returncode != 0:
                print(f"reference run failed:\n{r.stderr}", file=sys.stderr)
                return 2
            ref = state(ref_out / "latest.pt")
            for i in range(a.trials):
                res = trial(kind, i, work, args, ref, a.steps, rng)
                results.append(res)
                print(f"{kind:16s} #{i:2d} {'held' if res['held'] else 'FAILED':6s} {res['how']}"
                      + (f" | {'; '.join(res['problems'])}" if res["problems"] else ""), flush=True)
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\n{'kind':16s} tried held   ({a.steps} steps each, {time.time() - t0:.0f} s in all)")
    for kind in ("training", "checkpoint-write"):
        rs = [r for r in results if r["kind"] == kind]
        print(f"{kind:16s} {len(rs):5d} {sum(r['held'] for r in rs):4d}")
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))
    return 0 if all(r["held"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
