"""Alias-free GAN (StyleGAN3): Karras et al. 2021, arXiv:2106.12423, and its ordinary baseline.

Two registered families on one code path:

- ``alias_free``: a small mapping network (2 FC layers, lr multiplier 0.01, w EMA for
  truncation) and the alias-free synthesis network of genlab/nn/alias_free.py: Fourier-feature
  input with a settable translation/rotation, modulated convs, filtered leaky ReLU at twice the
  sampling rate with Kaiser FIR filters, the cutoff/stopband/sampling-rate schedule, a 10 px
  margin cropped away by the last two (critically sampled) layers, magnitude-EMA input gains,
  no noise inputs, output x 0.25. ``variant = "T"`` (3x3 convs) or ``"R"`` (1x1 convs, radially
  symmetric jinc down-filters on the non-critical layers, twice the channels).
- ``alias_free_baseline``: the same generator with ordinary layers: a learned constant input
  on the same grid, leaky ReLU at the native rate with no low-pass, StyleGAN2's [1, 3, 3, 1]
  filter where the rate doubles and a plain crop of the margin. Its input is moved by bilinear
  resampling of the constant (the way one moves a conv generator's content).

Both train against the same discriminator (equalised-LR convs, non-saturating logistic loss,
lazy R1 on real images every `r1_every` steps weighted by `r1_every`, added to D's loss on
those steps so that it shares D's Adam, as StyleGAN2/3) with Adam betas (0, 0.99).
The magnitude EMAs and the w EMA are updated only by the training forward of G (inside the
discriminator phase, as the official loop), never when sampling or evaluating.

Controls (app and CLI): `shift_x`, `shift_y` (output translation in pixels, sub-pixel steps) and
`rotate` (degrees) for sampling and decoding, grouped as "transform"; `truncation` for sampling.
`extra_metrics` gives EQ-T (integer and sub-pixel) and EQ-R in dB, EQ-T sub-pixel's ceiling (what
the metric's Lanczos-3 reference allows a perfect generator, on these samples and on the real
digits) and the generator against an exact shift, and how the samples' average power spectrum
compares with the real digits'.

Deviations from the paper, for a CPU and 32x32 digits: 6 synthesis layers instead of 14, at most
32 channels (config R 64), one w for all layers (no style mixing), a plain DCGAN-shaped
discriminator rather than StyleGAN2's residual one, no Gaussian blur of D's input for config R.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genlab.model import Control, DataSpec, GenerativeModel, Phase, option
from genlab.nn import gan_losses
from genlab.nn.alias_free import MappingNetwork, SynthesisNetwork, band_limit, inverse_transform, lowpass_filter
from genlab.nn.diffaugment import HELP as AUGMENT_HELP, DiffAugment
from genlab.nn.progressive import MinibatchStddev
from genlab.nn.resolution import PAD32_HINT, check_square, square_sides
from genlab.nn.two_player import AdversarialOptim, discriminator_then_generator
from genlab.registry import register

SIDES = (16, 32, 64, 128)
EQ_MAX = 250  # latents for the equivariance figures (the paper: 50k; 4 renders each, minutes on a CPU)
SPECTRUM_MAX = 1000  # samples for the power spectrum


@dataclass
class AliasFreeBaseConfig:
    latent_dim: int = 64
    w_dim: int = 64
    mapping_layers: int = 2
    num_layers: int = 6  # synthesis layers, ToRGB excluded (the paper: 14)
    num_critical: int = 2  # critically sampled last layers
    margin: int = option(10, low=0, help="extra samples on each side of the non-final layers (the paper: 10)")
    channel_base: int = 512  # channels = min(round(channel_base / 2 / f_c), channel_max)
    channel_max: int = 32
    d_width: int = 32  # discriminator channels at full resolution, doubled per halving
    augment: str = option("", resumable=True, help=AUGMENT_HELP)  # no weights: a resume may change it
    mbstd_group: int = option(0, low=0, help="minibatch-stddev group of D's 4x4 features (StyleGAN2/3: 4; 0: none, as the first runs)")
    d_hidden: int = option(0, low=0, help="units of a dense layer between D's 4x4 features and its logit "
                           "(StyleGAN2/3's D epilogue has one; 0: none, as the first runs)")
    loss: str = option("logistic", choices=("logistic", "wgan-gp"),
                       help="logistic: the paper's non-saturating loss with R1 on reals; wgan-gp: a critic "
                            "with WGAN-GP's penalty on real/fake mixes (lambda gp_lambda) and ProGAN's drift term")
    r1_gamma: float = option(0.1, low=0.0, resumable=True)
    r1_every: int = 4  # the lazy regulariser (R1, or the gradient penalty of wgan-gp): every this many steps, weighted by it
    gp_lambda: float = option(10.0, low=0.0, help="WGAN-GP's penalty weight (loss wgan-gp)")
    drift: float = option(0.001, low=0.0, help="ProGAN's drift weight on D(real)^2 (loss wgan-gp)")
    teacher: str = option("", help="a shipped or saved generator (e.g. dcgan-mnist) whose image of the same z "
                          "G also regresses onto by mean squared error (knowledge distillation; '' = none)")
    teacher_weight: float = option(1.0, low=0.0, help="weight of the distillation term at step 0")
    teacher_steps: int = option(0, low=0, help="the distillation weight falls linearly to 0 over this many "
                                "steps (0: it stays constant)")
    magnitude_ema_beta: float = option(0.999, low=0.0, high=0.999999)
    magnitude_warmup: bool = option(False, help="the magnitude EMAs' decay rises from 0.1 to magnitude_ema_beta as "
                                    "the weight EMA's does, so the first batches set each layer's gain (the "
                                    "filtered layers' inputs start near 0.1-0.5, not at the initial 1)")
    d_input_cutoff: float = option(0.0, low=0.0, resumable=True,
                                   help="low-pass D's input, real and fake alike, to this many cycles per image with "
                                        "the stopband at Nyquist (0: D sees the full band). Set it to final_cutoff so "
                                        "that D judges only the band G can draw (StyleGAN3-R blurs D's input too, but only early in "
                                        "training); it shapes no weight, so a warm start or resume may change it")
    output_scale: float = 0.25
    narrow_channels: str = option("", help="'channel_base/channel_max' of the narrower net this one was widened from "
                                  "(tools/alias_free_widen.py; '' = not widened): the weights of the channels the "
                                  "widening added learn at new_channel_lr_mul times the rate")
    new_channel_lr_mul: float = option(1.0, low=1.0, high=100.0,
                                       help="learning-rate multiplier of the added channels' weights (narrow_channels)")

    def narrow_sizes(self) -> tuple[int, int] | None:
        """narrow_channels as (channel_base, channel_max), checked; None where the net was not widened."""
        if not self.narrow_channels:
            return None
        try:
            base, top = (int(v) for v in self.narrow_channels.split("/"))
        except ValueError:
            raise ValueError(f"option narrow_channels takes 'channel_base/channel_max', e.g. '512/32'; "
                             f"got {self.narrow_channels!r}") from None
        if not (0 < base <= self.channel_base and 0 < top <= self.channel_max):
            raise ValueError(f"option narrow_channels ({self.narrow_channels}) must name a net no wider than this one "
                             f"(channel_base {self.channel_base}, channel_max {self.channel_max})")
        return base, top


@dataclass
class AliasFreeConfig(AliasFreeBaseConfig):
    variant: str = option("T", choices=("T", "R"), help="T: 3x3 convs; R: 1x1 convs, radial filters, 2x channels")
    # With 6 layers (the paper: 14) the paper's f_c,0 = 2 starves the fit: the first three layers stay
    # below 6 cycles per image and the last three, with 27-16 maps, must build every stroke (regression
    # onto 8 DCGAN digits, 80 steps: MSE 0.195 at 2 / 32 sinusoids, 0.096 at 8 / 1,024, the baseline
    # 0.061; tests/test_alias_free.py, docs/models/alias_free.md "Stop 18").
    first_cutoff: float = option(8.0, low=0.5, help="f_c of the input and first layer, cycles per image (the paper: 2, "
                                 "for 14 layers; 8 here, a quarter of a 32 px image's rate, for 6)")
    fourier_features: int = option(1024, low=0, help="sinusoids of the Fourier input, mixed down to the first "
                                   "layer's channels (0: as many as those channels, as the paper)")
    learned_pose: bool = option(False, help="w moves the Fourier input (rotation + translation, as StyleGAN3); "
                                "false (here): the pose is fixed, so every variation across z comes from the styles "
                                "(a learned pose was the cheapest variety G found: one shape in many poses)")
    pose_lr_mul: float = option(1.0, low=1e-4, high=1.0, help="learning-rate multiplier of the learned pose's affine "
                                "(the mapping network's is 0.01): at lr 1e-2 the pose moves 0.01 a step")
    final_cutoff: float = option(0.0, low=0.0, resumable=True, help="cutoff of the last num_critical layers in cycles per image, their "
                                 "stopband at Nyquist so that nothing folds back (0: the paper's critical sampling at "
                                 "Nyquist, sharpest, with a stopband above it; 12.5 for 32 px: EQ-T sub-pixel +8 dB). It shapes "
                                 "no weight, so a warm start or resume may change it")

    def generator_options(self) -> dict:
        """What the synthesis network takes from this config beyond the shared sizes."""
        return dict(variant=self.variant, learned_pose=self.learned_pose, first_cutoff=self.first_cutoff,
                    fourier_features=self.fourier_features, pose_lr_mul=self.pose_lr_mul,
                    final_cutoff=self.final_cutoff)


@dataclass
class AliasFreeBaselineConfig(AliasFreeBaseConfig):
    fourier_input: bool = option(False, help="the alias-free generator's Fourier-feature input (fixed pose) "
                                 "instead of the learned constant: the ladder's rung between the two generators")

    def generator_options(self) -> dict:
        return dict(fourier_input=self.fourier_input, learned_pose=False)  # a fixed pose on the Fourier input


@dataclass
class AliasFreeOptim(AdversarialOptim):
    """Adam for D and G with StyleGAN's betas (0, 0.99), at 5x the paper's rate.

    Every weight here has an equalised learning rate (stored at unit scale, scaled at run time),
    so Adam's lr is each weight's relative step: the paper's 2e-3 moves a weight 0.2% per step,
    tuned for 25M-image runs; DCGAN's recipe moves its N(0, 0.02) weights about 5% per step. At
    2e-3 the baseline generator could not regress onto 16 fixed digits in 150 steps (MSE 0.12
    against DCGAN's 0.023; tested), at 1e-2 it can (0.036), and as a GAN it draws varied digits
    where 2e-3 drew one or two shapes (docs/models/alias_free.md, "Why neither learnt")."""

    lr_g: float = 1e-2
    lr_d: float = 1e-2
    beta1: float = 0.0
    beta2: float = 0.99


class EqConv(nn.Module):
    """Conv with a runtime He scale (equalised learning rate)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, padding: int = 0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.scale, self.stride, self.padding = 1 / math.sqrt(cin * k * k), stride, padding

    def forward(self, x):
        return F.conv2d(x, self.weight * self.scale, self.bias, self.stride, self.padding)


class Discriminator(nn.Module):
    """fromRGB 3x3, then 4x4 stride-2 convs down to 4x4, the minibatch-stddev map (StyleGAN2/3's D:
    it lets D see a batch's lack of variety, G's mode collapse), one logit (leaky ReLU 0.2, gain sqrt 2)."""

    def __init__(self, side: int, channels: int, width: int, mbstd_group: int = 0, hidden: int = 0):
        super().__init__()
        layers, ch = [EqConv(channels, width, 3, padding=1)], width
        while side > 4:
            nxt = min(ch * 2, width * 4)
            layers.append(EqConv(ch, nxt, 4, stride=2, padding=1))
            ch, side = nxt, side // 2
        self.convs = nn.ModuleList(layers)
        self.mbstd = MinibatchStddev(mbstd_group) if mbstd_group else nn.Identity()
        features = (ch + (1 if mbstd_group else 0)) * 16
        self.fc = nn.Linear(features, hidden) if hidden else None  # a dense read-out of the whole 4x4 map
        self.out = nn.Linear(hidden or features, 1)

    def forward(self, x):
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.2) * math.sqrt(2)
        x = self.mbstd(x).flatten(1)
        if self.fc is not None:
            x = F.leaky_relu(self.fc(x), 0.2) * math.sqrt(2)
        return self.out(x).squeeze(1)


