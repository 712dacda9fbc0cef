"""How good is a model? `evaluate(model)` answers with one flat, JSON-able dict.

Sample quality (MNIST-like 1x28x28 digit models only), measured in the
feature space of genlab's own MNIST classifier (`classifier.py`) against the
fixed 1,000-digit test split:

- ``fid``         Fréchet distance of 128-d classifier features (lower is better)
- ``kid``         unbiased MMD^2 with a cubic kernel, mean (``kid_std`` over subsets)
- ``precision``, ``recall``  k-NN manifold precision/recall, k = 3 (on unit-length features)
- ``density``, ``coverage``  the same idea on real k-NN balls only (k = 5), robust to outliers
- ``class_shares`` (list), ``class_coverage``, ``class_entropy``  the predicted-class histogram
- ``confidence``  mean top-class probability
- ``readable_share``  share of images read as one digit with probability > 0.9

Each comes with its real-vs-real floor (``fid_floor``, ...): the same metric
for n *train* digits against the same test split, so a figure can be read
against what real data scores at the same sample size.

Models of MNIST digits padded on every side (``DataSpec.pad``, e.g. 32x32 with
pad = 2) are scored on their samples with the padding cropped off.

Likelihood (models with ``log_prob``): ``nll_nats`` per test image,
``nll_bits_per_dim``, ``nll_exact`` and for bounds ``nll_iwae_k``.

The family's own figures (``model.extra_metrics(n, seed)``: InfoGAN code
accuracy, AAE posterior-vs-prior MMD, ...) follow, each named
``<family>_<name>``; ``family_metrics`` lists them.

Details and how to read the numbers: docs/metrics.md.
"""
from __future__ import annotations

import contextlib
import functools
import time

import numpy as np
import torch

from genlab.errors import GenlabError
from genlab.metrics import coverage as _coverage
from genlab.metrics.distances import density_coverage, fid, frechet_distance, gaussian_stats, kid, precision_recall
from genlab.metrics.likelihood import crop_padding, is_mnist_like, test_images, test_nll
from genlab.model import iterate_in_chunks

# classifier.py is imported where used, not here, so that `python -m genlab.metrics.classifier`
# does not find itself already imported by this package.
__all__ = ["evaluate", "family_metrics", "sample_quality", "real_floor", "sample_images", "fid", "frechet_distance",
           "gaussian_stats", "kid", "precision_recall", "density_coverage", "test_nll"]

MIN_SAMPLES = 10  # k-NN radii and covariances need a handful of points
SAMPLE_BATCH = 500  # fixed, so that (n, seed) always means the same images
PR_K = 3  # Kynkäänniemi et al. 2019 use k = 3
DC_K = 5  # Naeem et al. 2020 use k = 5


def sample_images(model, n: int, seed: int = 0, batch_size: int = SAMPLE_BATCH) -> torch.Tensor:
    """n samples on the CPU from one seeded generator, drawn in fixed-size batches."""
    gen = torch.Generator().manual_seed(seed)
    expected = model.data_spec.image_shape
    out = []
    with torch.no_grad():
        for b in iterate_in_chunks(n, batch_size):
            x = model.sample(b, generator=gen)
            if tuple(x.shape) != (b, *expected):
                raise ValueError(f"{type(model).__name__}.sample({b}) returned shape {tuple(x.shape)}; "
                                 f"expected {(b, *expected)}")
            out.append(x.detach().float().cpu())
    images = torch.cat(out)
    bad = int((~torch.isfinite(images)).flatten(1).any(1).sum())
    if bad:
        raise GenlabError(f"the model produced {bad} of {n} samples with NaN/inf pixels; "
                          "its weights have probably diverged")
    return images.clamp(-1, 1)


@functools.lru_cache(maxsize=2)
def _reference(binary: bool) -> tuple[torch.Tensor, torch.Tensor, str]:
    """Classifier features and probabilities of the test split (binarised for Bernoulli models)."""
    from genlab.metrics.classifier import classify

    images, description = test_images(_mnist_spec(binary))
    feats, probs = classify(images)
    return feats, probs, description


def _mnist_spec(binary: bool):
    from genlab.model import DataSpec

    return DataSpec(binary=binary, name="mnist-binary" if binary else "mnist")


def _directions(feats: torch.Tensor) -> torch.Tensor:
    """Unit-length features for the k-NN metrics (a deviation from Kynkäänniemi et al.).

    A ReLU classifier maps anything that is not a digit (noise, blank or
    smeared images) to small activations near the origin, where the few
    faint, ambiguous real digits have the widest k-NN balls. In raw features
    uniform noise therefore scored precision 0.99 against the test digits;
    on the unit sphere it scores 0.05 while real digits keep ~0.87
    (measured with the shipped classifier; tests/test_metrics.py checks both).
    Recall stays generous to widely spread, unrealistic samples (a 300-step
    DCGAN at n = 2000: precision 0.20, recall 0.94), which is why density and
    coverage, built on the real balls only, are reported beside it (coverage
    0.16 there).
    """
    return torch.nn.functional.normalize(feats, dim=1)


