"""InfoGAN (Chen et al. 2016): where the MI gradient goes, the latent codes, the controls."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from genlab.model import DataSpec
from genlab.models.infogan import InfoGAN, InfoGANConfig
from genlab.training import make_recipe
from genlab.training.trainer import Trainer

TINY = dict(noise_dim=8, width=8, hidden=32, q_hidden=16)
BATCH = {"image": torch.zeros(16, 1, 28, 28)}


def tiny(**kw) -> InfoGAN:
    torch.manual_seed(0)
    return InfoGAN(InfoGANConfig(**{**TINY, **kw}), DataSpec())


def phase(model: InfoGAN, name: str):
    return next(p for p in model.bind_phases() if p.name == name)


def grads_of(model: InfoGAN, name: str, loss_part=None, seed: int = 0) -> dict[str, torch.Tensor]:
    """Gradients of a phase's loss (or of its MI part) under the trainer's rule: only the phase's
    own parameters require grad."""
    p = phase(model, name)
    own = set(map(id, p.params))
    for q in model.parameters():
        q.requires_grad_(id(q) in own)
        q.grad = None
    torch.manual_seed(seed)
    loss, logs = p.loss(BATCH)
    (loss if loss_part is None else loss_part(logs)).backward()
    return {n: q.grad for n, q in model.named_parameters() if q.grad is not None and q.grad.abs().sum() > 0}


# ----- where the mutual-information gradient goes ----------------------------------------

def test_phases_split_parameters_as_documented():
    model = tiny()
    d, g = (set(map(id, phase(model, n).params)) for n in ("discriminator", "generator"))
    q_head = set(map(id, model.discriminator.q_head.parameters()))
    assert q_head <= d and not q_head & g  # Q's head is trained by the D phase
    assert set(map(id, model.generator.parameters())) == g
    assert d | g == set(map(id, model.parameters())) and not d & g


def test_information_loss_reaches_the_generator():
    """G's gradient changes when the MI term is switched off: the MI loss reaches G through D/Q."""
    with_mi = grads_of(tiny(), "generator", seed=1)
    without = grads_of(tiny(lambda_cat=0.0, lambda_cont=0.0), "generator", seed=1)
    assert with_mi and set(with_mi) <= {n for n, _ in tiny().named_parameters() if n.startswith("generator.")}
    name = "generator.fc.0.weight"
    assert not torch.allclose(with_mi[name], without[name])
    # and the MI part alone has a non-zero gradient on every layer of G
    model = tiny()
    model.generator.train()
    p = phase(model, "generator")
    for q in model.parameters():
        q.requires_grad_(any(q is own for own in p.params))
    z = model.prior(16)
    _, q_out = model.discriminator.heads(model.generator(z))
    model.information_loss(q_out, z)[0].backward()
    for n, q in model.generator.named_parameters():
        assert q.grad is not None and q.grad.abs().sum() > 0, f"no MI gradient on generator.{n}"


def test_information_loss_trains_q_head_and_shared_body_in_the_d_phase():
    with_mi = grads_of(tiny(), "discriminator")
    assert any(n.startswith("discriminator.q_head.") for n in with_mi)
    without = grads_of(tiny(lambda_cat=0.0, lambda_cont=0.0), "discriminator")
    assert not any(n.startswith("discriminator.q_head.") for n in without)
    body = "discriminator.body.2.weight"  # the shared FC layer
    assert not torch.allclose(with_mi[body], without[body])


