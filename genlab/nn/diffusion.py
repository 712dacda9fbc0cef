"""Gaussian diffusion: schedules, the forward process, its posterior, samplers and the bound.

[1] Ho, Jain & Abbeel 2020, "Denoising Diffusion Probabilistic Models", arXiv:2006.11239
    (official code: hojonathanho/diffusion, diffusion_utils_2.py).
[2] Nichol & Dhariwal 2021, "Improved DDPM", arXiv:2102.09672 (cosine schedule, respacing).
[3] Song, Meng & Ermon 2021, "Denoising Diffusion Implicit Models", arXiv:2010.02502.
[4] Ho & Salimans 2021, "Classifier-Free Diffusion Guidance", arXiv:2207.12598.

Indexing follows the official code: t in {0, ..., T-1} is the paper's t + 1, so
x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps with abar_t = prod_{s<=t} (1 - beta_s),
and "step -1" is the data itself (abar = 1).

Everything here is network-free and holds no per-call state: a `Diffusion` is
an immutable table of schedule constants (float64, on the CPU), and the
samplers are generator functions that take the denoiser as an argument,
`model_fn(x, t: int) -> output` (output = eps or v, see `PREDICTIONS`), and
draw their noise through `noise_fn(shape) -> tensor`.

Samplers run on a decreasing subsequence tau of {T-1, ..., 0} (`timesteps`);
with all T steps they are the paper's samplers, with fewer they are the
"respaced" ones of [2] (abar kept, beta recomputed between kept steps):

- ``ddpm``: ancestral sampling as in [1]'s official code: predict x0, clip it
  to [-1, 1], take the posterior mean, add sigma z except at the last step;
  sigma^2 = beta ("large", the official CIFAR default) or beta-tilde ("small");
- ``ddim``: [3] Eq. 12 with sigma(eta) (eta = 0 deterministic, eta = 1 the
  posterior variance); a clipped x0 gives a recomputed eps (GLIDE's fix).

With all steps, DDIM at eta = 1 and DDPM "small" are the same transition
(tests/test_ddpm.py checks they give the same images from the same noise).
"""
from __future__ import annotations

import math
from typing import Callable, Iterator

import torch

SCHEDULES = ("linear", "cosine")
PREDICTIONS = ("eps", "v")
SAMPLERS = ("ddpm", "ddim")
VARIANCES = ("large", "small")


# ----- schedules -------------------------------------------------------------------
def make_betas(kind: str, T: int) -> torch.Tensor:
    """beta_t for t = 0..T-1 in float64.

    linear: 1e-4 to 0.02 at T = 1000 ([1]), scaled by 1000/T for other T ([2]'s code);
    cosine: abar(t) = f(t)/f(0), f(t) = cos^2(((t/T) + s)/(1 + s) pi/2), s = 0.008,
    beta_t = min(1 - abar_t/abar_{t-1}, 0.999) ([2] Eq. 17).
    """
    if T < 1:
        raise ValueError(f"the number of diffusion steps T must be at least 1, got {T}")
    if kind == "linear":
        scale = 1000 / T
        return torch.linspace(scale * 1e-4, min(scale * 0.02, 0.999), T, dtype=torch.float64)
    if kind == "cosine":
        s = 0.008
        steps = torch.arange(T + 1, dtype=torch.float64) / T
        f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
        return (1 - f[1:] / f[:-1]).clamp(max=0.999)
    raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}; got {kind!r}")


def timesteps(T: int, steps: int) -> list[int]:
    """`steps` distinct time indices from T-1 down to 0, evenly spaced (both ends kept when
    steps >= 2; steps = 1 is the single jump from T-1 to the data)."""
    if not 1 <= steps <= T:
        raise ValueError(f"steps must be in 1..{T} (the model's T), got {steps}")
    if steps == 1:
        return [T - 1]
    return [int(round(v)) for v in torch.linspace(T - 1, 0, steps, dtype=torch.float64).tolist()]


# ----- Gaussian helpers -------------------------------------------------------------
def normal_kl(mean1, logvar1, mean2, logvar2) -> torch.Tensor:
    """KL(N(mean1, e^logvar1) || N(mean2, e^logvar2)) elementwise, in nats."""
    return 0.5 * (-1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2)
                  + (mean1 - mean2) ** 2 * torch.exp(-logvar2))


