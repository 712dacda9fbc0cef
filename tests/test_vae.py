"""VAE: the ELBO's pieces, the IWAE bound, gradients, shapes, sampling, learning, plots."""
from __future__ import annotations

import math

import pytest
import torch

from genlab.data import load_dataset
from genlab.errors import GenlabError
from genlab.model import DataSpec
from genlab.nn.autoencoder import (CONV_SIZES, BernoulliPixels, LogisticPixels, gaussian_kl, log_normal,
                                   reparameterize)
from genlab.registry import build

BINARY = DataSpec(binary=True, name="mnist-binary", num_classes=10)
TINY = {"latent_dim": 4, "hidden": (32,)}


@pytest.fixture(scope="module")
def digits():
    return load_dataset("mnist-binary", "test").images[:32]


def tiny_vae(spec=BINARY, **kw):
    torch.manual_seed(0)
    return build("vae", {**TINY, **kw}, spec)


# ----- the ELBO's pieces --------------------------------------------------------------
def test_analytic_kl_equals_monte_carlo():
    g = torch.Generator().manual_seed(0)
    mean, logvar = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    z = reparameterize(mean, logvar, torch.randn(100_000, 5, 3, generator=g))  # (S, 5, 3)
    monte_carlo = (log_normal(z, mean, logvar) - log_normal(z)).mean(0)  # E_q[log q - log p]
    torch.testing.assert_close(gaussian_kl(mean, logvar), monte_carlo, atol=0.03, rtol=0.01)


def test_logged_kl_is_summed_over_latent_dims(digits):
    """q(z|x) = N(0.5, e^-1) in each of 6 dims: KL = 6 * 0.5 * (0.25 + e^-1 - 1 + 1) exactly
    (papers.md §4 bug: a KL averaged over dims would be 6 times smaller)."""
    model = tiny_vae(latent_dim=6)
    head = model.encoder.net.body[-1][-1]  # rows [:6] mean, [6:] log-variance
    with torch.no_grad():
        head.weight.zero_()
        head.bias[:6], head.bias[6:] = 0.5, -1.0
        _, logs = model.loss({"image": digits})
    assert logs["kl_nats"].item() == pytest.approx(6 * 0.5 * (0.25 + math.exp(-1)), rel=1e-5)


@pytest.mark.parametrize("lik", [BernoulliPixels(), LogisticPixels()])
def test_pixel_likelihoods_are_normalised(lik):
    """Summing p(x|z) over every value a pixel can take gives 1 (a true discrete likelihood)."""
    values = torch.tensor([-1.0, 1.0]) if lik.name == "bernoulli" else torch.arange(256) / 127.5 - 1
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        params = torch.randn(1, lik.params_per_channel, 1, 1, generator=g) * 3  # one pixel
        if lik.name == "logistic":
            params[:, 1] = params[:, 1].clamp(-6, 1)  # log-scales from sharp to flat
        lp = lik.log_prob(params.expand(len(values), -1, -1, -1), values.view(-1, 1, 1, 1))
        assert torch.logsumexp(lp, 0).exp().item() == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("lik", [BernoulliPixels(), LogisticPixels()])
def test_the_mode_is_the_most_probable_value_of_every_pixel(lik):
    """Against every value a pixel can take: the mode's probability is the largest (the logistic's
    end bins, which take whole tails, included)."""
    values = torch.tensor([-1.0, 1.0]) if lik.name == "bernoulli" else torch.arange(256) / 127.5 - 1
    params = torch.randn(300, lik.params_per_channel, 1, 1, generator=torch.Generator().manual_seed(0)) * 3
    if lik.name == "logistic":
        params[:, 1] = params[:, 1].clamp(-6, 1)
    every = torch.stack([lik.log_prob(params, v.expand(300, 1, 1, 1)) for v in values])  # (values, pixels)
    mode = lik.mode(params)
    assert torch.allclose(lik.log_prob(params, mode), every.max(0).values, atol=1e-5)
    assert (mode == -1).any() and (mode == 1).any()  # both ends occur in these draws


def test_a_vae_shows_the_most_probable_image_of_binary_data_and_the_mean_of_8bit_data():
    seed = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    binary, grey = tiny_vae().eval(), tiny_vae(DataSpec()).eval()
    shown = binary.sample(6, seed())
    assert torch.equal(shown, binary.sample(6, seed(), pixels="mode")) and set(shown.unique().tolist()) <= {-1.0, 1.0}
    assert not torch.equal(shown, binary.sample(6, seed(), pixels="mean"))
    assert torch.equal(grey.sample(6, seed()), grey.sample(6, seed(), pixels="mean"))
    assert {c.name: c.default for c in binary.controls()}["pixels"] == "mode"
    assert {c.name: c.default for c in grey.controls()}["pixels"] == "mean"