class Generator(nn.Module):
    def __init__(self, cfg: AliasFreeBaseConfig, spec: DataSpec, filtered: bool, variant: str = "T",
                 **input_options):
        """`input_options`: the family's own (learned_pose, first_cutoff, fourier_features, fourier_input)."""
        super().__init__()
        r = variant == "R"
        narrow = cfg.narrow_sizes()
        self.mapping = MappingNetwork(cfg.latent_dim, cfg.w_dim, cfg.mapping_layers)
        self.synthesis = SynthesisNetwork(
            cfg.w_dim, spec.height, spec.channels, num_layers=cfg.num_layers, num_critical=cfg.num_critical,
            margin=cfg.margin, channel_base=cfg.channel_base * (2 if r else 1),
            channel_max=cfg.channel_max * (2 if r else 1), kernel=1 if r else 3, radial=r, filtered=filtered,
            output_scale=cfg.output_scale, magnitude_ema_beta=cfg.magnitude_ema_beta,
            magnitude_warmup=cfg.magnitude_warmup,
            narrow_channels=None if narrow is None else tuple(c * (2 if r else 1) for c in narrow),
            new_channel_lr_mul=cfg.new_channel_lr_mul, **input_options)

    def forward(self, z, transform=None, truncation: float = 1.0, update_emas: bool = False):
        w = self.mapping(z, truncation=truncation, update_emas=update_emas)
        return self.synthesis(w, transform=transform, update_emas=update_emas)


