"""Masked convolutions for autoregressive image models (PixelRNN/PixelCNN,
van den Oord et al. 2016, arXiv:1601.06759 §3.4).

Pixels are generated in raster order and, within a pixel, channel group by
group (R -> G -> B). A kernel centred on pixel i may see:

- every row above the centre, and the centre row left of the centre;
- at the centre itself, the channel groups before the output's group
  (mask 'A', first layer: the pixel never sees its own value) or the groups
  up to and including it (mask 'B', later layers: features of the current
  group were themselves computed from earlier inputs only).

For a single channel group (binary or grey MNIST) this reduces to: 'A' hides
the centre, 'B' shows it. This module is the reference; every faster path
(cached sampling) is tested against it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

MASK_TYPES = ("A", "B")


def channel_groups(channels: int, groups: int, period: int | None = None) -> torch.Tensor:
    """(channels,) the colour group of each channel: c * groups // channels, or with `period`
    (blocks of gates, e.g. an LSTM's [o, f, i, g] of `period` units each) (c % period) * groups // period."""
    c = torch.arange(channels)
    return c * groups // channels if period is None else (c % period) * groups // period


def causal_mask(out_channels: int, in_channels: int, kernel_size: tuple[int, int], mask_type: str,
                groups: int = 1, out_period: int | None = None) -> torch.Tensor:
    """A {0, 1} mask of shape (out, in, kh, kw) for a raster-order causal conv.

    `groups` channel groups (3 for RGB): channel c belongs to group c * groups // channels
    (output channels: see `channel_groups` for `out_period`).
    """
    if mask_type not in MASK_TYPES:
        raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
    kh, kw = kernel_size
    cy, cx = kh // 2, kw // 2
    mask = torch.zeros(out_channels, in_channels, kh, kw)
    mask[:, :, :cy, :] = 1  # rows above the centre
    mask[:, :, cy, :cx] = 1  # left of the centre on its row
    out_group = channel_groups(out_channels, groups, out_period)
    in_group = channel_groups(in_channels, groups)
    if mask_type == "A":
        centre = out_group[:, None] > in_group[None, :]
    else:
        centre = out_group[:, None] >= in_group[None, :]
    mask[:, :, cy, cx] = centre.float()
    return mask


class MaskedConv2d(nn.Conv2d):
    """nn.Conv2d whose kernel is multiplied by a fixed causal mask; 'same' padding."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, mask_type: str = "B",
                 groups_rgb: int = 1, bias: bool = True, out_period: int | None = None):
        ks = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        if ks[0] % 2 == 0 or ks[1] % 2 == 0:
            raise ValueError(f"masked kernels need odd sizes, got {ks}")
        super().__init__(in_channels, out_channels, ks, padding=(ks[0] // 2, ks[1] // 2), bias=bias)
        self.mask_type = mask_type
        self.register_buffer("mask", causal_mask(out_channels, in_channels, ks, mask_type, groups_rgb, out_period),
                             persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, self.stride, self.padding)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", mask={self.mask_type}"
