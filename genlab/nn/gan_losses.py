"""GAN objectives (Goodfellow et al. 2014, arXiv:1406.2661), on logits.

D maximises log D(x) + log(1 - D(G(z))). For G the paper's minimax form
minimises log(1 - D(G(z))), whose gradient vanishes while D wins early on;
the non-saturating form maximises log D(G(z)) instead (same fixed point).

`gradient_penalty` is WGAN-GP's (Gulrajani et al. 2017, arXiv:1704.00028, Eq. 3); `r1_penalty` is
R1 (Mescheder et al. 2018, arXiv:1801.04406, Eq. 9). Both differentiate a gradient (double backward),
which torch.compile's autograd cannot do: they run eagerly inside a compiled training step
(`torch.compiler.disable`), so `compile = true` works for every family that uses them.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

GENERATOR_LOSSES = ("non_saturating", "minimax")


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-[log D(x) + log(1 - D(G(z)))], averaged over each batch."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss(fake_logits: torch.Tensor, kind: str = "non_saturating") -> torch.Tensor:
    if kind == "non_saturating":
        return F.softplus(-fake_logits).mean()  # -log D(G(z))
    if kind == "minimax":
        return -F.softplus(fake_logits).mean()  # log(1 - D(G(z))) = -softplus(logit)
    raise ValueError(f"unknown generator loss {kind!r}; choose one of {', '.join(GENERATOR_LOSSES)}")


@torch.compiler.disable
def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, alpha: torch.Tensor, target: float = 1.0,
                     with_norm: bool = False):
    """E[(||grad_xhat D(xhat)||_2 - target)^2] / target^2 at xhat = alpha real + (1 - alpha) fake, alpha
    per sample (WGAN-GP, Eq. 3; ProGAN's target other than 1), with a graph for D's backward. With
    `with_norm`, also the mean gradient norm (a training log)."""
    a = alpha.view(-1, 1, 1, 1)
    xhat = (a * real + (1 - a) * fake).detach().requires_grad_(True)
    grad, = torch.autograd.grad(critic(xhat).sum(), xhat, create_graph=True)
    norm = grad.flatten(1).norm(dim=1)
    penalty = (norm - target).pow(2).mean() / target ** 2
    return (penalty, norm.detach().mean()) if with_norm else penalty


@torch.compiler.disable
def r1_penalty(discriminator, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """D's logits on `real` and R1's E[||grad_x D(x)||^2] there (without its gamma / 2), with a graph
    for D's backward. Summed in fp32, as autocast may give bf16 logits."""
    real = real.detach().requires_grad_(True)
    logits = discriminator(real)
    grad, = torch.autograd.grad(logits.float().sum(), real, create_graph=True)
    return logits, grad.float().square().flatten(1).sum(1).mean()