class _AliasFreeFamily(GenerativeModel):
    ema_modules = ("generator",)
    Optim = AliasFreeOptim
    default_data = "mnist-pad32"
    filtered: bool = True

    def __init__(self, config, data_spec: DataSpec):
        super().__init__(config, data_spec)
        if config.num_layers <= config.num_critical:
            raise ValueError(f"option num_layers ({config.num_layers}) must exceed num_critical "
                             f"({config.num_critical})")
        self.latent_dim = config.latent_dim
        self.generator = Generator(config, data_spec, self.filtered, **config.generator_options())
        self.discriminator = Discriminator(data_spec.height, data_spec.channels, config.d_width, config.mbstd_group,
                                           config.d_hidden)
        self.augment = DiffAugment(config.augment)  # what D sees, real and fake alike
        self.register_buffer("d_input_filter", self._d_input_filter(config.d_input_cutoff, data_spec.width),
                             persistent=False)  # derived from the config, never taken from a checkpoint
        self._teacher = None  # loaded on first use, kept out of the state dict (see teacher_images)
        self.train_step = 0
        self._r1_now, self._last_r1 = False, None  # this step is a lazy-R1 step; the last R1 measured

    @staticmethod
    def _d_input_filter(cutoff: float, side: int) -> torch.Tensor | None:
        """D's input low-pass (option d_input_cutoff): 13 Kaiser-windowed taps at the image's rate,
        passband to `cutoff`, stopband at Nyquist, like G's last layers under final_cutoff."""
        if not cutoff:
            return None
        if not 0 < cutoff < side / 2:
            raise ValueError(f"option d_input_cutoff ({cutoff:g}) must lie between 0 and half the image side "
                             f"({side / 2:g} cycles per image), or be 0 for none")
        return lowpass_filter(13, cutoff, 2 * (side / 2 - cutoff), side)

    def discriminator_view(self, images: torch.Tensor) -> torch.Tensor:
        """What D is shown of real or generated images: band-limited (d_input_cutoff), then augmented."""
        if self.d_input_filter is not None:
            images = band_limit(images, self.d_input_filter.to(images.dtype))
        return self.augment(images)

    @classmethod
    def supported_shapes(cls) -> str:
        return square_sides(SIDES, PAD32_HINT)

    @classmethod
    def check_data_spec(cls, spec: DataSpec) -> None:
        check_square(cls.family, spec, SIDES, cls.supported_shapes())

    # ----- latent space and rendering ----------------------------------------------------------------
    def prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.randn(n, self.latent_dim, generator=generator)

    def transform_for(self, shift_x: float = 0.0, shift_y: float = 0.0, rotate: float = 0.0):
        """The inverse input transform that rotates the output by `rotate` degrees and shifts it
        by (shift_x, shift_y) pixels; None for the identity."""
        if not (shift_x or shift_y or rotate):
            return None
        side = self.data_spec.width
        return inverse_transform((shift_x / side, shift_y / side), math.radians(rotate))

    def render(self, z: torch.Tensor, transform: torch.Tensor | None = None, truncation: float = 1.0) -> torch.Tensor:
        """G's images of z, its input moved by `transform` (the inverse map, 3x3), unclamped."""
        return self.generator(z.to(self.device), transform=transform, truncation=truncation)

    @torch.no_grad()
    def decode(self, z: torch.Tensor, shift_x: float = 0.0, shift_y: float = 0.0, rotate: float = 0.0,
               **controls) -> torch.Tensor:
        if controls:
            raise ValueError(f"{self.family} has no decode control {', '.join(sorted(controls))}; "
                             "it takes shift_x, shift_y, rotate")
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"{self.family} latents have shape (N, {self.latent_dim}); got {tuple(z.shape)}")
        return self.render(z, self.transform_for(shift_x, shift_y, rotate)).float().clamp(-1, 1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, truncation: float = 1.0,
               shift_x: float = 0.0, shift_y: float = 0.0, rotate: float = 0.0, **controls) -> torch.Tensor:
        if controls:
            raise ValueError(f"{self.family} has no control {', '.join(sorted(controls))}; "
                             "it takes truncation, shift_x, shift_y, rotate")
        z = self.prior(n, generator)
        x = self.render(z, self.transform_for(shift_x, shift_y, rotate), truncation=truncation)
        return x.float().clamp(-1, 1)

    def controls(self) -> list[Control]:
        side = self.data_spec.width
        reach = side / 4
        return [
            Control("truncation", "slider", 1.0, low=0.0, high=1.0,
                    help="pull w toward its average (1: none): fewer, more typical digits"),
            Control("shift_x", "slider", 0.0, low=-reach, high=reach, step=0.05, applies_to=("sample", "decode"),
                    group="transform", help="move the output right by this many pixels (sub-pixel steps) "
                                            "through the input layer"),
            Control("shift_y", "slider", 0.0, low=-reach, high=reach, step=0.05, applies_to=("sample", "decode"),
                    group="transform", help="move the output down by this many pixels"),
            Control("rotate", "slider", 0.0, low=-180.0, high=180.0, step=0.5,
                    applies_to=("sample", "decode"), group="transform",
                    help="rotate the output by this many degrees (equivariant only for config R)"),
        ]

    # ----- training ----------------------------------------------------------------------------------
    def fake(self, n: int, update_emas: bool = False) -> torch.Tensor:
        return self.generator(self.prior(n), update_emas=update_emas)

    def advance(self, step: int) -> set[str]:
        self.train_step = step
        weight = self.config.gp_lambda if self.config.loss == "wgan-gp" else self.config.r1_gamma
        self._r1_now = weight > 0 and step % self.config.r1_every == 0  # the lazy regulariser's steps
        return set()

    def discriminator_loss(self, batch: dict):
        real = batch["image"]
        with torch.no_grad():
            fake = self.fake(len(real), update_emas=True)  # the only place the magnitude/w EMAs move
        real, fake = self.discriminator_view(real), self.discriminator_view(fake)
        if self.config.loss == "wgan-gp":
            return self._critic_loss(real, fake)
        r1 = self._r1_now
        if r1:  # on the images D sees (StyleGAN2-ADA: the augmented reals)
            real_logits, penalty = gan_losses.r1_penalty(self.discriminator, real)
        else:
            real_logits = self.discriminator(real)
        fake_logits = self.discriminator(fake)
        loss = gan_losses.discriminator_loss(real_logits, fake_logits)
        logs = {"D(x)": torch.sigmoid(real_logits).mean(), "D(G(z))": torch.sigmoid(fake_logits).mean()}
        if r1:
            loss = loss + penalty * (self.config.r1_gamma / 2) * self.config.r1_every
            self._last_r1 = penalty.detach()
        logs["r1"] = self._last_penalty(loss)
        return loss, logs

    def _last_penalty(self, loss: torch.Tensor) -> torch.Tensor:
        """The lazy regulariser's last measured value (R1, or WGAN-GP's penalty), logged every step
        because the trainer averages the same keys over a log interval; zero before the first."""
        last = self._last_r1
        return torch.zeros((), device=loss.device) if last is None else last

    def _critic_loss(self, real: torch.Tensor, fake: torch.Tensor):
        """WGAN-GP (Gulrajani et al. 2017): D(fake) - D(real), the gradient penalty on per-sample
        mixes every `r1_every` steps weighted by it (lazy, as R1), ProGAN's drift term."""
        cfg = self.config
        d_real, d_fake = self.discriminator(real), self.discriminator(fake)
        wdist = d_real.mean() - d_fake.mean()
        loss = -wdist + cfg.drift * d_real.square().mean()
        if self._r1_now:
            penalty = gan_losses.gradient_penalty(self.discriminator, real, fake, self.rand(len(real)))
            loss = loss + cfg.gp_lambda * cfg.r1_every * penalty
            self._last_r1 = penalty.detach()
        return loss, {"wdist": wdist.detach(), "gp": self._last_penalty(loss)}

    # ----- distillation from a teacher generator (option `teacher`) ----------------------------------
    def teacher_weight_now(self) -> float:
        cfg = self.config
        if not cfg.teacher:
            return 0.0
        if cfg.teacher_steps <= 0:
            return cfg.teacher_weight
        return cfg.teacher_weight * max(0.0, 1.0 - self.train_step / cfg.teacher_steps)

    @torch.no_grad()
    def teacher_images(self, z: torch.Tensor) -> torch.Tensor:
        """The teacher's images of z, padded with background to this model's side. The teacher is
        a frozen helper of training (not part of this model: never in its state dict or EMA)."""
        if self._teacher is None:
            from genlab.registry import load

            teacher = load(self.config.teacher, device=self.device).eval()
            spec, own = teacher.data_spec, self.data_spec
            if "latent" not in teacher.capabilities:
                raise ValueError(f"teacher {self.config.teacher} ({teacher.family}) draws no image from a latent z "
                                 f"that this generator could share; pick a latent-variable generator, "
                                 f"e.g. dcgan-mnist or gan-mnist")
            if teacher.latent_dim != self.latent_dim:
                raise ValueError(f"teacher {self.config.teacher} takes latents of size "
                                 f"{teacher.latent_dim}; set option latent_dim to it "
                                 f"(this model's is {self.latent_dim})")
            if spec.channels != own.channels or spec.height > own.height or spec.width > own.width:
                raise ValueError(f"teacher {self.config.teacher} draws {spec.describe()}; this model draws "
                                 f"{own.describe()} (same channels, at most as large)")
            for p in teacher.parameters():
                p.requires_grad_(False)
            object.__setattr__(self, "_teacher", teacher)  # a plain attribute: not a submodule
        images = self._teacher.decode(z)
        dh, dw = self.data_spec.height - images.shape[-2], self.data_spec.width - images.shape[-1]
        return F.pad(images, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2), value=-1.0)

    def generator_loss(self, batch: dict):
        z = self.prior(len(batch["image"]))
        fake = self.generator(z)
        fake_logits = self.discriminator(self.discriminator_view(fake))
        loss = -fake_logits.mean() if self.config.loss == "wgan-gp" else gan_losses.generator_loss(fake_logits)
        logs = {}
        if self.config.teacher:  # logged every step, also once its weight has fallen to 0
            weight = self.teacher_weight_now()
            distill = (fake.float() - self.teacher_images(z).float()).square().mean()
            loss = loss + weight * distill
            logs = {"distill": distill.detach(), "distill_weight": torch.tensor(weight, device=loss.device)}
        return loss, logs

    def phases(self) -> list[Phase]:
        return discriminator_then_generator(self.optim, self.discriminator.parameters(), self.discriminator_loss,
                                            self.generator.parameters(), self.generator_loss)

    # ----- the family's own figures --------------------------------------------------------------------
    @torch.no_grad()
    def extra_metrics(self, n: int, seed: int = 0) -> dict:
        """EQ-T (integer and sub-pixel) and EQ-R in dB on min(n, EQ_MAX) latents, and the average
        power spectrum of min(n, SPECTRUM_MAX) samples against the real test digits."""
        from genlab.metrics import equivariance as eq
        from genlab.metrics.likelihood import test_images

        gen = torch.Generator().manual_seed(seed)
        m = min(n, EQ_MAX)
        z = self.prior(m, gen)
        figures = eq.equivariance(lambda zz, t: self.render(zz, t), z, self.data_spec.height, seed=seed)
        figures["eq_n"] = m
        k = min(n, SPECTRUM_MAX)
        samples = self.sample(k, generator=torch.Generator().manual_seed(seed + 1))
        real, _ = test_images(self.data_spec)
        figures["real_eqt_frac_ceiling_db"] = eq.translation_ceiling(real[:m], seed=seed)  # in [-1, 1], as samples
        figures.update(eq.spectrum_figures(samples, real[:k]))
        return figures


