"""Test-set negative log-likelihood for families with the ``log_prob`` capability.

Units follow the literature (papers.md §0.1): nats per image (binarised MNIST
convention) and bits per dimension, nats / (C*H*W * ln 2) (CIFAR convention).
Exact for autoregressive families; an upper bound on the NLL for latent
variable families (VAE: ELBO or the importance-weighted bound with k samples,
Burda et al. 2016, arXiv:1509.00519; DDPM: the variational bound).
"""
from __future__ import annotations

import math
import time

import torch

from genlab.data.framing import MNIST_NAMES, MNIST_SIDE
from genlab.model import DataSpec, seeded

# Images per log_prob call are capped so that images x importance samples stays
# near this many decoder evaluations per call (k=1000 -> 50 images per call).
SAMPLES_PER_CALL = 50_000


def is_mnist_like(spec: DataSpec) -> bool:
    """MNIST digits (8-bit, binarised or TV-MNIST), as they are or with `spec.pad` pixels of
    padding on every side (MNIST padded to 32x32 has pad = 2)."""
    side = MNIST_SIDE + 2 * spec.pad
    return spec.name in MNIST_NAMES and spec.pad >= 0 and spec.image_shape == (1, side, side)


def crop_padding(images: torch.Tensor, spec: DataSpec) -> torch.Tensor:
    """(N, C, H, W) images of `spec` without their `spec.pad` border (the source images' size)."""
    p = spec.pad
    return images[..., p:images.shape[-2] - p, p:images.shape[-1] - p] if p else images


def pad_images(images: torch.Tensor, spec: DataSpec) -> torch.Tensor:
    """Source-size images with the `spec.pad` border added as background (-1), as the model saw them."""
    p = spec.pad
    return torch.nn.functional.pad(images, (p, p, p, p), value=-1.0) if p else images


def test_split(spec: DataSpec, limit: int = 1000) -> tuple[torch.Tensor, torch.Tensor | None, str]:
    """The test images a model of `spec` is scored on (at the model's size, padding included),
    their labels (None for unlabelled data) and a description of them.

    MNIST-like models use genlab's fixed 1,000-digit test split: binarised
    ({-1, 1}, fixed binarisation) when the model is Bernoulli, else the 8-bit
    digits. Other data sets use the first `limit` images of their test split.
    """
    from genlab.data import load_dataset

    if is_mnist_like(spec):
        name = "mnist-binary" if spec.binary else "mnist"
        ds = load_dataset(name, "test")
        padded = f", padded by {spec.pad} px" if spec.pad else ""
        return pad_images(ds.images, spec), ds.labels, f"{name} test split ({len(ds)} digits{padded})"
    ds = load_dataset(spec.name, "test", image_size=spec.height)
    if ds.in_memory:
        images = ds.images[:limit]
        labels = ds.labels[:limit] if ds.labels is not None else None
    else:
        items = [ds.stream[i] for i in range(min(limit, len(ds)))]
        images = torch.stack([item[0] for item in items])
        labels = None
    if tuple(images.shape[1:]) != spec.image_shape:
        raise ValueError(f"test images of {spec.name!r} have shape {tuple(images.shape[1:])}, "
                         f"the model expects {spec.image_shape}")
    return images, labels, f"{spec.name} test split (first {len(images)} images)"


def test_images(spec: DataSpec, limit: int = 1000) -> tuple[torch.Tensor, str]:
    """The test images of `test_split` and their description."""
    images, _, description = test_split(spec, limit)
    return images, description


def log_prob_options(model, generator: torch.Generator, k: int | None = None) -> dict:
    """The keyword arguments of `model.log_prob`, by what the model declares (genlab.model):
    `generator` where it is a Monte Carlo estimate, and `k` importance samples where it takes
    them (None: the model's own number). The one seeding rule: the estimate is drawn from the
    CPU generator given (`seeded(seed)`), never from the global RNG, so `genlab eval` and the
    app give the same number for the same seed on every device."""
    options: dict = {"generator": generator} if model.log_prob_is_sampled else {}
    if k is not None and model.log_prob_takes_k:
        options["k"] = k
    return options


@torch.no_grad()
def test_nll(model, images: torch.Tensor, iwae_k: int = 1000, seed: int = 0,
             batch_size: int = 500) -> dict:
    """NLL of `images` under `model` in nats/image and bits/dim, with how it was bounded.

    A sampled bound draws from one `seeded(seed)` generator through all the images, so the
    first image's figure is what the app shows for it with the same seed and k."""
    if "log_prob" not in model.capabilities:
        raise ValueError(f"{type(model).__name__} has no log_prob capability")
    if iwae_k < 1:
        raise ValueError(f"iwae_k must be at least 1; got {iwae_k}")
    start = time.perf_counter()
    exact = bool(model.log_prob_is_exact)
    kwargs = log_prob_options(model, seeded(seed), None if exact else iwae_k)
    per_call = max(1, min(batch_size, SAMPLES_PER_CALL // iwae_k)) if "k" in kwargs else batch_size
    device = model.device
    log_p = torch.cat([model.log_prob(chunk.to(device), **kwargs).double().cpu().reshape(-1)
                       for chunk in images.split(per_call)])
    if len(log_p) != len(images):
        raise ValueError(f"{type(model).__name__}.log_prob returned {len(log_p)} values for "
                         f"{len(images)} images; it must return one log-likelihood per image")
    if not torch.isfinite(log_p).all():
        raise ValueError(f"{type(model).__name__}.log_prob gave {int((~torch.isfinite(log_p)).sum())} "
                         "non-finite values on the test set")
    nll = -log_p
    dims = math.prod(images.shape[1:])
    out = {
        "nll_nats": nll.mean().item(),
        "nll_nats_sem": (nll.std() / math.sqrt(len(nll))).item(),  # standard error over test images
        "nll_bits_per_dim": bits_per_dim(nll.mean().item(), dims),
        "nll_exact": exact,
    }
    if "k" in kwargs:
        out["nll_iwae_k"] = iwae_k
    out["nll_seconds"] = round(time.perf_counter() - start, 2)
    return out


def bits_per_dim(nats_per_image: float, dims: int) -> float:
    return nats_per_image / (dims * math.log(2))
