"""AAE: phases move only their own weights, priors, the supervised regulariser,
the posterior-prior match test, shapes and sampling."""
from __future__ import annotations

import math

import pytest
import torch

from genlab.errors import GenlabError
from genlab.model import DataSpec
from genlab.nn.autoencoder import CONV_SIZES, PRIORS, LatentPrior, mmd_test, prior_match
from genlab.registry import build

MNIST = DataSpec(num_classes=10)
TINY = {"hidden": (32,), "disc_hidden": (32,)}


def tiny_aae(spec=MNIST, **kw):
    torch.manual_seed(0)
    return build("aae", {**TINY, **kw}, spec)


def batch(n=16, spec=MNIST):
    g = torch.Generator().manual_seed(0)
    return {"image": torch.rand(n, *spec.image_shape, generator=g) * 2 - 1,
            "label": torch.randint(0, 10, (n,), generator=g)}


# ----- the three phases, with the engine's semantics ---------------------------------------
@pytest.mark.parametrize("config", [{"prior": "normal"}, {"prior": "mixture", "supervised": True, "encoder": "gaussian"}])
def test_each_phase_updates_only_its_own_parameters(tmp_path, config):
    from genlab.training import make_recipe
    from genlab.training.trainer import Trainer

    recipe = make_recipe("aae", data="mnist", steps=1, overrides={
        "threads": 1, "batch_size": 16, "hidden": [32], "disc_hidden": [32], **config})
    trainer = Trainer(recipe, tmp_path, progress=False)
    model = trainer.model
    parts = {"encoder": model.encoder, "decoder": model.decoder, "discriminator": model.discriminator}
    expected = {"reconstruction": {"encoder", "decoder"}, "discriminator": {"discriminator"},
                "generator": {"encoder"}}
    assert [p.name for p in trainer.phases] == list(expected)
    data = next(trainer.batches)
    for phase in trainer.phases:
        before = {k: [p.detach().clone() for p in m.parameters()] for k, m in parts.items()}
        trainer._run_phase(phase, data)  # exactly what one trainer step does for this phase
        moved = {k for k, m in parts.items() if any(not torch.equal(a, p) for a, p in zip(before[k], m.parameters()))}
        assert moved == expected[phase.name], phase.name


def test_discriminator_step_never_sends_gradients_to_the_encoder():
    """Even outside the trainer (every parameter trainable) the codes are detached for D."""
    model = tiny_aae()
    loss, logs = model.discriminator_loss(batch())
    loss.backward()
    assert all(p.grad is None for p in model.encoder.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.discriminator.parameters())
    assert set(logs) == {"D(prior)", "D(code)"}


def test_generator_loss_is_non_saturating_and_reaches_the_encoder():
    model = tiny_aae()
    loss, _ = model.generator_loss(batch())
    loss.backward()
    assert all(p.grad is not None for p in model.encoder.parameters())
    assert all(p.grad is None for p in model.decoder.parameters())
    with torch.no_grad():
        logits = model._critic(model.encoder(batch()["image"]), batch()["label"])
    assert loss.item() == pytest.approx(torch.nn.functional.softplus(-logits).mean().item(), rel=1e-5)


# ----- priors ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", PRIORS)
@pytest.mark.parametrize("dim", [2, 5])
def test_priors_have_the_latent_shape_and_are_seeded(kind, dim):
    model = tiny_aae(latent_dim=dim, prior=kind)
    a = model.prior(500, torch.Generator().manual_seed(1))
    assert a.shape == (500, dim) and torch.isfinite(a).all()
    assert torch.equal(a, model.prior(500, torch.Generator().manual_seed(1)))
    if kind == "uniform":
        assert a.min() >= -1 and a.max() <= 1
    if kind == "normal":
        assert a.mean().abs() < 0.1 and (a.std() - 1).abs() < 0.1


def test_mixture_components_are_the_papers_radial_petals():
    prior = LatentPrior("mixture", 2, 10)
    g = torch.Generator().manual_seed(0)
    for k in range(10):
        z = prior(torch.randn(2000, 2, generator=g), torch.rand(2000, 2, generator=g), torch.full((2000,), k))
        angle = math.atan2(z[:, 1].mean(), z[:, 0].mean())
        assert math.isclose(angle % (2 * math.pi), 2 * math.pi * k / 10, abs_tol=0.05)
        assert z.norm(dim=1).mean() == pytest.approx(prior.radius, rel=0.05)
    z = prior(torch.randn(5000, 2, generator=g), torch.rand(5000, 2, generator=g))  # random components
    sectors = ((torch.atan2(z[:, 1], z[:, 0]) % (2 * math.pi)) / (2 * math.pi) * 10 + 0.5).long() % 10
    assert torch.bincount(sectors, minlength=10).min() > 350  # every petal drawn about equally


def test_swiss_roll_segments_run_along_the_roll():
    prior = LatentPrior("swiss_roll", 2, 10)
    g = torch.Generator().manual_seed(0)
    radii = [prior(torch.randn(500, 2, generator=g), torch.rand(500, 2, generator=g),
                   torch.full((500,), k)).norm(dim=1).mean().item() for k in range(10)]
    assert all(b > a for a, b in zip(radii, radii[1:]))  # later segments lie further out


