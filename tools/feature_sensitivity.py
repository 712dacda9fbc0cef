"""How much genlab's FIDs move when real images are changed in ways the eye barely sees: 1,000
real train images against the test split (the floor), then the same images blurred, shifted or
re-rendered as a supersampled field would draw them (docs/metrics.md, "How to read the
numbers"). A feature space that jumps at a half-pixel blur scores sharpness as much as content,
which is why the cards also report SWD (pixels, no network) and say what they looked at.

    python tools/feature_sensitivity.py [--data shapes3d mnist] [--seed 0]
"""
from __future__ import annotations

import argparse
import sys

import torch
import torch.nn.functional as F

from genlab.data import load_dataset
from genlab.metrics.distances import fid

N = 1000


def _separable(images: torch.Tensor, taps: list[float]) -> torch.Tensor:
    """images (N, C, H, W) filtered by the same 1-D kernel along both axes, edges replicated."""
    k1 = torch.tensor(taps, dtype=images.dtype)
    c, r = images.shape[1], len(taps) // 2
    kernel = (k1[:, None] * k1[None]).expand(c, 1, len(taps), len(taps))
    return F.conv2d(F.pad(images, (r, r, r, r), mode="replicate"), kernel, groups=c)


def _shift(images: torch.Tensor, dx: float) -> torch.Tensor:
    """images moved right by dx pixels (bilinear for a fraction of a pixel), edges replicated."""
    n, _, _, w = images.shape
    theta = torch.tensor([[1.0, 0.0, -2 * dx / w], [0.0, 1.0, 0.0]], dtype=images.dtype).expand(n, 2, 3)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


CHANGES = {
    "none (the floor)": lambda x: x,
    "2 x 2 sub-pixel box (a supersampled render of the picture)": lambda x: _separable(x, [0.125, 0.75, 0.125]),
    "[1, 2, 1] / 4 blur": lambda x: _separable(x, [0.25, 0.5, 0.25]),
    "shift 1 px": lambda x: _shift(x, 1.0),
    "shift 0.5 px (bilinear)": lambda x: _shift(x, 0.5),
}


def _features(data: str):
    """(features of a batch of images, the test split's features) in the data's FID space."""
    if data == "mnist":
        from genlab.metrics.classifier import classify

        return lambda x: classify(x)[0], classify(load_dataset("mnist", "test").images)[0]
    from genlab.metrics.shapes3d_features import features

    return features, features(load_dataset(data, "test", image_size=32).images)


def sensitivity(data: str, seed: int = 0) -> list[tuple[str, float, float]]:
    """(change, mean |pixel change| in [-1, 1] units, FID of the changed train images vs test)."""
    featurize, reference = _features(data)
    train = load_dataset(data, "train", **({} if data == "mnist" else {"image_size": 32}))
    images = train.images[torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:N]].float()
    rows = []
    for name, change in CHANGES.items():
        changed = change(images)
        rows.append((name, float((changed - images).abs().mean()), fid(reference, featurize(changed))))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", default=["shapes3d", "mnist"], choices=["shapes3d", "mnist"])
    parser.add_argument("--seed", type=int, default=0, help="which 1,000 train images")
    args = parser.parse_args(argv)
    for data in args.data:
        print(f"\n{data}: 1,000 train images against the test split\n\n| change | mean abs pixel change | FID |\n|---|---|---|")
        for name, delta, score in sensitivity(data, args.seed):
            print(f"| {name} | {delta:.3f} | {score:.1f} |")
    return 0


if __name__ == "__main__":
    torch.set_num_threads(1)
    sys.exit(main())
