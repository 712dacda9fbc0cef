"""GAN: Goodfellow et al. 2014, "Generative Adversarial Nets", arXiv:1406.2661.

The original adversarial game with multilayer perceptrons (paper §5 and the
authors' `mnist.yaml`):

- G: z (100-d) -> 1200 ReLU -> 1200 ReLU -> 784 outputs, noise only at the input;
- D: two maxout layers of 240 units x 5 pieces -> one logit, with dropout on
  every layer's input (keep 0.8 on the pixels, 0.5 on hidden layers);
- one D step per G step (Algorithm 1 with k = 1);
- value function (Eq. 1) min_G max_D E[log D(x)] + E[log(1 - D(G(z)))].
  G minimises the non-saturating -log D(G(z)) by default (the paper's §3
  advice); `generator_loss = "minimax"` trains on Eq. 1 itself.

Deviations, all documented choices:
- the output is tanh (data in [-1, 1]) instead of a sigmoid (data in [0, 1]);
  tanh(a) = 2 sigmoid(2a) - 1, so the function class is the same;
- Adam (lr 2e-4, beta1 0.5) instead of SGD with momentum and decaying lr;
- `d_activation = "leaky_relu"` swaps maxout for LeakyReLU(0.2) layers;
- PyTorch's default initialisation instead of U(-0.05, 0.05) / U(-0.005, 0.005);
- the paper's Parzen-window log-likelihood is not computed (genlab reports
  FID against its MNIST classifier instead; see genlab.metrics).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from genlab.model import DataSpec, option
from genlab.models.adversarial import GENERATOR_LOSSES, PRIORS, AdversarialModel
from genlab.registry import register

MAX_VALUES = 3 * 32 * 32  # beyond this an MLP on raw pixels is impractical
D_ACTIVATIONS = ("maxout", "leaky_relu")


class Maxout(nn.Module):
    """max over `pieces` affine maps per unit (Goodfellow et al. 2013, arXiv:1302.4389)."""

    def __init__(self, in_features: int, units: int, pieces: int):
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(in_features, units * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.linear(x).view(-1, self.units, self.pieces)  # (N, units, pieces)
        return h.max(dim=2).values  # (N, units)

    def extra_repr(self) -> str:
        return f"units={self.units}, pieces={self.pieces}"


class Generator(nn.Module):
    def __init__(self, latent_dim: int, hidden: int, image_shape: tuple[int, int, int]):
        super().__init__()
        self.image_shape = image_shape
        self.net = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(True),
            nn.Linear(hidden, hidden), nn.ReLU(True),
            nn.Linear(hidden, math.prod(image_shape)), nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *self.image_shape)  # (N, C*H*W) -> (N, C, H, W)


class Discriminator(nn.Module):
    def __init__(self, in_features: int, units: int, pieces: int, activation: str,
                 input_dropout: float, dropout: float):
        super().__init__()

        def hidden(n_in: int) -> nn.Module:
            if activation == "maxout":
                return Maxout(n_in, units, pieces)
            return nn.Sequential(nn.Linear(n_in, units), nn.LeakyReLU(0.2, True))

        # Dropout acts on each layer's *input*, as pylearn2's input_include_probs do.
        self.net = nn.Sequential(
            nn.Dropout(input_dropout), hidden(in_features),
            nn.Dropout(dropout), hidden(units),
            nn.Dropout(dropout), nn.Linear(units, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1)).squeeze(1)  # (N, C, H, W) -> (N,) logits


@dataclass
class GANConfig:
    latent_dim: int = 100
    prior: str = option("normal", choices=PRIORS)  # U(-1, 1) or N(0, I); the authors' code draws N(0, I)
    g_hidden: int = 1200  # units in each of G's two ReLU layers
    d_units: int = 240  # units in each of D's two hidden layers
    d_pieces: int = 5  # maxout pieces per unit
    d_activation: str = option("maxout", choices=D_ACTIVATIONS)
    input_dropout: float = option(0.2, low=0.0, high=0.95)  # dropout on D's input pixels (keep 0.8)
    dropout: float = option(0.5, low=0.0, high=0.95)  # dropout on D's hidden layers
    generator_loss: str = option("non_saturating", choices=GENERATOR_LOSSES)
    d_steps: int = option(1, low=1, help="k of the paper's Algorithm 1: D updates per G update (the paper used 1)")


@register
class GAN(AdversarialModel):
    family = "gan"
    Config = GANConfig
    paper = "Goodfellow et al. 2014, arXiv:1406.2661"

    def __init__(self, config: GANConfig, data_spec: DataSpec):
        super().__init__(config, data_spec, d_steps=config.d_steps)
        for name in ("input_dropout", "dropout"):
            if not 0.0 <= getattr(config, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1); got {getattr(config, name)}")
        self.latent_dim = config.latent_dim
        self.generator = Generator(config.latent_dim, config.g_hidden, data_spec.image_shape)
        self.discriminator = Discriminator(math.prod(data_spec.image_shape), config.d_units, config.d_pieces,
                                           config.d_activation, config.input_dropout, config.dropout)

    @classmethod
    def supported_shapes(cls) -> str:
        return f"images of at most {MAX_VALUES} values (C*H*W), e.g. 1x28x28 or 3x32x32"

    @classmethod
    def check_data_spec(cls, spec: DataSpec) -> None:
        if math.prod(spec.image_shape) > MAX_VALUES:
            raise ValueError(f"the MLP GAN takes {cls.supported_shapes()}; got {spec.describe()}")

    def extra_repr(self) -> str:
        c = self.config
        return (f"{super().extra_repr()}, latent_dim={c.latent_dim}, D={c.d_activation}, "
                f"generator_loss={c.generator_loss}")