@torch.no_grad()
def with_new_channel_rate(model: _AliasFreeFamily, narrow: tuple[int, int], lr_mul: float) -> _AliasFreeFamily:
    """The same generator, drawing the same images, whose weights outside a narrower net's channels
    (`narrow` = that net's (channel_base, channel_max)) learn at `lr_mul` times the rate: options
    narrow_channels and new_channel_lr_mul set, and those stored weights divided by lr_mul, since
    each layer uses stored x gain. After a zero-started widening the new channels' weights move
    about lr a step, like every weight, and 1,000 steps at 1e-3 took them to an RMS of 0.01-0.02
    against the old weights' ~1.25 (docs/models/alias_free.md, stop 35)."""
    cfg = model.config
    if cfg.narrow_channels:
        raise ValueError(f"this generator already marks the channels beyond {cfg.narrow_channels} as new")
    marked = type(model)(dataclasses.replace(cfg, narrow_channels="/".join(map(str, narrow)),
                                             new_channel_lr_mul=float(lr_mul)), model.data_spec)
    marked.load_state_dict(model.state_dict())
    for layer in marked.generator.synthesis.layers:
        layer.weight.div_(layer.weight_lr_gain)
    return marked.train(model.training)


def _keep_old_block(target: torch.Tensor, value: torch.Tensor, gain: float) -> None:
    """Widening a (cout, cin, ...) weight: the old block keeps its values (times `gain`, where the
    layer's own scale depends on fan-in), new inputs get zero weight into the old outputs, and the
    new outputs keep `target`'s fresh weights."""
    cout, cin = value.shape[:2]
    target[:cout, cin:] = 0.0  # new inputs do not reach the old outputs
    target[:cout, :cin] = value * gain