# ----- the IWAE bound ---------------------------------------------------------------------
def test_iwae_bound_is_above_the_elbo_and_rises_with_k(digits):
    model = tiny_vae().eval()
    g = torch.Generator().manual_seed(1)
    bounds = [model.log_prob(digits, k=k, generator=g).mean().item() for k in (1, 10, 100, 500)]
    assert all(b < a for b, a in zip(bounds, bounds[1:])), bounds
    # k = 1 is an unbiased estimate of the ELBO the training loss uses (analytic KL).
    elbo = -torch.stack([model.loss({"image": digits})[0] for _ in range(50)]).mean().item()
    one_sample = model.log_prob(digits.repeat(20, 1, 1, 1), k=1, generator=g).mean().item()
    assert one_sample == pytest.approx(elbo, abs=0.02 * abs(elbo))
    assert bounds[-1] > elbo + 1.0


def test_iwae_bound_converges_to_the_exact_likelihood():
    """1-D latent, 3x3 images: log p(x) by quadrature over z; the k=5000 bound sits just below it."""
    spec = DataSpec(height=3, width=3, binary=True, name="tiny")
    model = tiny_vae(spec, latent_dim=1, hidden=(8,)).eval()
    with torch.no_grad():
        for p in model.decoder.parameters():
            p.mul_(4.0)  # a decoder that cares about z, so q(z|x) != p(z|x)
    x = torch.tensor([[1, -1, 1, -1, 1, -1, 1, -1, 1], [-1] * 9, [1] * 9], dtype=torch.float32).view(3, 1, 3, 3)
    z = torch.linspace(-9, 9, 20001).unsqueeze(1)  # (G, 1) quadrature grid
    with torch.no_grad():
        log_joint = torch.stack([model.decoder.log_prob(xi.expand(len(z), -1, -1, -1), z) for xi in x]) + log_normal(z)
    exact = torch.logsumexp(log_joint.double(), 1) + math.log(z[1, 0] - z[0, 0])  # (3,)
    g = torch.Generator().manual_seed(0)
    iwae = model.log_prob(x, k=5000, generator=g).double()
    elbo = model.log_prob(x.repeat(2000, 1, 1, 1), k=1, generator=g).double().view(2000, 3).mean(0)
    assert (iwae <= exact + 0.02).all() and (iwae >= exact - 0.05).all(), (iwae, exact)
    assert (elbo < exact - 0.1).all(), (elbo, exact)  # the ELBO's gap, KL(q(z|x) || p(z|x)), is real here


# ----- gradients -------------------------------------------------------------------------
def test_reparameterised_gradients_reach_the_encoder_through_the_reconstruction(digits):
    model = tiny_vae()
    loss, _ = model.loss({"image": digits})
    head = model.encoder.net.body[-1][-1]  # linear head: rows [:d] mean, [d:] log-variance
    total = torch.autograd.grad(loss, head.weight)[0]
    kl_only = torch.autograd.grad(gaussian_kl(*model.encoder(digits)).mean(), head.weight)[0]
    from_recon = total - kl_only  # what -log p(x|z) sends back through z = mu + sigma * eps
    d = model.latent_dim
    assert from_recon[:d].abs().sum() > 1e-3  # to the mean head
    assert from_recon[d:].abs().sum() > 1e-3  # and through sigma * eps to the log-variance head


# ----- shapes and sizes -----------------------------------------------------------------------------
@pytest.mark.parametrize("net,size", [("mlp", s) for s in (8, 16, 28, 30, 32, 64)] + [("conv", s) for s in CONV_SIZES])
@pytest.mark.parametrize("channels", [1, 3])
def test_encode_decode_shapes_for_every_supported_size(net, size, channels):
    spec = DataSpec(channels=channels, height=size, width=size, name="shapes")
    model = build("vae", {"latent_dim": 3, "net": net, "hidden": (8,), "width": 2}, spec).eval()
    x = torch.rand(2, channels, size, size) * 2 - 1
    mean, std = model.encode(x)
    assert mean.shape == std.shape == (2, 3) and (std > 0).all()
    image = model.decode(mean)
    assert image.shape == (2, channels, size, size) and image.abs().max() <= 1
    assert model.log_prob(x, k=3).shape == (2,)
    assert torch.isfinite(model.loss({"image": x})[0])


def test_unsupported_sizes_are_refused_with_the_accepted_ones():
    with pytest.raises(GenlabError, match="28, 32"):
        build("vae", {"net": "conv"}, DataSpec(height=30, width=30))
    with pytest.raises(GenlabError, match="option net must be one of mlp, conv, got 'resnet'"):
        build("vae", {"net": "resnet"}, BINARY)
    with pytest.raises(GenlabError, match="auto, bernoulli, logistic"):
        build("vae", {"likelihood": "gaussian"}, BINARY)


