"""The contract every autoregressive family in the registry keeps (genlab/nn/autoregressive.py).

Each family is built tiny (its `tiny_config`) on tiny images with random weights;
every test proves a property, so a wrong mask, an off-by-one or a sampler that
does not match the network fails here.
"""
from __future__ import annotations

import itertools
import math

import pytest
import torch

from genlab.errors import GenlabError
from genlab.model import DataSpec
from genlab.nn.autoregressive import AutoregressiveModel
from genlab.registry import build, get_family, list_families

torch.set_num_threads(1)  # the test machine is shared; tiny models gain nothing from threads
AR_FAMILIES = [f for f in list_families() if issubclass(get_family(f), AutoregressiveModel)]


def tiny(family: str, binary: bool = True, h: int = 4, w: int = 4, **overrides):
    """A tiny random model, or None when the family refuses this kind of data."""
    cls = get_family(family)
    spec = DataSpec(channels=1, height=h, width=w, num_classes=10, binary=binary, name="tiny")
    torch.manual_seed(0)
    try:
        return build(family, {**cls.tiny_config, **overrides}, spec).eval()
    except GenlabError:
        return None


def both_heads(family: str):
    """(model, binary) for the Bernoulli head and, where the family has it, the 256-way one."""
    out = []
    for binary in (True, False):
        m = tiny(family, binary)
        if m is not None:
            out.append((m, binary))
    assert out, f"{family} builds on neither binary nor 8-bit tiny data"
    return out


def random_images(n: int, binary: bool, h: int = 4, w: int = 4, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if binary:
        return torch.randint(0, 2, (n, 1, h, w), generator=g).float() * 2 - 1
    return torch.randint(0, 256, (n, 1, h, w), generator=g).float() / 127.5 - 1


def test_registry_has_autoregressive_families():
    assert {"nade", "pixelcnn"} <= set(AR_FAMILIES)


@pytest.mark.parametrize("family", AR_FAMILIES)
def test_capabilities_and_phase(family):
    m, _ = both_heads(family)[0]
    assert {"log_prob", "pixel_log_prob", "sample_steps"} <= m.capabilities
    assert m.log_prob_is_exact
    (phase,) = m.bind_phases()
    assert phase.name == "likelihood"
    assert {id(p) for p in phase.params} == {id(p) for p in m.parameters()}
    assert [c.name for c in m.controls()][0] == "temperature"


def test_weight_decay_shrinks_every_weight_by_lr_times_decay_per_step():
    """[optim] weight_decay > 0 gives AdamW's decoupled decay: with no gradient, one step scales
    every weight by exactly 1 - lr * weight_decay; 0 (the default) leaves plain Adam."""
    from genlab.training.config import make_optim

    m = tiny("nade")
    assert m.bind_phases()[0].optimizer.kind == "adam"
    m.optim = make_optim(type(m), {"lr": 0.01, "weight_decay": 0.5})
    (phase,) = m.bind_phases()
    opt = phase.optimizer.build(phase.params)
    before = [p.detach().clone() for p in phase.params]
    for p in phase.params:
        p.grad = torch.zeros_like(p)
    opt.step()
    for p, b in zip(phase.params, before):
        torch.testing.assert_close(p.detach(), b * (1 - 0.01 * 0.5))
    with pytest.raises(GenlabError, match=r"\[optim\] weight_decay must be a number in \[0, 1\), got -0.1"):
        make_optim(type(m), {"weight_decay": -0.1})


@pytest.mark.parametrize("family", AR_FAMILIES)
def test_causality_by_input_gradients(family):
    """d output(i) / d x(j) is exactly 0 for every j >= i in raster order."""
    for m, binary in both_heads(family):
        x = random_images(2, binary).requires_grad_(True)
        out = m.network(x)  # (N, K, H, W)
        h, w = x.shape[2:]
        for i in range(h * w):
            (g,) = torch.autograd.grad(out[:, :, i // w, i % w].sum(), x, retain_graph=True)
            later = g.abs().sum((0, 1)).flatten()[i:]
            assert later.max() == 0, f"{family}: output {i} depends on input {i + int(later.argmax())}"


@pytest.mark.parametrize("family", AR_FAMILIES)
def test_binary_probabilities_sum_to_one(family):
    """All 512 binary 3x3 images: sum of p(x) = 1."""
    m = tiny(family, True, 3, 3).double()
    grid = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=9)), dtype=torch.float64)
    with torch.no_grad():
        logp = m.log_prob(grid.view(512, 1, 3, 3))
    assert torch.logsumexp(logp, 0).exp().item() == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("family", AR_FAMILIES)
