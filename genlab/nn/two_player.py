"""How a two-player game (a discriminator D against a generator G) is optimised, in one place.

- `AdversarialOptim`: a family's [optim] section: Adam with a learning rate per player and
  shared betas. The defaults are DCGAN's (Radford et al. 2016: lr 2e-4, beta1 0.5); a family
  with other settings subclasses it and redeclares only the defaults it changes, so its field
  names (the keys stored in recipes and checkpoints) stay lr_g, lr_d, beta1, beta2.
- `discriminator_then_generator`: the two phases of a training step, D first, G on every
  `d_steps`-th step only: k in Goodfellow et al.'s Algorithm 1, n_critic in WGAN's and StarGAN's
  papers. Families name that option `d_steps`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from torch import nn

from genlab.phases import LossFn, OptimizerSpec, Phase


@dataclass
class AdversarialOptim:
    """Adam for D and G (DCGAN's settings: lr 2e-4, beta1 0.5)."""

    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999

    def adam(self, lr: float) -> OptimizerSpec:
        """Adam at `lr` (one of lr_g, lr_d, or a family's own) with these betas."""
        return OptimizerSpec("adam", lr=lr, betas=(self.beta1, self.beta2))


def discriminator_then_generator(optim: AdversarialOptim, d_params: Sequence[nn.Parameter], d_loss: LossFn,
                                 g_params: Sequence[nn.Parameter], g_loss: LossFn, d_steps: int = 1) -> list[Phase]:
    """Phases "discriminator" (Adam at lr_d) and "generator" (Adam at lr_g, every d_steps-th step).

    The names are the keys of the optimiser states saved in checkpoints: a run resumes only
    into phases of the same names."""
    return [Phase("discriminator", list(d_params), d_loss, optim.adam(optim.lr_d)),
            Phase("generator", list(g_params), g_loss, optim.adam(optim.lr_g), every=d_steps)]
