"""Layers of the progressive GAN (Karras et al. 2018, arXiv:1710.10196, section 4).

- `EqualizedConv2d` / `EqualizedLinear`: weights drawn N(0, 1) and multiplied by
  the He constant c = gain / sqrt(fan_in) on *every forward pass* (equalised
  learning rate). The scale is not folded into the stored weights at init: with
  Adam, whose steps are about the same size for every parameter, a runtime scale
  makes the effective step of each layer proportional to its own c, so all layers
  learn at the same speed whatever their fan-in.
- `pixel_norm`: b = a / sqrt(mean over channels of a^2 + 1e-8), per pixel.
- `MinibatchStddev`: one extra feature map holding the standard deviation of the
  features over a group of (up to) 4 samples, averaged over features and pixels.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

PIXEL_NORM_EPS = 1e-8
LRELU_GAIN = math.sqrt(2.0)


class EqualizedConv2d(nn.Module):
    """A 'same' convolution with a runtime He scale (weights N(0, 1), bias 0)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, gain: float = LRELU_GAIN,
                 bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = gain / math.sqrt(in_channels * kernel_size * kernel_size)  # c = gain / sqrt(fan_in)
        self.padding = kernel_size // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)

    def extra_repr(self) -> str:
        o, i, k, _ = self.weight.shape
        return f"{i}, {o}, kernel_size={k}, scale={self.scale:.4g}"


class EqualizedLinear(nn.Module):
    """A linear layer with a runtime He scale (weights N(0, 1), bias 0)."""

    def __init__(self, in_features: int, out_features: int, gain: float = LRELU_GAIN, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        self.scale = gain / math.sqrt(in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)

    def extra_repr(self) -> str:
        o, i = self.weight.shape
        return f"{i}, {o}, scale={self.scale:.4g}"


def pixel_norm(x: torch.Tensor, eps: float = PIXEL_NORM_EPS) -> torch.Tensor:
    """Each pixel's feature vector (dim 1) scaled to unit mean square; also the latent's
    normalisation onto the sphere of radius sqrt(dim) when x is (N, dim)."""
    return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + eps)


class PixelNorm(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pixel_norm(x)


class MinibatchStddev(nn.Module):
    """Append one feature map: the mean, over features and pixels, of the standard deviation
    of each feature across a group of `group_size` samples (the official layer: groups are
    samples i, i + N/G, i + 2N/G, ...; biased variance, + 1e-8 before the square root).

    The batch must be divisible by min(group_size, N); otherwise a ValueError names it."""

    def __init__(self, group_size: int = 4, eps: float = 1e-8):
        super().__init__()
        self.group_size, self.eps = group_size, eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = min(self.group_size, n)
        if n % g:
            raise ValueError(f"minibatch stddev needs a batch divisible by its group size {g}; got {n} "
                             f"(use a batch_size that is a multiple of {self.group_size})")
        y = x.reshape(g, n // g, c, h, w)
        y = y - y.mean(dim=0, keepdim=True)
        std = torch.sqrt(y.pow(2).mean(dim=0) + self.eps)  # (N/G, C, H, W)
        std = std.mean(dim=(1, 2, 3))  # (N/G,): one number per group
        maps = std.view(1, n // g, 1, 1, 1).expand(g, n // g, 1, h, w).reshape(n, 1, h, w)
        return torch.cat([x, maps.to(x.dtype)], dim=1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}"


def upsample2(x: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour x2 (G's upsampling, and how a smaller stage is shown at full size)."""
    return F.interpolate(x, scale_factor=2, mode="nearest")


def downsample2(x: torch.Tensor) -> torch.Tensor:
    """2x2 average pooling (D's downsampling, and the real images' lower resolution)."""
    return F.avg_pool2d(x, 2)


def resize_to(x: torch.Tensor, size: int) -> torch.Tensor:
    """Average-pool down or nearest-upsample (by powers of two) to `size` x `size`."""
    while x.shape[-1] > size:
        x = downsample2(x)
    if x.shape[-1] < size:
        x = F.interpolate(x, size=(size, size), mode="nearest")
    return x


def lerp(old: torch.Tensor, new: torch.Tensor, alpha: float) -> torch.Tensor:
    """(1 - alpha) old + alpha new; alpha is a float in [0, 1] (the fade-in weight)."""
    if alpha >= 1.0:
        return new
    if alpha <= 0.0:
        return old
    return old + (new - old) * alpha
