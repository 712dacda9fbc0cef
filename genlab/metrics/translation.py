"""Translation scored against ground truth (procedural domains, genlab/data/domains.py).

For each translated image the true counterpart is known, so we report:

- ``l1``: mean absolute pixel error in [-1, 1] units (0 = exact; the range is 2);
- ``psnr``: mean over images of 10 log10(peak^2 / MSE) with the peak-to-peak range 2
  (the usual PSNR of [0, 1] images), capped at ``PSNR_CAP`` dB for exact matches;
- the same two for the *identity mapping* (no translation: the source image itself
  compared with the truth), and ``identity_ratio`` = identity L1 / translation L1
  (the issue's goal: >= 3);
- ``class_kept``: the share of translations that genlab's MNIST classifier reads as
  the source digit's label, after the target domain's colouring is undone
  (`domains.grey_digit`), beside ``class_kept_truth``: the same for the true
  counterparts (the ceiling: bold digits are a little harder to read).
"""
from __future__ import annotations

import torch

PSNR_CAP = 60.0


def l1_per_image(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a.float() - b.float()).abs().flatten(1).mean(1)


def psnr_per_image(a: torch.Tensor, b: torch.Tensor, peak_to_peak: float = 2.0) -> torch.Tensor:
    mse = (a.float() - b.float()).pow(2).flatten(1).mean(1)
    return (10 * torch.log10(peak_to_peak ** 2 / mse.clamp_min(1e-12))).clamp(max=PSNR_CAP)


def error_map(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-pixel absolute error averaged over channels: (N, C, H, W) x2 -> (N, H, W)."""
    return (a.float() - b.float()).abs().mean(1)


def class_kept(grey: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of (N, 1, 28, 28) digits genlab's MNIST classifier reads as `labels`."""
    from genlab.metrics.classifier import classify

    _, probs = classify(grey.float().cpu())
    return float((probs.argmax(1) == labels.cpu()).double().mean())


def score(translated: torch.Tensor, truth: torch.Tensor, source: torch.Tensor) -> dict:
    """L1 and PSNR of `translated` against `truth`, beside the identity mapping (`source`)."""
    t, s = l1_per_image(translated, truth).mean().item(), l1_per_image(source, truth).mean().item()
    return {"l1": t, "psnr": psnr_per_image(translated, truth).mean().item(),
            "identity_l1": s, "identity_psnr": psnr_per_image(source, truth).mean().item(),
            "identity_ratio": s / max(t, 1e-12)}


def score_with_classes(translated, truth, source, labels, grey_translated, grey_truth) -> dict:
    """`score` plus the share of digits kept (translations) and its ceiling (true counterparts)."""
    out = score(translated, truth, source)
    out["class_kept"] = class_kept(grey_translated, labels)
    out["class_kept_truth"] = class_kept(grey_truth, labels)
    return out


def rounded(d: dict, digits: int = 4) -> dict:
    return {k: round(v, digits) if isinstance(v, float) else v for k, v in d.items()}
