"""Each family's own figures (`extra_metrics`) in `evaluate` and `python -m genlab eval`,
and sample metrics of padded digits scored on the digits themselves."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

import genlab
from genlab.data import load_dataset
from genlab.metrics import MIN_SAMPLES, evaluate, family_metrics
from genlab.metrics import likelihood  # (its test_split imported by name would be collected as a test)
from genlab.metrics.likelihood import crop_padding, is_mnist_like, pad_images
from genlab.model import DataSpec, GenerativeModel

ROOT = Path(__file__).resolve().parent.parent
N = 200  # small, well above MIN_SAMPLES


@pytest.fixture(scope="module")
def infogan():
    return genlab.load("infogan-mnist")


@pytest.fixture(scope="module")
def aae():
    return genlab.load("aae-mnist")


INFOGAN_KEYS = {"infogan_code_accuracy_generated", "infogan_code_purity_generated", "infogan_code_accuracy_real",
                "infogan_code_accuracy_real_label_free", "infogan_code_purity_real", "infogan_code_to_digit",
                "infogan_code_1_r_slant", "infogan_code_1_r_width", "infogan_code_2_r_slant",
                "infogan_code_2_r_width"}
AAE_KEYS = {"aae_prior_mmd2", "aae_prior_mmd_p_value", "aae_prior_mmd_permutations", "aae_prior_mmd_n",
            "aae_component_accuracy"}


def test_evaluate_reports_infogan_code_accuracy(infogan):
    assert N >= MIN_SAMPLES
    results = evaluate(infogan, n=N, seed=0)
    assert INFOGAN_KEYS <= set(results["family_metrics"]) and INFOGAN_KEYS <= set(results)
    assert "fid" in results  # beside the common figures, not instead of them
    for key in INFOGAN_KEYS - {"infogan_code_to_digit"}:
        assert isinstance(results[key], float), key
    # The shipped model's codes are far better than chance (0.1) on generated and real digits.
    assert results["infogan_code_accuracy_generated"] > 0.5 and results["infogan_code_accuracy_real"] > 0.5
    assert sorted(map(int, results["infogan_code_to_digit"].split())) == list(range(10))  # one-to-one
    # a continuous code that controls slant (which of the two is the training run's choice)
    assert max(abs(results["infogan_code_1_r_slant"]), abs(results["infogan_code_2_r_slant"])) > 0.3
    json.dumps(results)
    again = family_metrics(infogan.eval(), N, seed=0)
    assert all(again[k] == results[k] for k in INFOGAN_KEYS)  # seeded


def test_evaluate_reports_aae_posterior_vs_prior_mmd(aae):
    results = evaluate(aae, n=N, seed=0)
    assert AAE_KEYS <= set(results["family_metrics"]) and AAE_KEYS <= set(results)
    assert results["aae_prior_mmd_n"] == N and results["aae_prior_mmd_permutations"] == 200
    assert 0 < results["aae_prior_mmd_p_value"] <= 1 and results["aae_prior_mmd2"] < 0.05
    assert results["aae_component_accuracy"] > 0.9


def test_aae_mmd_reproduces_the_figure_stored_in_the_checkpoint(aae):
    """The shipped checkpoint's prior_mmd2 came from prior_match on the 1,000 test digits, seed 0."""
    stored = aae.checkpoint["metrics"]
    ours = family_metrics(aae.eval(), 5000, seed=0)
    assert ours["aae_prior_mmd_n"] == stored["prior_mmd_n"] == 1000
    assert ours["aae_prior_mmd2"] == pytest.approx(stored["prior_mmd2"], rel=1e-6)
    assert ours["aae_prior_mmd_p_value"] == pytest.approx(stored["prior_mmd_p_value"])
    assert ours["aae_component_accuracy"] == pytest.approx(stored["component_accuracy"])


