"""InfoGAN: Chen et al. 2016, "InfoGAN: Interpretable Representation Learning by
Information Maximizing Generative Adversarial Nets", arXiv:1606.03657.

A GAN whose input is split into incompressible noise z and a structured code c.
It adds a variational lower bound of the mutual information I(c; G(z, c))
(Eq. 4-5) to the game (Eq. 6):

    min_{G,Q} max_D  V(D, G) - lambda * L_I(G, Q),
    L_I = E_{c ~ P(c), x ~ G(z, c)}[log Q(c | x)] + H(c)  <=  I(c; G(z, c)).

H(c) is a constant of the prior and is dropped from the loss (it is logged, so
that the "MI" columns read as the bound itself: log 10 = 2.30 nats at best for
the categorical code). Here on MNIST (paper §6 / appendix C.1):

- latent = 62 noise dims + a 10-way categorical code c1 ~ Cat(0.1) + 2
  continuous codes c2, c3 ~ U(-1, 1): 74 dims, laid out [noise | onehot | cont];
- Q shares every layer of D and adds one FC block: categorical logits (a
  softmax) and, for the continuous codes, the mean of a factored Gaussian with
  std 1 (the authors' code fixes it, `fix_std=True`; `learn_std = true` makes
  Q output log-std as well);
- lambda = 1 for both code types, lr 2e-4 for D and 1e-3 for G, Adam beta1 0.5.

Phases, under the trainer's rule that a phase updates only its own parameters:
- "discriminator" = D body + real/fake head + Q head, loss D_adv + lambda * L_Q
  on fakes: the Q head *and the shared body* learn to recover c;
- "generator" = G, loss G_adv + lambda * L_Q: the MI gradient flows through the
  frozen D/Q into G, so G makes its codes recoverable.
This is the authors' code (openai/InfoGAN `infogan_trainer.py`): the MI term is
subtracted from both losses, D's optimiser owns the Q head, G's owns G.

Architecture (appendix Table 1), built from DCGAN's conv stacks:
- G: FC 1024-BN-ReLU -> FC 7x7x128-BN-ReLU -> upconv 64-BN-ReLU -> upconv 1, tanh;
- D: conv 64-lReLU -> conv 128-BN-lReLU -> FC 1024-BN-lReLU -> FC 1 (D) /
  FC 128-BN-lReLU-FC (Q).

Deviations: LeakyReLU slope 0.2 (DCGAN's body) instead of 0.1; the 7x7x128
projection is batch-normalised per channel (DCGAN's generator) rather than per
unit; tanh output for data in [-1, 1] instead of a Bernoulli mean.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
import torch
import torch.nn.functional as F
from torch import nn

from genlab.model import Control, DataSpec, option
from genlab.models.adversarial import GENERATOR_LOSSES, PRIORS, AdversarialModel
from genlab.nn import dcgan, gan_losses
from genlab.nn.resolution import CONV_SIZES, check_square, conv_plan, square_sides
from genlab.nn.two_player import AdversarialOptim
from genlab.nn.weight_init import normal_init
from genlab.registry import register

CODE_RANGE = (-2.0, 2.0)  # continuous codes are trained on [-1, 1]; the controls extrapolate (paper Fig. 2)
CONTINUOUS_DRAWS = 2000  # draws per continuous code for its correlations (extra_metrics)


# ----- building blocks ----------------------------------------------------------------

Generator = dcgan.HiddenFCGenerator  # the paper's extra FC-1024 layer in front of DCGAN's stack


class Discriminator(nn.Module):
    """Shared body, then two heads: the real/fake logit (D) and the code posterior (Q)."""

    def __init__(self, hidden: int, q_hidden: int, q_outputs: int, width: int, channels: int, base: int,
                 stages: int):
        super().__init__()
        # DCGAN's strided convs, minus its logit (built whole, so a seed draws the same weights as ever)
        convs = dcgan.Discriminator(width, channels, base, stages).body
        flat = width * 2 ** (stages - 1) * base * base
        self.body = nn.Sequential(convs, nn.Flatten(),
                                  nn.Linear(flat, hidden, bias=False), nn.BatchNorm1d(hidden), nn.LeakyReLU(0.2, True))
        self.logit = nn.Linear(hidden, 1)
        self.q_head = nn.Sequential(nn.Linear(hidden, q_hidden, bias=False), nn.BatchNorm1d(q_hidden),
                                    nn.LeakyReLU(0.2, True), nn.Linear(q_hidden, q_outputs))

    def heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, C, H, W) -> (real/fake logits (N,), Q's raw outputs (N, q_outputs)), one body pass."""
        h = self.body(x)
        return self.logit(h).squeeze(1), self.q_head(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logit(self.body(x)).squeeze(1)


# ----- config and model --------------------------------------------------------------

@dataclass
class InfoGANConfig:
    noise_dim: int = 62
    categories: int = option(10, low=2)  # size of the categorical code c1
    continuous: int = option(2, low=0)  # number of continuous codes c2, c3, ...
    prior: str = option("uniform", choices=PRIORS)  # noise prior: U(-1, 1) (authors' code) or N(0, I)
    width: int = 64  # G's last / D's first conv channels, doubled per stage (paper: 64, 128)
    hidden: int = 1024  # FC layer of G and D (paper: 1024)
    q_hidden: int = 128  # Q's FC layer (paper: 128)
    lambda_cat: float = option(1.0, low=0.0)  # lambda for the categorical code (paper: 1)
    lambda_cont: float = option(1.0, low=0.0)  # lambda for the continuous codes (paper, MNIST: 1)
    learn_std: bool = False  # Q outputs the continuous codes' std too (else fixed at 1)
    generator_loss: str = option("non_saturating", choices=GENERATOR_LOSSES)


@dataclass
class InfoGANOptim(AdversarialOptim):
    lr_g: float = 1e-3  # the authors' G (and Q) rate; D keeps 2e-4


@register
class InfoGAN(AdversarialModel):
    family = "infogan"
    Config = InfoGANConfig
    Optim = InfoGANOptim
    paper = "Chen et al. 2016, arXiv:1606.03657"

    def __init__(self, config: InfoGANConfig, data_spec: DataSpec):
        super().__init__(config, data_spec)
        if config.categories < 2 or config.continuous < 0 or config.noise_dim < 0:
            raise ValueError(f"need categories >= 2, continuous >= 0, noise_dim >= 0; got {config.categories}, "
                             f"{config.continuous}, {config.noise_dim}")
        base, stages = conv_plan(data_spec.height)
        self.latent_dim = config.noise_dim + config.categories + config.continuous
        q_outputs = config.categories + config.continuous * (2 if config.learn_std else 1)
        self.generator = Generator(self.latent_dim, config.hidden, config.width, data_spec.channels, base, stages)
        self.discriminator = Discriminator(config.hidden, config.q_hidden, q_outputs, config.width,
                                           data_spec.channels, base, stages)
        normal_init(self)  # DCGAN's N(0, 0.02)

    @classmethod
    def supported_shapes(cls) -> str:
        return square_sides(CONV_SIZES)  # DCGAN's conv stacks

    @classmethod
    def check_data_spec(cls, spec: DataSpec) -> None:
        check_square("InfoGAN", spec, CONV_SIZES, cls.supported_shapes())

    def extra_repr(self) -> str:
        c = self.config
        return (f"{super().extra_repr()}, latent={c.noise_dim} noise + Cat({c.categories}) + {c.continuous} "
                f"continuous, lambda=({c.lambda_cat}, {c.lambda_cont})")

    # ----- the latent layout [noise | one-hot c1 | continuous c2..] -----------------------
    def split_latent(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(N, latent_dim) -> noise (N, noise_dim), one-hot (N, K), continuous (N, continuous)."""
        c = self.config
        return z.split([c.noise_dim, c.categories, c.continuous], dim=1)

    @property
    def prior_name(self) -> str:
        return f"{self.config.prior} noise with one-hot and uniform codes"

    def prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        c = self.config
        if c.prior == "uniform":
            noise = self.rand(n, c.noise_dim, generator=generator) * 2 - 1
        else:
            noise = self.randn(n, c.noise_dim, generator=generator)
        # Cat(K, p = 1/K): the argmax of uniform draws is uniform over the K codes.
        digit = self.rand(n, c.categories, generator=generator).argmax(1)
        cont = self.rand(n, c.continuous, generator=generator) * 2 - 1  # U(-1, 1)
        return torch.cat([noise, F.one_hot(digit, c.categories).float(), cont], dim=1)

    def code_names(self) -> list[str]:
        return ["digit_code"] + [f"code_{i + 1}" for i in range(self.config.continuous)]

    def code_digits(self) -> list[tuple[int, float]] | None:
        """(digit, share) per categorical code: the digit genlab's classifier reads on the code's
        samples (matched one-to-one) and the share of them read so, as measured by
        genlab.metrics.codes and stored in the checkpoint's metrics; None when none is stored."""
        from genlab.metrics.codes import parse_code_digits

        metrics = self.checkpoint.get("metrics") or {}
        # `genlab eval` and the release tool store it as infogan_code_digits, infogan_codes.py --store plain
        text = metrics.get(f"{self.family}_code_digits", metrics.get("code_digits"))
        pairs = parse_code_digits(text) if isinstance(text, str) else []
        return pairs if len(pairs) == self.config.categories else None

    def controls(self) -> list[Control]:
        k = self.config.categories
        low, high = CODE_RANGE
        both = ("sample", "decode")  # codes are slots of z: they act on a chosen z too
        digits = self.code_digits()
        labels = {i: f"{i} → draws {d} ({share:.0%})" for i, (d, share) in enumerate(digits or [])}
        about = ("labelled with the digit genlab's classifier reads on its samples (and how many of them)"
                 if digits else "unsupervised, so code i need not be digit i")
        return [
            Control("truncation", "slider", 1.0, low=0.0, high=1.5,
                    help="scale of the noise part of z (codes untouched): below 1 trades variety for typical samples"),
            Control("digit_code", "choice", "random", choices=("random", *range(k)), applies_to=both, group="codes",
                    choice_labels=labels, help=f"categorical code c1 (0..{k - 1}); {about}"),
        ] + [
            Control(f"code_{i + 1}", "slider", 0.0, low=low, high=high, applies_to=both, group="codes",
                    help=f"continuous code c{i + 2}, trained on [-1, 1] (learned factor such as slant or width)")
            for i in range(self.config.continuous)
        ]

    def with_codes(self, z: torch.Tensor, digit_code=None, **continuous) -> torch.Tensor:
        """z with its code slots set. Each code is a scalar or a length-N sequence/tensor;
        None (or "random" for digit_code) keeps the code already in z."""
        k, n = self.config.categories, len(z)
        unknown = sorted(set(continuous) - set(self.code_names()))
        if unknown:
            raise ValueError(f"unknown InfoGAN control {', '.join(unknown)}; "
                             f"controls are {', '.join(self.code_names())}, truncation (sample only)")
        noise, onehot, cont = self.split_latent(z)
        if digit_code is not None and not (isinstance(digit_code, str) and digit_code == "random"):
            digits = _as_codes(digit_code, n, "digit_code", torch.long)
            if ((digits < 0) | (digits >= k)).any():
                raise ValueError(f"digit_code must be 'random' or an integer in 0..{k - 1}; got {digit_code!r}")
            onehot = F.one_hot(digits.to(z.device), k).to(z.dtype)
        cont = cont.clone()
        low, high = CODE_RANGE
        for i in range(self.config.continuous):
            value = continuous.get(f"code_{i + 1}")
            if value is None:
                continue
            values = _as_codes(value, n, f"code_{i + 1}", torch.float32)
            if not torch.isfinite(values).all() or values.min() < low or values.max() > high:
                raise ValueError(f"code_{i + 1} must lie in [{low}, {high}] (trained on [-1, 1]); got {value!r}")
            cont[:, i] = values.to(z.device, z.dtype)
        return torch.cat([noise, onehot, cont], dim=1)

    def decode(self, z: torch.Tensor, **controls) -> torch.Tensor:
        """G(z) with any named code control (digit_code, code_1, ...) written into z."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"{self.family} latents have shape (N, {self.latent_dim}) laid out "
                             f"[noise | one-hot | continuous]; got {tuple(z.shape)}")
        return self.generator(self.with_codes(z.to(self.device), **controls))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, truncation: float = 1.0,
               **controls) -> torch.Tensor:
        """Codes not named in `controls` are drawn from their priors; truncation scales the noise only."""
        noise, onehot, cont = self.split_latent(self.prior(n, generator))
        z = torch.cat([noise * truncation, onehot, cont], dim=1)
        return self.decode(z, **controls).float().clamp(-1, 1)

    # ----- Q(c | x) -----------------------------------------------------------------
    def q_posterior(self, q_out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Q's raw outputs -> (categorical logits (N, K), Gaussian mean (N, C), log-std (N, C))."""
        c = self.config
        logits, mean = q_out[:, :c.categories], q_out[:, c.categories:c.categories + c.continuous]
        log_std = q_out[:, c.categories + c.continuous:] if c.learn_std else torch.zeros_like(mean)
        return logits, mean, log_std

    def information_loss(self, q_out: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """lambda-weighted -E[log Q(c | x)] on fakes (Eq. 5 without the constant H(c)), and the
        MI lower bounds L_I = H(c) + E[log Q(c | x)] per code type, in nats."""
        c = self.config
        _, onehot, cont = self.split_latent(z)
        logits, mean, log_std = self.q_posterior(q_out.float())
        nll_cat = F.cross_entropy(logits, onehot.argmax(1))  # -E log Q(c1 | x)
        # Factored Gaussian: -log N(c; mean, std) summed over the continuous codes.
        nll_cont = (log_std + 0.5 * ((cont - mean) / log_std.exp()) ** 2
                    + 0.5 * math.log(2 * math.pi)).sum(1).mean()
        loss = c.lambda_cat * nll_cat + c.lambda_cont * nll_cont
        logs = {"MI_cat": math.log(c.categories) - nll_cat,  # H(Cat(K)) = log K
                "MI_cont": c.continuous * math.log(2.0) - nll_cont,  # H(U(-1, 1)) = log 2 per code
                "Q_acc": (logits.argmax(1) == onehot.argmax(1)).float().mean()}
        return loss, logs

    @torch.no_grad()
    def infer_codes(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Q's reading of images: categorical probabilities (N, K) and continuous means (N, C)."""
        logits, mean, _ = self.q_posterior(self.discriminator.heads(self.check_images(x).to(self.device))[1])
        return {"digit_code": logits.softmax(1), "continuous": mean}

    # ----- evaluation ------------------------------------------------------------------
    def extra_metrics(self, n: int, seed: int = 0) -> dict:
        """The categorical code as a digit classifier (one-to-one matched accuracy and purity on
        n generated digits, n / K per code, and on the test digits) and each continuous code's
        correlation with slant and width (n draws each, at most 2,000); see genlab.metrics.codes."""
        from genlab.metrics import codes

        why = codes.check_model(self)
        if why:
            return {f"{self.family}_code_accuracy_skipped": why}
        report = codes.code_report(self, max(1, n // self.config.categories), min(n, CONTINUOUS_DRAWS), seed,
                                   real_limit=n)
        figures = report.figures()
        figures["code_to_digit"] = " ".join(map(str, figures["code_to_digit"]))  # flat: a short string
        return {f"{self.family}_{k}": v for k, v in figures.items()}

    # ----- training phases (parameters split as AdversarialModel.phases: D + Q head | G) ---
    def discriminator_loss(self, batch: dict):
        real = batch["image"]
        z = self.prior(len(real))
        fake = self.generator(z)  # G is frozen in this phase: no graph through it
        real_logits = self.discriminator(real)  # separate batches: BN never mixes real and fake
        fake_logits, q_out = self.discriminator.heads(fake)
        adv = gan_losses.discriminator_loss(real_logits, fake_logits)
        info, logs = self.information_loss(q_out, z)
        return adv + info, {"adv": adv, "D(x)": torch.sigmoid(real_logits).mean(),
                            "D(G(z))": torch.sigmoid(fake_logits).mean(), **logs}

    def generator_loss(self, batch: dict):
        z = self.prior(len(batch["image"]))
        fake_logits, q_out = self.discriminator.heads(self.generator(z))
        adv = gan_losses.generator_loss(fake_logits, self.config.generator_loss)
        info, logs = self.information_loss(q_out, z)
        return adv + info, {"adv": adv, **logs}


def _as_codes(value, n: int, name: str, dtype: torch.dtype) -> torch.Tensor:
    """A scalar or a length-n sequence of code values -> a (n,) tensor, or a ValueError."""
    try:
        if isinstance(value, str):
            value = float(value) if dtype.is_floating_point else int(value)
        t = torch.as_tensor(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number or a sequence of {n} numbers; got {value!r}") from None
    if t.ndim == 0:
        t = t.expand(n)
    if t.shape != (n,):
        raise ValueError(f"{name} must be a scalar or have one value per sample ({n}); got shape {tuple(t.shape)}")
    if not dtype.is_floating_point:
        if t.is_floating_point() and not torch.equal(t, t.round()):
            raise ValueError(f"{name} must be an integer; got {value!r}")
        if t.dtype == torch.bool:
            raise ValueError(f"{name} must be an integer; got {value!r}")
    return t.to(dtype)
