"""Sliced Wasserstein distance between two image sets, level by level of a Laplacian pyramid.

Karras, Aila, Laine & Lehtinen 2018 (progressive GANs, appendix D): from every level of each
image's Laplacian pyramid (the finest first, down to 16 x 16, whose Gaussian level is kept
whole), take random 7 x 7 neighbourhoods; normalise each colour channel of a set's descriptors
to zero mean and unit spread; project both sets on random unit directions, sort, and average the
absolute differences of the sorted projections (a Monte-Carlo estimate of the sliced
Wasserstein-1 distance). Reported x 1000, as in the paper's tables.

It needs no trained network, so it measures the samples in a feature space of its own: the
local statistics of pixels at each scale (edges and fine detail at the finest level, shape and
colour layout at the coarsest), beside a classifier-feature FID that can be fooled by or
over-sensitive to detail it was never trained to ignore.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

PATCH = 7  # neighbourhood side (the paper's 7 x 7)
COARSEST = 16  # the last level (the paper stops at 16 x 16)


def _blur(x: torch.Tensor) -> torch.Tensor:
    """The pyramid's 5-tap binomial filter [1, 4, 6, 4, 1] / 16 in both directions, edges reflected."""
    k1 = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=x.dtype, device=x.device) / 16
    k = (k1[:, None] * k1[None, :]).expand(x.shape[1], 1, 5, 5)
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), k, groups=x.shape[1])


def laplacian_pyramid(images: torch.Tensor, coarsest: int = COARSEST) -> list[torch.Tensor]:
    """[finest Laplacian level, ..., the Gaussian level of side `coarsest`] of (N, C, H, W) images."""
    levels, x = [], images.float()
    while x.shape[-1] > coarsest:
        down = _blur(x)[..., ::2, ::2]
        up = torch.zeros_like(x)
        up[..., ::2, ::2] = down
        levels.append(x - 4 * _blur(up))  # the detail the next level down cannot hold
        x = down
    return levels + [x]


def _descriptors(level: torch.Tensor, per_image: int, gen: torch.Generator) -> torch.Tensor:
    """per_image random 7 x 7 neighbourhoods of each image, (N * per_image, C * 49), each
    colour channel normalised over the whole set."""
    n, c, h, w = level.shape
    ys = torch.randint(0, h - PATCH + 1, (n, per_image), generator=gen)
    xs = torch.randint(0, w - PATCH + 1, (n, per_image), generator=gen)
    offs = torch.arange(PATCH)
    rows = (ys[..., None] + offs)[..., :, None].expand(n, per_image, PATCH, PATCH)
    cols = (xs[..., None] + offs)[..., None, :].expand(n, per_image, PATCH, PATCH)
    idx = torch.arange(n)[:, None, None, None].expand_as(rows)
    d = level.permute(0, 2, 3, 1)[idx, rows, cols]  # (N, P, 7, 7, C)
    d = d.reshape(-1, PATCH * PATCH, c)
    d = (d - d.mean((0, 1))) / d.std((0, 1)).clamp_min(1e-8)
    return d.reshape(len(d), -1)


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, directions: int, gen: torch.Generator) -> float:
    """Mean over random unit directions of W1 between the projections of rows of a and b (equal counts)."""
    m = min(len(a), len(b))
    a, b = a[torch.randperm(len(a), generator=gen)[:m]], b[torch.randperm(len(b), generator=gen)[:m]]
    total = 0.0
    for chunk in range(0, directions, 128):
        u = torch.randn(a.shape[1], min(128, directions - chunk), generator=gen)
        u = u / u.norm(dim=0, keepdim=True)
        pa, pb = (u.T @ a.T).sort(-1).values, (u.T @ b.T).sort(-1).values  # a row per direction: sorts 2x faster
        total += (pa - pb).abs().mean(-1).sum().item()
    return total / directions


def swd(real: torch.Tensor, fake: torch.Tensor, per_image: int = 32, directions: int = 512,
        seed: int = 0) -> dict[str, float]:
    """{"swd_<side>": x1000 distance at each pyramid level, ..., "swd_mean": their mean} of two
    (N, C, H, W) sets of the same size in [-1, 1]."""
    if real.shape[1:] != fake.shape[1:]:
        raise ValueError(f"SWD compares images of one shape; got {tuple(real.shape[1:])} and {tuple(fake.shape[1:])}")
    if real.shape[-1] < COARSEST or real.shape[-1] != real.shape[-2]:
        raise ValueError(f"SWD takes square images of side >= {COARSEST}; got {tuple(real.shape[1:])}")
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for lr, lf in zip(laplacian_pyramid(real), laplacian_pyramid(fake)):
        da, db = _descriptors(lr, per_image, gen), _descriptors(lf, per_image, gen)
        out[f"swd_{lr.shape[-1]}"] = round(1000 * sliced_wasserstein(da, db, directions, gen), 2)
    out["swd_mean"] = round(sum(out.values()) / len(out), 2)
    return out
