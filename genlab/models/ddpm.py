"""DDPM: Ho, Jain & Abbeel 2020, "Denoising Diffusion Probabilistic Models", arXiv:2006.11239,
with DDIM sampling (Song et al. 2021, arXiv:2010.02502), the cosine schedule and respacing of
Improved DDPM (Nichol & Dhariwal 2021, arXiv:2102.09672), v-prediction (Salimans & Ho 2022,
arXiv:2202.00512) and classifier-free guidance (Ho & Salimans 2021, arXiv:2207.12598).

Training: the simple loss ||eps - eps_theta(sqrt(abar_t) x0 + sqrt(1-abar_t) eps, t)||^2,
mean over pixels, t ~ U{0..T-1} (papers.md §14 checklist 2); with prediction = "v" the
target is v = sqrt(abar) eps - sqrt(1-abar) x0 instead. Class-conditional models
(`conditional = true`) replace the label by a "no label" token with probability
`label_dropout`, so one network is both p(x|y) and p(x).

The network is `genlab.nn.unet.UNet`; everything about the process (schedules, posterior,
samplers, the bound) is in `genlab.nn.diffusion`, network-free and stateless. EMA weights
(`ema_modules = ("net",)`) are what sampling and `genlab.load` use.

Generation (controls, all declared):

- ``sampler`` ddpm | ddim, ``steps`` 1..T (fewer than T: the respaced chain), ``eta`` in
  [0, 1] (DDIM), ``variance`` large | small (DDPM), ``clip`` of the predicted x0;
- ``guidance`` s: eps = eps(x, no label) + s (eps(x, y) - eps(x, no label)); 0 is the
  unconditional model, 1 the conditional one; ``label`` a class (None: a random class per
  image, drawn from the generator; ignored at guidance 0).
- ``sample_steps`` yields frames of shape (N, C, H, 2W): x_t on the left, the
  network's predicted x0 on the right, one per kept step (every ``every``), then the
  final sample beside itself.
- ``complete(given, keep_rows)`` inpaints: the top rows are replaced at every step by
  the given image noised afresh to that step (and by the image itself at the end).
- ``decode(z)`` (latent capability): z = x_T flattened (latent_dim = C*H*W, prior N(0, I)),
  run through DDIM with eta = 0, a deterministic map, so slerp between two z interpolates.
- ``add_noise(x, t)`` / ``denoise(x_t, t)``: the forward process to any t and back (the
  ``noise`` capability; ``denoise`` takes the sampler and class controls declared for
  ``denoise``, label None being the unconditional model).

Likelihood: ``log_prob`` is minus the variational bound L = L_T + sum_{t>0} L_{t} + L_0
([1] Eq. 5) in nats with the discretised Gaussian decoder over 256 levels ([1] Eq. 13),
declared a bound (`log_prob_is_exact = False`). The sum over t runs over all T-1 terms
when ``timesteps`` >= T-1, else it is a stratified Monte Carlo estimate over ``timesteps``
terms (config `bound_steps`); each term uses one draw of x_t, so the value is a seeded
estimate (`log_prob_is_sampled`). Conditional models score x under the no-label model.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.nn.functional as F

from genlab.model import Control, DataSpec, GenerativeModel, OptimizerSpec, Phase
from genlab.nn.diffusion import (PREDICTIONS, SAMPLERS, SCHEDULES, VARIANCES, Diffusion, bound_term,
                                 bound_timesteps, check_sampling, guided, prior_kl, sample_loop)
from genlab.nn.unet import UNet
from genlab.registry import register


@dataclass
class DDPMConfig:
    timesteps: int = 1000  # T
    schedule: str = "linear"  # linear (1e-4..0.02 at T=1000) | cosine (Improved DDPM)
    prediction: str = "eps"  # eps (the paper's) | v
    width: int = 32  # U-Net channels at full resolution
    mults: tuple[int, ...] = (1, 2, 2)  # channel multipliers per resolution (28 -> 14 -> 7)
    blocks: int = 2  # residual blocks per resolution
    attention: bool = False  # self-attention at the lowest resolution
    dropout: float = 0.0
    conditional: bool = False  # class-conditional with label dropout (classifier-free guidance)
    label_dropout: float = 0.1  # probability of training on the "no label" token
    variance: str = "large"  # DDPM reverse variance: large (beta, official default) | small (beta-tilde)
    sampler: str = "ddim"  # default sampler of the controls
    default_steps: int = 50  # default step count of the controls
    guidance: float = 1.0  # default guidance scale (conditional models)
    bound_steps: int = 100  # t-terms in log_prob's estimate of the bound (>= T-1: the exact sum)


@dataclass
class DDPMOptim:
    lr: float = 2e-4  # Adam (the paper's CIFAR-10 rate)
    beta1: float = 0.9
    beta2: float = 0.999


@register
class DDPM(GenerativeModel):
    family = "ddpm"
    Config = DDPMConfig
    Optim = DDPMOptim
    paper = "Ho, Jain & Abbeel 2020, arXiv:2006.11239 (DDIM: Song et al. 2021, arXiv:2010.02502)"
    ema_modules = ("net",)
    log_prob_is_exact = False
    log_prob_is_sampled = True

    def __init__(self, config: DDPMConfig, data_spec: DataSpec):
        super().__init__(config, data_spec)
        c = config
        for name, value, allowed in (("schedule", c.schedule, SCHEDULES), ("prediction", c.prediction, PREDICTIONS),
                                     ("variance", c.variance, VARIANCES), ("sampler", c.sampler, SAMPLERS)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
        if c.timesteps < 2:
            raise ValueError(f"timesteps (T) must be at least 2, got {c.timesteps}")
        if not 1 <= c.default_steps <= c.timesteps:
            raise ValueError(f"default_steps must be in 1..{c.timesteps}, got {c.default_steps}")
        if not 0.0 <= c.label_dropout < 1.0:
            raise ValueError(f"label_dropout must be in [0, 1), got {c.label_dropout}")
        if c.conditional and not data_spec.num_classes:
            raise ValueError(f"conditional = true needs a labelled data set; {data_spec.name!r} has no classes")
        self.num_classes = data_spec.num_classes if c.conditional else 0
        self.diffusion = Diffusion.from_schedule(c.schedule, c.timesteps)
        ch = data_spec.channels
        self.net = UNet(ch, ch, width=c.width, mults=tuple(c.mults), blocks=c.blocks, attention=c.attention,
                        dropout=c.dropout, num_classes=self.num_classes)
        self.latent_dim = math.prod(data_spec.image_shape)
        # float32 copies on the model's device for the training loss (not saved: rebuilt from the config)
        ab = self.diffusion.alpha_bar
        self.register_buffer("_sqrt_ab", ab.sqrt().float(), persistent=False)
        self.register_buffer("_sqrt_1mab", (1 - ab).sqrt().float(), persistent=False)

    @property
    def T(self) -> int:
        return self.diffusion.T

    def extra_repr(self) -> str:
        c = self.config
        return (f"{super().extra_repr()}, T={c.timesteps}, schedule={c.schedule}, prediction={c.prediction}, "
                f"width={c.width}, mults={tuple(c.mults)}, conditional={c.conditional}")

    # ----- training -------------------------------------------------------------------------
    def loss(self, batch: dict):
        x = batch["image"]
        n = len(x)
        t = torch.randint(self.T, (n,), device=x.device)
        noise = torch.randn_like(x)
        a, s = self._sqrt_ab[t].view(n, 1, 1, 1), self._sqrt_1mab[t].view(n, 1, 1, 1)
        xt = a * x + s * noise
        y = None
        if self.num_classes:
            y = batch["label"].to(x.device)
            drop = torch.rand(n, device=x.device) < self.config.label_dropout
            y = torch.where(drop, torch.full_like(y, self.num_classes), y)
        out = self.net(xt, t, y)
        target = noise if self.config.prediction == "eps" else a * noise - s * x
        loss = F.mse_loss(out.float(), target.float())
        return loss, {"mse": loss.detach()}

    def phases(self) -> list[Phase]:
        return [Phase("denoise", list(self.parameters()), self.loss,
                      OptimizerSpec("adam", lr=self.optim.lr, betas=(self.optim.beta1, self.optim.beta2)))]

    # ----- controls -----------------------------------------------------------------------------
    def controls(self) -> list[Control]:
        c, T = self.config, self.T
        drawing = ("sample", "steps", "complete", "denoise")
        out = [
            Control("sampler", "choice", c.sampler, choices=list(SAMPLERS), applies_to=drawing, group="sampler",
                    help="ddpm: ancestral (x0 clipped); ddim: Song et al., deterministic at eta 0"),
            Control("steps", "slider", c.default_steps, low=1, high=T, step=1,
                    applies_to=("sample", "decode", "steps", "complete", "denoise"), group="sampler",
                    help=f"denoising steps (of T = {T}); fewer steps: a respaced chain"),
            Control("eta", "slider", 0.0, low=0.0, high=1.0, applies_to=drawing, group="sampler",
                    help="DDIM noise: 0 deterministic, 1 the DDPM posterior variance"),
            Control("variance", "choice", c.variance, choices=list(VARIANCES), applies_to=drawing, group="sampler",
                    help="DDPM sampler's noise: large = beta_t, small = posterior beta-tilde_t"),
            Control("clip", "choice", True, choices=[True, False], applies_to=drawing, group="sampler",
                    help="clip the predicted x0 to [-1, 1] at every step (the official sampler does)"),
        ]
        if self.num_classes:
            uses = ("sample", "decode", "steps", "complete", "denoise")
            out += [Control("guidance", "slider", c.guidance, low=0.0, high=8.0, applies_to=uses, group="class",
                            help="classifier-free guidance: 0 unconditional, 1 conditional, more: stronger"),
                    Control("label", "choice", None, choices=[None, *range(self.num_classes)], applies_to=uses,
                            group="class", help="class to draw (None: a random class per image; "
                                                "decode and denoise: the unconditional model)")]
        out.append(Control("every", "slider", 1, low=1, high=T, step=1, applies_to=("steps",),
                           help="denoising steps between two frames of the step-by-step view"))
        return out

    def _options(self, controls: dict, allowed: tuple[str, ...]) -> dict:
        unknown = sorted(set(controls) - set(allowed))
        if unknown:
            raise ValueError(f"{self.family} has no control {', '.join(unknown)}; it takes {', '.join(allowed)}")
        c = self.config
        opts = {"sampler": c.sampler, "steps": c.default_steps, "eta": 0.0, "variance": c.variance, "clip": True,
                "guidance": c.guidance if self.num_classes else 0.0, "label": None}
        opts.update({k: v for k, v in controls.items() if v is not None or k == "label"})
        steps = opts["steps"]
        if isinstance(steps, float) and steps.is_integer():
            opts["steps"] = int(steps)
        check_sampling(self.T, opts["sampler"], opts["steps"], opts["eta"], opts["variance"])
        if opts["clip"] not in (True, False):
            raise ValueError(f"clip must be True or False; got {opts['clip']!r}")
        g = float(opts["guidance"])
        if not math.isfinite(g) or g < 0:
            raise ValueError(f"guidance must be a finite scale >= 0 (0: unconditional); got {opts['guidance']}")
        if g and not self.num_classes:
            raise ValueError(f"guidance needs a class-conditional model (conditional = true); this one is "
                             f"unconditional: use guidance 0")
        opts["guidance"] = g
        return opts

    def _labels(self, label, n: int, guidance: float, generator=None, draw: bool = True) -> torch.Tensor | None:
        """(n,) labels on the device, or None for the unconditional model."""
        if label is not None and not self.num_classes:
            raise ValueError(f"this {self.family} model is unconditional (conditional = false); it takes no "
                             f"label, got {label!r}")
        if not self.num_classes:
            return None
        if label is None:
            if guidance == 0 or not draw:
                return None
            return torch.randint(self.num_classes, (n,), generator=generator).to(self.device)
        try:
            raw = torch.as_tensor(label)
            y = raw.long().reshape(-1) if not raw.is_floating_point() or torch.equal(raw, raw.round()) else None
        except (TypeError, ValueError, RuntimeError):
            y = None
        if y is None or len(y) not in (1, n) or y.min() < 0 or y.max() >= self.num_classes:
            raise ValueError(f"label must be a class in 0..{self.num_classes - 1} (or n of them; None: a random "
                             f"class per image); got {label!r}")
        y = y.expand(n) if len(y) == 1 else y
        return None if guidance == 0 else y.to(self.device)

    def model_fn(self, y: torch.Tensor | None, guidance: float):
        """The denoiser the samplers call, (x, t) -> network output, with guidance folded in."""
        def fn(x: torch.Tensor, t: int) -> torch.Tensor:
            tt = torch.full((len(x),), t, dtype=torch.long, device=x.device)
            if y is None:
                return self.net(x, tt, None)
            if guidance == 1.0:
                return self.net(x, tt, y)
            null = torch.full_like(y, self.num_classes)
            out = self.net(torch.cat([x, x]), torch.cat([tt, tt]), torch.cat([y, null]))
            cond, uncond = out.chunk(2)
            return guided(cond, uncond, guidance)
        return fn

    def _loop(self, x, generator, opts, y, start=None, known=None, mask=None):
        return sample_loop(self.diffusion, self.model_fn(y, opts["guidance"]), x,
                           lambda shape: self.randn(*shape, generator=generator),
                           sampler=opts["sampler"], steps=opts["steps"], eta=float(opts["eta"]),
                           variance=opts["variance"], prediction=self.config.prediction, clip=opts["clip"],
                           start=start, known=known, mask=mask)

    # ----- generation ---------------------------------------------------------------------------
    DRAW = ("sampler", "steps", "eta", "variance", "clip", "guidance", "label")

    def _start(self, n: int, generator, opts):
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        x = self.randn(n, *self.data_spec.image_shape, generator=generator)  # x_T, drawn first
        y = self._labels(opts["label"], n, opts["guidance"], generator)
        return x, y

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, **controls) -> torch.Tensor:
        opts = self._options(controls, self.DRAW)
        x, y = self._start(n, generator, opts)
        *_, (last, _, _) = self._loop(x, generator, opts, y)
        return last.clamp(-1, 1)

    steps_caption = ("left of each pair: x_t, the noisy image at this step; right: the predicted x0, the net's "
                     "guess of the finished image")

    @torch.no_grad()
    def sample_steps(self, n: int, generator: torch.Generator | None = None, every: int = 1,
                     **controls) -> Iterator[torch.Tensor]:
        """Frames (N, C, H, 2W): x_t | predicted x0 at every `every`-th kept step, then the
        finished sample beside itself (equal to `sample` with the same arguments)."""
        every = int(every)
        if every < 1:
            raise ValueError(f"every must be at least 1 step, got {every}")
        opts = self._options(controls, self.DRAW)
        x, y = self._start(n, generator, opts)
        for i, (xt, x0, t) in enumerate(self._loop(x, generator, opts, y)):
            if t < 0 or i % every == 0:
                yield torch.cat([xt.clamp(-1, 1), x0.clamp(-1, 1)], dim=-1)

    @torch.no_grad()
    def complete(self, given: torch.Tensor, keep_rows: int, generator: torch.Generator | None = None,
                 **controls) -> torch.Tensor:
        """Each image of `given` with its top `keep_rows` rows kept (exactly) and the rest drawn by
        the reverse chain, the kept rows re-noised to every step (replacement inpainting)."""
        given = self.check_images(given, "the image to complete").to(self.device)
        h = self.data_spec.height
        if isinstance(keep_rows, bool) or not isinstance(keep_rows, int) or not 0 <= keep_rows <= h:
            raise ValueError(f"keep_rows must be an integer in 0..{h}, got {keep_rows!r}")
        opts = self._options(controls, self.DRAW)
        x, y = self._start(len(given), generator, opts)
        mask = torch.zeros_like(given)
        mask[:, :, :keep_rows] = 1
        x = mask * self.diffusion.q_sample(given, self.T - 1, self.randn(*given.shape, generator=generator)) \
            + (1 - mask) * x
        *_, (last, _, _) = self._loop(x, generator, opts, y, known=given, mask=mask)
        return torch.where(mask.bool(), given, last.clamp(-1, 1))

    # ----- the forward process and back ----------------------------------------------------------
    @torch.no_grad()
    def add_noise(self, x: torch.Tensor, t: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """x_t ~ q(x_t | x_0 = x) for a time index t in 0..T-1 (t = T-1 is nearly pure noise)."""
        x = self.check_images(x).to(self.device)
        if isinstance(t, bool) or not isinstance(t, int) or not 0 <= t < self.T:
            raise ValueError(f"t must be an integer in 0..{self.T - 1}, got {t!r}")
        return self.diffusion.q_sample(x, t, self.randn(*x.shape, generator=generator))

    @torch.no_grad()
    def denoise(self, xt: torch.Tensor, t: int, generator: torch.Generator | None = None,
                **controls) -> torch.Tensor:
        """Run the reverse chain from x_t at index t down to an image (steps capped at t + 1).
        Label None is the unconditional model (denoising invents no class), as in `decode`."""
        if isinstance(t, bool) or not isinstance(t, int) or not 0 <= t < self.T:
            raise ValueError(f"t must be an integer in 0..{self.T - 1}, got {t!r}")
        controls = dict(controls)
        controls["steps"] = min(int(controls.get("steps") or self.config.default_steps), t + 1)
        opts = self._options(controls, self.DRAW)
        xt = xt.to(self.device).float()
        y = self._labels(opts["label"], len(xt), opts["guidance"], generator, draw=False)
        *_, (last, _, _) = self._loop(xt, generator, opts, y, start=t)
        return last.clamp(-1, 1)

    # ----- latent: x_T through deterministic DDIM ------------------------------------------------
    def prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.randn(n, self.latent_dim, generator=generator)

    @torch.no_grad()
    def decode(self, z: torch.Tensor, **controls) -> torch.Tensor:
        """DDIM (eta = 0) from x_T = z reshaped to an image: the same z gives the same image."""
        opts = self._options(controls, ("steps", "guidance", "label"))
        opts.update(sampler="ddim", eta=0.0)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (N, {self.latent_dim}); got {tuple(z.shape)}")
        x = z.to(self.device).float().view(len(z), *self.data_spec.image_shape)
        y = self._labels(opts["label"], len(z), opts["guidance"], draw=False)
        *_, (last, _, _) = self._loop(x, None, opts, y)
        return last.clamp(-1, 1)

    # ----- the variational bound ----------------------------------------------------------------
    @torch.no_grad()
    def bound_terms(self, x: torch.Tensor, label=None, generator: torch.Generator | None = None,
                    timesteps: int | None = None) -> dict:
        """The bound's terms in nats per image: ``prior`` L_T (N,), ``kl`` the L_t for t > 0 (N, K) at
        ``t`` (K,) with ``weights`` (K,) (all ones for the exact sum), ``decoder`` L_0 (N,)."""
        x = self.check_images(x).to(self.device)
        k = self.config.bound_steps if timesteps is None else timesteps
        k = None if k is None or k <= 0 else int(k)
        y = self._labels(label, len(x), 1.0, draw=False)
        ts, ws = bound_timesteps(self.T, k, generator)
        terms = []
        for t in [0, *ts]:
            tt = torch.full((len(x),), t, dtype=torch.long)
            xt = self.diffusion.q_sample(x, tt, self.randn(*x.shape, generator=generator))
            out = self.net(xt, tt.to(self.device), y).float()
            x0_pred, _ = self.diffusion.x0_and_eps(out, xt, tt, self.config.prediction)
            terms.append(bound_term(self.diffusion, x.cpu(), xt.cpu(), tt, x0_pred.cpu(), self.config.variance))
        return {"prior": prior_kl(self.diffusion, x.cpu()), "decoder": terms[0],
                "kl": torch.stack(terms[1:], 1) if ts else torch.zeros(len(x), 0, dtype=torch.float64),
                "t": torch.tensor(ts, dtype=torch.long), "weights": torch.tensor(ws, dtype=torch.float64)}

    @torch.no_grad()
    def log_prob(self, x: torch.Tensor, label=None, generator: torch.Generator | None = None,
                 timesteps: int | None = None) -> torch.Tensor:
        """Minus the variational bound, nats per image (N,): log p(x) >= this (up to the Monte Carlo
        error of the t-terms, exact in expectation). timesteps: t-terms summed (>= T-1: all)."""
        b = self.bound_terms(x, label, generator, timesteps)
        return -(b["prior"] + b["decoder"] + b["kl"] @ b["weights"]).float().to(self.device)

    # ----- the family's own figures --------------------------------------------------------------
    def extra_metrics(self, n: int, seed: int = 0) -> dict:
        """Conditional MNIST-like models: how often genlab's classifier reads a guided sample as its
        label, at guidance 1 and 3 (m = min(n, 200) samples, labels 0..9 in turn, default sampler)."""
        from genlab.metrics.likelihood import crop_padding, is_mnist_like

        if not self.num_classes or not is_mnist_like(self.data_spec):
            return {}
        from genlab.metrics.classifier import classify

        m = min(n, 200)
        labels = torch.arange(m) % self.num_classes
        out = {"guided_samples": m}
        for g in (1.0, 3.0):
            images = self.sample(m, generator=torch.Generator().manual_seed(seed), label=labels, guidance=g)
            _, probs = classify(crop_padding(images.float().cpu(), self.data_spec))
            out[f"guided_accuracy_g{g:g}"] = float((probs.argmax(1) == labels).float().mean())
        return out

