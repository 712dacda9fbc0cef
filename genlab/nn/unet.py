"""The DDPM U-Net (Ho et al. 2020, arXiv:2006.11239, App. B; after PixelCNN++ / Wide ResNets).

- the time index enters through a sinusoidal (Transformer) embedding and a
  two-layer MLP, added to *every* residual block (papers.md §14 bug list);
- residual blocks: GroupNorm -> SiLU -> 3x3 conv, + time (and class) embedding,
  GroupNorm -> SiLU -> dropout -> 3x3 conv, a 1x1 skip where widths change;
- `blocks` residual blocks per resolution going down, blocks + 1 coming up
  (each taking a skip connection), strided 3x3 conv down, nearest x2 + 3x3 up;
- single-head self-attention at the lowest resolution, optional (`attention`);
- class-conditional models add a learned class embedding to the time embedding;
  index `num_classes` is the "no label" token of classifier-free guidance;
- the output conv starts at zero, so a fresh net predicts 0 (eps = 0 is the
  mean of the target: the loss starts at 1).

Images of any size: the input is padded (edge-replicated) up to a multiple of
2^(levels-1) and the output cropped back.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """(N,) time indices -> (N, dim) sinusoids, [cos | sin] at geometric frequencies."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=1)
    return F.pad(emb, (0, dim % 2))


def norm(channels: int, groups: int = 8) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(groups, channels), channels)


class ResBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, dropout: float, groups: int):
        super().__init__()
        self.norm1, self.conv1 = norm(in_ch, groups), nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.emb = nn.Linear(emb_dim, out_ch)
        self.norm2, self.conv2 = norm(out_ch, groups), nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.dropout = nn.Dropout(dropout)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class AttnBlock(nn.Module):
    """Single-head self-attention over all positions, residual."""

    def __init__(self, ch: int, groups: int):
        super().__init__()
        self.norm = norm(ch, groups)
        self.qkv = nn.Conv2d(ch, 3 * ch, 1)
        self.proj = nn.Conv2d(ch, ch, 1)

    def forward(self, x, emb=None):
        n, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).flatten(2).transpose(1, 2).chunk(3, dim=2)  # (N, HW, C) each
        out = F.scaled_dot_product_attention(q, k, v)  # (N, HW, C)
        return x + self.proj(out.transpose(1, 2).reshape(n, c, h, w))


class UNet(nn.Module):
    def __init__(self, in_ch: int = 1, out_ch: int = 1, width: int = 32, mults: tuple[int, ...] = (1, 2, 2),
                 blocks: int = 2, attention: bool = False, dropout: float = 0.0, num_classes: int = 0,
                 groups: int = 8):
        super().__init__()
        if width < 1 or blocks < 1 or not mults or min(mults) < 1:
            raise ValueError(f"width, blocks and channel multipliers must be at least 1; "
                             f"got width={width}, blocks={blocks}, mults={tuple(mults)}")
        self.width, self.levels, self.num_classes = width, len(mults), num_classes
        emb = 4 * width
        self.time_mlp = nn.Sequential(nn.Linear(width, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.class_embed = nn.Embedding(num_classes + 1, emb) if num_classes else None  # last = no label
        self.stem = nn.Conv2d(in_ch, width, 3, padding=1)
        self.down = nn.ModuleList()
        skips, ch = [width], width
        for i, m in enumerate(mults):
            for _ in range(blocks):
                self.down.append(ResBlock(ch, width * m, emb, dropout, groups))
                ch = width * m
                skips.append(ch)
                if attention and i == len(mults) - 1:
                    self.down.append(AttnBlock(ch, groups))
            if i < len(mults) - 1:
                self.down.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
                skips.append(ch)
        self.mid = nn.ModuleList([ResBlock(ch, ch, emb, dropout, groups)]
                                 + ([AttnBlock(ch, groups)] if attention else [])
                                 + [ResBlock(ch, ch, emb, dropout, groups)])
        self.up = nn.ModuleList()
        for i, m in reversed(list(enumerate(mults))):
            for _ in range(blocks + 1):
                self.up.append(ResBlock(ch + skips.pop(), width * m, emb, dropout, groups))
                ch = width * m
                if attention and i == len(mults) - 1:
                    self.up.append(AttnBlock(ch, groups))
            if i > 0:
                self.up.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                             nn.Conv2d(ch, ch, 3, padding=1)))
        self.out = nn.Sequential(norm(ch, groups), nn.SiLU(), nn.Conv2d(ch, out_ch, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def embedding(self, t: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        e = self.time_mlp(timestep_embedding(t, self.width))
        if self.class_embed is not None:
            if y is None:  # no label given: the unconditional ("no label") token
                y = torch.full((len(t),), self.num_classes, dtype=torch.long, device=t.device)
            e = e + self.class_embed(y)
        return e

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """x (N, C, H, W), t (N,) time indices, y (N,) labels in 0..num_classes (num_classes = none)."""
        h0, w0 = x.shape[-2:]
        m = 2 ** (self.levels - 1)
        ph, pw = (-h0) % m, (-w0) % m
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        emb = self.embedding(t, y)
        h = self.stem(x)
        hs = [h]
        for layer in self.down:
            if isinstance(layer, ResBlock):
                h = layer(h, emb)
                hs.append(h)
            elif isinstance(layer, AttnBlock):
                h = layer(h)
                hs[-1] = h
            else:
                h = layer(h)
                hs.append(h)
        for layer in self.mid:
            h = layer(h, emb)
        for layer in self.up:
            if isinstance(layer, ResBlock):
                h = layer(torch.cat([h, hs.pop()], dim=1), emb)
            elif isinstance(layer, AttnBlock):
                h = layer(h)
            else:
                h = layer(h)
        return self.out(h)[..., :h0, :w0]
