"""GAN objectives (Goodfellow et al. 2014, arXiv:1406.2661), on logits.

D maximises log D(x) + log(1 - D(G(z))). For G the paper's minimax form
minimises log(1 - D(G(z))), whose gradient vanishes while D wins early on;
the non-saturating form maximises log D(G(z)) instead (same fixed point).

`gradient_penalty` is WGAN-GP's (Gulrajani et al. 2017, arXiv:1704.00028, Eq. 3).
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


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """E[(||grad_xhat D(xhat)||_2 - 1)^2] at xhat = alpha real + (1 - alpha) fake, alpha per sample
    (WGAN-GP, Eq. 3), with a graph for D's backward."""
    xhat = (alpha.view(-1, 1, 1, 1) * real + (1 - alpha.view(-1, 1, 1, 1)) * fake.detach()).requires_grad_(True)
    out = critic(xhat)
    grad, = torch.autograd.grad(out.sum(), xhat, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()
