"""The zoo's speed in one Markdown table: training and sampling per family, and the ratios the
family issues asked for.

    python tools/benchmark.py --out docs/benchmark.md          # every family on this CPU (long: a quiet machine)
    python tools/benchmark.py --device cuda --out bench.md     # adds GPU columns
    python tools/benchmark.py --quick --families dcgan,nade    # a smoke run of seconds

Per family: training images/s of its CPU recipe through the real trainer (timed steps after
untimed warm-up steps; no checkpoints or sample grids in the timing), and seconds per image to
sample (translate-only families: to translate test images) from a net built by that recipe,
advanced to the recipe's last step (a progressive GAN samples at full size). The GPU column
trains the family's GPU recipe instead (*_gpu.toml, full size) and samples from the same net.
Ratios, each when its family is chosen: trainer vs a hand-written loop (DCGAN,
bench_trainer_overhead.py), cached vs naive PixelCNN sampling (bench_pixelcnn_sampling.py) and
DDPM-1000 vs DDIM-20 on the shipped ddpm-mnist.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
import traceback
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pixelcnn_sampling import get_model, timed  # noqa: E402
from bench_trainer_overhead import _sync, hand_loop, trainer_loop  # noqa: E402

from genlab.data import load_dataset  # noqa: E402
from genlab.registry import build, list_families, load  # noqa: E402
from genlab.results import cpu_model  # noqa: E402
from genlab.training.config import read_recipe  # noqa: E402

EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"  # the recipes

# (warm-up steps, timed steps, images per sampling batch, overhead steps, overhead repeats)
FULL = dict(warmup=3, steps=20, n=4, overhead_steps=100, repeats=3)
QUICK = dict(warmup=1, steps=2, n=1, overhead_steps=3, repeats=1)


def recipes(family: str) -> tuple[Path, Path | None]:
    """The family's CPU recipe (the shortest name: `vae_mnist`, not `vae2d_mnist`) and GPU recipe."""
    mine = sorted((p for p in EXPERIMENTS.glob("*.toml") if read_recipe(p).family == family),
                  key=lambda p: (len(p.stem), p.stem))
    cpu = [p for p in mine if not p.stem.endswith("_gpu")]
    gpu = [p for p in mine if p.stem.endswith("_gpu")]
    if not cpu:
        raise SystemExit(f"no CPU recipe for {family} in {EXPERIMENTS}")
    return cpu[0], gpu[0] if gpu else None


def train_rate(recipe: Path, device: torch.device, p: dict, threads: int) -> float:
    extra = [f"threads={threads}"] if device.type == "cpu" else []
    return trainer_loop(p["steps"], None, device, None, config=str(recipe), warmup=p["warmup"], extra=extra)


@torch.no_grad()
def sample_seconds(recipe_path: Path, device: torch.device, n: int) -> tuple[float, str]:
    """Seconds per image to sample (or translate) with a net built by the recipe (untrained weights:
    the work per image is the same)."""
    recipe = read_recipe(recipe_path)
    data = load_dataset(recipe.data, "test")
    torch.manual_seed(0)
    model = build(recipe.family, recipe.model, data.spec).to(device).eval()
    model.advance(recipe.train.steps - 1)  # the last stage of a staged model
    gen = torch.Generator().manual_seed(0)
    if "sample" in model.capabilities:
        what, run = "sample", lambda: model.sample(n, generator=gen)
    else:
        x = data.images[:n].to(device)
        what, run = "translate", lambda: model.translate(x, 1)
    if device.type == "cuda":
        run()  # warm-up: CUDA kernels, cuDNN autotuning
    _sync(device)
    t = time.perf_counter()
    run()
    _sync(device)
    return (time.perf_counter() - t) / n, what


def overhead(device: torch.device, p: dict) -> str:
    """The trainer against a hand-written loop, DCGAN at batch 64, interleaved repeats."""
    ratios = [hand_loop(p["overhead_steps"], 64, device, "auto") /
              trainer_loop(p["overhead_steps"], 64, device, "auto") - 1 for _ in range(p["repeats"])]
    return f"{100 * statistics.median(ratios):+.1f}% (median of {len(ratios)})"


def pixelcnn_speedup(device: torch.device, p: dict) -> str:
    model, what = get_model(None)
    model = model.to(device)
    _, t_fast = timed(model, p["n"], 0, "fast")
    _, t_ref = timed(model, p["n"], 0, "reference")
    return f"{t_ref / t_fast:.1f}x ({t_ref / p['n']:.2f} vs {t_fast / p['n']:.2f} s/image; {what})"


