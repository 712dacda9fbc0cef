"""genlab.metrics: each metric proven on sets whose answer is known."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pytest
import scipy.linalg
import torch

from genlab.data import load_dataset
from genlab.errors import GenlabError
from genlab.metrics import evaluate, real_floor, sample_quality, seed_spread
from genlab.metrics.classifier import ASSET, classify, load_classifier
from genlab.metrics.coverage import class_shares, coverage_summary
from genlab.metrics.distances import (density_coverage, fid, frechet_distance, kid, mmd2_unbiased,
                                      precision_recall)
from genlab.model import DataSpec, GenerativeModel


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The metrics are small matrix products; on a shared CPU extra threads only contend."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def train_digits():
    return load_dataset("mnist", "train")


@pytest.fixture(scope="module")
def test_digits():
    return load_dataset("mnist", "test")


@pytest.fixture(scope="module")
def real_features(train_digits):
    """Classifier features of 2,000 train digits and their labels."""
    feats, _ = classify(train_digits.images[:2000])
    return feats, train_digits.labels[:2000]


def _random_spd(d: int, gen: torch.Generator) -> torch.Tensor:
    a = torch.randn(d, d, generator=gen, dtype=torch.float64)
    return a @ a.T / d + 0.1 * torch.eye(d, dtype=torch.float64)


# ----- FID ------------------------------------------------------------------------

def test_fid_of_a_set_with_itself_is_zero():
    x = torch.randn(500, 16, generator=torch.Generator().manual_seed(0))
    assert fid(x, x) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_matches_the_closed_form_for_diagonal_gaussians():
    # For diagonal covariances (S1 S2)^{1/2} = diag(sqrt(s1 s2)), so
    # FD = |mu1 - mu2|^2 + sum (sqrt(s1) - sqrt(s2))^2.
    mu1, mu2 = torch.tensor([0.0, 1.0, -2.0]), torch.tensor([1.0, 1.0, 0.0])
    s1, s2 = torch.tensor([1.0, 4.0, 0.25]), torch.tensor([9.0, 1.0, 0.25])
    expected = (mu1 - mu2).square().sum() + (s1.sqrt() - s2.sqrt()).square().sum()
    assert frechet_distance(mu1, torch.diag(s1), mu2, torch.diag(s2)) == pytest.approx(expected.item(), rel=1e-10)


def test_frechet_distance_agrees_with_scipy_sqrtm_for_full_covariances():
    gen = torch.Generator().manual_seed(1)
    s1, s2 = _random_spd(20, gen), _random_spd(20, gen)
    mu1, mu2 = torch.randn(20, generator=gen, dtype=torch.float64), torch.zeros(20, dtype=torch.float64)
    root = scipy.linalg.sqrtm(s1.numpy() @ s2.numpy()).real
    expected = (mu1 - mu2).square().sum().item() + np.trace(s1.numpy() + s2.numpy() - 2 * root)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)


def test_fid_of_samples_from_two_gaussians_approaches_the_closed_form():
    gen = torch.Generator().manual_seed(2)
    a = torch.randn(20000, 4, generator=gen, dtype=torch.float64)
    b = 2 * torch.randn(20000, 4, generator=gen, dtype=torch.float64) + 1  # N(1, 4I)
    expected = 4 * 1.0 + 4 * (1 - 2) ** 2  # |mu|^2 + sum (sqrt 1 - sqrt 4)^2 = 8
    assert fid(a, b) == pytest.approx(expected, rel=0.03)


def test_frechet_distance_names_mismatched_shapes():
    with pytest.raises(ValueError, match="do not match"):
        frechet_distance(torch.zeros(3), torch.eye(3), torch.zeros(4), torch.eye(4))


def test_fid_is_small_between_real_halves_and_large_for_noise(real_features, test_digits):
    feats, _ = real_features
    perm = torch.randperm(len(feats), generator=torch.Generator().manual_seed(0))
    real_vs_real = fid(feats[perm[:1000]], feats[perm[1000:]])
    real_vs_noise = fid(feats[:1000], classify(_noise(seed=0))[0])
    blank = -torch.ones(1000, 1, 28, 28) + 0.01 * torch.randn(1000, 1, 28, 28)
    real_vs_blank = fid(feats[:1000], classify(blank.clamp(-1, 1))[0])
    assert real_vs_noise > 50 * real_vs_real
    assert real_vs_blank > 50 * real_vs_real


# ----- KID ------------------------------------------------------------------------

def test_kid_is_unbiased_for_sets_from_one_distribution():
    gen = torch.Generator().manual_seed(3)
    estimates = [mmd2_unbiased(torch.randn(50, 8, generator=gen, dtype=torch.float64),
                               torch.randn(50, 8, generator=gen, dtype=torch.float64)) for _ in range(400)]
    mean, sem = np.mean(estimates), np.std(estimates) / math.sqrt(len(estimates))
    assert abs(mean) < 3 * sem  # the biased V-statistic would sit far above 0 here
    assert np.mean(estimates) < 0.1 * np.mean(np.abs(estimates))


def test_kid_separates_real_from_shifted_sets(real_features):
    feats, _ = real_features
    same_mean, same_std = kid(feats[:1000], feats[1000:], subsets=20)
    shifted_mean, _ = kid(feats[:1000], feats[1000:] + feats.std(), subsets=20)
    assert abs(same_mean) < 3 * same_std + 1e-9
    assert shifted_mean > 20 * max(same_std, abs(same_mean))


# ----- precision / recall -----------------------------------------------------------

def _noise(n=1000, seed=1):
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_precision_and_recall_are_high_for_real_vs_real_and_low_for_noise(train_digits):
    real = sample_quality(train_digits.images[:1000], seed=0)
    assert real["precision"] > 0.75 and real["recall"] > 0.75
    noise = sample_quality(_noise(), seed=0)
    assert noise["precision"] < 0.15 and noise["recall"] < 0.05
    assert noise["precision_floor"] == real["precision_floor"] > 0.75


def test_raw_relu_features_would_call_noise_precise(real_features):
    # Why genlab measures precision/recall on unit-length features: in raw
    # ReLU features noise collapses near the origin, inside the wide k-NN
    # balls of faint real digits. If this stops holding, revisit _directions.
    feats, _ = real_features
    precision, _ = precision_recall(feats[:1000], classify(_noise())[0], k=3)
    assert precision > 0.5


def test_dropping_half_the_digits_keeps_precision_but_halves_recall(real_features):
    feats, labels = real_features
    reference, candidates = feats[:1000], feats[1000:]
    low_digits = candidates[labels[1000:] < 5]  # a model that never draws 5-9
    p_full, r_full = precision_recall(reference, candidates)
    p_half, r_half = precision_recall(reference, low_digits)
    assert p_half > 0.9 * p_full
    assert r_half < 0.65 * r_full


def test_density_and_coverage_see_noise_and_dropped_digits(real_features):
    feats, labels = real_features
    unit = torch.nn.functional.normalize(feats, dim=1)
    reference, candidates = unit[:1000], unit[1000:]
    density, coverage = density_coverage(reference, candidates)
    assert 0.8 < density < 1.2 and coverage > 0.9
    _, half_coverage = density_coverage(reference, candidates[labels[1000:] < 5])
    assert half_coverage < 0.65 * coverage
    noise = torch.nn.functional.normalize(classify(_noise())[0], dim=1)
    noise_density, noise_coverage = density_coverage(reference, noise)
    assert noise_density < 0.1 and noise_coverage < 0.05


# ----- class coverage ---------------------------------------------------------------

def test_class_shares_of_the_test_digits_match_their_labels(test_digits):
    _, probs = classify(test_digits.images)
    true = torch.bincount(test_digits.labels, minlength=10).double() / len(test_digits)
    assert np.allclose(class_shares(probs), true.numpy(), atol=0.01)
    summary = coverage_summary(class_shares(probs))
    assert summary["class_coverage"] == 1.0 and summary["class_entropy"] > 0.99


def test_a_single_digit_set_is_reported_as_one_class(test_digits):
    sevens = test_digits.images[test_digits.labels == 7]
    shares = class_shares(classify(sevens)[1])
    summary = coverage_summary(shares)
    assert shares[7] > 0.95
    assert summary["class_coverage"] == pytest.approx(0.1)
    assert summary["class_entropy"] < 0.1


def test_coverage_summary_of_exact_histograms():
    assert coverage_summary([0.1] * 10) == pytest.approx({"class_coverage": 1.0, "class_entropy": 1.0})
    assert coverage_summary([0.5, 0.5] + [0.0] * 8) == pytest.approx(
        {"class_coverage": 0.2, "class_entropy": math.log(2) / math.log(10)})


def test_readable_share_counts_sure_reads_of_real_digits_not_of_noise(test_digits):
    from genlab.metrics.coverage import readable_share

    assert readable_share(torch.tensor([[0.95, 0.05], [0.6, 0.4], [0.1, 0.9], [0.02, 0.98]])) == 0.5
    _, real = classify(test_digits.images[:500])
    _, noise = classify(torch.rand(500, 1, 28, 28) * 2 - 1)
    assert readable_share(real) > 0.9 > 0.2 > readable_share(noise)


# ----- the shipped classifier -------------------------------------------------------

def test_shipped_classifier_loads_with_weights_only_and_is_accurate(test_digits):
    state = torch.load(ASSET, map_location="cpu", weights_only=True)
    assert state["command"] == "python -m genlab.metrics.classifier --train" and "seed" in state
    assert ASSET.stat().st_size < 600_000
    _, probs = classify(test_digits.images)
    accuracy = (probs.argmax(1) == test_digits.labels).double().mean().item()
    assert accuracy >= 0.97
    assert accuracy == pytest.approx(state["test_accuracy"], abs=1e-3)  # the recorded figure is true
    _, meta = load_classifier()
    assert len(meta["weights_sha256"]) == 64 and meta["test_accuracy"] == state["test_accuracy"]


def test_binarised_digits_are_classified_too():
    binary = load_dataset("mnist-binary", "test")
    _, probs = classify(binary.images)
    assert (probs.argmax(1) == binary.labels).double().mean().item() >= 0.97


# ----- evaluate(): end to end with tiny stand-in models -------------------------------------

@dataclass
class _Cfg:
    pass


class _Replay(GenerativeModel):
    """'Samples' random train digits: a perfect model of the training data."""

    family = "replay"
    Config = _Cfg

    def __init__(self, spec=DataSpec()):
        super().__init__(_Cfg(), spec)
        name = "mnist-binary" if spec.binary else "mnist"
        self.register_buffer("bank", load_dataset(name, "train").images if spec.image_shape == (1, 28, 28)
                             else torch.zeros(1, *spec.image_shape))

    def sample(self, n, generator=None, **controls):
        idx = torch.randint(len(self.bank), (n,), generator=generator)
        return self.bank[idx]


class _CoinFlips(_Replay):
    """Every pixel an independent fair coin: log p(x) = -D ln 2 exactly."""

    log_prob_is_exact = True

    def log_prob(self, x):
        self.seen = x
        return torch.full((len(x),), -math.prod(x.shape[1:]) * math.log(2))


class _Bound(_Replay):
    """A bound-type model whose log_prob takes importance samples k."""

    log_prob_is_exact = False
    log_prob_takes_k = True

    def log_prob(self, x, k=1):
        self.k_seen = k
        return torch.full((len(x),), -100.0 - 1.0 / k)


def test_evaluate_a_perfect_model_scores_at_the_floor():
    results = evaluate(_Replay(), n=400, seed=0)
    assert results["fid"] < 2 * results["fid_floor"] + 0.5
    assert results["precision"] > 0.6 and results["recall"] > 0.6
    assert results["class_coverage"] == 1.0 and len(results["class_shares"]) == 10
    assert results["n"] == 400 and results["floor_n"] == 400
    assert "LeNet" in results["feature_extractor"] and results["classifier_test_accuracy"] >= 0.97
    json.dumps(results)  # flat and JSON-able
    assert evaluate(_Replay(), n=400, seed=0)["fid"] == results["fid"]  # seeded


def test_seed_spread_holds_each_seeds_own_figures_and_their_mean_and_sd():
    spread = seed_spread(_Replay(), n=200, seeds=[0, 1, 2])
    fids = [spread["per_seed"][s]["fid"] for s in ("0", "1", "2")]
    assert fids[0] == evaluate(_Replay(), n=200, seed=0)["fid"]  # each seed scored as `eval --seed` scores it
    assert len(set(fids)) == 3  # the sample seed moves FID: the spread is real, not one figure copied
    assert spread["fid_mean"] == pytest.approx(np.mean(fids))
    assert spread["fid_std"] == pytest.approx(np.std(fids, ddof=1))
    assert spread["fid_std"] > 0 and {"readable_share_mean", "precision_std"} <= set(spread)
    json.dumps(spread)
    with pytest.raises(GenlabError, match="at least two different seeds"):
        seed_spread(_Replay(), n=200, seeds=[3, 3])


def test_evaluate_restores_the_training_mode():
    model = _Replay().train()
    evaluate(model, n=20)
    assert model.training
    model.eval()
    evaluate(model, n=20)
    assert not model.training


def test_evaluate_a_blank_model_scores_far_from_the_floor():
    class Blank(_Replay):
        def sample(self, n, generator=None, **controls):
            return -torch.ones(n, 1, 28, 28)
    results = sample_quality(Blank().sample(200), seed=0)
    assert results["fid"] > 20 * results["fid_floor"]
    assert results["class_coverage"] <= 0.1 and results["class_entropy"] == 0.0


def test_the_floor_is_cached_per_n_seed_and_binarisation():
    assert real_floor(300, 0) is real_floor(300, 0)
    assert real_floor(300, 0)["n"] == 300
    assert real_floor(300, 0, True)["fid"] != real_floor(300, 0)["fid"]


def test_exact_likelihood_in_nats_and_bits_per_dim_on_binarised_test_digits():
    model = _CoinFlips(DataSpec(binary=True, name="mnist-binary"))
    results = evaluate(model, n=50)
    assert results["nll_nats"] == pytest.approx(784 * math.log(2))
    assert results["nll_bits_per_dim"] == pytest.approx(1.0)
    assert results["nll_exact"] is True and "nll_iwae_k" not in results
    assert len(model.seen) > 0 and set(model.seen.unique().tolist()) <= {-1.0, 1.0}
    assert "mnist-binary test" in results["nll_test_set"]


def test_bound_likelihood_passes_the_importance_samples():
    model = _Bound()
    results = evaluate(model, n=50, iwae_k=7)
    assert model.k_seen == 7 and results["nll_iwae_k"] == 7 and results["nll_exact"] is False
    assert results["nll_nats"] == pytest.approx(100 + 1 / 7)


def test_non_mnist_data_gets_a_clear_message_and_what_can_be_computed():
    model = _CoinFlips(DataSpec(channels=3, height=32, width=32, name="cifar10"))
    results = evaluate(model, n=50)
    assert "only defined for MNIST-like 1x28x28" in results["sample_metrics_skipped"]
    assert "cifar10 3x32x32" in results["sample_metrics_skipped"]
    assert "fid" not in results and "class_shares" not in results
    # the likelihood needs CIFAR-10's test images: scored when they are on disk, else said why not
    assert results.get("nll_bits_per_dim") == pytest.approx(1.0) or "cifar10" in results["nll_skipped"]


def test_non_finite_samples_and_tiny_n_are_refused():
    from genlab.errors import GenlabError

    class Broken(_Replay):
        def sample(self, n, generator=None, **controls):
            return torch.full((n, 1, 28, 28), float("nan"))
    with pytest.raises(GenlabError, match="NaN"):
        evaluate(Broken(), n=20)
    with pytest.raises(GenlabError, match="n=3|got 3"):
        evaluate(_Replay(), n=3)


def test_the_feature_sensitivity_tool_changes_images_as_it_says():
    from tools.feature_sensitivity import CHANGES, _separable, _shift

    x = torch.rand(2, 3, 8, 8) * 2 - 1
    assert torch.allclose(_separable(x, [0.0, 1.0, 0.0]), x)
    assert torch.allclose(_shift(x, 0.0), x, atol=1e-6)
    moved = _shift(x, 1.0)
    assert torch.allclose(moved[..., 1:], x[..., :-1], atol=1e-5)  # content one pixel to the right
    box = CHANGES["2 x 2 sub-pixel box (a supersampled render of the picture)"](x)
    assert torch.allclose(box.mean(), x.mean(), atol=0.05) and (box - x).abs().mean() > 0
