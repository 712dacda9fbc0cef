"""What GAN-type families share: a prior over z, `decode`, and the D/G phases.

A subclass builds `self.generator` (z -> image in [-1, 1]) and
`self.discriminator` (image -> logit), and may override `discriminator_loss`
/ `generator_loss` (InfoGAN adds its mutual-information term there).
"""
from __future__ import annotations

import torch

from genlab.model import Control, GenerativeModel, Phase
from genlab.nn import gan_losses
from genlab.nn.diffaugment import DiffAugment
from genlab.nn.two_player import AdversarialOptim, discriminator_then_generator


PRIORS = ("normal", "uniform")
GENERATOR_LOSSES = gan_losses.GENERATOR_LOSSES  # z ~ N(0, I) or U(-1, 1)^d


class AdversarialModel(GenerativeModel):
    ema_modules = ("generator",)
    Optim = AdversarialOptim
    latent_dim: int

    # Subclass configs declare prior and generator_loss with option(choices=PRIORS /
    # GENERATOR_LOSSES), so a bad value is refused at build time, never mid-training. A family
    # whose config has them passes `augment` (DiffAugment policies, genlab/nn/diffaugment.py) and
    # `d_steps` (k in Goodfellow et al.'s Algorithm 1: G updates on every k-th step only).
    def __init__(self, config, data_spec, augment: str = "", d_steps: int = 1):
        super().__init__(config, data_spec)
        self.augment = DiffAugment(augment)  # what D sees, real and fake alike
        self.d_steps = d_steps

    # ----- latent space ---------------------------------------------------------
    @property
    def prior_name(self) -> str:
        """The config's `prior` option: z ~ N(0, I) ("normal") or U(-1, 1)^d ("uniform")."""
        return self.config.prior

    def prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.prior_name == "uniform":
            return self.rand(n, self.latent_dim, generator=generator) * 2 - 1
        return self.randn(n, self.latent_dim, generator=generator)

    def decode(self, z: torch.Tensor, **controls) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"{self.family} latents have shape (N, {self.latent_dim}); got {tuple(z.shape)}")
        return self.generator(z.to(self.device))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, truncation: float = 1.0,
               **controls) -> torch.Tensor:
        """truncation < 1 pulls z toward the prior's mean (fewer, cleaner modes)."""
        z = self.prior(n, generator) * truncation
        return self.decode(z, **controls).float().clamp(-1, 1)

    def controls(self) -> list[Control]:
        return [Control("truncation", "slider", 1.0, low=0.0, high=1.5,
                        help="scale of z: below 1 trades variety for typical samples")]

    # ----- training ---------------------------------------------------------------
    def discriminator_loss(self, batch: dict):
        real = batch["image"]
        fake = self.generator(self.prior(len(real)))
        # Real and fake go through D as separate batches, so batch-norm statistics
        # never mix the two (DCGAN practice; ganhacks #9).
        real_logits, fake_logits = self.discriminator(self.augment(real)), self.discriminator(self.augment(fake))
        loss = gan_losses.discriminator_loss(real_logits, fake_logits)
        return loss, {"D(x)": torch.sigmoid(real_logits).mean(), "D(G(z))": torch.sigmoid(fake_logits).mean()}

    def generator_loss(self, batch: dict):
        fake_logits = self.discriminator(self.augment(self.generator(self.prior(len(batch["image"])))))
        return gan_losses.generator_loss(fake_logits, self.config.generator_loss), {}

    def phases(self) -> list[Phase]:
        return discriminator_then_generator(self.optim, self.discriminator.parameters(), self.discriminator_loss,
                                            self.generator.parameters(), self.generator_loss, self.d_steps)