def ddim_speedup(device: torch.device, p: dict) -> str:
    model = load("ddpm-mnist").to(device)
    seconds = {}
    for sampler, steps in (("ddim", 20), ("ddpm", 1000)):
        _sync(device)
        t = time.perf_counter()
        model.sample(p["n"], generator=torch.Generator().manual_seed(0), sampler=sampler, steps=steps)
        _sync(device)
        seconds[sampler] = (time.perf_counter() - t) / p["n"]
    return f"{seconds['ddpm'] / seconds['ddim']:.1f}x ({seconds['ddpm']:.2f} vs {seconds['ddim']:.3f} s/image)"


RATIOS = {  # family -> (what, function)
    "dcgan": ("trainer overhead vs a hand-written loop (DCGAN, batch 64; goal < 3%)", overhead),
    "pixelcnn": ("PixelCNN sampling, naive / row-cached (s per image)", pixelcnn_speedup),
    "ddpm": ("DDPM-1000 / DDIM-20 on ddpm-mnist (s per image)", ddim_speedup),
}


def attempt(fn, *args):
    """fn(*args), or the error as a table cell (one failure does not stop the run)."""
    try:
        return fn(*args)
    except Exception as e:  # noqa: BLE001 - reported in the table and by the exit code
        traceback.print_exc()
        return f"error: {type(e).__name__}: {str(e).splitlines()[0][:80] if str(e) else ''}"


def fmt(value, spec: str) -> str:
    return format(value, spec) if isinstance(value, float) else str(value)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="cuda: GPU columns beside the CPU ones")
    ap.add_argument("--families", help="comma-separated (default: every registered family)")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 2 steps, 1 image, 1 short overhead repeat")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    ap.add_argument("--out", help="write the Markdown here too")
    args = ap.parse_args(argv)
    families = args.families.split(",") if args.families else list_families()
    unknown = sorted(set(families) - set(list_families()))
    if unknown:
        ap.error(f"unknown famil{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}; "
                 f"families: {', '.join(list_families())}")
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: torch sees no CUDA device here")
    torch.set_num_threads(args.threads)
    p = QUICK if args.quick else FULL
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if args.device == "cuda" else [])

    head = ["family", "CPU recipe", "train img/s (cpu)", "s/image (cpu)"]
    if len(devices) > 1:
        head += ["GPU recipe", "train img/s (cuda)", "s/image (cuda)"]
    rows = []
    for family in families:
        cpu_recipe, gpu_recipe = recipes(family)
        row = [family, cpu_recipe.stem]
        for device in devices:
            recipe = cpu_recipe if device.type == "cpu" else gpu_recipe
            if device.type != "cpu":
                row.append(recipe.stem if recipe else "none")
            rate = attempt(train_rate, recipe, device, p, args.threads) if recipe else ""
            sampled = attempt(sample_seconds, cpu_recipe, device, p["n"])
            cell = f"{sampled[0]:.4g} ({sampled[1]})" if isinstance(sampled, tuple) else sampled
            row += [fmt(rate, ".1f"), cell]
        rows.append(row)
        print(" | ".join(row), file=sys.stderr, flush=True)

    ratio_rows = [[what] + [attempt(fn, device, p) for device in devices]
                  for family, (what, fn) in RATIOS.items() if family in families]

    gpu = torch.cuda.get_device_name(0) if args.device == "cuda" else "none"
    lines = ["# genlab benchmark", "",
             f"CPU: {cpu_model()}, torch threads: {torch.get_num_threads()}; GPU: {gpu}; torch {torch.__version__}; "
             f"{'quick smoke run' if args.quick else 'full run'}: {p['warmup']} warm-up + {p['steps']} timed "
             f"training steps, {p['n']} image(s) per sampling batch.", "",
             "Training images/s: each family's recipe through the real trainer (an image is one row of a "
             "batch). s/image: sampling, or translating for translate-only families, with a net built by "
             "the CPU recipe.", "", *table(head, rows)]
    if ratio_rows:
        lines += ["", *table(["ratio"] + [d.type for d in devices], ratio_rows)]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    failed = any(str(c).startswith("error:") for r in rows + ratio_rows for c in r)
    return 1 if failed else 0


def table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head), *("| " + " | ".join(map(str, r)) + " |" for r in rows)]


if __name__ == "__main__":
    sys.exit(main())