@torch.no_grad()
def widened(model: _AliasFreeFamily, factor: int = 2, seed: int = 0, new_lr_mul: float = 1.0) -> _AliasFreeFamily:
    """The same generator with `factor` times the channels in every synthesis layer (channel_base
    and channel_max scaled), drawing the same images: a warm start for more capacity (Net2Net's
    idea, Chen et al. 2016, with zeros instead of copies). Each old channel keeps its weights; a
    new channel gets fresh weights for its own output but zero weight into the old channels, so
    it adds nothing until training moves those zeros (their gradient is not zero). Modulation
    and demodulation (Karras et al. 2020, eqs. 1-3) divide out any per-output scale of the weights
    and styles, so the longer sums change nothing; ToRGB has no demodulation and scales its
    styles by 1/sqrt(fan-in), so its old weights are scaled up by sqrt(new/old fan-in). The
    discriminator, mapping network and magnitude EMAs are copied as they are. `new_lr_mul` != 1:
    the new channels' weights learn that many times faster (`with_new_channel_rate`)."""
    if factor < 1:
        raise ValueError(f"factor must be a whole number >= 1; got {factor}")
    cfg = model.config
    if cfg.narrow_channels:
        raise ValueError(f"this generator was widened from {cfg.narrow_channels} with a rate of its own for the new "
                         f"channels; widen a file without one (narrow_channels '')")
    bigger = dataclasses.replace(cfg, channel_base=cfg.channel_base * factor, channel_max=cfg.channel_max * factor)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        wide = type(model)(bigger, model.data_spec)
    old, new = model.state_dict(), wide.state_dict()  # `new` shares wide's storage: writing it sets the weights
    torgb = f"generator.synthesis.layers.{len(model.generator.synthesis.layers) - 1}.weight"
    for key, value in old.items():
        target = new[key]
        if target.shape == value.shape:
            target.copy_(value)
            continue
        if key.endswith(".weight") and ".layers." in key and not key.endswith("affine.weight"):
            gain = math.sqrt(target.shape[1] / value.shape[1]) if key == torgb else 1.0
            _keep_old_block(target, value, gain)
        else:  # biases, style affines, the Fourier input's mixing: old rows kept, new rows fresh
            target[tuple(slice(0, n) for n in value.shape)] = value
    if new_lr_mul != 1.0:
        wide = with_new_channel_rate(wide, (cfg.channel_base, cfg.channel_max), new_lr_mul)
    return wide.train(model.training)


