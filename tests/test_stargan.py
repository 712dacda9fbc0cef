"""StarGAN: conditioning, WGAN-GP on interpolates, the multi-label classification loss,
targets of any attribute combination, bad input named."""
import pytest
import torch

from genlab.data.domains import spec_for
from genlab.model import DataSpec
from genlab.models.stargan import StarGAN, StarGANConfig, classification_loss
from genlab.nn.gan_losses import gradient_penalty

SPEC = DataSpec(channels=3, height=16, width=16, name="three", attributes=("x", "y", "z"),
                domains=tuple(f"d{i}" for i in range(8)))
TINY = StarGANConfig(width=4, blocks=1, d_width=4)


def tiny():
    torch.manual_seed(0)
    return StarGAN(TINY, SPEC)


def images(n, seed=0):
    return torch.rand(n, *SPEC.image_shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_shapes_and_the_label_changes_the_output():
    m = tiny().eval()
    x = images(2)
    a, b = m.translate(x, [0, 0, 0]), m.translate(x, [1, 0, 1])
    assert a.shape == x.shape and (a - b).abs().mean() > 1e-3  # not washed out by instance norm
    assert torch.equal(m.translate(x, 5), b) and torch.equal(m.translate(x, "d5"), b)  # 5 = bits x and z
    rows = m.translate(x, torch.tensor([[0, 0, 0], [1, 0, 1]]))
    assert torch.equal(rows[0], a[0]) and torch.equal(rows[1], b[1])
    assert m.translate(x, [0.5, 0, 1]).shape == x.shape  # in-between values are accepted
    assert m.preview(images(3)).shape == (27, 3, 16, 16)  # each source, then its 8 domains
    src, cls = m.discriminator(x)
    assert cls.shape == (2, 3) and src.ndim == 4


def test_bad_targets_and_images_are_named():
    m = tiny()
    with pytest.raises(ValueError, match=r"3 attribute values \(x, y, z\).*got shape \(2,\)"):
        m.translate(images(1), [1, 0])
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        m.translate(images(1), [2, 0, 0])
    with pytest.raises(ValueError, match="unknown domain 'd9'"):
        m.translate(images(1), "d9")
    with pytest.raises(ValueError, match=r"shape \(N, 3, 16, 16\)"):
        m.translate(torch.zeros(1, 1, 16, 16), [0, 0, 0])
    with pytest.raises(ValueError, match="binary attributes"):
        StarGAN(TINY, DataSpec(channels=3, height=16, width=16))


def test_gradient_penalty_on_per_sample_interpolates():
    w = torch.randn(1, 3, 4, 4, requires_grad=True)
    linear = lambda u: (u * w).flatten(1).sum(1)  # noqa: E731  gradient w everywhere
    real, fake = torch.randn(5, 3, 4, 4), torch.randn(5, 3, 4, 4)
    gp = gradient_penalty(linear, real, fake, torch.rand(5))
    assert torch.allclose(gp, (w.norm() - 1) ** 2)
    gp.backward()  # create_graph=True: the penalty reaches the critic's weights
    assert w.grad is not None and w.grad.abs().sum() > 0
    # a quadratic critic: the gradient depends on where x_hat lies, one alpha per sample
    quad = lambda u: u.pow(2).flatten(1).sum(1) / 2  # noqa: E731  gradient = x_hat
    alpha = torch.tensor([0.0, 1.0])
    r, f = torch.full((2, 1, 1, 1), 3.0), torch.full((2, 1, 1, 1), 1.0)
    assert torch.allclose(gradient_penalty(quad, r, f, alpha), torch.tensor(((1 - 1) ** 2 + (3 - 1) ** 2) / 2))


def test_classification_loss_is_bce_summed_over_attributes():
    logits, target = torch.tensor([[0.0, 0.0, 0.0]] * 2), torch.tensor([[1.0, 0.0, 1.0]] * 2)
    assert torch.allclose(classification_loss(logits, target), torch.tensor(3 * 0.6931472))


def test_losses_and_one_training_step():
    m = tiny()
    batch = {"image": images(4), "attributes": torch.tensor([[0, 0, 0], [1, 0, 1], [1, 1, 1], [0, 1, 0]]).float()}
    d_loss, d_logs = m.discriminator_loss(batch)
    g_loss, g_logs = m.generator_loss(batch)
    assert torch.isfinite(d_loss) and torch.isfinite(g_loss) and {"gp", "cls"} <= set(d_logs)
    phases = m.phases()
    assert [p.name for p in phases] == ["discriminator", "generator"] and phases[1].every == TINY.d_steps
    d_loss.backward()
    assert all(p.grad is not None for p in m.discriminator.parameters())


def test_extra_metrics_per_attribute():
    torch.manual_seed(0)
    m = StarGAN(TINY, spec_for("mnist-styles8")).eval()
    out = m.extra_metrics(16, seed=0)
    assert out == m.extra_metrics(16, seed=0)
    for a in ("bold", "orange", "blue_bg"):
        assert out[f"{a}_identity_l1"] > 0 and f"{a}_l1" in out and f"{a}_identity_ratio" in out
    assert out["blue_bg_identity_l1"] > out["orange_identity_l1"]  # the background covers most pixels
    assert 0 <= out["class_kept"] <= 1 and "class_kept_truth" in out