@pytest.mark.parametrize("name,keys", [("infogan-mnist", INFOGAN_KEYS), ("aae-mnist", AAE_KEYS)])
def test_cli_eval_prints_and_stores_the_family_figures(name, keys, tmp_path):
    out = tmp_path / "eval.json"
    r = subprocess.run([sys.executable, "-m", "genlab", "eval", name, "--n", str(N), "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    stored = json.loads(out.read_text())
    assert keys <= set(stored) and "fid" in stored
    printed = {line.split()[0]: line.split(None, 1)[1] for line in r.stdout.splitlines() if len(line.split()) > 1}
    assert f"{name.split('-')[0]}'s own figures:" in r.stdout
    for key in keys:
        assert key in printed, key
        if isinstance(stored[key], float):
            assert float(printed[key]) == pytest.approx(stored[key], rel=1e-4)


# ----- padded digits ----------------------------------------------------------------------------

@dataclass
class _Cfg:
    pass


class _PaddedReplay(GenerativeModel):
    """'Samples' train digits padded by `spec.pad` (a perfect model of padded digits)."""

    family = "padded_replay"
    Config = _Cfg

    def __init__(self, spec):
        super().__init__(_Cfg(), spec)
        self.register_buffer("bank", pad_images(load_dataset("mnist", "train").images[:2000], spec)
                             if is_mnist_like(spec) else torch.zeros(4, *spec.image_shape))

    def sample(self, n, generator=None, **controls):
        return self.bank[torch.randint(len(self.bank), (n,), generator=generator)]

    def extra_metrics(self, n, seed=0):
        return {"answer": torch.tensor(42.0), "padded_replay_label": "ok"}


PADDED = DataSpec(height=32, width=32, pad=2)


def test_padded_digits_are_mnist_like_and_other_sizes_are_not():
    assert is_mnist_like(PADDED) and is_mnist_like(DataSpec()) and is_mnist_like(DataSpec(name="mnist-binary",
                                                                                        binary=True, pad=1,
                                                                                        height=30, width=30))
    assert not is_mnist_like(DataSpec(height=32, width=32))  # 32x32 without padding: resized, not padded
    assert not is_mnist_like(DataSpec(height=32, width=32, pad=1))
    assert not is_mnist_like(DataSpec(name="fashion-mnist", height=32, width=32, pad=2))
    assert not is_mnist_like(DataSpec(name="cifar10", channels=3, height=32, width=32))


def test_padding_is_cropped_off_exactly():
    digits = load_dataset("mnist", "test").images[:5]
    padded = pad_images(digits, PADDED)
    assert padded.shape == (5, 1, 32, 32) and (padded[..., :2, :] == -1).all() and (padded[..., :, -2:] == -1).all()
    assert torch.equal(crop_padding(padded, PADDED), digits)
    images, labels, description = likelihood.test_split(PADDED)
    assert images.shape[1:] == (1, 32, 32) and len(labels) == len(images) and "padded by 2" in description


def test_a_padded_digit_model_is_scored_on_the_28x28_digits():
    results = evaluate(_PaddedReplay(PADDED), n=N, seed=0)
    assert "sample_metrics_skipped" not in results and results["sample_padding_cropped"] == 2
    # Real digits, padded: after cropping they score like real digits (the floor), not like 32x32 misfits.
    assert results["fid"] < 2 * results["fid_floor"] and results["class_coverage"] == 1.0
    assert results["padded_replay_answer"] == 42.0 and results["padded_replay_label"] == "ok"  # named by family
    assert results["family_metrics"][:2] == ["padded_replay_answer", "padded_replay_label"]


def test_other_data_says_which_figures_do_not_apply():
    results = evaluate(_PaddedReplay(DataSpec(name="cifar10", channels=3, height=32, width=32)), n=MIN_SAMPLES)
    assert "fid" not in results and "cifar10 3x32x32" in results["sample_metrics_skipped"]


def test_family_figures_must_be_flat():
    class Nested(_PaddedReplay):
        def extra_metrics(self, n, seed=0):
            return {"counts": [1, 2, 3]}

    with pytest.raises(TypeError, match="counts"):
        family_metrics(Nested(PADDED), MIN_SAMPLES)


def test_padded_infogan_and_aae_figures_run():
    """Untrained models of 32x32 padded digits: the figures' plumbing crops and pads as needed."""
    from genlab.models.aae import AAE, AAEConfig
    from genlab.models.infogan import InfoGAN, InfoGANConfig

    torch.manual_seed(0)
    spec = DataSpec(height=32, width=32, pad=2, num_classes=10)
    info = InfoGAN(InfoGANConfig(width=8, hidden=32, q_hidden=16), spec).eval()
    figures = info.extra_metrics(40, seed=0)
    assert 0 < figures["infogan_code_accuracy_real"] <= 1 and "infogan_code_1_r_slant" in figures
    aae = AAE(AAEConfig(latent_dim=2, prior="mixture", supervised=True, hidden=(16,), disc_hidden=(16,)), spec).eval()
    figures = aae.extra_metrics(40, seed=0)
    assert figures["aae_prior_mmd_n"] == 40 and 0 <= figures["aae_component_accuracy"] <= 1
    other = InfoGAN(InfoGANConfig(width=8, hidden=32, q_hidden=16),
                    DataSpec(name="fashion-mnist", height=32, width=32, pad=2)).eval()
    assert "fashion-mnist" in other.extra_metrics(40)["infogan_code_accuracy_skipped"]


def test_any_sampler_on_shapes3d_gets_fid_in_its_feature_space():
    """A DCGAN on the rendered colour scenes is scored as GRAF is: FID against the held-out renders
    in the shapes3d FeatureNet space, beside the real-vs-real floor; an untrained one scores far
    above the floor."""
    import genlab
    from genlab.data import load_dataset
    from genlab.metrics import evaluate

    spec = load_dataset("shapes3d", "test").spec
    model = genlab.build("dcgan", genlab.registry.make_config("dcgan", {"width": 8}), data_spec=spec).eval()
    torch.manual_seed(0)
    out = evaluate(model, n=100)
    assert "sample_metrics_skipped" not in out and out["fid_n"] == 100
    assert out["fid"] > 3 * out["fid_floor"] > 0 and "shapes3d FeatureNet" in out["feature_extractor"]
    # the held-out renders' shape shares stand beside the model's: each of the 6 classes drawn, summing to 1
    real = dict(kv.split(":") for kv in out["class_shares_real"].split())
    assert list(real) == list(dict(kv.split(":") for kv in out["class_shares"].split()))
    assert len(real) == 6 and all(float(v) > 0.05 for v in real.values())
    assert abs(sum(float(v) for v in real.values()) - 1) < 0.02
    # the second feature space: an untrained generator is far from the renders at both pyramid levels
    assert out["swd_32"] > 2 * out["swd_32_floor"] and out["swd_16"] > 2 * out["swd_16_floor"]
