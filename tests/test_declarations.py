"""What a model can do is declared on the contract (genlab.model), never guessed from names,
signatures or getattr defaults; and one seeding rule gives eval and the app the same bound."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

import genlab
from genlab.metrics import likelihood
from genlab.metrics.likelihood import log_prob_options
from genlab.model import DataSpec, GenerativeModel, NoOptim, seeded

ROOT = Path(__file__).resolve().parent.parent
VAE = ROOT / "checkpoints" / "vae-mnist.pt"


@dataclass
class _Cfg:
    pass


class _Plain(GenerativeModel):
    family = "plain"
    Config = _Cfg
    Optim = NoOptim

    def sample(self, n, generator=None, **controls):
        return torch.zeros(n, *self.data_spec.image_shape)


def test_a_missing_capability_is_refused_by_name():
    model = _Plain(_Cfg(), DataSpec())
    assert model.capabilities == {"sample"} and model.latent_dim == 0
    with pytest.raises(NotImplementedError, match="plain has no 'latent' capability \\(it has sample\\)"):
        model.prior(2)
    with pytest.raises(NotImplementedError, match="no 'log_prob' capability"):
        model.log_prob(torch.zeros(1, 1, 28, 28))


def test_a_capability_comes_whole_or_the_class_is_refused():
    with pytest.raises(TypeError, match="add_noise of the 'noise' capability but not denoise"):
        class _HalfNoise(_Plain):
            def add_noise(self, x, t, generator=None):
                return x
    with pytest.raises(TypeError, match="renders views but has no latent space"):
        class _Flat(_Plain):
            def render_views(self, z, azimuth=None, elevation=None, radius=None, fov=None, size=None):
                return {}

            def check_camera(self, azimuth=None, elevation=None, radius=None, fov=None):
                pass

            def split(self, z):
                return z, z
    with pytest.raises(TypeError, match="profiles rays but renders no views"):
        class _RaysOnly(_Plain):
            def ray_profile(self, z, row, col, azimuth=None, elevation=None, radius=None, fov=None, size=None):
                return {}


def test_log_prob_options_are_what_the_family_declares():
    from genlab.registry import get_family

    g = seeded(0)
    vae, ddpm, pixelcnn = (get_family(f) for f in ("vae", "ddpm", "pixelcnn"))  # the facts are class-level
    assert log_prob_options(vae, g, 7) == {"generator": g, "k": 7} and log_prob_options(vae, g) == {"generator": g}
    assert log_prob_options(ddpm, g, 7) == {"generator": g}  # a sampled bound without importance samples
    assert log_prob_options(pixelcnn, g, 7) == {}  # exact: nothing drawn


@pytest.mark.skipif(not VAE.exists(), reason="checkpoints/vae-mnist.pt is missing")
def test_eval_and_the_app_give_the_same_vae_bound_for_the_same_seed():
    """`genlab eval`'s test_nll and the app's Likelihood tab: one seeding rule (seeded(seed) passed
    as the generator), so the first test image's bound is the same number in both."""
    from ui.tabs.likelihood import _log_prob

    model = genlab.load(VAE).eval()
    images, _ = likelihood.test_images(model.data_spec)
    x = images[:1]
    app = -_log_prob(model, x)
    ours = likelihood.test_nll(model, x, iwae_k=model.config.eval_k, seed=0)["nll_nats"]
    assert ours == app
    again = likelihood.test_nll(model, x, iwae_k=model.config.eval_k, seed=0)["nll_nats"]
    assert again == ours and likelihood.test_nll(model, x, iwae_k=model.config.eval_k, seed=1)["nll_nats"] != ours
    before = torch.random.get_rng_state()
    likelihood.test_nll(model, images[:3], iwae_k=10, seed=0)
    assert torch.equal(torch.random.get_rng_state(), before)  # the global RNG is never drawn from


def test_no_signature_is_read_in_genlab_or_ui():
    for folder in ("genlab", "ui"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            assert "inspect.signature" not in path.read_text(), f"{path.relative_to(ROOT)} reads a signature"


def test_plots_read_the_declared_latent_size_and_prior():
    from scipy.stats import norm

    from genlab.plots import available_plots, manifold_grid

    small = {"hidden": [8], "disc_hidden": [8]}
    normal = genlab.build("aae", {**small, "prior": "normal"})
    uniform = genlab.build("aae", {**small, "prior": "uniform"})
    assert normal.prior_name == "normal" and uniform.prior_name == "uniform"
    assert "manifold" in available_plots(normal) and "manifold" not in available_plots(genlab.build("vae"))
    _, axis = manifold_grid(normal, n=5)
    assert axis[0] == pytest.approx(norm.ppf([0.03, 0.265, 0.5, 0.735, 0.97]), abs=1e-6)  # N(0, I): inverse CDF
    _, axis = manifold_grid(uniform, n=5)
    assert -1 <= axis[0][0] < -0.9 and 0.9 < axis[0][-1] <= 1  # another prior: its 1st-99th percentiles
    assert genlab.build("dcgan", {"prior": "uniform"}).prior_name == "uniform"
    from genlab.registry import get_family

    assert get_family("progan").prior_name == "normal"  # no prior option


def test_callers_read_declarations_not_getattr_defaults_on_a_model_or_its_config():
    """Outside the families themselves (genlab/models, genlab/nn), nothing asks a model or its
    config what it can do with getattr(..., default): the contract declares it."""
    import re

    probe = re.compile(r"getattr\(\s*(model|m|self\.model|[\w.]*config)\s*,[^,()]+,")
    for folder in ("genlab", "ui"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith(("genlab/models/", "genlab/nn/")):
                continue
            for i, line in enumerate(path.read_text().splitlines(), 1):
                assert not probe.search(line), f"{rel}:{i} probes with a default: {line.strip()}"
