"""Latent-space utilities: interpolation, walks, truncation, principal directions.

Everything here works on any model with the ``latent`` capability (a prior,
``decode``) and knows nothing about the UI. Latents are (N, D) tensors.

- `lerp` / `slerp`: straight line vs great circle. For a Gaussian prior in D
  dimensions almost all mass lies near the shell |z| = sqrt(D); the midpoint
  of a straight line between two samples has norm about sqrt(D/2), off that
  shell, while slerp keeps the norm (White 2016, "Sampling Generative
  Networks", arXiv:1609.04468, §2.1).
- `truncate`: pull z toward the prior mean (the "truncation trick", Brock et
  al. 2019, arXiv:1809.11096, applied to the mean rather than by resampling).
- `principal_directions`: GANSpace-style (Härkönen et al. 2020,
  arXiv:2004.02546, §2): PCA of features of decoded samples, then a linear
  regression from the PCA coordinates back to z gives one latent direction
  per component. We use the decoded images themselves as the features, so it
  works for every decoder without knowing its layers.
"""
from __future__ import annotations

import torch


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    return a + (b - a) * t


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | float, eps: float = 1e-6) -> torch.Tensor:
    """Spherical interpolation of (..., D) vectors, norms interpolated along the arc (White 2016, eq. 1).

    Falls back to lerp where a and b are (anti)parallel, where the arc is undefined.
    """
    t = torch.as_tensor(t, dtype=a.dtype, device=a.device)
    while t.ndim < a.ndim:
        t = t.unsqueeze(-1)
    na, nb = a.norm(dim=-1, keepdim=True), b.norm(dim=-1, keepdim=True)
    cos = ((a * b).sum(-1, keepdim=True) / (na * nb).clamp_min(eps)).clamp(-1.0, 1.0)
    omega = torch.arccos(cos)
    so = torch.sin(omega)
    arc = (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / so.clamp_min(eps)
    return torch.where(so > eps, arc, lerp(a, b, t))


INTERPOLATIONS = {"lerp": lerp, "slerp": slerp}


def walk(a: torch.Tensor, b: torch.Tensor, steps: int, method: str = "slerp") -> torch.Tensor:
    """`steps` points from a to b inclusive: a, b (D,) or (1, D) -> (steps, D)."""
    if method not in INTERPOLATIONS:
        raise ValueError(f"interpolation {method!r} is not one of {', '.join(INTERPOLATIONS)}")
    if steps < 2:
        raise ValueError(f"a walk needs at least 2 steps, got {steps}")
    a, b = a.reshape(1, -1), b.reshape(1, -1)
    t = torch.linspace(0, 1, steps, dtype=a.dtype, device=a.device).unsqueeze(1)  # (steps, 1)
    return INTERPOLATIONS[method](a.expand(steps, -1), b.expand(steps, -1), t)


def truncate(z: torch.Tensor, psi: float, mean: torch.Tensor | None = None) -> torch.Tensor:
    """mean + psi * (z - mean); psi = 1 leaves z alone, psi = 0 gives the mean."""
    if mean is None:
        return z * psi
    return mean + psi * (z - mean)


@torch.no_grad()
def principal_directions(model, k: int = 8, n: int = 512, seed: int = 0, batch: int = 256,
                         controls: dict | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Up to k orthonormal latent directions ordered by the image variance they explain.

    Returns (directions (k, D), explained variance ratio of each image PC (k,)).
    Deterministic for a given seed.
    """
    g = torch.Generator().manual_seed(seed)
    z = model.prior(n, generator=g).float().cpu()  # (n, D)
    x = torch.cat([model.decode(z[i:i + batch], **(controls or {})).float().cpu().flatten(1)
                   for i in range(0, n, batch)])  # (n, P)
    k = min(k, z.shape[1], n - 1)
    xc = x - x.mean(0)
    u, s, _ = torch.linalg.svd(xc, full_matrices=False)
    scores = u[:, :k] * s[:k]  # (n, k) image-PCA coordinates of each sample
    # Regress z on the PCA coordinates: row i of w is the z-step that moves one unit along PC i.
    w = torch.linalg.lstsq(scores, z - z.mean(0)).solution  # (k, D)
    # Orthonormalise in PC order, so slider coordinates are plain projections.
    q, r = torch.linalg.qr(w.T)  # (D, k)
    sign = torch.sign(torch.diagonal(r))
    q = q * torch.where(sign == 0, torch.ones_like(sign), sign)  # keep each w row's orientation
    ratio = (s[:k] ** 2) / (s ** 2).sum().clamp_min(1e-12)
    return q.T.contiguous(), ratio


def coordinates(z: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """Coordinates of z (D,) along orthonormal basis rows (k, D) -> (k,)."""
    return basis @ z


def with_coordinates(z: torch.Tensor, basis: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """z moved so that its coordinates along `basis` become `coords`; the rest of z is kept."""
    return z + basis.T @ (coords - basis @ z)


def spread_along(std: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """Standard deviation of a diagonal Gaussian (std (D,)) projected on each basis row -> (k,)."""
    return ((basis ** 2) @ std ** 2).sqrt()


@torch.no_grad()
def typical_norm(model, n: int = 512, seed: int = 0) -> tuple[float, float]:
    """Mean and std of |z| under the prior, to say when a latent is off-distribution."""
    norms = model.prior(n, generator=torch.Generator().manual_seed(seed)).float().norm(dim=1)
    return float(norms.mean()), float(norms.std())


def even_frames(frames, k: int, memory: int = 8) -> list:
    """At most k frames of an iterable (of any length, read once), evenly spaced in time, the
    first and the last always included: a 1,000-step denoising chain ends on its finished image.

    Memory stays bounded: frames are held at a stride that doubles whenever memory * k are
    held; each of the k evenly spaced times then takes the nearest held frame.
    """
    if k < 2:
        raise ValueError(f"keep at least 2 frames (first and last), got {k}")
    held, stride, last, count = [], 1, None, 0  # held: (index, frame)
    for i, frame in enumerate(frames):
        last, count = frame, i + 1
        if i % stride == 0:
            held.append((i, frame))
            if len(held) >= memory * k:
                held, stride = held[::2], stride * 2
    if count == 0:
        return []
    if held[-1][0] != count - 1:
        held.append((count - 1, last))
    if len(held) <= k:
        return [f for _, f in held]
    times = [j * (count - 1) / (k - 1) for j in range(k)]
    index = [i for i, _ in held]
    out, h = [], 0
    for t in times:  # nearest held frame to each time (both lists ascend)
        while h + 1 < len(held) and abs(index[h + 1] - t) <= abs(index[h] - t):
            h += 1
        out.append(held[h][1])
    return out
