"""Short pilot runs of one recipe with a few settings changed, scored the same way, one table.

    python tools/pilot_sweep.py experiments/dcgan_mnist.toml --steps 3000 --n 1000 \\
        --variant base: --variant narrow:width=32 --variant ttur:optim.lr_d=4e-4,optim.lr_g=1e-4

Each variant is `NAME:KEY=VALUE[,KEY=VALUE...]` (keys as `genlab train --set` takes them).
Runs go one after another (never side by side: their CPU minutes must mean what they say) into
OUT/NAME, each trained with `genlab train` and scored with `genlab eval --n N`; the table gives
the CPU minutes of training (the child process's user + system time) and the figures the
evaluation stored. Rerunning the same command skips every variant whose run folder already
holds its pilot.json, so a sweep that was cut off continues where it stopped.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

FIGURES = ("fid", "fid_floor", "precision", "recall", "class_coverage", "readable_share", "nll_nats", "nll_bits_per_dim")


def child_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_variant(recipe: str, name: str, settings: list[str], steps: int, n: int, out: Path) -> dict:
    run_dir = out / name
    done = run_dir / "pilot.json"
    if done.exists():
        return json.loads(done.read_text())
    train = [sys.executable, "-m", "genlab", "train", "--config", recipe, "--steps", str(steps),
             "--out", str(run_dir), "--no-progress"]
    for s in settings:
        train += ["--set", s]
    before, start = child_cpu_seconds(), time.time()
    subprocess.run(train, check=True)
    cpu, wall = child_cpu_seconds() - before, time.time() - start
    scores = run_dir / "eval.json"
    subprocess.run([sys.executable, "-m", "genlab", "eval", str(run_dir / "latest.pt"), "--n", str(n),
                    "--out", str(scores)], check=True, stdout=subprocess.DEVNULL)
    metrics = json.loads(scores.read_text())
    row = {"variant": name, "settings": ",".join(settings) or "(recipe)", "steps": steps,
           "train_cpu_min": round(cpu / 60, 2), "train_wall_min": round(wall / 60, 2),
           **{k: metrics[k] for k in FIGURES if k in metrics}}
    done.write_text(json.dumps(row, indent=1))
    return row


def table(rows: list[dict]) -> str:
    keys = ["variant", "settings", "steps", "train_cpu_min", "train_wall_min"]
    keys += [k for k in FIGURES if any(k in r for r in rows)]
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in rows:
        cells = [f"{r[k]:.4g}" if isinstance(r.get(k), float) else str(r.get(k, "")) for k in keys]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_variant(text: str) -> tuple[str, list[str]]:
    name, sep, rest = text.partition(":")
    if not sep or not name:
        raise SystemExit(f"--variant {text!r}: expected NAME:KEY=VALUE[,KEY=VALUE...] (or NAME: for the recipe as is)")
    settings = [s for s in rest.split(",") if s]
    bad = [s for s in settings if "=" not in s]
    if bad:
        raise SystemExit(f"--variant {text!r}: {bad[0]!r} is not KEY=VALUE")
    return name, settings


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("recipe")
    ap.add_argument("--variant", action="append", required=True, metavar="NAME:KEY=VALUE,...")
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--n", type=int, default=1000, help="samples for the evaluation")
    ap.add_argument("--out", default="runs/pilots")
    args = ap.parse_args(argv)
    variants = [parse_variant(v) for v in args.variant]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, settings in variants:
        rows.append(run_variant(args.recipe, name, settings, args.steps, args.n, out))
        print(table(rows), flush=True)
    (out / "pilots.md").write_text(f"{args.recipe}, {args.steps} steps, eval n = {args.n}\n\n{table(rows)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
