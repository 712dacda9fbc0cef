"""Gated PixelCNN (and the original PixelCNN, for comparison).

[1] van den Oord, Kalchbrenner, Vinyals, Espeholt, Graves, Kavukcuoglu,
    "Conditional Image Generation with PixelCNN Decoders", NeurIPS 2016, arXiv:1606.05328.
[2] van den Oord, Kalchbrenner, Kavukcuoglu, "Pixel Recurrent Neural Networks",
    ICML 2016, arXiv:1601.06759, §3.5 (PixelCNN, masks A and B).

``arch = "plain"`` is [2]'s PixelCNN: a 7x7 mask-A convolution, then residual
masked 3x3 (mask B) convolutions. Stacked masked kernels never see a wedge of
pixels up and to the right: the *blind spot* ([1] §2.1, Fig. 1).

``arch = "gated"`` (default) is [1]'s fix, two stacks per layer (Fig. 2):

- the vertical stack sees every row *above*: a (n//2+1) x n convolution over
  rows i - n//2 .. i. It may include its own row because it only reaches the
  output through a one-row down-shift (`shift_down`), and never receives
  the horizontal stack;
- the horizontal stack sees the current row left of the pixel: a 1 x (n//2+1)
  convolution over columns j - n//2 .. j; the first layer's input is shifted
  one column right, so x_ij itself is never seen (mask A), later layers see
  their own column (mask B);
- the link: vertical pre-activations of the row above, 1x1 conv, added to the
  horizontal pre-activations;
- gated units y = tanh(W_f * x + V_f h) . sigmoid(W_g * x + V_g h) (Eq. 2, 4),
  h a learned class embedding when ``conditional = true``; a 1x1 conv and a
  residual connection on the horizontal stack (not in the first layer).

Output head ([2] §3.5): ReLU -> 1x1 -> ReLU -> 1x1, to one Bernoulli logit per
pixel on binarised data or a 256-way softmax on 8-bit data (``head``, see
genlab/nn/autoregressive.py).

Fast sampling (`CachedGatedSampler`): the vertical stack for row i depends only
on rows <= i, so it is computed once per finished row (each layer on a strip of
n//2+1 rows); the horizontal stack for pixel j needs only the n//2+1 columns
left of it in each layer, cached per row. The reference sampler re-runs the
whole network per pixel; the two give the same images (tests/test_pixelcnn.py,
tools/bench_pixelcnn_sampling.py).

Colour: both archs predict R, then G from R, then B from R and G ([2] section
3.4) with a 256-way softmax per channel; the gated arch masks its horizontal
stack by channel group (`GatedLayer`), the plain arch its kernels
(genlab.nn.masked).

Deviations: a learned class embedding instead of a one-hot times V; Adam;
8 layers of 32 maps for 28x28 MNIST rather than [1]'s 15-20 layers for
CIFAR/ImageNet.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genlab.model import DataSpec, option
from genlab.nn.autoregressive import AutoregressiveModel, make_head
from genlab.nn.masked import MaskedConv2d
from genlab.registry import register

ARCHS = ("gated", "plain")


def gate(a: torch.Tensor) -> torch.Tensor:
    """tanh(first half) * sigmoid(second half) along channels (Eq. 2)."""
    f, g = a.chunk(2, dim=1)
    return torch.tanh(f) * torch.sigmoid(g)


def shift_down(a: torch.Tensor) -> torch.Tensor:
    """Row i gets row i-1 (row 0 gets zeros): the vertical stack reaches row i from rows < i only."""
    return F.pad(a, (0, 0, 1, -1))


class GatedLayer(nn.Module):
    """One layer of [1] Fig. 2 on (vertical, horizontal) feature maps.

    Colour (`groups` = 3, R -> G -> B within a pixel, [2] section 3.4): every horizontal feature
    map belongs to a channel group (map c of p to group c * groups // p, the same split for the
    tanh and the sigmoid half so the gate keeps it). The horizontal conv's own-column tap and
    the 1x1 projection are masked by group: in the first layer a map of group g sees only the
    pixel's colours before g (mask A, on the image channels), later layers maps of groups <= g
    (mask B). The first layer then reads its own column instead of the one-column shift that
    mask A is for one channel. The vertical stack needs no colour mask: it sees only rows above.
    """

    def __init__(self, in_ch: int, p: int, k: int, first: bool, num_classes: int, dropout: float = 0.0,
                 groups: int = 1):
        super().__init__()
        if k % 2 == 0 or k < 1:
            raise ValueError(f"kernel sizes must be odd, got {k}")
        if groups > 1 and p % groups:
            raise ValueError(f"features ({p}) must be a multiple of the {groups} colour channels")
        self.k, self.first, self.p, self.groups = k, first, p, groups
        self.shifted = first and groups == 1  # one channel: mask A is a one-column shift
        self.v_conv = nn.Conv2d(in_ch, 2 * p, (k // 2 + 1, k))  # rows i-k//2..i, columns j-k//2..j+k//2
        self.h_conv = nn.Conv2d(in_ch, 2 * p, (1, k // 2 + 1))  # columns j-k//2..j (one channel, first layer: ..j-1)
        self.link = nn.Conv2d(2 * p, 2 * p, 1)  # vertical (row above) -> horizontal
        self.h_proj = nn.Conv2d(p, p, 1)  # before the residual add
        # PixelCNN++ (Salimans et al. 2017, section 2.6) drops units of each residual branch
        # before its last convolution; a per-unit mask never carries information across pixels
        self.dropout = nn.Dropout(dropout)
        self.embed = nn.Embedding(num_classes, 4 * p) if num_classes else None  # V_f h, V_g h (Eq. 4)
        if groups > 1:
            out_group = (torch.arange(2 * p) % p) * groups // p  # both gate halves split alike
            in_group = torch.arange(in_ch) * groups // in_ch
            own = out_group[:, None] > in_group[None, :] if first else out_group[:, None] >= in_group[None, :]
            h_mask = torch.ones(2 * p, in_ch, 1, k // 2 + 1)
            h_mask[:, :, 0, -1] = own.float()
            proj_group = torch.arange(p) * groups // p
            proj_mask = (proj_group[:, None] >= proj_group[None, :]).float()[:, :, None, None]
            self.register_buffer("h_mask", h_mask, persistent=False)
            self.register_buffer("proj_mask", proj_mask, persistent=False)

    def h_conv_out(self, h):
        if self.groups == 1:
            return self.h_conv(h)
        return F.conv2d(h, self.h_conv.weight * self.h_mask, self.h_conv.bias)

    def h_proj_out(self, a):
        if self.groups == 1:
            return self.h_proj(a)
        return F.conv2d(a, self.h_proj.weight * self.proj_mask, self.h_proj.bias)

    # Padding is explicit so the cached sampler can run the same convs on small windows.
    def pad_v(self, v):
        return F.pad(v, (self.k // 2, self.k // 2, self.k // 2, 0))  # top and both sides

    @property
    def h_left(self) -> int:
        return self.k // 2 + (1 if self.shifted else 0)  # zero columns left of column 0

    def pad_h(self, h):
        s = 1 if self.shifted else 0  # first layer of one channel: shift right by one (mask A)
        return F.pad(h, (self.h_left, -s))

    def conditioning(self, y):
        """(N, 2p) additions to the vertical and horizontal pre-activations (0 when unconditional)."""
        if self.embed is None or y is None:
            return 0.0, 0.0
        return self.embed(y).chunk(2, dim=1)

    def h_output(self, h_in, h_pre):
        out = self.h_proj_out(self.dropout(gate(h_pre)))
        return out if self.first else h_in + out  # residual on the horizontal stack

    def forward(self, v, h, y=None):
        cv, ch = self.conditioning(y)
        cv, ch = (c if isinstance(c, float) else c[:, :, None, None] for c in (cv, ch))
        v_pre = self.v_conv(self.pad_v(v))  # (N, 2p, H, W)
        h_pre = self.h_conv_out(self.pad_h(h)) + self.link(shift_down(v_pre)) + ch
        return gate(v_pre + cv), self.h_output(h, h_pre)


class OutputHead(nn.Sequential):
    """ReLU -> 1x1 -> ReLU -> 1x1 ([2] §3.5); masked by channel group so R->G->B holds."""

    def __init__(self, in_ch: int, hidden: int, out_ch: int, groups: int):
        super().__init__(nn.ReLU(), MaskedConv2d(in_ch, hidden, 1, "B", groups), nn.ReLU(),
                         MaskedConv2d(hidden, out_ch, 1, "B", groups))


class CachedGatedSampler:
    """Fast path for sampling the gated arch (see module docstring); one per `sample` call.

    Per layer l it keeps: vin[l], the zero-padded input of the vertical conv for rows
    done so far; linked[l], link(v_pre of row r-1) for row r (row 0: link of zeros);
    hin[l], the zero-padded horizontal input of the current row.
    """

    def __init__(self, model: "PixelCNN", label):
        self.m, self.y = model, label
        self.row, self.col, self.rows_done = -1, 0, 0

    def _setup(self, x):
        n, _, hh, ww = x.shape
        layers = self.m.layers
        self.vin = [x.new_zeros(n, l.v_conv.in_channels, hh + l.k // 2, ww + 2 * (l.k // 2)) for l in layers]
        self.linked = [x.new_zeros(n, 2 * l.p, hh, ww) for l in layers]
        for l, buf in zip(layers, self.linked):
            buf[:, :, 0] = l.link.bias[None, :, None]  # link(shift_down(.)) at row 0 = link(0)
        self.cond = [l.conditioning(self.y) for l in layers]

    def _vertical_row(self, x, r):
        """Vertical features of row r (all of row r is known) for every layer."""
        layers = self.m.layers
        k0 = layers[0].k // 2
        self.vin[0][:, :, r + k0, k0:k0 + x.shape[3]] = x[:, :, r]
        for idx, l in enumerate(layers):
            strip = self.vin[idx][:, :, r:r + l.k // 2 + 1]  # padded rows of input rows r-k//2..r
            v_pre = l.v_conv(strip)  # (N, 2p, 1, W)
            if r + 1 < x.shape[2]:
                self.linked[idx][:, :, r + 1] = l.link(v_pre)[:, :, 0]
            if idx + 1 < len(layers):
                nxt = layers[idx + 1]
                cv = self.cond[idx][0]
                cv = cv if isinstance(cv, float) else cv[:, :, None, None]
                self.vin[idx + 1][:, :, r + nxt.k // 2, nxt.k // 2:nxt.k // 2 + x.shape[3]] = gate(v_pre + cv)[:, :, 0]

    def _start_row(self, x, i):
        while self.rows_done < i:
            self._vertical_row(x, self.rows_done)
            self.rows_done += 1
        w = x.shape[3]
        self.hin = [x.new_zeros(len(x), l.h_conv.in_channels, 1, w + l.h_left) for l in self.m.layers]
        self.row, self.col = i, 0

    def _column(self, x, i, j):
        """Head inputs (N, C*K) at (i, j) from x[i, <j] (and, in colour, the pixel's channels
        drawn so far); caches every layer's column j."""
        layers = self.m.layers
        first = layers[0]
        if j > 0:
            self.hin[0][:, :, 0, first.h_left + j - 1] = x[:, :, i, j - 1]  # x_i,j-1 is final now
        if not first.shifted:  # colour: the first layer reads its own column, masked by channel
            self.hin[0][:, :, 0, first.h_left + j] = x[:, :, i, j]
        out = None
        for idx, l in enumerate(layers):
            window = self.hin[idx][:, :, :, j:j + l.k // 2 + 1]  # the k//2+1 input columns output j sees
            ch = self.cond[idx][1]
            h_pre = l.h_conv_out(window) + self.linked[idx][:, :, i:i + 1, j:j + 1]
            h_pre = h_pre if isinstance(ch, float) else h_pre + ch[:, :, None, None]
            h_in = self.hin[idx][:, :, :, l.h_left + j:l.h_left + j + 1]
            out = l.h_output(h_in, h_pre)  # (N, p, 1, 1)
            if idx + 1 < len(layers):
                self.hin[idx + 1][:, :, :, layers[idx + 1].h_left + j] = out[:, :, :, 0]
        return self.m.output(out)[:, :, 0, 0]

    def __call__(self, x, i, j, c):
        if self.row < 0:
            self._setup(x)
        if i != self.row:
            self._start_row(x, i)
        if c > 0:  # a later colour of the same pixel: the column again, with the colours before it
            return self._column(x, i, j)
        out = None
        while self.col <= j:  # raster order; catches up over any skipped columns
            out = self._column(x, i, self.col)
            self.col += 1
        return out


@dataclass
class PixelCNNConfig:
    arch: str = option("gated", choices=("gated", "plain"))  # gated ([1], no blind spot) | plain ([2], masked convs, has a blind spot)
    features: int = 64  # p, feature maps per stack
    layers: int = 8  # gated layers / plain: first conv + residual masked convs
    kernel_size: int = 5  # n: later layers ([1]: vertical n//2+1 x n, horizontal 1 x n//2+1)
    first_kernel_size: int = 7  # first layer ([2]: 7x7 mask A)
    head_features: int = 128  # hidden width of the output head
    head: str = "auto"  # auto (bernoulli on binary data, else categorical) | bernoulli | categorical
    conditional: bool = False  # class-conditional p(x | label) ([1] §2.3)
    dropout: float = option(0.0, low=0.0, high=0.9)  # gated: dropout on each horizontal residual branch (PixelCNN++)


@register
class PixelCNN(AutoregressiveModel):
    family = "pixelcnn"
    Config = PixelCNNConfig
    paper = "van den Oord et al. 2016, arXiv:1606.05328 (gated); arXiv:1601.06759 (PixelCNN)"
    tiny_config = {"features": 8, "layers": 3, "kernel_size": 3, "first_kernel_size": 3, "head_features": 8}

    def __init__(self, config: PixelCNNConfig, data_spec: DataSpec):
        super().__init__(config, data_spec, conditional=config.conditional)
        c = config
        if c.arch not in ARCHS:
            raise ValueError(f"arch must be one of {', '.join(ARCHS)}; got {c.arch!r}")
        if c.layers < 1 or c.features < 1:
            raise ValueError(f"layers and features must be at least 1; got {c.layers}, {c.features}")
        if c.arch == "gated" and data_spec.channels > 1 and c.features % data_spec.channels:
            n = data_spec.channels
            raise ValueError(f"on {data_spec.describe()} data, features ({c.features}) must be a multiple of the {n} "
                             f"colour channels (each feature map belongs to one of them), e.g. --set "
                             f"features={c.features - c.features % n}")
        self.head = make_head(c.head, data_spec)
        ch, k_out = data_spec.channels, data_spec.channels * self.head.num_outputs
        if c.arch == "gated":
            self.layers = nn.ModuleList(
                GatedLayer(ch if i == 0 else c.features, c.features, c.first_kernel_size if i == 0 else c.kernel_size,
                           first=i == 0, num_classes=self.num_classes, dropout=c.dropout, groups=ch)
                for i in range(c.layers))
        else:
            self.layers = nn.ModuleList(
                [MaskedConv2d(ch, c.features, c.first_kernel_size, "A", ch)]
                + [MaskedConv2d(c.features, c.features, c.kernel_size, "B", ch) for _ in range(c.layers - 1)])
            self.embed = nn.Embedding(self.num_classes, c.layers * c.features) if self.num_classes else None
        self.output = OutputHead(c.features, c.head_features, k_out, ch)

    @classmethod
    def supported_shapes(cls) -> str:
        return "images of any size and channel count (colour: features a multiple of the channels)"

    def network(self, x: torch.Tensor, label=None) -> torch.Tensor:
        if self.config.arch == "gated":
            v = h = x
            for layer in self.layers:
                v, h = layer(v, h, label)
            return self.output(h)
        cond = [0.0] * len(self.layers)
        if self.embed is not None and label is not None:
            cond = self.embed(label)[:, :, None, None].chunk(len(self.layers), dim=1)
        h = self.layers[0](x) + cond[0]
        for conv, b in zip(self.layers[1:], cond[1:]):
            h = h + conv(F.relu(h)) + b  # residual masked conv (mask B)
        return self.output(h)

    def fast_sampler(self, label):
        return CachedGatedSampler(self, label) if self.config.arch == "gated" else None

    def extra_repr(self) -> str:
        c = self.config
        return super().extra_repr() + f", arch={c.arch}, layers={c.layers}, features={c.features}, head={self.head.name}"
