"""Progressive GAN: Karras, Aila, Laine & Lehtinen 2018, arXiv:1710.10196.

G and D start at 4x4 and grow in lockstep (4 -> 8 -> 16 -> 32 for padded MNIST).
Each new resolution is faded in: G's output is (1 - alpha) x the nearest-upsampled
output of the previous stage's toRGB + alpha x the new block's toRGB; D mirrors it
with average pooling into the previous fromRGB; and the real images are cross-faded
the same way (lerp of the upsampled 2x2-average-pooled image and the image), so D
never sees real images sharper than G can make. Alpha goes linearly 0 -> 1 over a
fade phase (a float: it enters the loss), then a stable phase follows.

The paper's pieces, from the official code (papers.md section 11): equalised
learning rate as a runtime weight scale (genlab/nn/progressive.py), pixel norm
after every conv of G and on the latent, minibatch standard deviation (group 4) in
D's last block, WGAN-GP (lambda 10, one interpolation coefficient per sample) plus
the drift term 0.001 * D(real)^2, n_critic 1, Adam lr 1e-3 betas (0, 0.99) started
afresh at each new resolution, linear output (no tanh), an EMA of G for sampling.

Schedule: `stable_steps` / `fade_steps` (recipe [model]) count training steps, so
images per phase = steps x batch_size. Every module of every stage is built at
once; only which ones are used changes with the stage.

Deviations: far narrower nets (fmap 64 at most) and far shorter phases than the
paper's 600k images, to train on a CPU; G's lower-resolution views (the `stage`
control, `sample_steps`) pass the current weights through that stage's own toRGB,
which stops training once the next stage has faded in, so they show the grown
network's own coarse outputs rather than a snapshot taken when the stage ended.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from genlab.model import Control, DataSpec, Phase
from genlab.models.adversarial import AdversarialModel
from genlab.nn import gan_losses
from genlab.nn.progressive import (EqualizedConv2d, EqualizedLinear, MinibatchStddev, downsample2, lerp,
                                   pixel_norm, resize_to, upsample2)
from genlab.nn.resolution import PAD32_HINT, check_square, square_sides
from genlab.nn.two_player import AdversarialOptim, discriminator_then_generator
from genlab.registry import register

BASE = 4  # the first stage's resolution
SIDES = (8, 16, 32, 64, 128, 256)  # BASE * 2**k, k >= 1


@dataclass
class ProGANConfig:
    latent_dim: int = 128
    fmap_base: int = 256  # channels at stage s (side 4 * 2**s): min(fmap_max, fmap_base // 2**s)
    fmap_max: int = 64
    # Steps in each stage's stable phase (stages 0 .. last-1; the last stage runs to the end of
    # training) and in the fade-in of each new stage (stages 1 .. last). An int means the same
    # for every stage. Images per phase = steps x batch_size.
    stable_steps: tuple[int, ...] = (1000,)
    fade_steps: tuple[int, ...] = (1000,)
    gp_lambda: float = 10.0
    gp_target: float = 1.0  # gamma: the penalty is lambda * (|grad| - gamma)^2 / gamma^2 (CIFAR: 750)
    # Lazy regularisation (StyleGAN2, Karras et al. 2020, sec. 3.1): the penalty only on every
    # gp_every-th D step, weighted gp_every times. Its double backward is ~55% of a D step on a CPU.
    gp_every: int = 1
    drift: float = 0.001  # epsilon_drift * D(real)^2 keeps D's output near zero
    mbstd_group: int = 4  # minibatch standard deviation group size (0: no such layer)


@dataclass
class ProGANOptim(AdversarialOptim):
    """Adam as the paper: lr 1e-3, beta1 0, beta2 0.99 (eps 1e-8, torch's default)."""

    lr_g: float = 1e-3
    lr_d: float = 1e-3
    beta1: float = 0.0
    beta2: float = 0.99


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


class GBlock(nn.Module):
    """Stage s > 0: upsample x2, two 3x3 convs, each followed by leaky ReLU and pixel norm."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1 = EqualizedConv2d(cin, cout, 3)
        self.conv2 = EqualizedConv2d(cout, cout, 3)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = pixel_norm(_lrelu(self.conv1(upsample2(h))))
        return pixel_norm(_lrelu(self.conv2(h)))


class GFirst(nn.Module):
    """Stage 0: normalised latent -> dense to 4x4 -> 3x3 conv (pixel norm after each)."""

    def __init__(self, latent_dim: int, ch: int):
        super().__init__()
        self.ch = ch
        self.dense = EqualizedLinear(latent_dim, ch * BASE * BASE, gain=math.sqrt(2) / 4)  # official gain
        self.conv = EqualizedConv2d(ch, ch, 3)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.dense(pixel_norm(z)).view(-1, self.ch, BASE, BASE)
        h = pixel_norm(_lrelu(h))
        return pixel_norm(_lrelu(self.conv(h)))


class Generator(nn.Module):
    def __init__(self, latent_dim: int, chans: list[int], channels: int):
        super().__init__()
        self.blocks = nn.ModuleList([GFirst(latent_dim, chans[0])] +
                                    [GBlock(chans[s - 1], chans[s]) for s in range(1, len(chans))])
        self.to_rgb = nn.ModuleList([EqualizedConv2d(c, channels, 1, gain=1.0) for c in chans])  # linear out

    def forward(self, z: torch.Tensor, stage: int, alpha: float = 1.0) -> torch.Tensor:
        """Images at side 4 * 2**stage; alpha < 1 fades the stage's block in over the
        nearest-upsampled output of the stage before."""
        h = self.blocks[0](z).contiguous(memory_format=torch.channels_last)  # faster convs on CPU
        for s in range(1, stage):
            h = self.blocks[s](h)
        if stage == 0:
            return self.to_rgb[0](h)
        new = self.to_rgb[stage](self.blocks[stage](h))
        if alpha >= 1.0:
            return new  # the old path is not even computed
        return lerp(upsample2(self.to_rgb[stage - 1](h)), new, alpha)

    def stage_modules(self, stage: int) -> list[nn.Module]:
        return [*self.blocks[:stage + 1], self.to_rgb[stage], *([self.to_rgb[stage - 1]] if stage else [])]


class DBlock(nn.Module):
    """Stage s > 0: two 3x3 convs with leaky ReLU, then 2x2 average pooling."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1 = EqualizedConv2d(cin, cin, 3)
        self.conv2 = EqualizedConv2d(cin, cout, 3)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return downsample2(_lrelu(self.conv2(_lrelu(self.conv1(h)))))


class DLast(nn.Module):
    """Stage 0 (4x4): minibatch stddev, 3x3 conv, dense, dense to one score (linear)."""

    def __init__(self, ch: int, group: int):
        super().__init__()
        self.mbstd = MinibatchStddev(group) if group else None
        self.conv = EqualizedConv2d(ch + (1 if group else 0), ch, 3)
        self.dense = EqualizedLinear(ch * BASE * BASE, ch)
        self.out = EqualizedLinear(ch, 1, gain=1.0)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if self.mbstd is not None:
            h = self.mbstd(h)
        h = _lrelu(self.conv(h))
        return self.out(_lrelu(self.dense(h.flatten(1)))).squeeze(1)


class Discriminator(nn.Module):
    def __init__(self, chans: list[int], channels: int, group: int):
        super().__init__()
        self.from_rgb = nn.ModuleList([EqualizedConv2d(channels, c, 1) for c in chans])
        self.blocks = nn.ModuleList([DLast(chans[0], group)] +
                                    [DBlock(chans[s], chans[s - 1]) for s in range(1, len(chans))])

    def forward(self, x: torch.Tensor, stage: int, alpha: float = 1.0) -> torch.Tensor:
        """Scores (N,) of images at side 4 * 2**stage; alpha < 1 fades the stage's fromRGB and
        block in over the previous stage's fromRGB of the average-pooled image."""
        x = x.contiguous(memory_format=torch.channels_last)  # faster convs on CPU (about 15% a step)
        h = _lrelu(self.from_rgb[stage](x))
        if stage > 0:
            h = self.blocks[stage](h)
            if alpha < 1.0:
                h = lerp(_lrelu(self.from_rgb[stage - 1](downsample2(x))), h, alpha)
        for s in range(stage - 1, 0, -1):
            h = self.blocks[s](h)
        return self.blocks[0](h)

    def stage_modules(self, stage: int) -> list[nn.Module]:
        return [*self.blocks[:stage + 1], self.from_rgb[stage], *([self.from_rgb[stage - 1]] if stage else [])]


def _per_stage(value, n: int, name: str) -> list[int]:
    values = [value] if isinstance(value, int) else list(value)
    if len(values) == 1:
        values = values * n
    if len(values) != n or any(not isinstance(v, int) or v < 0 for v in values):
        raise ValueError(f"{name} must be one step count >= 0 or {n} of them (one per growth); got {value!r}")
    return values


@register
class ProGAN(AdversarialModel):
    family = "progan"
    Config = ProGANConfig
    prior_name = "normal"  # no prior option: z ~ N(0, I)
    Optim = ProGANOptim
    paper = "Karras et al. 2018, arXiv:1710.10196"
    default_data = "mnist-pad32"

    def __init__(self, config: ProGANConfig, data_spec: DataSpec):
        super().__init__(config, data_spec)
        side = data_spec.height
        self.num_stages = int(round(math.log2(side // BASE))) + 1  # 32 -> 4 stages: 4, 8, 16, 32
        growths = self.num_stages - 1
        self.stable = _per_stage(config.stable_steps, growths, "stable_steps")
        self.fade = _per_stage(config.fade_steps, growths, "fade_steps")
        if self.stable[0] < 1:
            raise ValueError("stable_steps of the first stage must be at least 1")
        if config.mbstd_group < 0:
            raise ValueError(f"mbstd_group must be >= 0, got {config.mbstd_group}")
        chans = [max(1, min(config.fmap_max, config.fmap_base // 2 ** s)) for s in range(self.num_stages)]
        self.latent_dim = config.latent_dim
        self.generator = Generator(config.latent_dim, chans, data_spec.channels)
        self.discriminator = Discriminator(chans, data_spec.channels, config.mbstd_group)
        self.stage, self.alpha = 0, 1.0
        self.train_step = 0  # the training step, set by advance(): lazy penalty steps are step % gp_every == 0
        self._last_gp = None  # (penalty, mean gradient norm) last measured: logged on steps without the penalty

    @classmethod
    def supported_shapes(cls) -> str:
        return square_sides(SIDES, PAD32_HINT)

    @classmethod
    def check_data_spec(cls, spec: DataSpec) -> None:
        check_square("ProGAN", spec, SIDES, cls.supported_shapes())

    # ----- the stage schedule -----------------------------------------------------------
    def resolution(self, stage: int | None = None) -> int:
        return BASE * 2 ** (self.stage if stage is None else stage)

    def schedule(self, step: int) -> tuple[int, float]:
        """(stage, alpha) before training step `step` (0-based): a pure function of the step.
        Stage 0 is stable for stable[0] steps; stage k then fades in over fade[k-1] steps
        (alpha = steps into the fade / fade length, a float) and is stable for stable[k]."""
        t = step - self.stable[0]
        if t < 0:
            return 0, 1.0
        for k in range(1, self.num_stages):
            if t < self.fade[k - 1]:
                return k, t / self.fade[k - 1]
            t -= self.fade[k - 1]
            if k == self.num_stages - 1 or t < self.stable[k]:
                return k, 1.0
            t -= self.stable[k]
        raise AssertionError("unreachable")

    def stage_starts(self) -> list[int]:
        """The step at which each stage begins (its fade-in; stage 0 at step 0)."""
        starts, t = [0], self.stable[0]
        for k in range(1, self.num_stages):
            starts.append(t)
            t += self.fade[k - 1] + (self.stable[k] if k < self.num_stages - 1 else 0)
        return starts

    def set_stage(self, stage: int, alpha: float = 1.0) -> None:
        if not 0 <= stage < self.num_stages:
            raise ValueError(f"stage must be in 0..{self.num_stages - 1}, got {stage}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        self.stage, self.alpha = int(stage), float(alpha)

    def advance(self, step: int) -> set[str]:
        self.train_step = step
        stage, alpha = self.schedule(step)
        grew = stage != self.stage
        self.set_stage(stage, alpha)
        return {"discriminator", "generator"} if grew else set()  # Adam starts afresh at each resolution

    def step_state(self) -> dict:
        return {"stage": self.stage, "alpha": self.alpha}

    def load_step_state(self, state: dict) -> None:
        self.set_stage(int(state.get("stage", 0)), float(state.get("alpha", 1.0)))

    # ----- training -------------------------------------------------------------------------
    def real_images(self, images: torch.Tensor) -> torch.Tensor:
        """The data at the current stage's side, cross-faded like G's output: during a fade-in,
        lerp(upsampled 2x2-average-pooled image, image, alpha)."""
        x = resize_to(images, self.resolution())
        if self.stage > 0 and self.alpha < 1.0:
            x = lerp(upsample2(downsample2(x)), x, self.alpha)
        return x

    def fake_images(self, n: int) -> torch.Tensor:
        return self.generator(self.prior(n), self.stage, self.alpha)

    def critic(self, x: torch.Tensor) -> torch.Tensor:
        return self.discriminator(x, self.stage, self.alpha)

    def discriminator_loss(self, batch: dict):
        cfg = self.config
        real = self.real_images(batch["image"])
        n = len(real)
        fake = self.fake_images(n).detach()
        d_real, d_fake = self.critic(real), self.critic(fake)
        drift = d_real.pow(2).mean()
        wdist = d_real.mean() - d_fake.mean()
        loss = -wdist + cfg.drift * drift
        if self.train_step % cfg.gp_every == 0:
            # WGAN-GP: one mixing coefficient per sample (not per pixel), called eps, never alpha.
            eps = self.rand(n).to(real.dtype)  # the share of the fake in the mix
            penalty, mean_norm = gan_losses.gradient_penalty(self.critic, real, fake, 1 - eps,
                                                             target=cfg.gp_target, with_norm=True)
            loss = loss + cfg.gp_every * cfg.gp_lambda * penalty
            self._last_gp = (penalty.detach(), mean_norm)
        # On lazy steps: the last measured values (zeros, on the loss's device, before any: a run resumed
        # on a lazy step).
        penalty, grad_norm = self._last_gp or (torch.zeros_like(wdist), torch.zeros_like(wdist))
        return loss, {"wdist": wdist.detach(), "gp": penalty, "grad_norm": grad_norm,
                      "alpha": torch.tensor(self.alpha), "side": torch.tensor(float(self.resolution()))}

    def generator_loss(self, batch: dict):
        return -self.critic(self.fake_images(len(batch["image"]))).mean(), {}

    def phases(self) -> list[Phase]:
        def params(modules):
            return [p for m in modules for p in m.parameters()]

        # Only the modules the current stage uses: Adam starts afresh at each resolution (advance).
        return discriminator_then_generator(self.optim, params(self.discriminator.stage_modules(self.stage)),
                                            self.discriminator_loss,
                                            params(self.generator.stage_modules(self.stage)), self.generator_loss)

    # ----- generation --------------------------------------------------------------------------
    def _stage_index(self, stage) -> int:
        """A `stage` control value (a side in pixels, or None: the current stage) as an index."""
        if stage is None:
            return self.stage
        side = int(stage)
        allowed = [self.resolution(s) for s in range(self.stage + 1)]
        if side not in allowed:
            raise ValueError(f"stage must be one of the sides reached so far ({', '.join(map(str, allowed))}); "
                             f"got {stage!r}")
        return allowed.index(side)

    def render(self, z: torch.Tensor, stage: int | None = None) -> torch.Tensor:
        """G's images of z at a stage (default: the current one, with its alpha), shown at full
        size (nearest upsampling). Earlier stages are drawn at alpha 1 (their own toRGB)."""
        stage = self.stage if stage is None else stage
        alpha = self.alpha if stage == self.stage else 1.0
        x = self.generator(z.to(self.device), stage, alpha)
        return resize_to(x, self.data_spec.height)

    def decode(self, z: torch.Tensor, stage=None, **controls) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"{self.family} latents have shape (N, {self.latent_dim}); got {tuple(z.shape)}")
        return self.render(z, self._stage_index(stage))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, stage=None, **controls) -> torch.Tensor:
        """n images in [-1, 1]; `stage` (a side reached so far: 4, 8, ...) draws that stage, upsampled."""
        if controls:
            raise ValueError(f"progan has no control {', '.join(sorted(controls))}; it takes stage")
        index = self._stage_index(stage)
        return self.render(self.prior(n, generator), index).float().clamp(-1, 1)

    steps_caption = "the same latents at each stage reached so far: 4x4, 8x8, ... upsampled to full size"

    @torch.no_grad()
    def sample_steps(self, n: int, generator: torch.Generator | None = None, **controls) -> Iterator[torch.Tensor]:
        """A resolution scrubber: the same latents drawn at every stage reached so far
        (4x4, 8x8, ... up to the current stage), each upsampled to full size."""
        if controls:
            raise ValueError(f"progan's step-by-step view has no control {', '.join(sorted(controls))}")
        z = self.prior(n, generator)
        for s in range(self.stage + 1):
            yield self.render(z, s).float().clamp(-1, 1)

    def controls(self) -> list[Control]:
        sides = [self.resolution(s) for s in range(self.stage + 1)]
        return [Control("stage", "choice", sides[-1], choices=sides, applies_to=("sample",),
                        help="draw at an earlier resolution stage (side in pixels, shown upsampled); "
                             "the last is the trained model")]

    def extra_metrics(self, n: int, seed: int = 0) -> dict:
        return {"side": self.resolution(), "alpha": round(self.alpha, 4)}
