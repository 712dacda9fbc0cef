"""What did an InfoGAN's codes learn? Code accuracy, purity and continuous-code effects.

Used by `InfoGAN.extra_metrics` (so `python -m genlab eval` reports them) and by
tools/infogan_codes.py (which adds the printout and the code grid).

The categorical code c1 is read as an unsupervised digit classifier (paper §6:
"5% error" on MNIST). Codes carry no labels, so each code is matched to one
digit by the best one-to-one assignment (Hungarian algorithm on the
code x digit count matrix, scipy's linear_sum_assignment):

- generated: G(z, c1 = k) for n draws per code, classified by genlab's shipped
  MNIST classifier; accuracy = share of samples whose digit is their code's match;
- real: Q's argmax on the embedded test digits against their true labels,
  (a) matched on those labels (the usual clustering accuracy) and (b) with the
  matching learnt from the generated digits alone, so no label is used at all.

Each code's matched digit and the share of its generated digits read as that digit
(`code_digits`, stored as "digit:share" per code) label the code in the app.

A many-to-one "purity" (each code takes its majority digit) is reported too: when
it is much higher than the one-to-one accuracy, two digits share a code (InfoGAN
often merges 4/9 or 3/5) and some code holds the leftovers.

Continuous codes: the Pearson correlation of each code's value with two image
moments of the generated digit, slant (mu11 / mu02, the shear of the ink) and
width (the horizontal standard deviation of the ink once the slant is undone),
measured on random digits and noise with c ~ U(-1, 1), the training range.

Models of padded digits (`DataSpec.pad`) are handled: generated digits are
cropped to 28x28 before the classifier sees them, test digits padded before Q does.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from genlab.metrics.likelihood import crop_padding, is_mnist_like, test_split

DIGITS = 10
SAMPLE_BATCH = 500  # fixed, so that (n, seed) always means the same images


def match_codes(counts: np.ndarray) -> tuple[np.ndarray, float]:
    """counts (codes, classes) -> (class matched to each code, one-to-one accuracy)."""
    codes, classes = linear_sum_assignment(-counts)  # maximise the matched counts
    mapping = np.full(counts.shape[0], -1)
    mapping[codes] = classes
    return mapping, counts[codes, classes].sum() / counts.sum()


def confusion(codes: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """The (k codes, 10 digits) count matrix."""
    counts = np.zeros((k, DIGITS), dtype=np.int64)
    np.add.at(counts, (codes, labels), 1)
    return counts


def purity(counts: np.ndarray) -> float:
    """Many-to-one accuracy: each code takes its majority digit."""
    return counts.max(1).sum() / counts.sum()


def code_digits(counts: np.ndarray, mapping: np.ndarray) -> list[tuple[int, float]]:
    """(matched digit, share of the code's digits the classifier reads as it) for each code."""
    shares = counts[np.arange(len(mapping)), mapping] / counts.sum(1).clip(min=1)
    return [(int(d), round(float(s), 3)) for d, s in zip(mapping, shares)]


def format_code_digits(pairs: list[tuple[int, float]]) -> str:
    """The stored form (a short string, as checkpoint metrics keep): "9:0.94 5:0.91 ..."."""
    return " ".join(f"{d}:{s:.3f}" for d, s in pairs)


def parse_code_digits(text: str) -> list[tuple[int, float]]:
    """Inverse of format_code_digits."""
    return [(int(d), float(s)) for d, s in (item.split(":") for item in text.split())]


@torch.no_grad()
def generated_counts(model, n_per_code: int, seed: int) -> np.ndarray:
    """Codes x the classifier's digit for n_per_code generated digits per categorical code."""
    from genlab.metrics.classifier import classify

    k = model.config.categories
    codes = torch.arange(k).repeat_interleave(n_per_code)  # (k * n,)
    images = torch.cat([model.sample(len(chunk), generator=torch.Generator().manual_seed(seed + i),
                                     digit_code=chunk).float().cpu()
                        for i, chunk in enumerate(codes.split(SAMPLE_BATCH))])
    _, probs = classify(crop_padding(images, model.data_spec))
    return confusion(codes.numpy(), probs.argmax(1).numpy(), k)


@torch.no_grad()
def real_counts(model, limit: int | None = None) -> np.ndarray:
    """Codes (Q's argmax) x true digit for the first `limit` test digits (all 1,000 by default)."""
    images, labels, _ = test_split(model.data_spec)
    images, labels = images[:limit], labels[:limit]
    codes = torch.cat([model.infer_codes(x)["digit_code"].argmax(1).cpu() for x in images.split(SAMPLE_BATCH)])
    return confusion(codes.numpy(), labels.numpy(), model.config.categories)


def moments(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(slant, width) of each digit from its ink's second moments (x to the right, y down)."""
    w = (images[:, 0].double() + 1) / 2  # (N, H, W) ink in [0, 1]
    h, wd = w.shape[1:]
    ys, xs = torch.meshgrid(torch.arange(h, dtype=w.dtype), torch.arange(wd, dtype=w.dtype), indexing="ij")
    mass = w.sum((1, 2)).clamp_min(1e-6)
    mx, my = (w * xs).sum((1, 2)) / mass, (w * ys).sum((1, 2)) / mass
    dx, dy = xs - mx[:, None, None], ys - my[:, None, None]
    mu20, mu02, mu11 = ((w * dx * dx).sum((1, 2)) / mass, (w * dy * dy).sum((1, 2)) / mass,
                        (w * dx * dy).sum((1, 2)) / mass)
    slant = -mu11 / mu02  # > 0 leans right (top to the right): x shift per pixel of height
    # Width after undoing the slant (x's spread left once its linear trend in y is removed),
    # so that a slanted stroke does not count as a wide one.
    width = (mu20 - mu11 ** 2 / mu02).clamp_min(0).sqrt()
    return slant, width


@torch.no_grad()
def continuous_effects(model, n: int, seed: int) -> dict:
    """Pearson r of each continuous code with slant and width of G's digits."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for i in range(model.config.continuous):
        values = torch.rand(n, generator=gen) * 2 - 1  # U(-1, 1), the training range
        images = model.sample(n, generator=gen, **{f"code_{i + 1}": values}).float().cpu()
        for name, attr in zip(("slant", "width"), moments(crop_padding(images, model.data_spec))):
            r = np.corrcoef(values.numpy(), attr.numpy())[0, 1]
            out[f"code_{i + 1}_r_{name}"] = round(float(r), 3)
    return out


@dataclass
class CodeReport:
    generated: np.ndarray  # (codes, digits) counts of generated digits
    real: np.ndarray  # (codes, digits) counts of test digits
    mapping: np.ndarray  # the digit matched to each code (on the generated digits)
    continuous: dict  # code_i_r_slant / code_i_r_width

    @property
    def accuracy_generated(self) -> float:
        return float(match_codes(self.generated)[1])

    @property
    def accuracy_real(self) -> float:
        return float(match_codes(self.real)[1])

    @property
    def accuracy_real_label_free(self) -> float:
        """Test digits scored with the matching learnt from generated digits: no label used."""
        return float(self.real[np.arange(len(self.mapping)), self.mapping].sum() / self.real.sum())

    def figures(self) -> dict:
        """Flat figures (the names tools/infogan_codes.py has always stored)."""
        return {"code_accuracy_generated": round(self.accuracy_generated, 4),
                "code_purity_generated": round(float(purity(self.generated)), 4),
                "code_accuracy_real": round(self.accuracy_real, 4),
                "code_accuracy_real_label_free": round(self.accuracy_real_label_free, 4),
                "code_purity_real": round(float(purity(self.real)), 4),
                "code_to_digit": [int(d) for d in self.mapping],
                "code_digits": format_code_digits(code_digits(self.generated, self.mapping)),
                **self.continuous}


def check_model(model) -> str | None:
    """Why the code figures do not apply to `model`, or None when they do."""
    if not is_mnist_like(model.data_spec):
        spec = model.data_spec
        return (f"code accuracy reads the categorical code as a digit classifier (genlab's MNIST classifier "
                f"and the labelled MNIST test digits); this model's data is {spec.name} {spec.describe()}")
    return None


def code_report(model, n_per_code: int, n_continuous: int, seed: int = 0,
                real_limit: int | None = None) -> CodeReport:
    """Categorical code accuracy (generated and real digits) and continuous-code effects of an InfoGAN."""
    why = check_model(model)
    if why:
        raise ValueError(why)
    generated = generated_counts(model, n_per_code, seed)
    mapping, _ = match_codes(generated)
    return CodeReport(generated, real_counts(model, real_limit), mapping,
                      continuous_effects(model, n_continuous, seed))