def test_256_way_probabilities_sum_to_one(family):
    """Two-pixel 8-bit images, p(x) = p(x1) p(x2 | x1): sum over x1 of p(x1) = 1, and for several
    x1 the sum over x2 of p(x2 | x1) = 1 (families with the categorical head)."""
    m = tiny(family, False, 1, 2)
    if m is None:
        pytest.skip(f"{family} has no 8-bit head")
    m = m.double()
    levels = torch.arange(256, dtype=torch.float64) / 127.5 - 1
    first = torch.stack([levels, torch.zeros(256, dtype=torch.float64)], 1).view(256, 1, 1, 2)
    given = levels[[0, 77, 200, 255]]
    second = torch.cartesian_prod(given, levels).view(4 * 256, 1, 1, 2)
    with torch.no_grad():
        p1 = m.pixel_log_prob(first)[:, 0, 0]
        p2 = m.pixel_log_prob(second)[:, 0, 1].view(4, 256)
    assert torch.logsumexp(p1, 0).exp().item() == pytest.approx(1.0, abs=1e-9)
    assert torch.allclose(torch.logsumexp(p2, 1).exp(), torch.ones(4, dtype=torch.float64), atol=1e-9)
    assert not torch.allclose(p2[0], p2[3])  # the second pixel's conditional depends on the first


@pytest.mark.parametrize("family", AR_FAMILIES)
def test_log_prob_is_sum_of_pixel_log_probs_and_loss_is_nats(family):
    for m, binary in both_heads(family):
        x = random_images(3, binary)
        with torch.no_grad():
            pix = m.pixel_log_prob(x)
            lp = m.log_prob(x)
            loss, logs = m.likelihood_loss({"image": x, "label": torch.zeros(3, dtype=torch.long)})
        assert pix.shape == (3, 4, 4)
        assert (pix <= 0).all()
        assert torch.allclose(pix.flatten(1).sum(1), lp)
        assert loss.item() == pytest.approx(-lp.mean().item(), rel=1e-5)  # summed over pixels, not averaged
        assert logs["bits_per_dim"].item() == pytest.approx(loss.item() / (16 * math.log(2)), rel=1e-5)


@pytest.mark.parametrize("family", AR_FAMILIES)
def test_training_steps_lower_the_nll(family):
    m, binary = both_heads(family)[0]
    m.train()
    # Constant images (all -1 or all +1): the first pixel decides the rest, 1 bit per image.
    first_pixel = random_images(16, True, 1, 1, seed=1)
    batch = {"image": first_pixel.expand(16, 1, 4, 4).contiguous(), "label": torch.zeros(16, dtype=torch.long)}
    (phase,) = m.bind_phases()
    opt = torch.optim.Adam(phase.params, lr=1e-2)
    first = None
    for _ in range(30):
        loss, _ = phase.loss(batch)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert phase.loss(batch)[0].item() < first - 3.0


@pytest.mark.parametrize("family", AR_FAMILIES)
def test_sampling_is_seeded_and_valid(family):
    for m, binary in both_heads(family):
        a = m.sample(6, generator=torch.Generator().manual_seed(5))
        b = m.sample(6, generator=torch.Generator().manual_seed(5))
        c = m.sample(6, generator=torch.Generator().manual_seed(6))
        assert a.shape == (6, 1, 4, 4) and torch.equal(a, b) and not torch.equal(a, c)
        if binary:
            assert ((a == 1) | (a == -1)).all()
        else:  # on the 256-level grid
            k = (a + 1) * 127.5
            assert torch.allclose(k, k.round(), atol=1e-4)