@torch.no_grad()
def widened_discriminator(model: _AliasFreeFamily, factor: int = 2, seed: int = 0) -> _AliasFreeFamily:
    """The same model with `factor` times the discriminator's channels (option d_width), the
    generator copied as it is: a warm start for a stronger critic. As in `widened`, each old
    channel keeps its weights (scaled by sqrt(new/old fan-in), which the equalised-lr gain divides
    out), each new channel gets fresh weights for its own output and zero weight into the old
    channels and the logit. Exact but for one feature: the minibatch-stddev map averages over all
    channels of the last 4x4 layer, new ones included, so D's logits move a little (measured by
    tools/alias_free_widen.py, which prints it)."""
    if factor < 1:
        raise ValueError(f"factor must be a whole number >= 1; got {factor}")
    cfg = model.config
    if cfg.d_hidden:
        raise ValueError(f"widening a discriminator with a dense layer (d_hidden {cfg.d_hidden}) is not supported")
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        wide = type(model)(dataclasses.replace(cfg, d_width=cfg.d_width * factor), model.data_spec)
    old, new = model.state_dict(), wide.state_dict()  # `new` shares wide's storage: writing it sets the weights
    old_d, new_d = model.discriminator, wide.discriminator
    for key, value in old.items():
        target = new[key]
        if target.shape == value.shape:
            target.copy_(value)
        elif key.startswith("discriminator.convs.") and key.endswith(".weight"):
            _keep_old_block(target, value, math.sqrt(target.shape[1] / value.shape[1]))  # EqConv: 1/sqrt(fan-in)
        elif key.startswith("discriminator.convs.") and key.endswith(".bias"):
            target[: value.shape[0]] = value
        elif key == "discriminator.out.weight":  # features: (channels [+ the stddev map]) x 4 x 4, flattened
            old_ch, new_ch = old_d.convs[-1].weight.shape[0], new_d.convs[-1].weight.shape[0]
            grid = target.view(1, -1, 16)
            grid.zero_()  # the new channels start unread
            grid[:, :old_ch] = value.view(1, -1, 16)[:, :old_ch]
            if grid.shape[1] > new_ch:  # the minibatch-stddev map, last
                grid[:, new_ch] = value.view(1, -1, 16)[:, old_ch]
        else:
            raise ValueError(f"cannot widen {key} ({tuple(value.shape)} -> {tuple(target.shape)})")
    return wide.train(model.training)


@register
class AliasFree(_AliasFreeFamily):
    family = "alias_free"
    Config = AliasFreeConfig
    paper = "Karras et al. 2021, arXiv:2106.12423"
    filtered = True


@register
class AliasFreeBaseline(_AliasFreeFamily):
    family = "alias_free_baseline"
    Config = AliasFreeBaselineConfig
    paper = "Karras et al. 2021, arXiv:2106.12423 (ordinary-layer baseline, StyleGAN2-style)"
    filtered = False