def test_information_loss_is_the_negative_log_likelihood_of_the_codes():
    model = tiny(learn_std=True)
    z = model.prior(5, generator=torch.Generator().manual_seed(0))
    q_out = torch.randn(5, 10 + 2 * 2)
    loss, logs = model.information_loss(q_out, z)
    _, onehot, cont = model.split_latent(z)
    nll_cat = -F.log_softmax(q_out[:, :10], 1)[torch.arange(5), onehot.argmax(1)].mean()
    normal = torch.distributions.Normal(q_out[:, 10:12], q_out[:, 12:14].exp())
    nll_cont = -normal.log_prob(cont).sum(1).mean()
    assert loss.item() == pytest.approx((nll_cat + nll_cont).item(), rel=1e-5)
    assert logs["MI_cat"].item() == pytest.approx(math.log(10) - nll_cat.item(), rel=1e-5)
    # fixed std 1 (the paper's MNIST setting) is the same Gaussian with log-std 0
    fixed = tiny()
    loss_fixed, _ = fixed.information_loss(q_out[:, :12], z)
    unit = -torch.distributions.Normal(q_out[:, 10:12], 1.0).log_prob(cont).sum(1).mean()
    assert loss_fixed.item() == pytest.approx((nll_cat + unit).item(), rel=1e-5)


def test_training_makes_the_categorical_code_recoverable(tmp_path):
    """Through the trainer's phases, Q learns to read c1 off G's images within 60 steps;
    with lambda = 0 nothing trains Q's head and it stays at chance (0.1)."""
    acc = {}
    for lam in (1.0, 0.0):
        recipe = make_recipe("infogan", steps=60, overrides=[f"{k}={v}" for k, v in TINY.items()] + [
            "batch_size=32", "lr_d=1e-3", "log_every=20", "sample_every=1000", "grid_size=4", "threads=1",
            f"lambda_cat={lam}", f"lambda_cont={lam}"])
        trainer = Trainer(recipe, tmp_path / str(lam), progress=False)
        trainer.fit()
        model = trainer.model.eval()
        codes = torch.arange(200) % 10
        with torch.no_grad():
            images = model.sample(200, generator=torch.Generator().manual_seed(0), digit_code=codes)
            acc[lam] = (model.infer_codes(images)["digit_code"].argmax(1) == codes).float().mean().item()
    assert acc[1.0] > 0.4, acc  # 0.70 at this seed; 4x chance at least
    assert acc[0.0] < 0.2, acc


# ----- latent layout, controls, determinism ------------------------------------------

def test_prior_layout_and_distribution():
    model = tiny()
    z = model.prior(5000, generator=torch.Generator().manual_seed(0))
    assert z.shape == (5000, 8 + 10 + 2) == (5000, model.latent_dim)
    noise, onehot, cont = model.split_latent(z)
    assert torch.equal(onehot.sum(1), torch.ones(5000)) and set(onehot.unique().tolist()) == {0.0, 1.0}
    counts = onehot.sum(0)
    assert counts.min() > 400 and counts.max() < 600  # Cat(10, p = 0.1): 500 each
    assert cont.min() >= -1 and cont.max() <= 1 and abs(cont.mean()) < 0.05
    assert noise.min() >= -1 and noise.max() <= 1  # uniform noise, as in the authors' code


def test_sample_shape_range_and_seed_determinism():
    model = tiny().eval()
    a = model.sample(4, generator=torch.Generator().manual_seed(7))
    b = model.sample(4, generator=torch.Generator().manual_seed(7))
    c = model.sample(4, generator=torch.Generator().manual_seed(8))
    assert a.shape == (4, 1, 28, 28) and a.min() >= -1 and a.max() <= 1
    assert torch.equal(a, b) and not torch.allclose(a, c)


def test_changing_only_the_categorical_code_changes_the_sample():
    model = tiny().eval()
    seed = lambda: torch.Generator().manual_seed(5)  # noqa: E731
    three = model.sample(4, generator=seed(), digit_code=3)
    assert torch.equal(three, model.sample(4, generator=seed(), digit_code="3"))
    assert not torch.allclose(three, model.sample(4, generator=seed(), digit_code=4))
    assert not torch.allclose(three, model.sample(4, generator=seed(), digit_code=3, code_1=1.5))