@pytest.mark.parametrize("family", AR_FAMILIES)
def test_fast_sampler_matches_reference(family):
    """Same seed -> the same images from the caching sampler and the full-network reference."""
    for m, _ in both_heads(family):
        for given_rows in (0, 2):
            given = random_images(1, m.data_spec.binary, seed=3)
            kw = dict(given=given, given_rows=given_rows) if given_rows else {}
            fast = m.sample(5, generator=torch.Generator().manual_seed(1), **kw)
            ref = m.sample(5, generator=torch.Generator().manual_seed(1), sampler="reference", **kw)
            assert torch.equal(fast, ref)


@pytest.mark.parametrize("family", AR_FAMILIES)
def test_completion_keeps_given_rows(family):
    for m, binary in both_heads(family):
        given = random_images(3, binary, seed=2)
        out = m.sample(3, generator=torch.Generator().manual_seed(0), given=given, given_rows=2)
        assert torch.equal(out[:, :, :2], given[:, :, :2])
        # The rows below are generated, not copied (a copy would match on every pixel).
        assert not torch.equal(out[:, :, 2:], given[:, :, 2:])
        one = m.sample(4, generator=torch.Generator().manual_seed(0), given=given[:1], given_rows=3)
        assert torch.equal(one[:, :, :3], given[:1, :, :3].expand(4, -1, -1, -1))


@pytest.mark.parametrize("family", AR_FAMILIES)
def test_sample_steps_frames(family):
    m, _ = both_heads(family)[0]
    frames = list(m.sample_steps(2, generator=torch.Generator().manual_seed(9), every=4))
    assert len(frames) == 4 + 1  # the start, one per row of 4 (the last is the finished image)
    assert (frames[0] == 0).all()  # not yet generated = mid-grey
    assert (frames[1][:, :, 1:] == 0).all() and (frames[1][:, :, 0] != 0).all()
    assert torch.equal(frames[-1], m.sample(2, generator=torch.Generator().manual_seed(9)))
    every_pixel = list(m.sample_steps(1, generator=torch.Generator().manual_seed(9), every=1))
    assert len(every_pixel) == 16 + 1
    declared = next(c for c in m.controls_for("steps") if c.name == "every").default
    assert len(list(m.sample_steps(1, generator=torch.Generator().manual_seed(9)))) == 16 // declared + 1


@pytest.mark.parametrize("family", AR_FAMILIES)
def test_low_temperature_picks_the_most_likely_value(family):
    """At T -> 0 every generated pixel is the mode of its own conditional (checked by teacher forcing)."""
    for m, binary in both_heads(family):
        x = m.sample(4, generator=torch.Generator().manual_seed(0), temperature=1e-4)
        with torch.no_grad():
            out = m.network(x)
        if binary:
            assert torch.equal(torch.where(out > 0, 1.0, -1.0), x)
        else:
            assert torch.equal(out.argmax(1, keepdim=True), m.head.to_index(x))


@pytest.mark.parametrize("family", AR_FAMILIES)
def test_bad_inputs_are_refused(family):
    for m, binary in both_heads(family):
        with pytest.raises(ValueError, match="shape"):
            m.log_prob(torch.zeros(2, 1, 5, 4))
        with pytest.raises(ValueError, match="temperature"):
            m.sample(1, temperature=0)
        with pytest.raises(ValueError, match="given_rows"):
            m.sample(1, given_rows=2)
        with pytest.raises(ValueError, match="sampler"):
            m.sample(1, sampler="magic")
        if binary:
            with pytest.raises(ValueError, match="exactly -1 or 1"):
                m.log_prob(torch.full((1, 1, 4, 4), 0.5))