def test_likelihood_follows_the_data():
    assert build("vae", TINY, BINARY).likelihood.name == "bernoulli"
    assert build("vae", TINY, DataSpec()).likelihood.name == "logistic"


# ----- sampling -----------------------------------------------------------------------------
def test_sampling_is_seeded_in_range_and_pixel_draws_are_on_the_data_grid():
    seed = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    model = tiny_vae().eval()
    a, b = model.sample(6, seed()), model.sample(6, seed())
    assert torch.equal(a, b) and a.shape == (6, 1, 28, 28) and a.abs().max() <= 1
    assert not torch.equal(a, model.sample(6, torch.Generator().manual_seed(4)))
    bits = model.sample(6, seed(), pixels="sample")
    assert set(bits.unique().tolist()) <= {-1.0, 1.0}
    grey = tiny_vae(DataSpec()).eval().sample(6, seed(), pixels="sample")
    assert torch.allclose((grey + 1) * 127.5, ((grey + 1) * 127.5).round(), atol=1e-4)
    with pytest.raises(ValueError, match="mean, sample"):
        model.sample(2, seed(), pixels="binary")


def test_capabilities():
    model = tiny_vae()
    assert {"latent", "encode", "log_prob", "sample"} <= model.capabilities
    assert model.log_prob_is_exact is False
    assert model.prior(5).shape == (5, model.latent_dim)


# ----- it learns ------------------------------------------------------------------------------
def test_a_short_run_raises_the_test_bound(tmp_path, digits):
    from genlab.training import make_recipe
    from genlab.training.trainer import Trainer

    recipe = make_recipe("vae", data="mnist-binary", steps=150, overrides={
        "threads": 1, "batch_size": 64, "log_every": 50, "sample_every": 1000, "checkpoint_every": 1000,
        "latent_dim": 8, "hidden": [64], "lr": 3e-3})
    trainer = Trainer(recipe, tmp_path, progress=False)
    g = torch.Generator().manual_seed(0)
    before = trainer.model.log_prob(digits, k=10, generator=g).mean().item()
    trainer.fit()
    after = trainer.model.eval().log_prob(digits, k=10, generator=g).mean().item()
    assert after > before + 150, (before, after)  # ~ -545 -> ~ -200 nats


# ----- plots ------------------------------------------------------------------------------------
def test_plots_for_a_2d_vae(tmp_path):
    from genlab.cli import main
    from genlab.plots import available_plots, manifold_grid
    from genlab.training import make_recipe
    from genlab.training.trainer import Trainer

    recipe = make_recipe("vae", data="mnist-binary", steps=2, overrides={
        "threads": 1, "batch_size": 16, "latent_dim": 2, "hidden": [16]})
    Trainer(recipe, tmp_path / "run", progress=False).fit()
    from genlab.registry import load

    model = load(tmp_path / "run" / "latest.pt")
    assert available_plots(model) == ["latent_map", "posterior_vs_prior", "reconstructions", "manifold"]
    images, axis = manifold_grid(model, n=5)
    assert images.shape == (25, 1, 28, 28) and (axis[:, 1:] > axis[:, :-1]).all()
    assert main(["plots", str(tmp_path / "run" / "latest.pt"), "--out", str(tmp_path / "plots"), "--n", "200"]) == 0
    for name in available_plots(model):
        assert (tmp_path / "plots" / f"{name}.png").stat().st_size > 1000


# ----- ex-post latent mixture (Ghosh et al. 2020) ---------------------------------------------
def test_em_recovers_a_known_mixture_and_its_density_is_normalised():
    from genlab.nn.gaussian_mixture import GaussianMixture

    g = torch.Generator().manual_seed(0)
    a = torch.randn(3000, 2, generator=g) * 0.3 + torch.tensor([2.0, 0.0])
    b = torch.randn(1000, 2, generator=g) @ torch.tensor([[1.0, 0.5], [0.0, 0.2]]) + torch.tensor([-2.0, 1.0])
    mix = GaussianMixture(2, 2)
    mix.fit(torch.cat([a, b]))
    order = mix.means[:, 0].argsort(descending=True)
    assert torch.allclose(mix.weights[order], torch.tensor([0.75, 0.25]), atol=0.02)
    assert torch.allclose(mix.means[order], torch.tensor([[2.0, 0.0], [-2.0, 1.0]]), atol=0.1)
    cov = mix.scale_tril @ mix.scale_tril.transpose(1, 2)
    assert torch.allclose(cov[order[1]], torch.tensor([[1.0, 0.5], [0.5, 0.29]]), atol=0.05)  # A^T A of the map above
    # the density integrates to 1 over a grid that holds the mass
    axis = torch.linspace(-8, 8, 401)
    xx, yy = torch.meshgrid(axis, axis, indexing="ij")
    density = mix.log_prob(torch.stack([xx.ravel(), yy.ravel()], 1)).exp()
    assert density.sum().item() * (axis[1] - axis[0]).item() ** 2 == pytest.approx(1.0, abs=1e-3)
    draws = mix.sample(20000, torch.Generator().manual_seed(1))
    assert torch.allclose(draws.mean(0), torch.cat([a, b]).mean(0), atol=0.05)


