"""VAE: Kingma & Welling 2014, "Auto-Encoding Variational Bayes", arXiv:1312.6114,
with the importance-weighted bound of Burda, Grosse & Salakhutdinov 2016
("Importance Weighted Autoencoders", arXiv:1509.00519) for log-likelihoods.

A Gaussian encoder q(z|x) = N(mu(x), diag sigma^2(x)) and a decoder p(x|z)
under a N(0, I) prior, trained by maximising the ELBO (K&W Eq. 3 / 10):

    ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z)),

with one reparameterised draw z = mu + sigma * eps per image and the analytic
KL (K&W App. B). Both terms are sums over pixels / latent dims and means over
the batch, so the loss is -ELBO in nats per image (papers.md §4, bug 1).

`log_prob(x, k)` is the IWAE bound (Burda Eq. 8):

    log p(x) >= log (1/k) sum_i p(x, z_i) / q(z_i|x),   z_i ~ q(z|x),

computed from the full densities (never the analytic KL), with logsumexp. It
tightens as k grows; genlab reports k = 1000 by default (the paper: 5000).

Pixel likelihood (genlab.nn.autoencoder): Bernoulli on binarised data
("mnist-binary"), a discretised logistic per pixel on 8-bit data; both are
true discrete likelihoods, so nats per image are comparable between them.

Deviations: the defaults are the IWAE paper's 1-stochastic-layer net (two tanh
layers of 200 units, 50 latent dims; Burda App. C) trained with Adam rather
than K&W's Adagrad; `train_k > 1` trains on the IWAE bound instead of the ELBO;
net = "conv" swaps in a small conv encoder/decoder. `sample()` returns the
decoder's mean image (Bernoulli probabilities for binary data) unless asked for
pixel draws with pixels="sample".
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from genlab.model import Control, DataSpec, GenerativeModel, OptimizerSpec, Phase, iterate_in_chunks, option
from genlab.nn.autoencoder import (PIXEL_MODES, PIXELS_HELP, PixelDecoding,
                                   GaussianEncoder, PixelDecoder, check_net_shape, gaussian_kl,
                                   log_normal, pick_likelihood, reparameterize)
from genlab.nn.gaussian_mixture import GaussianMixture
from genlab.registry import register



@dataclass
class VAEConfig:
    latent_dim: int = 50  # d, size of z
    net: str = option("mlp", choices=("mlp", "conv"))  # mlp (any image size) | conv (square sizes in CONV_SIZES)
    hidden: tuple[int, ...] = (200, 200)  # MLP hidden widths (encoder order; the decoder mirrors them)
    width: int = 32  # conv channels in the first stage, doubled per stage
    activation: str = "tanh"  # relu | tanh | elu | leaky_relu
    likelihood: str = "auto"  # auto (bernoulli for binary data, else logistic) | bernoulli | logistic
    train_k: int = 1  # importance samples in the training objective: 1 = ELBO (VAE), k > 1 = IWAE bound
    eval_k: int = 1000  # default importance samples of log_prob
    latent_mixture: int = option(0, low=0, help="components of a Gaussian mixture fitted to the training images' "
                                 "posterior means when training ends, which samples then draw z from (ex-post "
                                 "density estimation, Ghosh et al. 2020); 0: z ~ N(0, I) only")


@dataclass
class VAEOptim:
    lr: float = 1e-3  # Adam
    beta1: float = 0.9
    beta2: float = 0.999


@register
class VAE(PixelDecoding, GenerativeModel):
    family = "vae"
    Config = VAEConfig
    Optim = VAEOptim
    log_prob_is_sampled = True  # log_prob(x, k, generator): the IWAE bound over k samples
    log_prob_takes_k = True
    paper = "Kingma & Welling 2014, arXiv:1312.6114 (IWAE bound: Burda et al. 2016, arXiv:1509.00519)"
    log_prob_is_exact = False

    def __init__(self, config: VAEConfig, data_spec: DataSpec):
        super().__init__(config, data_spec)
        if config.latent_dim < 1 or config.train_k < 1 or config.eval_k < 1:
            raise ValueError(f"latent_dim, train_k and eval_k must be at least 1; got {config.latent_dim}, "
                             f"{config.train_k}, {config.eval_k}")
        check_net_shape(config.net, data_spec.image_shape)
        self.latent_dim = config.latent_dim
        net = dict(net=config.net, hidden=tuple(config.hidden), width=config.width, act=config.activation)
        self.likelihood = pick_likelihood(config.likelihood, data_spec.binary)
        self.encoder = GaussianEncoder(data_spec.image_shape, config.latent_dim, **net)
        self.decoder = PixelDecoder(config.latent_dim, data_spec.image_shape, self.likelihood, **net)
        self.latent_fit = None
        if config.latent_mixture:
            self.add_latent_mixture(config.latent_mixture)

    def extra_repr(self) -> str:
        c = self.config
        return f"{super().extra_repr()}, latent_dim={c.latent_dim}, net={c.net}, likelihood={self.likelihood.name}"

    # ----- training -------------------------------------------------------------------
    def log_weights(self, x: torch.Tensor, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x), z_i ~ q(z|x): (k, N) (Burda Eq. 8)."""
        mean, logvar = self.encoder(x)  # 2 x (N, d)
        n, d = mean.shape
        eps = self.randn(k, n, d, generator=generator)
        z = reparameterize(mean, logvar, eps)  # (k, N, d)
        x_rep = x.unsqueeze(0).expand(k, *x.shape).reshape(k * n, *x.shape[1:])  # (k*N, C, H, W)
        log_px_z = self.decoder.log_prob(x_rep, z.reshape(k * n, d)).view(k, n)
        return log_px_z + log_normal(z) - log_normal(z, mean, logvar)

    def loss(self, batch: dict):
        x = batch["image"]
        if self.config.train_k > 1:  # IWAE objective: the k-sample bound (Burda Eq. 8)
            bound = torch.logsumexp(self.log_weights(x, self.config.train_k), 0) - math.log(self.config.train_k)
            return -bound.mean(), {"bound_nats": bound.mean().detach()}
        mean, logvar = self.encoder(x)
        z = reparameterize(mean, logvar, self.randn(*mean.shape))
        recon = -self.decoder.log_prob(x, z)  # (N,) nats: -log p(x|z), summed over pixels
        kl = gaussian_kl(mean, logvar)  # (N,) nats, summed over latent dims
        elbo = -(recon + kl)
        return -elbo.mean(), {"recon_nats": recon.mean().detach(), "kl_nats": kl.mean().detach(),
                              "elbo_nats": elbo.mean().detach()}

    def phases(self) -> list[Phase]:
        c = self.config
        return [Phase("elbo" if c.train_k == 1 else "iwae", list(self.parameters()), self.loss,
                      OptimizerSpec("adam", lr=self.optim.lr, betas=(self.optim.beta1, self.optim.beta2)))]

    # ----- likelihood -------------------------------------------------------------------
    @torch.no_grad()
    def log_prob(self, x: torch.Tensor, k: int | None = None, generator: torch.Generator | None = None,
                 max_rows: int = 20000) -> torch.Tensor:
        """IWAE lower bound on log p(x) in nats per image, (N,). k = 1 is a one-sample ELBO;
        images and samples are processed max_rows (image, sample) pairs at a time."""
        x = self.check_images(x).to(self.device)
        k = k or self.config.eval_k
        images_per_chunk = max(1, max_rows // k)
        out = []
        for xs in x.split(images_per_chunk):
            per = max(1, max_rows // len(xs))  # samples per pass
            logw = torch.cat([self.log_weights(xs, kk, generator) for kk in iterate_in_chunks(k, per)])  # (k, n)
            out.append(torch.logsumexp(logw.double(), 0) - math.log(k))
        return torch.cat(out).float()

    def add_latent_mixture(self, components: int) -> None:
        """An unfitted mixture of `components` Gaussians over z (finish_training fits it); a
        buffer-only module, so the optimiser never sees it."""
        self.config.latent_mixture = components
        self.latent_fit = GaussianMixture(components, self.latent_dim).to(next(self.parameters()).device)

    @torch.no_grad()
    def finish_training(self, data) -> bool:
        """With `latent_mixture`: fit the mixture to the posterior means of every training image."""
        if self.latent_fit is None:
            return False
        was_training = self.training
        self.eval()
        if data.in_memory:
            chunks = data.images.split(500)
        else:  # a picture folder read as it goes: (image, label) pairs
            chunks = (images for images, _ in torch.utils.data.DataLoader(data.stream, batch_size=500))
        means = torch.cat([self.encoder(images.to(self.device))[0] for images in chunks])
        self.latent_fit.fit(means)
        self.train(was_training)
        return True

    # ----- latent space and generation ----------------------------------------------------------------
    @property
    def fitted_prior(self) -> bool:
        return self.latent_fit is not None and bool(self.latent_fit.fitted)

    @property
    def prior_name(self) -> str:
        return "fitted mixture" if self.fitted_prior else "normal"

    def prior(self, n: int, generator: torch.Generator | None = None, source: str | None = None,
              temperature: float = 1.0) -> torch.Tensor:
        """z for new images: from the fitted mixture when there is one (source "fitted"), else (or
        with source "standard") from the N(0, I) prior the VAE trained with; `temperature` scales
        the draw's spread (around its component's mean for the mixture)."""
        source = source or ("fitted" if self.fitted_prior else "standard")
        if source == "fitted":
            if not self.fitted_prior:
                raise ValueError("this VAE has no fitted latent mixture (train it with the option latent_mixture); "
                                 "use prior='standard'")
            return self.latent_fit.sample(n, generator, temperature)
        if source != "standard":
            raise ValueError(f"prior must be 'fitted' or 'standard'; got {source!r}")
        return self.randn(n, self.latent_dim, generator=generator) * temperature

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, logvar = self.encoder(self.check_images(x).to(self.device))
        return mean, torch.exp(0.5 * logvar)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, pixels: str | None = None,
               temperature: float = 1.0, prior: str | None = None, **controls) -> torch.Tensor:
        """z from `prior` (see prior()), scaled by temperature; pixels='sample' draws each pixel from p(x|z)."""
        z = self.prior(n, generator, source=prior, temperature=temperature)
        return self.decode(z, pixels=pixels, generator=generator).clamp(-1, 1)

    def controls(self):
        controls = [Control("pixels", "choice", self.default_pixels, choices=PIXEL_MODES,
                            applies_to=("sample", "decode"), help=PIXELS_HELP),
                    Control("temperature", "slider", 1.0, low=0.0, high=1.5, help="spread of the z draws (1: as fitted "
                            "or N(0, I))")]
        if self.fitted_prior:
            controls.append(Control("prior", "choice", "fitted", choices=("fitted", "standard"),
                                    choice_labels={"fitted": "fitted mixture", "standard": "N(0, I)"},
                                    help="where z comes from: the Gaussian mixture fitted to the training images' "
                                         "codes, or the N(0, I) prior the VAE trained with"))
        return controls
