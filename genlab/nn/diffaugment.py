"""Differentiable augmentation for GANs on small data (DiffAugment: Zhao et al. 2020, arXiv:2006.10738).

D sees real *and* generated images through the same random transforms, in both D's and G's
losses, so it cannot memorise the few thousand training images pixel for pixel and G's gradient
still flows through the transform (it is differentiable in the image). The paper's policies:

- ``translation``: each image moved by a whole number of pixels, up to 1/8 of its side in x and
  y independently (edges repeated here rather than the paper's zeros: on digits the border is
  background either way, and a flat grey band would be a cue no real image has);
- ``cutout``: a square of half the side, centred anywhere in the image, set to 0;
- ``color``: brightness (add U(-0.5, 0.5)), saturation (x U(0, 2) around the grey value; RGB
  only) and contrast (x U(0.5, 1.5) around the image mean), on images in [-1, 1].
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

POLICIES = ("translation", "cutout", "color")
HELP = ("DiffAugment policies for D's input, real and fake alike (arXiv:2006.10738): translation, cutout, "
        "color, separated by commas or +; empty: none")


def parse_policy(text: str) -> tuple[str, ...]:
    """'translation,cutout' (or 'translation+cutout', handy on a command line) -> ('translation',
    'cutout'); '' -> (); an unknown name is refused."""
    names = tuple(p.strip() for p in text.replace("+", ",").split(",") if p.strip())
    unknown = [p for p in names if p not in POLICIES]
    if unknown:
        raise ValueError(f"unknown augmentation {', '.join(unknown)}; choose from {', '.join(POLICIES)} "
                         "(separated by commas or +, or empty for none)")
    return names


def translate(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    n, _, h, w = x.shape
    ry, rx = max(1, int(h * ratio + 0.5)), max(1, int(w * ratio + 0.5))
    dy = torch.randint(-ry, ry + 1, (n, 1), device=x.device)
    dx = torch.randint(-rx, rx + 1, (n, 1), device=x.device)
    padded = F.pad(x, [rx, rx, ry, ry], mode="replicate")
    rows = torch.arange(h, device=x.device)[None] + ry - dy  # (N, H): output row i reads row i - dy
    cols = torch.arange(w, device=x.device)[None] + rx - dx
    batch = torch.arange(n, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (N, H, W, C)
    return out.permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = torch.randint(0, h, (n, 1, 1), device=x.device) - ch // 2  # centre anywhere: the square may overhang
    left = torch.randint(0, w, (n, 1, 1), device=x.device) - cw // 2
    ys = torch.arange(h, device=x.device)[None, :, None]
    xs = torch.arange(w, device=x.device)[None, None, :]
    inside = (ys >= top) & (ys < top + ch) & (xs >= left) & (xs < left + cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


def color(x: torch.Tensor) -> torch.Tensor:
    n = len(x)
    x = x + (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) - 0.5)
    if x.shape[1] > 1:
        grey = x.mean(dim=1, keepdim=True)
        x = (x - grey) * (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) * 2) + grey
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) + 0.5) + mean


TRANSFORMS = {"translation": translate, "cutout": cutout, "color": color}


def diff_augment(x: torch.Tensor, policy: tuple[str, ...]) -> torch.Tensor:
    """x through each transform of `policy` in the paper's order (color, translation, cutout)."""
    for name in ("color", "translation", "cutout"):
        if name in policy:
            x = TRANSFORMS[name](x)
    return x


class DiffAugment:
    """A GAN's augmentation of what its D sees, from the `augment` config text: parsed (and refused
    with the choices) once at build time; calling it with an empty policy returns x untouched."""

    def __init__(self, text: str = ""):
        self.policy = parse_policy(text)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return diff_augment(x, self.policy) if self.policy else x