def discretized_gaussian_log_likelihood(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor,
                                        levels: int = 256) -> torch.Tensor:
    """log P(x) per sub-pixel for x on `levels` evenly spaced values in [-1, 1] under a Gaussian
    integrated over each value's bin (width 2/(levels-1)); the edge bins reach to -inf and +inf
    ([1] §3.3 Eq. 13), so the probabilities of all levels sum to 1. Computed in float64."""
    x, mean, log_scale = (torch.as_tensor(a, dtype=torch.float64) for a in (x, mean, log_scale))
    half = 1.0 / (levels - 1)
    inv_std = torch.exp(-log_scale)
    upper, lower = inv_std * (x - mean + half), inv_std * (x - mean - half)
    log_cdf_upper = torch.special.log_ndtr(upper)  # log P(X < x + half)
    log_sf_lower = torch.special.log_ndtr(-lower)  # log P(X > x - half)
    # log(Phi(u) - Phi(l)) computed stably on the side of the mean where it does not cancel
    mid = torch.where(lower > 0,
                      log_sf_lower + torch.log1p(-torch.exp((torch.special.log_ndtr(-upper) - log_sf_lower)
                                                            .clamp(max=-1e-12))),
                      log_cdf_upper + torch.log1p(-torch.exp((torch.special.log_ndtr(lower) - log_cdf_upper)
                                                             .clamp(max=-1e-12))))
    return torch.where(x < -1 + half, log_cdf_upper, torch.where(x > 1 - half, log_sf_lower, mid))


