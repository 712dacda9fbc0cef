"""Distances between two sets of feature vectors: FID, KID, precision/recall.

All functions take (N, D) tensors (any float dtype; computed in float64 on the
CPU) of real and generated features and return plain Python floats.
"""
from __future__ import annotations

import torch


def _as_features(x, what: str) -> torch.Tensor:
    x = torch.as_tensor(x).detach().to("cpu", torch.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"{what} must be an (N, D) feature matrix with N >= 2; got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{what} contains {int((~torch.isfinite(x)).sum())} non-finite values")
    return x


def gaussian_stats(features) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and (unbiased) covariance of (N, D) features."""
    x = _as_features(features, "features")
    return x.mean(0), torch.cov(x.T).reshape(x.shape[1], x.shape[1])


def _psd_sqrt(a: torch.Tensor) -> torch.Tensor:
    """Symmetric square root of a symmetric PSD matrix by eigen-decomposition."""
    w, v = torch.linalg.eigh((a + a.T) / 2)
    return (v * w.clamp(min=0).sqrt()) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2})  (Heusel et al. 2017, arXiv:1706.08500, eq. 6).

    Tr((S1 S2)^{1/2}) is computed as the sum of sqrt(eigenvalues) of the
    symmetric PSD matrix S1^{1/2} S2 S1^{1/2}, which has the same eigenvalues
    as S1 S2. This stays real where scipy.linalg.sqrtm(S1 @ S2) returns small
    imaginary parts for nearly singular covariances (negative round-off
    eigenvalues are clipped to zero instead of producing imaginary roots).
    """
    mu1, mu2 = (torch.as_tensor(m, dtype=torch.float64) for m in (mu1, mu2))
    s1, s2 = (torch.as_tensor(s, dtype=torch.float64) for s in (sigma1, sigma2))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (len(mu1), len(mu1)):
        raise ValueError(f"Gaussian statistics do not match: means {tuple(mu1.shape)} {tuple(mu2.shape)}, "
                         f"covariances {tuple(s1.shape)} {tuple(s2.shape)}")
    root1 = _psd_sqrt(s1)
    cross = torch.linalg.eigvalsh(root1 @ s2 @ root1).clamp(min=0).sqrt().sum()
    fd = (mu1 - mu2).square().sum() + s1.trace() + s2.trace() - 2 * cross
    return max(fd.item(), 0.0)


def fid(real, fake) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets."""
    return frechet_distance(*gaussian_stats(real), *gaussian_stats(fake))


def _poly_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """k(x, y) = (x.y / d + 1)^3, the KID kernel (Bińkowski et al. 2018, arXiv:1801.01401, §4)."""
    return (x @ y.T / x.shape[1] + 1) ** 3


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> float:
    """Unbiased MMD^2 (Gretton et al. 2012, eq. 3): within-set sums leave out the diagonal."""
    m, n = len(x), len(y)
    kxx, kyy, kxy = _poly_kernel(x, x), _poly_kernel(y, y), _poly_kernel(x, y)
    return ((kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
            + (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
            - 2 * kxy.mean()).item()


def kid(real, fake, subsets: int = 100, subset_size: int = 500, seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance: mean and std of unbiased MMD^2 over random subsets.

    Bińkowski et al. average over subsets of 1,000; genlab's reference set is
    the 1,000 test digits, so subsets of 500 (drawn without replacement from
    each side) keep the spread across subsets meaningful for both sets.
    """
    real, fake = _as_features(real, "real features"), _as_features(fake, "generated features")
    m = min(subset_size, len(real), len(fake))
    gen = torch.Generator().manual_seed(seed)
    values = torch.tensor([mmd2_unbiased(real[torch.randperm(len(real), generator=gen)[:m]],
                                         fake[torch.randperm(len(fake), generator=gen)[:m]])
                           for _ in range(subsets)])
    return values.mean().item(), (values.std().item() if subsets > 1 else 0.0)


def _kth_neighbour_radius(x: torch.Tensor, k: int, chunk: int = 1024) -> torch.Tensor:
    """Distance from each point to its k-th nearest neighbour in the same set (itself excluded)."""
    if len(x) <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} points per set; got {len(x)}")
    # k + 1 smallest because each point is its own nearest neighbour (distance 0);
    # topk is several times faster than kthvalue for small k.
    radii = [torch.cdist(c, x).topk(k + 1, dim=1, largest=False).values[:, -1] for c in x.split(chunk)]
    return torch.cat(radii)


def _inside_manifold(points: torch.Tensor, support: torch.Tensor, radii: torch.Tensor,
                     chunk: int = 1024) -> torch.Tensor:
    """For each point: does it lie in some support point's k-NN ball?"""
    return torch.cat([(torch.cdist(c, support) <= radii[None]).any(dim=1) for c in points.split(chunk)])


def precision_recall(real, fake, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019, arXiv:1904.06991, eq. 1-3).

    Each set's manifold is the union of balls around its points with radius
    the distance to the k-th nearest neighbour. Precision: share of generated
    points inside the real manifold (are samples realistic?). Recall: share of
    real points inside the generated manifold (is the data covered?).
    """
    real, fake = _as_features(real, "real features"), _as_features(fake, "generated features")
    precision = _inside_manifold(fake, real, _kth_neighbour_radius(real, k)).double().mean().item()
    recall = _inside_manifold(real, fake, _kth_neighbour_radius(fake, k)).double().mean().item()
    return precision, recall


def density_coverage(real, fake, k: int = 5) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020, arXiv:2002.09797, eq. 3-4), built on real k-NN balls only.

    Density: how many real balls contain each generated point, divided by k
    (about 1 for real data, can exceed 1). Coverage: share of real points
    whose ball holds at least one generated point. Both use only the real
    set's radii, so a few spread-out generated outliers cannot inflate them
    the way they inflate recall (the generated balls grow with the outliers).
    """
    real, fake = _as_features(real, "real features"), _as_features(fake, "generated features")
    radii = _kth_neighbour_radius(real, k)
    hits = torch.zeros(len(fake), dtype=torch.float64)
    covered = torch.zeros(len(real), dtype=torch.bool)
    for start, c in zip(range(0, len(fake), 1024), fake.split(1024)):
        inside = torch.cdist(c, real) <= radii[None]  # (chunk, n_real)
        hits[start:start + len(c)] = inside.sum(1).double()
        covered |= inside.any(0)
    return (hits.mean() / k).item(), covered.double().mean().item()
