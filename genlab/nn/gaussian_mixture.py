"""A Gaussian mixture with full covariances, fitted by expectation-maximisation.

What it is for: "ex-post density estimation" (Ghosh, Sajjadi, Vergari, Black & Schölkopf 2020,
"From Variational to Deterministic Autoencoders", arXiv:1903.12436, section 4): after an
autoencoder has trained, fit a density to the codes of the training images and draw new codes
from it. A VAE whose decoder is sharp (a discretised logistic on 8-bit colour) ends with posteriors
far narrower than N(0, I) and an aggregate posterior that does not fill the prior (per-dimension
variances of the means from 0.01 to 2 on shapes3d), so codes drawn from N(0, I) decode to blends
that no training image encodes to. A mixture fitted to the codes follows them.

EM (Bishop 2006, section 9.2.2): responsibilities r_nk = pi_k N(x_n; mu_k, Sigma_k) / sum_j ...,
then pi_k = N_k / N, mu_k = sum_n r_nk x_n / N_k, Sigma_k = sum_n r_nk (x_n - mu_k)(x_n - mu_k)^T / N_k
+ `ridge` I (the ridge keeps a component from collapsing onto a few points). The parameters live in
buffers, so they travel in the state dict (and the checkpoint) without being trained.
"""
from __future__ import annotations

import math

import torch
from torch import nn


class GaussianMixture(nn.Module):
    def __init__(self, components: int, dim: int):
        super().__init__()
        if components < 1 or dim < 1:
            raise ValueError(f"a Gaussian mixture needs at least 1 component and 1 dimension; got {components}, {dim}")
        self.components, self.dim = components, dim
        self.register_buffer("weights", torch.full((components,), 1.0 / components))
        self.register_buffer("means", torch.zeros(components, dim))
        self.register_buffer("scale_tril", torch.eye(dim).repeat(components, 1, 1))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    def extra_repr(self) -> str:
        return f"components={self.components}, dim={self.dim}, fitted={bool(self.fitted)}"

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) of points x (N, dim): (N,)."""
        return _log_joint(x.to(self.means), self.weights, self.means, self.scale_tril).logsumexp(1)

    @torch.no_grad()
    def fit(self, x: torch.Tensor, iterations: int = 100, ridge: float = 1e-4, seed: int = 0,
            tolerance: float = 1e-5) -> float:
        """Fit to points x (N, dim) by EM from k-means++ seeds (in float64 on the CPU, whatever
        device the mixture lives on); returns the mean log-likelihood of the points."""
        x = x.detach().cpu().double()
        n, d = x.shape
        if d != self.dim:
            raise ValueError(f"the mixture has {self.dim} dimensions; the points have {d}")
        if n < self.components * 2:
            raise ValueError(f"{n} points cannot fit {self.components} components (need at least {2 * self.components})")
        means = _kmeans_pp_seeds(x, self.components, torch.Generator().manual_seed(seed))
        ridge_eye = ridge * torch.eye(d, dtype=x.dtype)
        covs = (torch.cov(x.T).reshape(d, d) + ridge_eye).expand(self.components, d, d).clone()
        weights = torch.full((self.components,), 1.0 / self.components, dtype=x.dtype)
        last = -math.inf
        for _ in range(iterations):
            joint = _log_joint(x, weights, means, torch.linalg.cholesky(covs))  # E step
            mean_ll = joint.logsumexp(1).mean().item()
            resp = (joint - joint.logsumexp(1, keepdim=True)).exp()  # (N, K)
            nk = resp.sum(0) + 1e-10  # M step
            weights = nk / n
            means = resp.T @ x / nk[:, None]
            diff = x[:, None, :] - means[None]
            covs = torch.einsum("nk,nkd,nke->kde", resp, diff, diff) / nk[:, None, None] + ridge_eye
            if abs(mean_ll - last) < tolerance * abs(mean_ll):
                break
            last = mean_ll
        self.weights.copy_(weights)  # copy_: the buffers keep their device and dtype
        self.means.copy_(means)
        self.scale_tril.copy_(torch.linalg.cholesky(covs))
        self.fitted.fill_(True)
        return self.log_prob(x).mean().item()

    def sample(self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0) -> torch.Tensor:
        """n points (n, dim): a component by its weight, then mu_k + temperature * L_k eps."""
        device = generator.device if generator is not None else self.means.device  # draw where the generator is
        weights, means, tril = self.weights.to(device), self.means.to(device), self.scale_tril.to(device)
        k = torch.multinomial(weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, self.dim, 1, generator=generator, device=device)
        return (means[k] + temperature * (tril[k] @ eps).squeeze(-1)).to(self.means.device)


def _log_joint(x: torch.Tensor, weights: torch.Tensor, means: torch.Tensor, scale_tril: torch.Tensor) -> torch.Tensor:
    """log pi_k + log N(x_n; mu_k, L_k L_k^T): (N, K)."""
    mahalanobis = torch.stack([  # |L_k^-1 (x_n - mu_k)|^2, one component at a time (no N x K x D x D copy)
        torch.linalg.solve_triangular(tril, (x - mean).T, upper=False).square().sum(0)
        for mean, tril in zip(means, scale_tril)], 1)
    log_det = scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)  # log |L_k| = 0.5 log |Sigma_k|
    return weights.log() - 0.5 * (means.shape[1] * math.log(2 * math.pi) + mahalanobis) - log_det


def _kmeans_pp_seeds(x: torch.Tensor, k: int, gen: torch.Generator) -> torch.Tensor:
    """k-means++ seeding (Arthur & Vassilvitskii 2007): each next centre drawn with probability
    proportional to its squared distance from the nearest chosen centre."""
    centres = [x[torch.randint(len(x), (1,), generator=gen)].squeeze(0)]
    nearest = (x - centres[0]).square().sum(1)
    for _ in range(k - 1):
        pick = torch.multinomial(nearest / nearest.sum(), 1, generator=gen)
        centres.append(x[pick].squeeze(0))
        nearest = torch.minimum(nearest, (x - centres[-1]).square().sum(1))
    return torch.stack(centres)
