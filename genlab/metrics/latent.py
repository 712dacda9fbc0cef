"""Figures of a latent space pushed onto a chosen prior (AAE): used by `AAE.extra_metrics`.

- ``prior_mmd2``: unbiased MMD^2 between codes z ~ q(z|x) of the test images and
  as many prior draws, with a Gaussian kernel whose bandwidth is the median pairwise
  distance of the pooled sample, and its permutation p-value
  (`genlab.nn.autoencoder.prior_match`, Gretton et al. 2012). Low-dimensional codes
  need a characteristic kernel: the cubic polynomial kernel of KID
  (`distances.mmd2_unbiased`) compares only moments up to order three, so a code
  cloud with the prior's mean, covariance and skew would score 0 against a
  10-petal mixture.
- ``component_accuracy`` (supervised AAE on MNIST-like data): the share of digits
  drawn from prior component k that genlab's MNIST classifier reads as digit k.
"""
from __future__ import annotations

import torch

from genlab.errors import GenlabError
from genlab.metrics.likelihood import crop_padding, is_mnist_like, test_split

PERMUTATIONS = 200
COMPONENT_DRAWS = 200  # digits per component (fewer when n / components is smaller)


@torch.no_grad()
def posterior_prior_mmd(model, n: int, seed: int = 0) -> dict:
    """MMD two-sample test of the codes of the first min(n, 1000) test images against the prior."""
    from genlab.nn.autoencoder import prior_match

    images, _, _ = test_split(model.data_spec)
    match = prior_match(model, images[:n], seed=seed, permutations=PERMUTATIONS)
    return {"prior_mmd2": match["mmd2"], "prior_mmd_p_value": match["p_value"],
            "prior_mmd_bandwidth": match["bandwidth"], "prior_mmd_permutations": match["permutations"],
            "prior_mmd_n": match["n"]}


@torch.no_grad()
def component_accuracy(model, n: int, seed: int = 0) -> dict:
    """Share of digits from component k classified as k (components == digit classes)."""
    from genlab.metrics.classifier import classify

    k = model.latent_prior.components
    per = max(1, min(COMPONENT_DRAWS, n // k))
    hits = []
    for c in range(k):
        images = model.sample(per, torch.Generator().manual_seed(seed + c), component=c).float().cpu()
        _, probs = classify(crop_padding(images, model.data_spec))
        hits.append((probs.argmax(1) == c).float().mean().item())
    return {"component_accuracy": sum(hits) / k, "component_accuracy_n": per * k}


def prior_figures(model, n: int, seed: int = 0) -> dict:
    """Both figures where they apply, and a ``*_skipped`` statement where one does not."""
    spec = model.data_spec
    try:
        out = posterior_prior_mmd(model, n, seed)
    except (GenlabError, ValueError, OSError) as e:
        out = {"prior_mmd_skipped": f"no test images for {spec.name} {spec.describe()}: {e}"}
    if not model.config.supervised:
        out["component_accuracy_skipped"] = "unsupervised: the prior's components are not tied to digit classes"
    elif not is_mnist_like(spec) or model.latent_prior.components != 10:
        out["component_accuracy_skipped"] = (
            f"component accuracy reads samples with genlab's MNIST digit classifier; this model's data is "
            f"{spec.name} {spec.describe()}")
    else:
        out.update(component_accuracy(model, n, seed))
    return out