def _compare(feats: torch.Tensor, probs: torch.Tensor, binary: bool, seed: int) -> dict:
    """All classifier-based metrics of one image set against the test split."""
    ref_feats, _, _ = _reference(binary)
    kid_mean, kid_std = kid(ref_feats, feats, seed=seed)
    ref_dirs, dirs = _directions(ref_feats), _directions(feats)
    precision, recall = precision_recall(ref_dirs, dirs, k=PR_K)
    density, coverage = density_coverage(ref_dirs, dirs, k=DC_K)
    shares = _coverage.class_shares(probs)
    return {"fid": fid(ref_feats, feats), "kid": kid_mean, "kid_std": kid_std,
            "precision": precision, "recall": recall, "density": density, "coverage": coverage,
            **_coverage.coverage_summary(shares), "confidence": _coverage.confidence(probs),
            "readable_share": _coverage.readable_share(probs), "class_shares": shares}


@functools.lru_cache(maxsize=16)
def real_floor(n: int, seed: int = 0, binary: bool = False) -> dict:
    """The metrics of n random *train* digits (seeded) against the test split.

    The same n as the generated set gives the same small-sample bias (FID is
    biased upwards by roughly 1/n), so ``fid - fid_floor`` is what the model
    adds. Train has 9,000 digits; beyond that the floor uses all of them.
    """
    from genlab.data import load_dataset
    from genlab.metrics.classifier import classify

    train = load_dataset("mnist-binary" if binary else "mnist", "train")
    m = min(n, len(train))
    idx = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:m]
    feats, probs = classify(train.images[idx])
    floor = _compare(feats, probs, binary, seed)
    floor["n"] = m
    return floor


def sample_quality(images: torch.Tensor, seed: int = 0, binary: bool = False) -> dict:
    """Classifier-based metrics of MNIST-like images, each beside its real-vs-real floor."""
    if images.ndim != 4 or tuple(images.shape[1:]) != (1, 28, 28):
        raise ValueError(f"sample-quality metrics take (N, 1, 28, 28) images; got {tuple(images.shape)}")
    if len(images) < MIN_SAMPLES:
        raise GenlabError(f"evaluation needs at least {MIN_SAMPLES} samples; got n={len(images)}")
    from genlab.metrics.classifier import classify, describe, load_classifier

    _, meta = load_classifier()
    feats, probs = classify(images)
    ours, floor = _compare(feats, probs, binary, seed), real_floor(len(images), seed, binary)
    out = {}
    for key in ("fid", "kid", "kid_std", "precision", "recall", "density", "coverage",
                "class_coverage", "class_entropy", "confidence", "readable_share"):
        out[key], out[f"{key}_floor"] = ours[key], floor[key]
    out["class_shares"] = ours["class_shares"]
    out["class_shares_floor"] = list(floor["class_shares"])  # a copy: the floor dict is cached
    out["floor_n"] = floor["n"]
    out["reference"] = _reference(binary)[2]
    out["feature_extractor"] = describe(meta)
    out["classifier_test_accuracy"] = meta["test_accuracy"]
    return out


