"""NADE: the Neural Autoregressive Distribution Estimator.

Larochelle & Murray, AISTATS 2011; Uria, Cote, Gregor, Murray & Larochelle,
"Neural Autoregressive Distribution Estimation", JMLR 2016, arXiv:1605.02226.

For binary x in {0, 1}^D and a fixed ordering (here raster order,
`ordering = "raster"`, the same for training, evaluation and sampling):

    p(x) = prod_d p(x_d | x_<d),   p(x_d = 1 | x_<d) = sigmoid(b_d + V_d . h_d)    (Eq. 1-2)
    h_d = sigmoid(a_d),            a_d = c + W[:, <d] x_<d                           (Eq. 3)

One weight matrix W (H x D) and one hidden bias c are shared by every
conditional; V (D x H) and b (D) hold one output row per pixel. Because
a_{d+1} = a_d + W[:, d] x_d, all D hidden vectors cost O(HD) instead of O(HD^2):
here an *exclusive* cumulative sum over d, so h_d never sees x_d (the classic
off-by-one leaks the target and gives a too-good NLL). Sampling runs the same
recursion incrementally, one pixel at a time (`NADESampler`).

Training is exact maximum likelihood: the per-pixel Bernoulli NLL summed over
the 784 pixels (nats per image), averaged over the batch.

Depth (`depth` > 1, Uria et al. 2016 §4, "deep NADE"): hidden layers above the
first map every h_d on, h^(l)_d = relu(U_l h^(l-1)_d + e_l), with U_l shared by
all conditionals and V_d reading the top layer. Only the first layer has the
running-sum shortcut, so each upper layer costs O(D H^2) per image: the cost
that made the paper train deep NADEs order-agnostically, one conditional at a
time. We keep one fixed ordering and pay it, computing all D conditionals in
one pass (a (D*N, H) x (H, H') product per layer).

Deviations: Adam instead of the papers' SGD with early stopping; one ordering
(no order-agnostic training, no ensembles of orderings); with depth > 1 the
first layer stays a sigmoid (the 2011 NADE) and the upper ones are ReLUs as in
DeepNADE. Binary images
only (data 'mnist-binary'): NADE's Bernoulli conditionals do not model 8-bit
grey levels; an 8-bit image raises ValueError.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genlab.model import DataSpec
from genlab.nn.autoregressive import AutoregressiveModel, BernoulliHead
from genlab.options import option
from genlab.registry import register


@dataclass
class NADEConfig:
    hidden: int = 500  # H, hidden units shared by all conditionals
    depth: int = 1  # hidden layers; above the first, DeepNADE's shared ReLU layers (Uria et al. 2016 §4)
    upper_hidden: int = option(0, low=0, help="width of layers 2..depth (0: the same as hidden)")


def identity(h: torch.Tensor) -> torch.Tensor:
    return h


def nade_logits_reference(x: torch.Tensor, W, c, V, b, upper=identity) -> torch.Tensor:
    """Eq. 1-3 with the running sum as an exclusive cumsum over d: x (N, D) in {0, 1} -> (N, D) logits.
    `upper` maps each first-layer h_d to the top layer's (the identity for a one-layer NADE).

    O(NHD) time and memory; the reference the faster path is tested against.
    """
    contrib = W.unsqueeze(0) * x.unsqueeze(1)  # (N, H, D): W[:, e] x_e
    a = c[None, :, None] + F.pad(contrib.cumsum(2)[:, :, :-1], (1, 0))  # (N, H, D); a_d excludes x_d
    top = upper(torch.sigmoid(a).transpose(1, 2))  # (N, D, H_top)
    return b + torch.einsum("ndh,dh->nd", top, V)


def nade_logits_blocked(x: torch.Tensor, W, c, V, b, block: int, upper=identity) -> torch.Tensor:
    """The same sums regrouped into blocks of `block` pixels (one image row) so that they are
    matrix products (about 3x faster on CPU than the cumsum):

        a_d = c + sum_{blocks k' < k(d)} W_k' x_k'  +  sum_{e < d in block k(d)} W_e x_e
    """
    n, d = x.shape
    h, nb = W.shape[0], d // block
    xb = x.view(n, nb, block).transpose(0, 1)  # (nb, N, B)
    wt = W.t().reshape(nb, block, h)  # (nb, B, H)
    earlier = torch.ones(block, block, device=x.device, dtype=x.dtype).tril(-1)  # [d, e] = 1 iff e < d
    masked = (xb.unsqueeze(1) * earlier[None, :, None, :]).reshape(nb, block * n, block)  # rows (d, n)
    within = torch.bmm(masked, wt).view(nb, block, n, h)  # inside the block, before d
    per_block = torch.bmm(xb, wt)  # (nb, N, H): each block's full sum
    before = F.pad(per_block.cumsum(0)[:-1], (0, 0, 0, 0, 1, 0))  # (nb, N, H): blocks before k
    hidden = upper(torch.sigmoid(within + (before + c).unsqueeze(1)).view(d, n, h))  # (D, N, H_top)
    logits = torch.bmm(hidden, V.unsqueeze(2)).view(d, n)  # V_d . h_d
    return logits.t() + b  # (N, D)


class NADESampler:
    """O(H) per pixel: keeps a_d = c + W[:, <d] x_<d and adds each new pixel's column (Eq. 3)."""

    def __init__(self, model: "NADE"):
        self.m, self.a, self.done = model, None, 0  # a: (N, H); `done` pixels already summed in

    def __call__(self, x, i, j, c):
        d = i * self.m.data_spec.width + j
        flat = (x.flatten(1) + 1) / 2  # (N, D) in {0, 1}; raster order (one channel)
        if self.a is None:
            self.a = self.m.c.expand(len(x), -1).clone()
        if d > self.done:  # add the pixels generated (or given) since the last call
            self.a += flat[:, self.done:d] @ self.m.W[:, self.done:d].T
            self.done = d
        h = self.m.upper(torch.sigmoid(self.a))  # (N, H_top)
        return (self.m.b[d] + h @ self.m.V[d])[:, None]  # (N, 1) logit of p(x_d = 1 | x_<d)


@register
class NADE(AutoregressiveModel):
    family = "nade"
    default_data = "mnist-binary"  # Bernoulli conditionals: binarised digits
    Config = NADEConfig
    paper = "Larochelle & Murray 2011; Uria et al. 2016, arXiv:1605.02226"
    tiny_config = {"hidden": 16}

    def __init__(self, config: NADEConfig, data_spec: DataSpec):
        super().__init__(config, data_spec)
        if config.hidden < 1:
            raise ValueError(f"hidden must be at least 1, got {config.hidden}")
        self.head = BernoulliHead()
        d, h = data_spec.height * data_spec.width, config.hidden
        widths = [h] + [config.upper_hidden or h] * (config.depth - 1)
        self.upper_layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths, widths[1:]))
        # Initialisation: weights U(+-1/sqrt(fan_in)), as nn.Linear does.
        self.W = nn.Parameter(torch.empty(h, d).uniform_(-1, 1) / d ** 0.5)  # input -> hidden, shared
        self.c = nn.Parameter(torch.zeros(h))  # hidden bias, shared
        self.V = nn.Parameter(torch.empty(d, widths[-1]).uniform_(-1, 1) / widths[-1] ** 0.5)  # one row per pixel
        self.b = nn.Parameter(torch.zeros(d))  # one output bias per pixel

    def upper(self, h: torch.Tensor) -> torch.Tensor:
        """(..., H) first-layer units -> (..., H_top): DeepNADE's shared ReLU layers (none when depth = 1)."""
        for layer in self.upper_layers:
            h = torch.relu(layer(h))
        return h

    @classmethod
    def supported_shapes(cls) -> str:
        return "binary one-channel images of any size (data 'mnist-binary')"

    @classmethod
    def check_data_spec(cls, spec: DataSpec) -> None:
        if spec.channels != 1 or not spec.binary:
            raise ValueError(f"NADE takes {cls.supported_shapes()}; got {spec.describe()} data "
                             f"{spec.name!r}{'' if spec.binary else ' with 8-bit pixels'}")

    def network(self, x: torch.Tensor, label=None) -> torch.Tensor:
        """All D logits at once: (N, 1, H, W) -> (N, 1, H, W)."""
        flat = (x.flatten(1) + 1) / 2  # (N, D) in {0, 1}
        logits = nade_logits_blocked(flat, self.W, self.c, self.V, self.b, block=self.data_spec.width,
                                     upper=self.upper)
        return logits.view(len(x), 1, self.data_spec.height, self.data_spec.width)

    def fast_sampler(self, label):
        return NADESampler(self)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", hidden={self.config.hidden}, depth={self.config.depth}, ordering={self.ordering}"
