"""Class coverage and classifier confidence from softmax predictions.

Mode collapse on MNIST shows up as digits that are never (or rarely) drawn;
FID mixes that with image quality, the class histogram shows it directly.
"""
from __future__ import annotations

import math

import torch

NUM_CLASSES = 10


def class_shares(probs: torch.Tensor) -> list[float]:
    """Share of images whose predicted (argmax) class is c, for c = 0..9."""
    if probs.ndim != 2 or probs.shape[1] != NUM_CLASSES or len(probs) == 0:
        raise ValueError(f"expected (N, {NUM_CLASSES}) class probabilities with N >= 1; got {tuple(probs.shape)}")
    counts = torch.bincount(probs.argmax(1), minlength=NUM_CLASSES).double()
    return (counts / counts.sum()).tolist()


def coverage_summary(shares: list[float]) -> dict[str, float]:
    """Two one-number summaries of a class histogram.

    - ``class_coverage``: fraction of classes drawn at least half as often as
      under a uniform histogram (share >= 0.05). Real MNIST gives 1.0; a model
      that only draws 1s and 7s gives 0.2.
    - ``class_entropy``: entropy of the histogram divided by log(10), so 1.0 is
      uniform and 0.0 is a single class.
    """
    k = len(shares)
    coverage = sum(s >= 0.5 / k for s in shares) / k
    entropy = -sum(s * math.log(s) for s in shares if s > 0) / math.log(k)
    return {"class_coverage": coverage, "class_entropy": entropy}


def confidence(probs: torch.Tensor) -> float:
    """Mean top-class probability: near 1 for clear digits, lower for ambiguous blobs."""
    return probs.max(dim=1).values.mean().item()


READABLE = 0.9  # top-class probability above which a sample counts as a readable digit


def readable_share(probs: torch.Tensor, threshold: float = READABLE) -> float:
    """Share of images the classifier reads as one digit with probability above `threshold`:
    the "most samples are readable" figure, less swayed by a few very sure reads than the mean."""
    return (probs.max(dim=1).values > threshold).float().mean().item()