@contextlib.contextmanager
def in_eval_mode(model):
    """Batch norm and dropout in inference mode, the model's own mode restored after (evaluation
    may be called mid-training)."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def evaluate(model, n: int = 5000, seed: int = 0, iwae_k: int = 1000) -> dict:
    """Every metric genlab can compute for `model`, as one flat JSON-able dict.

    Samples n images (seeded) for the classifier-based metrics when the model
    is an MNIST-like digit model; scores the test split with `log_prob` when
    the model has it. What cannot be computed is said in a ``*_skipped`` entry.
    """
    if n < MIN_SAMPLES:
        raise GenlabError(f"--n must be at least {MIN_SAMPLES}; got {n}")
    if iwae_k < 1:
        raise GenlabError(f"--iwae-k must be at least 1; got {iwae_k}")
    start = time.perf_counter()
    with in_eval_mode(model):
        out = _evaluate(model, n, seed, iwae_k)
    out["seconds"] = round(time.perf_counter() - start, 2)
    return out


def sample_figures(model, n: int, seed: int) -> dict:
    """The figures of n samples drawn at `seed` (FID and its kin), or a ``sample_metrics_skipped``
    entry saying why they do not apply."""
    spec, out = model.data_spec, {}
    if "sample" not in model.capabilities:
        family = model.family or type(model).__name__
        out["sample_metrics_skipped"] = (f"{family} does not sample from scratch (it translates): "
                                         "FID and the other sample figures do not apply")
    elif is_mnist_like(spec):
        t = time.perf_counter()
        images = sample_images(model, n, seed)
        out["sampling_seconds"] = round(time.perf_counter() - t, 2)
        if spec.pad:
            out["sample_padding_cropped"] = spec.pad  # padded digits are scored as the 28x28 digits
        out.update(sample_quality(crop_padding(images, spec), seed=seed, binary=spec.binary))
    elif spec.name.startswith("shapes3d"):  # the rendered colour scenes have their own feature network
        from genlab.metrics.shapes3d_features import shapes_fid

        t = time.perf_counter()
        out.update(shapes_fid(model, n, seed))
        out["sampling_seconds"] = round(time.perf_counter() - t, 2)  # sampling and features together
    else:
        out["sample_metrics_skipped"] = (
            f"FID, KID, precision/recall and class coverage use genlab's MNIST digit classifier and are "
            f"only defined for MNIST-like 1x28x28 digit data (or such digits padded on every side), FID "
            f"also for the shapes3d renders (their own feature network); this model's data is "
            f"{spec.name} {spec.describe()}")
    return out


SPREAD_KEYS = ("fid", "kid", "precision", "recall", "readable_share", "class_coverage")


def seed_spread(model, n: int, seeds) -> dict:
    """The sample figures at several sample seeds, and each figure's mean and sample standard
    deviation across them. At n = 1,000 one seed's FID can sit 3-6 points from another's
    (docs/metrics.md), so a difference between two checkpoints smaller than this spread is not
    one a single seed can show."""
    seeds = list(seeds)
    if len(seeds) < 2 or len(set(seeds)) != len(seeds):
        raise GenlabError(f"--seeds needs at least two different seeds; got {seeds}")
    if n < MIN_SAMPLES:
        raise GenlabError(f"--n must be at least {MIN_SAMPLES}; got {n}")
    with in_eval_mode(model):
        runs = {seed: sample_figures(model, n, seed) for seed in seeds}
    first = runs[seeds[0]]
    if "sample_metrics_skipped" in first:
        raise GenlabError(first["sample_metrics_skipped"])
    out: dict = {"family": model.family or type(model).__name__, "data": model.data_spec.name, "n": n,
                 "seeds": seeds, "per_seed": {str(s): {k: r[k] for k in SPREAD_KEYS if k in r} for s, r in runs.items()}}
    for key in SPREAD_KEYS:
        values = torch.tensor([float(r[key]) for r in runs.values() if key in r], dtype=torch.float64)
        if len(values) == len(seeds):
            out[f"{key}_mean"], out[f"{key}_std"] = values.mean().item(), values.std().item()
    return out


def _evaluate(model, n: int, seed: int, iwae_k: int) -> dict:
    spec = model.data_spec
    out: dict = {"family": model.family or type(model).__name__, "data": spec.name,
                 "n": n, "seed": seed}
    out.update(sample_figures(model, n, seed))
    if "log_prob" in model.capabilities:
        try:
            images, description = test_images(spec)
        except (GenlabError, ValueError, OSError) as e:
            out["nll_skipped"] = f"no test images for {spec.name} {spec.describe()}: {e}"
        else:
            out["nll_test_set"] = description
            out.update(test_nll(model, images, iwae_k=iwae_k, seed=seed))
    out.update(family_metrics(model, n, seed, taken=out))
    return out


def family_metrics(model, n: int, seed: int = 0, taken=()) -> dict:
    """The family's own figures (`model.extra_metrics(n, seed)`), checked to be flat and JSON-able,
    each named ``<family>_<name>``; ``family_metrics`` lists their names (and the time they took)."""
    family = model.family or type(model).__name__.lower()
    t = time.perf_counter()
    raw = model.extra_metrics(n, seed)
    if not isinstance(raw, dict):
        raise TypeError(f"{type(model).__name__}.extra_metrics must return a dict; got {type(raw).__name__}")
    out = {}
    for key, value in raw.items():
        name = key if key.startswith(f"{family}_") else f"{family}_{key}"
        if isinstance(value, (torch.Tensor, np.generic)) and value.ndim == 0:
            value = value.item()
        if not isinstance(value, (bool, int, float, str)):
            raise TypeError(f"{type(model).__name__}.extra_metrics()[{key!r}] must be a number or a short "
                            f"string; got {type(value).__name__}")
        if name in taken or name in out:
            raise ValueError(f"{type(model).__name__}.extra_metrics() names {name!r} twice")
        out[name] = value
    if out:
        out[f"{family}_metrics_seconds"] = round(time.perf_counter() - t, 2)
    out["family_metrics"] = list(out)
    return out
