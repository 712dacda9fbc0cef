"""The MLP GAN (Goodfellow et al. 2014): losses as defined, maxout, sampling, learning."""
import math

import pytest
import torch
import torch.nn.functional as F

from genlab.errors import GenlabError
from genlab.model import DataSpec
from genlab.models.gan import GAN, GANConfig, Maxout
from genlab.registry import build
from genlab.training import make_recipe
from genlab.training.trainer import Trainer

TINY = dict(latent_dim=8, g_hidden=32, d_units=16, d_pieces=3)


def tiny(**kw) -> GAN:
    torch.manual_seed(0)
    return GAN(GANConfig(**{**TINY, **kw}), DataSpec())


class FixedLogits(torch.nn.Module):
    """A stand-in discriminator that answers known logits, one tensor per call (the last one
    repeats), and keeps the graph to its input."""

    def __init__(self, *answers: torch.Tensor):
        super().__init__()
        self.answers = list(answers)

    def forward(self, x):
        logits = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return logits + 0.0 * x.sum()


def test_sample_shape_range_and_seed_determinism():
    model = tiny().eval()
    a = model.sample(6, generator=torch.Generator().manual_seed(3))
    b = model.sample(6, generator=torch.Generator().manual_seed(3))
    c = model.sample(6, generator=torch.Generator().manual_seed(4))
    assert a.shape == (6, 1, 28, 28)
    assert a.min() >= -1 and a.max() <= 1
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


@pytest.mark.parametrize("kind", ["non_saturating", "minimax"])
def test_generator_loss_matches_the_paper_formulas(kind):
    logits = torch.tensor([-4.0, -1.0, 0.0, 2.0, 5.0])
    d = torch.sigmoid(logits)
    model = tiny(generator_loss=kind)
    model.discriminator = FixedLogits(logits)
    loss, _ = model.generator_loss({"image": torch.zeros(5, 1, 28, 28)})
    expected = {"non_saturating": -torch.log(d).mean(),  # G maximises log D(G(z))  (paper §3)
                "minimax": torch.log(1 - d).mean()}[kind]  # G minimises log(1 - D(G(z)))  (Eq. 1)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_minimax_saturates_where_non_saturating_does_not():
    """Early in training D rejects fakes (very negative logits): the minimax gradient vanishes there."""
    grads = {}
    for kind in ("non_saturating", "minimax"):
        logits = torch.full((4,), -8.0, requires_grad=True)
        model = tiny(generator_loss=kind)
        model.discriminator = FixedLogits(logits)
        model.generator_loss({"image": torch.zeros(4, 1, 28, 28)})[0].backward()
        grads[kind] = logits.grad.abs().mean().item()
    assert grads["non_saturating"] > 0.2  # d/dl -log sigmoid(l) = sigmoid(l) - 1 ~ -1 / N
    assert grads["minimax"] < 1e-3  # d/dl log(1 - sigmoid(l)) = -sigmoid(l) ~ 0


def test_discriminator_loss_is_the_negated_value_function():
    real, fake = torch.tensor([3.0, -1.0]), torch.tensor([0.5, -2.0])
    model = tiny()
    model.discriminator = FixedLogits(real, fake)  # D sees the real batch first, then the fakes
    loss, logs = model.discriminator_loss({"image": torch.zeros(2, 1, 28, 28)})
    expected = -(torch.log(torch.sigmoid(real)).mean() + torch.log(1 - torch.sigmoid(fake)).mean())
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert logs["D(x)"].item() == pytest.approx(torch.sigmoid(real).mean().item(), rel=1e-5)


def test_maxout_takes_the_max_over_pieces():
    torch.manual_seed(0)
    layer = Maxout(5, units=3, pieces=4)
    x = torch.randn(7, 5)
    pieces = (x @ layer.linear.weight.T + layer.linear.bias).view(7, 3, 4)
    assert torch.allclose(layer(x), pieces.max(2).values)
    assert not torch.allclose(layer(x), pieces.mean(2))


def test_discriminator_uses_dropout_only_in_training():
    model = tiny(d_activation="leaky_relu")
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    model.train()
    assert not torch.equal(model.discriminator(x), model.discriminator(x))
    model.eval()
    assert torch.equal(model.discriminator(x), model.discriminator(x))


@pytest.mark.parametrize("option, value, allowed", [
    ("generator_loss", "wasserstein", "non_saturating, minimax"),
    ("d_activation", "relu", "maxout, leaky_relu"),
    ("prior", "cauchy", "normal, uniform"),
])
def test_bad_options_are_refused_with_the_choices(option, value, allowed):
    with pytest.raises(GenlabError, match=f"option {option} must be one of {allowed}, got '{value}'"):
        build("gan", {**TINY, option: value})


def test_images_too_big_for_an_mlp_are_refused():
    with pytest.raises(ValueError, match="at most 3072 values"):
        GAN(GANConfig(**TINY), DataSpec(channels=3, height=64, width=64))
    GAN(GANConfig(**TINY), DataSpec(channels=3, height=32, width=32))  # CIFAR-sized is fine


def test_training_moves_samples_toward_the_data(tmp_path):
    """A hundred small steps already pull G's mostly-grey output toward MNIST's black
    background (data mean ~ -0.74); an untrained G sits near 0."""
    recipe = make_recipe("gan", steps=100, overrides=[f"{k}={v}" for k, v in TINY.items()] + [
        "batch_size=32", "log_every=20", "sample_every=1000", "grid_size=4", "lr_g=2e-3", "lr_d=2e-3", "threads=1",
        "d_steps=1"])  # a hundred G updates (the quick recipe, which this builds on, has k = 2)
    trainer = Trainer(recipe, tmp_path, progress=False)
    model = trainer.model.eval()
    before = model.sample(256, generator=torch.Generator().manual_seed(0)).mean().item()
    trainer.fit()
    model.eval()
    after = model.sample(256, generator=torch.Generator().manual_seed(0)).mean().item()
    assert abs(before) < 0.3
    assert after < -0.4, f"mean pixel {after:.2f} after training; MNIST's is about -0.74"


def test_d_steps_gives_k_discriminator_updates_per_generator_update(tmp_path):
    """Algorithm 1's k: with d_steps = 3, seven steps update D seven times and G three (steps 0, 3, 6)."""
    recipe = make_recipe("gan", steps=7, overrides=[f"{k}={v}" for k, v in TINY.items()] + [
        "d_steps=3", "batch_size=8", "log_every=7", "sample_every=1000", "grid_size=4", "threads=1"])
    trainer = Trainer(recipe, tmp_path, progress=False)
    trainer.fit()
    updates = {name: int(next(iter(opt.state.values()))["step"]) for name, opt in trainer.optimizers.items()}
    assert updates == {"discriminator": 7, "generator": 3}
    with pytest.raises(GenlabError, match="d_steps"):
        build("gan", {**TINY, "d_steps": 0})