def test_with_codes_writes_only_the_code_slots():
    model = tiny()
    z = model.prior(3, generator=torch.Generator().manual_seed(0))
    z2 = model.with_codes(z, digit_code=[0, 5, 9], code_2=-1.75)
    noise, onehot, cont = model.split_latent(z2)
    assert torch.equal(noise, model.split_latent(z)[0])
    assert onehot.argmax(1).tolist() == [0, 5, 9]
    assert torch.equal(cont[:, 0], model.split_latent(z)[2][:, 0])  # code_1 untouched
    assert torch.equal(cont[:, 1], torch.full((3,), -1.75))
    assert torch.equal(model.with_codes(z, digit_code="random"), z)  # and z itself is not modified


def test_controls_describe_the_codes():
    controls = {c.name: c for c in tiny().controls()}
    assert controls["digit_code"].kind == "choice"
    assert list(controls["digit_code"].choices) == ["random", *range(10)]
    for name in ("code_1", "code_2"):
        assert controls[name].kind == "slider"
        assert controls[name].low < -1 and controls[name].high > 1  # wider than training: extrapolation
    assert "truncation" in controls


@pytest.mark.parametrize("controls, message", [
    ({"digit_code": 10}, r"digit_code must be 'random' or an integer in 0\.\.9; got 10"),
    ({"digit_code": -1}, r"integer in 0\.\.9; got -1"),
    ({"digit_code": 2.5}, "digit_code must be an integer; got 2.5"),
    ({"digit_code": "seven"}, "digit_code must be a number"),
    ({"digit_code": [1, 2]}, r"one value per sample \(4\)"),
    ({"code_1": 2.5}, r"code_1 must lie in \[-2.0, 2.0\]"),
    ({"code_2": float("nan")}, r"code_2 must lie in"),
    ({"code_3": 0.0}, "unknown InfoGAN control code_3; controls are digit_code, code_1, code_2"),
])
def test_bad_control_values_are_refused_clearly(controls, message):
    model = tiny().eval()
    with pytest.raises(ValueError, match=message):
        model.sample(4, generator=torch.Generator().manual_seed(0), **controls)


def test_decode_checks_the_latent_shape():
    with pytest.raises(ValueError, match=r"latents have shape \(N, 20\)"):
        tiny().decode(torch.zeros(2, 19))


def test_unsupported_image_size_is_refused():
    with pytest.raises(ValueError, match="square images of side"):
        InfoGAN(InfoGANConfig(**TINY), DataSpec(height=30, width=30))


# ----- genlab.metrics.codes: the code-accuracy measurement ---------------------------------

def test_code_matching_is_one_to_one_and_exposes_merged_digits():
    from genlab.metrics.codes import match_codes, purity

    perm = np.array([3, 0, 1, 2])  # code k shows digit perm[k]
    counts = np.zeros((4, 10), dtype=np.int64)
    counts[np.arange(4), perm] = 90
    counts[np.arange(4), (perm + 1) % 4] = 10
    mapping, acc = match_codes(counts)
    assert mapping.tolist() == perm.tolist() and acc == pytest.approx(0.9)
    merged = np.zeros((4, 10), dtype=np.int64)  # codes 0 and 1 both draw digit 4
    merged[0, 4] = merged[1, 4] = merged[2, 7] = merged[3, 1] = 100
    mapping, acc = match_codes(merged)
    assert len(set(mapping.tolist())) == 4 and acc == pytest.approx(0.75)
    assert purity(merged) == 1.0  # many-to-one looks perfect; one-to-one shows the merge


def test_image_moments_read_slant_and_width():
    from genlab.metrics.codes import moments

    canvas = -torch.ones(3, 1, 28, 28)
    for y in range(6, 22):
        canvas[0, 0, y, 14] = 1  # upright stroke
        canvas[1, 0, y, 14 + (14 - y) // 3] = 1  # top leans right
        canvas[2, 0, y, 10:19] = 1  # a wide block
    slant, width = moments(canvas)
    assert abs(slant[0]) < 1e-6 and slant[1] > 0.2
    assert width[1] < 0.5  # a slanted stroke is not a wide one
    assert width[0] < 1e-6 and width[2] > 2.5  # 9 columns wide: std sqrt((9**2 - 1) / 12) = 2.58
