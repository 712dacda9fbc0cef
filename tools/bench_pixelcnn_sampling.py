"""Speed of PixelCNN sampling at 28x28: row-cached sampler vs the full-network reference.

    python tools/bench_pixelcnn_sampling.py                 # shipped checkpoint (or the recipe, random weights)
    python tools/bench_pixelcnn_sampling.py --n 4 --threads 1 --checkpoint runs/pixelcnn/latest.pt

The reference re-runs the whole network for each of the 784 pixels; the cached
sampler computes the vertical stack once per row and each horizontal-stack
layer on a window of n//2+1 columns per pixel. Both draw the same uniforms from
the same seed, so they must give the same images; the script checks that too.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from genlab.data import load_dataset
from genlab.registry import build, load, shipped_checkpoints
from genlab.training.config import read_recipe

RECIPE = Path(__file__).resolve().parent.parent / "experiments" / "pixelcnn_mnist.toml"


def get_model(checkpoint: str | None):
    if checkpoint or "pixelcnn-mnist" in shipped_checkpoints():
        return load(checkpoint or "pixelcnn-mnist"), checkpoint or "pixelcnn-mnist (shipped)"
    recipe = read_recipe(RECIPE)
    torch.manual_seed(0)
    return build("pixelcnn", recipe.model, load_dataset(recipe.data).spec).eval(), f"{RECIPE.name}, random weights"


def timed(model, n, seed, sampler):
    t = time.perf_counter()
    images = model.sample(n, generator=torch.Generator().manual_seed(seed), sampler=sampler)
    return images, time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", help="a PixelCNN checkpoint (default: shipped pixelcnn-mnist)")
    p.add_argument("--n", type=int, default=4, help="images per batch")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model, what = get_model(args.checkpoint)
    c = model.config
    print(f"model: {what}; arch={c.arch} layers={c.layers} features={c.features} "
          f"kernel={c.first_kernel_size}/{c.kernel_size}; {model.data_spec.describe()}; "
          f"n={args.n}; torch threads={torch.get_num_threads()}")
    fast, t_fast = timed(model, args.n, args.seed, "fast")
    ref, t_ref = timed(model, args.n, args.seed, "reference")
    same = (fast == ref).all(dim=(1, 2, 3))
    print(f"reference (full network per pixel): {t_ref:8.2f} s  ({t_ref / args.n:.2f} s/image)")
    print(f"cached (rows + windows):            {t_fast:8.2f} s  ({t_fast / args.n:.2f} s/image)")
    print(f"speed-up: {t_ref / t_fast:.1f}x; identical images: {int(same.sum())}/{args.n}")


if __name__ == "__main__":
    main()
