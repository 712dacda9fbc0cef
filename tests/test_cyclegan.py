"""CycleGAN: translation shapes, the losses as defined, the history pool (and its exact resume),
bad input named."""
import pytest
import torch

from genlab.checkpoint import load_checkpoint
from genlab.model import DataSpec
from genlab.models.cyclegan import CycleGAN, CycleGANConfig, ImagePool, lsgan
from genlab.training import resolve_run
from genlab.training.trainer import Trainer

SPEC = DataSpec(channels=3, height=12, width=12, name="two", domains=("a", "b"))
TINY = CycleGANConfig(width=4, blocks=1)


def tiny(**kw):
    torch.manual_seed(0)
    return CycleGAN(CycleGANConfig(**{**TINY.__dict__, **kw}), SPEC)


def images(n, seed=0):
    return torch.rand(n, *SPEC.image_shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_translate_routes_each_image_to_its_generator():
    m = tiny().eval()
    x = images(4)
    assert "translate" in m.capabilities and "sample" not in m.capabilities
    with torch.no_grad():
        to_b, to_a = m.g_ab(x).clamp(-1, 1), m.g_ba(x).clamp(-1, 1)
    assert torch.allclose(m.translate(x, 1), to_b) and torch.allclose(m.translate(x, "a"), to_a)
    mixed = m.translate(x, torch.tensor([0, 1, 1, 0]))
    assert torch.allclose(mixed[1], to_b[1]) and torch.allclose(mixed[0], to_a[0])
    assert m.preview(x).shape == (12, 3, 12, 12)  # real, translated, cycled back


def test_bad_input_is_named():
    m = tiny()
    with pytest.raises(ValueError, match=r"shape \(N, 3, 12, 12\)"):
        m.translate(torch.zeros(1, 1, 12, 12), 1)  # grey into an RGB model
    with pytest.raises(ValueError, match=r"shape \(N, 3, 12, 12\)"):
        m.translate(torch.zeros(1, 3, 16, 16), 1)
    with pytest.raises(ValueError, match=r"unknown domain 'zebra'.*0 \(a\), 1 \(b\)"):
        m.translate(images(1), "zebra")
    with pytest.raises(ValueError, match="unknown domain 2"):
        m.translate(images(1), 2)
    with pytest.raises(ValueError, match="exactly 2 domains"):
        CycleGAN(TINY, DataSpec(channels=3, height=12, width=12))
    with pytest.raises(ValueError, match="multiples of 4"):
        CycleGAN(TINY, DataSpec(channels=3, height=10, width=10, domains=("a", "b")))


def test_generator_loss_is_lsgan_plus_cycle_plus_identity():
    m = tiny()
    a, b = images(3, 1), images(3, 2)
    batch = {"image": torch.cat([a, b]), "domain": torch.tensor([0, 0, 0, 1, 1, 1])}
    loss, logs = m.generator_loss(batch)
    fb, fa = m.g_ab(a), m.g_ba(b)
    adv = ((m.d_b(fb) - 1) ** 2).mean() + ((m.d_a(fa) - 1) ** 2).mean()
    cyc = (m.g_ba(fb) - a).abs().mean() + (m.g_ab(fa) - b).abs().mean()
    idt = (m.g_ab(b) - b).abs().mean() + (m.g_ba(a) - a).abs().mean()
    assert torch.allclose(loss, adv + 10 * cyc + 5 * idt, rtol=1e-5)  # lambda 10, identity 0.5 lambda
    assert torch.allclose(logs["cycle"], cyc) and torch.allclose(logs["identity"], idt)


def test_discriminator_loss_is_half_lsgan_on_detached_fakes():
    m = tiny(pool_size=0)
    a, b = images(2, 3), images(2, 4)
    batch = {"image": torch.cat([a, b]), "domain": torch.tensor([0, 0, 1, 1])}
    m.generator_loss(batch)  # the trainer's order: G, then D on that step's fakes
    fa, fb = m._fakes
    loss, _ = m.discriminator_loss(batch)
    want = 0.5 * (lsgan(m.d_a(a), 1) + lsgan(m.d_a(fa), 0)) + 0.5 * (lsgan(m.d_b(b), 1) + lsgan(m.d_b(fb), 0))
    assert torch.allclose(loss, want)
    assert not fa.requires_grad and not fb.requires_grad


def test_history_pool_returns_past_images_half_the_time_once_full():
    torch.manual_seed(0)
    pool = ImagePool(50)
    first = torch.arange(50.0).view(50, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # filling: the new images come back
    new = -1.0 - torch.arange(4000.0).view(-1, 1, 1, 1)  # every image different
    out = pool.query(new)
    past = out != new
    assert 0.45 < past.float().mean().item() < 0.55
    stored = set(range(50)) | set(new.flatten().tolist())
    assert set(out[past].tolist()) <= stored  # only images that were stored before
    assert all(v >= -1 - i for i, v in enumerate(out.flatten().tolist()))  # never one from the future
    state = pool.state()
    other = ImagePool(50)
    other.load(state)
    assert other.count == 50 and torch.equal(other.images, pool.images)


def fit(out, steps, resume=False):
    overrides = ["width=4", "blocks=1", "batch_size=2", "log_every=1", "checkpoint_every=1000",
                 "sample_every=1000", "grid_size=2", "pool_size=3"]
    recipe, out = resolve_run("cyclegan", None, None, steps, overrides, None, out, resume)
    Trainer(recipe, out, resume=resume, progress=False).fit()
    return load_checkpoint(out / "latest.pt")


def test_pool_is_in_the_checkpoint_and_resume_is_exact(tmp_path):
    whole = fit(tmp_path / "whole", 4)
    fit(tmp_path / "split", 2)
    split = fit(tmp_path / "split", 4, resume=True)
    assert whole["step_state"]["pool_a"]["count"] == 3  # 2 per step, pool of 3: full
    for key in ("pool_a", "pool_b"):
        assert torch.equal(whole["step_state"][key]["images"], split["step_state"][key]["images"])
    for k, v in whole["model"].items():
        assert torch.equal(v, split["model"][k]), k


def test_extra_metrics_score_against_the_truth():
    from genlab.data.domains import spec_for

    torch.manual_seed(0)
    m = CycleGAN(TINY, spec_for("mnist-styles2")).eval()
    out = m.extra_metrics(20, seed=1)
    assert out["pairs"] == 20 and out == m.extra_metrics(20, seed=1)
    assert 0.5 < out["identity_l1"] < 0.8  # plain vs bold orange on blue
    for k in ("a2b_l1", "b2a_psnr", "class_kept", "class_kept_truth", "cycle_l1", "identity_ratio"):
        assert k in out
    assert "translation_skipped" in CycleGAN(TINY, SPEC).extra_metrics(5)