def test_a_vae_with_latent_mixture_fits_it_when_its_run_ends_and_samples_from_it(tmp_path):
    from genlab.registry import load
    from genlab.training import make_recipe
    from genlab.training.trainer import Trainer

    recipe = make_recipe("vae", data="mnist", steps=3, overrides={
        "threads": 1, "batch_size": 16, "hidden": [32], "latent_dim": 3, "latent_mixture": 4})
    trainer = Trainer(recipe, tmp_path, progress=False)
    assert trainer.model.prior_name == "normal"  # nothing fitted before the run ends
    with pytest.raises(ValueError, match="no fitted latent mixture"):
        trainer.model.sample(2, prior="fitted")
    trainer.fit()
    model = load(tmp_path / "latest.pt")
    assert model.prior_name == "fitted mixture" and model.latent_fit.fitted
    assert "prior" in [c.name for c in model.controls()]
    # the mixture follows the codes of the training images, not N(0, I)
    codes = model.encode(trainer.data.images[:2000])[0]
    draws = model.prior(20000, torch.Generator().manual_seed(0))
    assert torch.allclose(draws.mean(0), codes.mean(0), atol=0.1 * codes.std(0).max().item())
    assert torch.allclose(draws.std(0), codes.std(0), rtol=0.1)
    fitted = model.sample(4, torch.Generator().manual_seed(0))
    standard = model.sample(4, torch.Generator().manual_seed(0), prior="standard")
    assert not torch.equal(fitted, standard)
    with pytest.raises(ValueError, match="'fitted' or 'standard'"):
        model.sample(2, prior="uniform")
    assert any(json_line.get("event") == "finish_training" for json_line in _metrics(tmp_path))


def _metrics(run):
    import json

    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_release_fits_the_mixture_into_a_run_trained_without_it(tmp_path):
    from genlab.checkpoint import load_checkpoint
    from genlab.errors import GenlabError
    from genlab.registry import model_from_state
    from genlab.release import with_latent_mixture
    from genlab.training import make_recipe
    from genlab.training.trainer import Trainer

    recipe = make_recipe("vae", data="mnist", steps=2, overrides={"threads": 1, "batch_size": 16, "hidden": [32],
                                                                  "latent_dim": 3})
    Trainer(recipe, tmp_path, progress=False).fit()
    state = load_checkpoint(tmp_path / "latest.pt")
    fitted = with_latent_mixture(state, 4)
    model = model_from_state(fitted)
    assert model.prior_name == "fitted mixture" and model.config.latent_mixture == 4
    assert "latent_mixture = 4" in fitted["recipe"]
    for k, v in state["model"].items():  # the trained weights are untouched
        assert torch.equal(fitted["model"][k], v), k
    gan = tmp_path / "gan"
    Trainer(make_recipe("gan", data="mnist", steps=1, overrides={"threads": 1, "batch_size": 8}), gan,
            progress=False).fit()
    with pytest.raises(GenlabError, match="no latent_mixture option"):
        with_latent_mixture(load_checkpoint(gan / "latest.pt"), 4)


def test_a_mixture_that_cannot_be_fitted_says_why_and_keeps_the_trained_weights(tmp_path):
    """Six pictures cannot fit four full-covariance Gaussians: the run says so at its end, and the
    checkpoint of its last step is already written (without a fitted mixture)."""
    import numpy as np
    from PIL import Image

    from genlab.checkpoint import load_checkpoint
    from genlab.errors import GenlabError
    from genlab.training import make_recipe
    from genlab.training.trainer import Trainer

    pictures = tmp_path / "pictures"
    pictures.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8)).save(pictures / f"{i}.png")
    recipe = make_recipe("vae", data=f"folder:{pictures}", steps=2, overrides={
        "threads": 1, "batch_size": 4, "hidden": [16], "latent_dim": 3, "latent_mixture": 4})
    run = tmp_path / "run"
    with pytest.raises(GenlabError, match=r"after-training fit failed \(6 points cannot fit 4 components.*saved in"):
        Trainer(recipe, run, progress=False).fit()
    state = load_checkpoint(run / "latest.pt")
    assert state["step"] == 2 and not bool(state["model"]["latent_fit.fitted"])