# ----- the process ------------------------------------------------------------------------
class Diffusion:
    """Schedule constants of a T-step Gaussian diffusion (float64 on the CPU, read-only)."""

    def __init__(self, betas: torch.Tensor):
        betas = torch.as_tensor(betas, dtype=torch.float64).cpu()
        if betas.ndim != 1 or not ((betas > 0) & (betas < 1)).all():
            raise ValueError("betas must be a 1-D sequence of values in (0, 1)")
        self.T = len(betas)
        self.betas = betas
        self.alphas = 1 - betas
        self.alpha_bar = torch.cumprod(self.alphas, 0)
        self.alpha_bar_prev = torch.cat([torch.ones(1, dtype=torch.float64), self.alpha_bar[:-1]])
        # posterior q(x_{t-1} | x_t, x_0) ([1] Eq. 6-7)
        self.posterior_variance = betas * (1 - self.alpha_bar_prev) / (1 - self.alpha_bar)
        # beta-tilde_0 = 0: log clipped to beta-tilde_1 (official code; diffusers PR #3006)
        pv1 = self.posterior_variance[1] if self.T > 1 else betas[0]
        self.posterior_log_variance = torch.log(torch.cat([pv1.reshape(1), self.posterior_variance[1:]]))
        self.posterior_coef_x0 = betas * torch.sqrt(self.alpha_bar_prev) / (1 - self.alpha_bar)
        self.posterior_coef_xt = (1 - self.alpha_bar_prev) * torch.sqrt(self.alphas) / (1 - self.alpha_bar)
        # "fixedlarge": beta_t, its first entry replaced by beta-tilde_1 (official code)
        self.large_log_variance = torch.log(torch.cat([pv1.reshape(1), betas[1:]]))

    @classmethod
    def from_schedule(cls, kind: str, T: int) -> "Diffusion":
        return cls(make_betas(kind, T))

    # -- gathering constants for a batch of time indices --
    def check_t(self, t) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=torch.long)
        if t.numel() and (t.min() < 0 or t.max() >= self.T):
            raise ValueError(f"t must be in 0..{self.T - 1} (T = {self.T}); got {t.min().item()}..{t.max().item()}")
        return t

    @staticmethod
    def extract(table: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """table[t] as (N, 1, 1, 1) in like's dtype and device; t (N,) long."""
        out = table[t.cpu()].to(device=like.device, dtype=like.dtype)
        return out.view(-1, *([1] * (like.ndim - 1)))

    # -- forward process q(x_t | x_0) --
    def q_mean_variance(self, x0: torch.Tensor, t) -> tuple[torch.Tensor, torch.Tensor]:
        t = self.check_t(t).expand(len(x0)) if torch.as_tensor(t).ndim == 0 else self.check_t(t)
        return self.extract(self.alpha_bar.sqrt(), t, x0) * x0, self.extract(1 - self.alpha_bar, t, x0).expand_as(x0)

    def q_sample(self, x0: torch.Tensor, t, noise: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise; t an int or (N,) indices."""
        t = self.check_t(t)
        t = t.expand(len(x0)) if t.ndim == 0 else t
        return self.extract(self.alpha_bar.sqrt(), t, x0) * x0 + self.extract((1 - self.alpha_bar).sqrt(), t, x0) * noise

    # -- posterior q(x_{t-1} | x_t, x_0) --
    def q_posterior(self, x0: torch.Tensor, xt: torch.Tensor, t) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(mean, variance, clipped log variance), each shaped like x0."""
        t = self.check_t(t)
        t = t.expand(len(x0)) if t.ndim == 0 else t
        mean = self.extract(self.posterior_coef_x0, t, x0) * x0 + self.extract(self.posterior_coef_xt, t, x0) * xt
        var = self.extract(self.posterior_variance, t, x0).expand_as(x0)
        logvar = self.extract(self.posterior_log_variance, t, x0).expand_as(x0)
        return mean, var, logvar

    # -- what the network predicts --
    def x0_and_eps(self, output: torch.Tensor, xt: torch.Tensor, t, prediction: str = "eps"
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """(x0, eps) from the network's output: eps, or v = sqrt(abar) eps - sqrt(1-abar) x0."""
        t = self.check_t(t)
        t = t.expand(len(xt)) if t.ndim == 0 else t
        a, s = self.extract(self.alpha_bar.sqrt(), t, xt), self.extract((1 - self.alpha_bar).sqrt(), t, xt)
        if prediction == "eps":
            return (xt - s * output) / a, output
        if prediction == "v":
            return a * xt - s * output, s * xt + a * output
        raise ValueError(f"prediction must be one of {', '.join(PREDICTIONS)}; got {prediction!r}")

    def target(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor, prediction: str) -> torch.Tensor:
        """The regression target of the simple loss for this prediction type."""
        if prediction == "eps":
            return noise
        if prediction == "v":
            return self.extract(self.alpha_bar.sqrt(), t, x0) * noise - self.extract((1 - self.alpha_bar).sqrt(), t, x0) * x0
        raise ValueError(f"prediction must be one of {', '.join(PREDICTIONS)}; got {prediction!r}")

    # -- one reverse step between kept indices t > prev (prev = -1: the data) --
    def _pair(self, t: int, prev: int) -> tuple[float, float]:
        ab_t = self.alpha_bar[t].item()
        ab_prev = self.alpha_bar[prev].item() if prev >= 0 else 1.0
        return ab_t, ab_prev

    def step(self, xt: torch.Tensor, x0: torch.Tensor, eps: torch.Tensor, t: int, prev: int, sampler: str,
             eta: float, variance: str, noise: torch.Tensor | None) -> torch.Tensor:
        """x_prev from x_t and the (clipped) predictions. `noise` is ignored where no noise is added."""
        ab_t, ab_prev = self._pair(t, prev)
        if sampler == "ddim":
            sigma = eta * math.sqrt((1 - ab_prev) / (1 - ab_t) * (1 - ab_t / ab_prev))
            mean = math.sqrt(ab_prev) * x0 + math.sqrt(max(1 - ab_prev - sigma ** 2, 0.0)) * eps
        elif sampler == "ddpm":
            beta = 1 - ab_t / ab_prev  # the respaced beta between kept steps ([2] §4); beta_t with all steps
            mean = (math.sqrt(ab_prev) * beta / (1 - ab_t)) * x0 + ((1 - ab_prev) * math.sqrt(1 - beta) / (1 - ab_t)) * xt
            small = beta * (1 - ab_prev) / (1 - ab_t)
            sigma = math.sqrt(beta if variance == "large" else small)
        else:
            raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}; got {sampler!r}")
        if prev < 0 or sigma == 0.0:
            return mean  # no noise at the last step
        return mean + sigma * noise


def check_sampling(T: int, sampler: str, steps: int, eta: float, variance: str) -> None:
    """One clear message per bad sampling argument, naming the accepted values."""
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}; got {sampler!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= T:
        raise ValueError(f"steps must be an integer in 1..{T} (the model's T); got {steps!r}")
    if not 0.0 <= float(eta) <= 1.0:
        raise ValueError(f"eta must lie in [0, 1] (0: deterministic DDIM, 1: DDPM's posterior variance); got {eta}")
    if variance not in VARIANCES:
        raise ValueError(f"variance must be one of {', '.join(VARIANCES)}; got {variance!r}")


ModelFn = Callable[[torch.Tensor, int], torch.Tensor]
NoiseFn = Callable[[tuple], torch.Tensor]


def sample_loop(diffusion: Diffusion, model_fn: ModelFn, x: torch.Tensor, noise_fn: NoiseFn, *,
                sampler: str = "ddim", steps: int = 50, eta: float = 0.0, variance: str = "large",
                prediction: str = "eps", clip: bool = True, start: int | None = None,
                known: torch.Tensor | None = None, mask: torch.Tensor | None = None
                ) -> Iterator[tuple[torch.Tensor, torch.Tensor, int]]:
    """Run the reverse chain from x = x_start (at index `start`, default T-1) to the data.

    Yields (x_t, predicted x0, t) for every kept step, then (x_0, x_0, -1).
    Inpainting: where `mask` is 1 the image is `known`; after every step those pixels are
    replaced by `known` noised afresh to the new step (the data itself at the end).
    """
    T = diffusion.T if start is None else start + 1
    check_sampling(T, sampler, steps, eta, variance)
    taus = timesteps(T, steps)
    need_noise = sampler == "ddpm" or eta > 0
    for i, t in enumerate(taus):
        prev = taus[i + 1] if i + 1 < len(taus) else -1
        out = model_fn(x, t)
        x0, eps = diffusion.x0_and_eps(out, x, t, prediction)
        if clip:
            x0 = x0.clamp(-1, 1)
            ab = diffusion.alpha_bar[t].item()
            eps = (x - math.sqrt(ab) * x0) / math.sqrt(1 - ab)  # eps consistent with the clipped x0
        yield x, x0, t
        z = noise_fn(tuple(x.shape)) if need_noise and prev >= 0 else None
        x = diffusion.step(x, x0, eps, t, prev, sampler, eta, variance, z)
        if mask is not None:
            fresh = known if prev < 0 else diffusion.q_sample(known, prev, noise_fn(tuple(x.shape)))
            x = mask * fresh + (1 - mask) * x
    yield x, x, -1


def guided(cond: torch.Tensor, uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance ([4] Eq. 6 with w = scale - 1): uncond + scale (cond - uncond).
    Scale 0 is the unconditional model, 1 the conditional one, > 1 pushes further. Linear in the
    output, so it applies to eps and v predictions alike."""
    return uncond + scale * (cond - uncond)


# ----- the variational bound ---------------------------------------------------------------
def prior_kl(diffusion: Diffusion, x0: torch.Tensor) -> torch.Tensor:
    """L_T = KL(q(x_T | x0) || N(0, I)) summed over dimensions, (N,) nats."""
    t = torch.full((len(x0),), diffusion.T - 1, dtype=torch.long)
    mean, var = diffusion.q_mean_variance(x0.double(), t)
    return normal_kl(mean, var.log(), torch.zeros_like(mean), torch.zeros_like(mean)).flatten(1).sum(1)


def reverse_log_variance(diffusion: Diffusion, variance: str) -> torch.Tensor:
    """log sigma_t^2 of p(x_{t-1} | x_t) for each t: "large" (beta, first = beta-tilde_1) or "small"."""
    if variance == "large":
        return diffusion.large_log_variance
    if variance == "small":
        return diffusion.posterior_log_variance
    raise ValueError(f"variance must be one of {', '.join(VARIANCES)}; got {variance!r}")


def bound_term(diffusion: Diffusion, x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor,
               x0_pred: torch.Tensor, variance: str) -> torch.Tensor:
    """(N,) nats: L_{t} = KL(q(x_{t-1}|x_t,x0) || p(x_{t-1}|x_t)) for t > 0, and the
    discretised-Gaussian decoder term -log p(x0 | x_1) where t = 0 ([1] Eq. 5, 13)."""
    x0, xt, x0_pred = x0.double(), xt.double(), x0_pred.double()
    true_mean, _, true_logvar = diffusion.q_posterior(x0, xt, t)
    model_mean, _, _ = diffusion.q_posterior(x0_pred, xt, t)
    model_logvar = diffusion.extract(reverse_log_variance(diffusion, variance), t, x0).expand_as(x0)
    kl = normal_kl(true_mean, true_logvar, model_mean, model_logvar).flatten(1).sum(1)
    nll = -discretized_gaussian_log_likelihood(x0, model_mean, 0.5 * model_logvar).flatten(1).sum(1)
    return torch.where(t.to(kl.device) == 0, nll, kl)


def bound_timesteps(T: int, k: int | None, generator: torch.Generator | None = None
                    ) -> tuple[list[int], list[float]]:
    """The t > 0 of the bound's sum and their weights: all of 1..T-1 (weight 1) when k is None or
    k >= T-1, else one t drawn uniformly inside each of k equal strata, weighted by the stratum's
    size (an unbiased stratified estimate of the sum)."""
    if T < 2:
        return [], []
    if k is None or k >= T - 1:
        return list(range(1, T)), [1.0] * (T - 1)
    if k < 1:
        raise ValueError(f"the bound needs at least 1 time step per estimate, got {k}")
    edges = torch.linspace(1, T, k + 1, dtype=torch.float64).round().long().tolist()
    ts, ws = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        if hi <= lo:
            continue
        ts.append(lo + int(torch.randint(hi - lo, (1,), generator=generator)))
        ws.append(float(hi - lo))
    return ts, ws