def test_bad_options_are_refused_with_the_accepted_ones():
    with pytest.raises(GenlabError, match="normal, uniform, mixture, swiss_roll"):
        build("aae", {"prior": "cauchy"}, MNIST)
    with pytest.raises(GenlabError, match="mixture or swiss_roll"):
        build("aae", {"prior": "normal", "supervised": True}, MNIST)
    with pytest.raises(GenlabError, match="number of classes"):
        build("aae", {"prior": "mixture", "supervised": True}, DataSpec(num_classes=0))
    with pytest.raises(GenlabError, match="deterministic, gaussian"):
        build("aae", {"encoder": "flow"}, MNIST)
    with pytest.raises(GenlabError, match="28, 32"):
        build("aae", {"net": "conv"}, DataSpec(height=20, width=20))
    with pytest.raises(ValueError, match=r"'random' or an integer in 0..9"):
        tiny_aae(prior="mixture").sample(2, component=12)
    with pytest.raises(ValueError, match="no components"):
        tiny_aae().sample(2, component=3)


# ----- the supervised regulariser ------------------------------------------------------------------
def test_supervised_discriminator_sees_the_label_and_prior_follows_it():
    model = tiny_aae(prior="mixture", supervised=True)
    b = batch()
    z = torch.randn(16, 2)
    assert not torch.allclose(model._critic(z, b["label"]), model._critic(z, (b["label"] + 1) % 10))
    real = model._prior_for(b)  # prior draws for the labels of the batch
    angle = torch.atan2(real[:, 1], real[:, 0]) % (2 * math.pi)
    nearest = (angle / (2 * math.pi) * 10).round().long() % 10
    assert torch.equal(nearest, b["label"])
    digit = model.prior(64, torch.Generator().manual_seed(0), component=7)
    assert torch.atan2(digit[:, 1], digit[:, 0]).mean().item() == pytest.approx(2 * math.pi * 7 / 10 - 2 * math.pi, abs=0.1)


# ----- does q(z) match p(z)? -----------------------------------------------------------------------
def test_mmd_is_small_for_matching_samples_and_large_for_mismatched_ones():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(400, 2, generator=g), torch.randn(400, 2, generator=g)
    same = mmd_test(a, b, generator=g)
    shifted = mmd_test(a, torch.randn(400, 2, generator=g) * 0.7 + 0.3, generator=g)
    assert same["p_value"] > 0.05 and abs(same["mmd2"]) < 0.003
    assert shifted["p_value"] < 0.01 and shifted["mmd2"] > 10 * abs(same["mmd2"])
    # under the null the p-value is roughly uniform: not always tiny
    ps = [mmd_test(torch.randn(100, 2, generator=g), torch.randn(100, 2, generator=g), 100, g)["p_value"]
          for _ in range(20)]
    assert 0.2 < sum(ps) / len(ps) < 0.8


def test_prior_match_of_a_model_whose_codes_are_the_prior():
    """An encoder that outputs N(0, I) codes matches the normal prior; one squeezed to 0.1 does not."""
    model = tiny_aae(encoder="gaussian").eval()
    head = model.encoder.net.body[-1][-1]
    images = batch(300)["image"]
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()  # q(z|x) = N(0, I) for every x: the aggregated posterior is the prior
        good = prior_match(model, images)
        head.bias[2:] = math.log(0.01)  # std 0.1
        bad = prior_match(model, images)
    assert good["p_value"] > 0.05 and bad["p_value"] < 0.01 and bad["mmd2"] > 10 * abs(good["mmd2"])


# ----- shapes and sampling -----------------------------------------------------------------------------
@pytest.mark.parametrize("net,size", [("mlp", 16), ("mlp", 28), ("mlp", 30)] + [("conv", s) for s in CONV_SIZES])
@pytest.mark.parametrize("channels", [1, 3])
def test_encode_decode_shapes_for_every_supported_size(net, size, channels):
    spec = DataSpec(channels=channels, height=size, width=size, name="shapes")
    model = build("aae", {"latent_dim": 3, "net": net, "hidden": (8,), "width": 2, "disc_hidden": (8,)}, spec).eval()
    x = torch.rand(2, channels, size, size) * 2 - 1
    mean, std = model.encode(x)
    assert mean.shape == std.shape == (2, 3) and (std == 0).all()  # deterministic encoder: a point mass
    assert model.decode(mean).shape == (2, channels, size, size)
    for phase in model.bind_phases():
        assert torch.isfinite(phase.loss({"image": x, "label": torch.zeros(2, dtype=torch.long)})[0])


def test_sampling_is_seeded_and_components_are_controls():
    model = tiny_aae(prior="mixture", supervised=True).eval()
    names = [c.name for c in model.controls()]
    assert names == ["pixels", "component"]
    a = model.sample(5, torch.Generator().manual_seed(0), component=3)
    assert torch.equal(a, model.sample(5, torch.Generator().manual_seed(0), component="3"))
    assert a.shape == (5, 1, 28, 28) and a.abs().max() <= 1
    assert not torch.equal(a, model.sample(5, torch.Generator().manual_seed(0), component=4))
    assert [c.name for c in tiny_aae().controls()] == ["pixels"]  # the normal prior has no components
    assert {"latent", "encode", "sample"} <= model.capabilities and "log_prob" not in model.capabilities
