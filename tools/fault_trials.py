"""Fault trials: does a killed or signalled training resume to exactly the run it would have been,
and does each kind of bad input end in one line that loses nothing?

Four kinds of interruption, each on a small DCGAN (width 8, latent 16, batch 16, one torch thread):

- training: `genlab train` is killed with SIGKILL after a random number of logged steps
  (checkpoints every 5 steps, so the kill usually lands between two checkpoints);
- checkpoint write: checkpoints every step, and the process is killed the moment a checkpoint
  temp file (`.latest.pt.*.tmp`) is seen in the run folder, i.e. in the middle of a write;
- sigterm / sigint: `kill` or Ctrl+C after a random number of logged steps (checkpoints every
  5 steps): the run must finish its step, save it (no logged step lost), say so and exit 128 +
  the signal.

Then one trial per bad input (`bad input` rows): a full disk (a 16 MB tmpfs filled up after a
first checkpoint; needs root), weights that draw NaN (lr_g = 1e10), a model too large for memory,
`sample` on an empty folder, a seed of 2**70. Each must exit 2 with its one-line message and no traceback, and a full disk must
keep the last good checkpoint and leave no temp file.

Each killed run is resumed with `genlab train --resume --out RUN` and run to the end. A trial
*holds* when: the resumed run's final weights, EMA and optimiser state are bitwise equal to an
uninterrupted run of the same recipe; `latest.pt` loads (`genlab.load`) after the kill and after
the resume; `metrics.jsonl` holds every step once; and no temp file is left behind.

    python tools/fault_trials.py                 # 10 trials of each kind, ~20 min on a busy 2-core box
    python tools/fault_trials.py --trials 3 --steps 20 --keep /tmp/ft   # smaller; keep the runs

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


def kill_after_logged(proc: subprocess.Popen, out: Path, at: int, sig: int = signal.SIGKILL) -> str:
    while proc.poll() is None:
        if len(logged_steps(out)) >= at:
            seen = len(logged_steps(out))
            proc.send_signal(sig)
            proc.wait()
            return f"{signal.Signals(sig).name} after {seen} logged steps"
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
    sig = {"sigterm": signal.SIGTERM, "sigint": signal.SIGINT}.get(kind)
    if kind == "checkpoint-write":
        how = kill_in_write(proc, out, rng.randint(1, steps - 2))
    else:
        how = kill_after_logged(proc, out, rng.randint(2, steps - 2), sig or signal.SIGKILL)
    problems = []
    ck = out / "latest.pt"
    if sig is not None and how != "finished before the kill":  # a clean stop: saved at the last logged step
        err = proc.stderr.read().decode()
        if proc.returncode != 128 + int(sig):
            problems.append(f"exit {proc.returncode}, not {128 + int(sig)}")
        if "stopped by" not in err or "Traceback" in err:
            problems.append(f"no one-line stop message: {err.strip().splitlines()[-1:]}")
        saved = torch.load(ck, map_location="cpu", weights_only=True)["step"] if ck.exists() else 0
        if saved != max(logged_steps(out), default=0):
            problems.append(f"saved step {saved}, last logged {max(logged_steps(out), default=0)}: steps lost")
        how += f", saved at step {saved}"
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


def bad_input_trials(work: Path) -> list[dict]:
    """One trial per bad input: exit 2, its message, no traceback (and a full disk loses nothing)."""
    small = recipe(2, 1)
    trials = [
        ("weights that draw NaN", train_cmd(recipe(6, 1) + ["--set", "lr_g=1e10"], work / "nan"),
         "images of 4 fixed latents are NaN/inf"),
        ("model too large", [sys.executable, "-m", "genlab", "train", "vae", "--set", "latent_dim=100000000",
                             "--steps", "1", "--out", str(work / "huge")], "GB free"),
        ("sample an empty folder", [sys.executable, "-m", "genlab", "sample", str(work / "empty"), "--out",
                                    str(work / "s.png")], "is a folder with no checkpoint in it"),
        ("seed 2**70", [sys.executable, "-m", "genlab", "sample", "dcgan-mnist", "--seed", str(2**70), "--out",
                        str(work / "s.png")], "seed must be an integer in [0, 2**63 - 1]"),
    ]
    (work / "empty").mkdir(exist_ok=True)
    results = []
    for name, cmd, expected in trials:
        r = run(cmd)
        last = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
        problems = [] if r.returncode == 2 and expected in last and "Traceback" not in r.stderr else \
            [f"exit {r.returncode}: {last[:200]}"]
        results.append({"kind": "bad input", "trial": name, "how": last[:120], "held": not problems,
                        "problems": problems})
    disk = work / "tiny"
    disk.mkdir()
    if os.geteuid() == 0 and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(disk)],
                                            capture_output=True).returncode == 0:
        try:
            out = disk / "run"
            first = run(train_cmd(small, out))
            good = (out / "latest.pt").read_bytes() if first.returncode == 0 else b""
            room = shutil.disk_usage(disk).free - 16 * 1024  # fill the disk: the next write cannot fit
            (disk / "filler").write_bytes(b"\0" * max(room, 0))
            r = run(train_cmd(small, out, resume=True) + ["--steps", "4"])
            last = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
            problems = []
            if r.returncode != 2 or "no space left on the device" not in last or "Traceback" in r.stderr:
                problems.append(f"exit {r.returncode}: {last[:200]}")
            if not good or (out / "latest.pt").read_bytes() != good:
                problems.append("the last good checkpoint changed")
            if list(out.glob(".*.tmp")):
                problems.append("temp file left")
            results.append({"kind": "bad input", "trial": "full disk", "how": last[:120], "held": not problems,
                            "problems": problems})
        finally:
            subprocess.run(["umount", str(disk)], capture_output=True)
    else:
        print("bad input        full disk: skipped (mounting a small tmpfs needs root)")
    return results


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
        for kind, every in (("training", 5), ("checkpoint-write", 1), ("sigterm", 5), ("sigint", 5)):
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
        for res in bad_input_trials(work):
            results.append(res)
            print(f"{'bad input':16s} {'held' if res['held'] else 'FAILED':6s} {res['trial']}: {res['how']}"
                  + (f" | {'; '.join(res['problems'])}" if res["problems"] else ""), flush=True)
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\n{'kind':16s} tried held   ({a.steps} steps each, {time.time() - t0:.0f} s in all)")
    for kind in ("training", "checkpoint-write", "sigterm", "sigint", "bad input"):
        rs = [r for r in results if r["kind"] == kind]
        print(f"{kind:16s} {len(rs):5d} {sum(r['held'] for r in rs):4d}")
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))
    return 0 if all(r["held"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
