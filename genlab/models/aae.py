"""AAE: Makhzani, Shlens, Jaitly, Goodfellow & Frey 2015, "Adversarial
Autoencoders", arXiv:1511.05644.

An autoencoder whose aggregated posterior q(z) = E_x q(z|x) is pushed onto a
chosen prior p(z) by a GAN played in code space (paper §2, Fig. 1):

1. reconstruction phase: encoder and decoder minimise -log p(x|z), z = E(x);
2. regularisation phase, discriminator: a net D on *codes* tells prior draws
   ("real") from codes of data ("fake"); z is detached so D never moves E;
3. regularisation phase, generator: the encoder learns to fool D with the
   non-saturating loss -log D(E(x)).

Each phase has its own optimiser. After training the decoder maps any prior
draw to an image: `sample` draws z ~ p(z) and decodes it.

Priors (genlab.nn.autoencoder.LatentPrior): N(0, I), U(-1, 1)^d, a mixture of
10 radial 2-D Gaussians, a swiss roll. `supervised = true` is the paper's §2.1
label-aware regulariser: the digit label picks the mixture component (or roll
segment) of the prior draw and its one-hot code is given to D beside z, so each
digit class is mapped onto its own component; `sample(component=k)` then
draws digit k.

`genlab.nn.autoencoder.prior_match(model, images)` measures how well q(z)
matches p(z): an MMD two-sample test of test-set codes against prior draws.

Deviations: Adam instead of the paper's SGD with momentum; the pixel
likelihood is the one the VAE uses (Bernoulli for binarised data, discretised
logistic for 8-bit) rather than a sigmoid cross-entropy on grey levels; the
paper's label-aware D has an extra "unlabelled" class for semi-supervised
data, here every image is labelled; no Parzen-window likelihood.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from genlab.model import Control, DataSpec, GenerativeModel, OptimizerSpec, Phase, option
from genlab.nn import gan_losses
from genlab.nn.autoencoder import (PIXEL_MODES, PIXELS_HELP, PixelDecoding,
                                   GaussianEncoder, ImageEncoder, LatentPrior, PixelDecoder,
                                   check_net_shape, mlp, pick_likelihood, reparameterize)
from genlab.registry import register

ENCODERS = ("deterministic", "gaussian")


@dataclass
class AAEConfig:
    latent_dim: int = 2  # d, size of z
    prior: str = "normal"  # normal | uniform | mixture | swiss_roll
    prior_components: int = 10  # petals of the mixture / segments of the swiss roll
    supervised: bool = False  # the label picks the prior component and D sees it (paper §2.1)
    encoder: str = option("deterministic", choices=("deterministic", "gaussian"))  # deterministic z = E(x) (the paper's main choice) | gaussian (reparameterised)
    net: str = option("mlp", choices=("mlp", "conv"))  # mlp (any image size) | conv (square sizes in CONV_SIZES)
    hidden: tuple[int, ...] = (1000, 1000)  # encoder widths; the decoder mirrors them (paper §3: 1000-1000)
    width: int = 32  # conv channels in the first stage
    activation: str = "relu"
    likelihood: str = "auto"  # auto (bernoulli for binary data, else logistic) | bernoulli | logistic
    disc_hidden: tuple[int, ...] = (1000, 1000)  # D on codes (paper §3: two layers of 1000)


@dataclass
class AAEOptim:
    lr_recon: float = 1e-3
    # D and the encoder's fooling step at the same rate: a slower D (2e-4 against 1e-3) let the
    # encoder collapse all codes onto a line; a slower encoder step (2e-4) lost to the
    # reconstruction phase and left whole classes off their prior component (CPU pilots, 3k steps).
    lr_disc: float = 5e-4
    lr_gen: float = 5e-4
    beta1: float = 0.5  # Adam beta1 of the two adversarial phases (the reconstruction phase uses 0.9)


@register
class AAE(PixelDecoding, GenerativeModel):
    family = "aae"
    Config = AAEConfig
    Optim = AAEOptim
    paper = "Makhzani et al. 2015, arXiv:1511.05644"

    def __init__(self, config: AAEConfig, data_spec: DataSpec):
        super().__init__(config, data_spec)
        check_net_shape(config.net, data_spec.image_shape)
        if config.encoder not in ENCODERS:
            raise ValueError(f"unknown encoder {config.encoder!r}; choose one of {', '.join(ENCODERS)}")
        self.latent_dim = config.latent_dim
        self.latent_prior = LatentPrior(config.prior, config.latent_dim, config.prior_components)
        if config.supervised:
            if not self.latent_prior.components:
                raise ValueError(f"supervised needs a prior with components (mixture or swiss_roll); got {config.prior!r}")
            if data_spec.num_classes != self.latent_prior.components:
                raise ValueError(f"supervised maps each of the data's classes to a prior component: prior_components "
                                 f"must equal the number of classes ({data_spec.num_classes}); got {config.prior_components}")
        net = dict(net=config.net, hidden=tuple(config.hidden), width=config.width, act=config.activation)
        self.likelihood = pick_likelihood(config.likelihood, data_spec.binary)
        if config.encoder == "gaussian":
            self.encoder = GaussianEncoder(data_spec.image_shape, config.latent_dim, **net)
        else:
            self.encoder = ImageEncoder(data_spec.image_shape, config.latent_dim, **net)
        self.decoder = PixelDecoder(config.latent_dim, data_spec.image_shape, self.likelihood, **net)
        label_dim = data_spec.num_classes if config.supervised else 0
        self.discriminator = mlp([config.latent_dim + label_dim, *config.disc_hidden, 1], config.activation)

    def extra_repr(self) -> str:
        c = self.config
        return (f"{super().extra_repr()}, latent_dim={c.latent_dim}, prior={c.prior}, supervised={c.supervised}, "
                f"encoder={c.encoder}, likelihood={self.likelihood.name}")

    # ----- building blocks of the phases ---------------------------------------------------
    def _code(self, x: torch.Tensor) -> torch.Tensor:
        """z ~ q(z|x): E(x), or a reparameterised draw for the Gaussian encoder."""
        if self.config.encoder == "gaussian":
            mean, logvar = self.encoder(x)
            return reparameterize(mean, logvar, self.randn(*mean.shape))
        return self.encoder(x)

    def _critic(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """D's logit for codes (N, d); the supervised D also sees the one-hot label (paper §2.1)."""
        if self.config.supervised:
            z = torch.cat([z, F.one_hot(labels, self.data_spec.num_classes).to(z.dtype)], 1)  # (N, d + classes)
        return self.discriminator(z).squeeze(1)  # (N,)

    def _prior_for(self, batch: dict) -> torch.Tensor:
        n = len(batch["image"])
        component = batch["label"] if self.config.supervised else None
        return self.latent_prior(self.randn(n, self.latent_dim), self.rand(n, self.latent_dim), component)

    # ----- the three phases ---------------------------------------------------------------------
    def reconstruction_loss(self, batch: dict):
        x = batch["image"]
        recon = -self.decoder.log_prob(x, self._code(x))  # (N,) nats per image
        return recon.mean(), {"recon_nats": recon.mean().detach()}

    def discriminator_loss(self, batch: dict):
        real = self._critic(self._prior_for(batch), batch["label"])
        fake = self._critic(self._code(batch["image"]).detach(), batch["label"])  # D must not move E
        return gan_losses.discriminator_loss(real, fake), {"D(prior)": torch.sigmoid(real).mean().detach(),
                                                           "D(code)": torch.sigmoid(fake).mean().detach()}

    def generator_loss(self, batch: dict):
        fake = self._critic(self._code(batch["image"]), batch["label"])
        return gan_losses.generator_loss(fake, "non_saturating"), {}

    def phases(self) -> list[Phase]:
        o = self.optim
        adv = (o.beta1, 0.999)
        return [
            Phase("reconstruction", [*self.encoder.parameters(), *self.decoder.parameters()],
                  self.reconstruction_loss, OptimizerSpec("adam", lr=o.lr_recon, betas=(0.9, 0.999))),
            Phase("discriminator", list(self.discriminator.parameters()), self.discriminator_loss,
                  OptimizerSpec("adam", lr=o.lr_disc, betas=adv)),
            Phase("generator", list(self.encoder.parameters()), self.generator_loss,
                  OptimizerSpec("adam", lr=o.lr_gen, betas=adv)),
        ]

    # ----- latent space and generation ---------------------------------------------------------
    def _component(self, n: int, component) -> torch.Tensor | None:
        if component is None or component == "random":
            return None
        k = self.latent_prior.components
        if not k:
            raise ValueError(f"the {self.config.prior} prior has no components; component must be 'random'")
        if isinstance(component, str) and component.isdigit():
            component = int(component)
        if not isinstance(component, int) or not 0 <= component < k:
            raise ValueError(f"component must be 'random' or an integer in 0..{k - 1}; got {component!r}")
        return torch.full((n,), component, dtype=torch.long)

    @property
    def prior_name(self) -> str:
        return self.config.prior

    def prior(self, n: int, generator: torch.Generator | None = None, component=None) -> torch.Tensor:
        eps = self.randn(n, self.latent_dim, generator=generator)
        u = self.rand(n, self.latent_dim, generator=generator)
        return self.latent_prior(eps, u, self._component(n, component))

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.check_images(x).to(self.device)
        if self.config.encoder == "gaussian":
            mean, logvar = self.encoder(x)
            return mean, torch.exp(0.5 * logvar)
        z = self.encoder(x)
        return z, torch.zeros_like(z)  # a deterministic encoder: q(z|x) is a point mass

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, component=None, pixels: str | None = None,
               **controls) -> torch.Tensor:
        """z ~ p(z) (from one component when `component` is given), decoded."""
        z = self.prior(n, generator, component)
        return self.decode(z, pixels=pixels, generator=generator).clamp(-1, 1)

    def controls(self) -> list[Control]:
        out = [Control("pixels", "choice", self.default_pixels, choices=PIXEL_MODES, applies_to=("sample", "decode"),
                       help=PIXELS_HELP)]
        if self.latent_prior.components:
            what = "digit class" if self.config.supervised else "prior component"
            out.append(Control("component", "choice", "random",
                               choices=("random", *range(self.latent_prior.components)),
                               help=f"draw z from one {what} of the {self.config.prior} prior"))
        return out

    def extra_metrics(self, n: int, seed: int = 0) -> dict:
        """Posterior vs prior: MMD^2 of test-image codes against prior draws (with its permutation
        p-value) and, for a supervised AAE of digits, how often component k draws digit k."""
        from genlab.metrics.latent import prior_figures

        return {f"{self.family}_{k}": v for k, v in prior_figures(self, n, seed).items()}
