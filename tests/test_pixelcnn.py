"""PixelCNN-specific properties: no blind spot (and the plain stack's blind spot), the
row-cached sampler against the full network, class conditioning, colour channel order.
The shared AR contract is in test_autoregressive_contract.py."""
from __future__ import annotations

import itertools
import math

import pytest
import torch

from genlab.errors import GenlabError
from genlab.model import DataSpec
from genlab.models.pixelcnn import CachedGatedSampler
from genlab.registry import build

torch.set_num_threads(1)
TINY = {"features": 8, "layers": 4, "kernel_size": 3, "first_kernel_size": 7, "head_features": 8}


def model(h=6, w=6, binary=True, channels=1, **over):
    torch.manual_seed(0)
    spec = DataSpec(channels, h, w, 10, binary, "tiny")
    return build("pixelcnn", {**TINY, **over}, spec).eval()


def seen(m, i, j) -> torch.Tensor:
    """(H, W) bool: which input pixels the output at (i, j) depends on (input gradients, float64)."""
    m = m.double()
    x = torch.randn(2, m.data_spec.channels, m.data_spec.height, m.data_spec.width, dtype=torch.float64)
    x.requires_grad_(True)
    (g,) = torch.autograd.grad(m.network(x)[:, :, i, j].sum(), x)
    return g.abs().sum((0, 1)) > 0


def test_gated_stack_sees_every_earlier_pixel_and_no_later_one():
    m = model()
    for i, j in itertools.product(range(6), range(6)):
        s = seen(m, i, j).flatten()
        d = i * 6 + j
        assert s[:d].all(), f"blind spot at output ({i}, {j}): misses {(~s[:d]).nonzero().flatten().tolist()}"
        assert not s[d:].any()


def test_dropout_trains_on_masked_units_and_never_lets_a_later_pixel_in():
    m = model(dropout=0.5).train()
    torch.manual_seed(1)
    for i, j in [(0, 0), (2, 3), (5, 5)]:
        s = seen(m, i, j).flatten()
        assert not s[i * 6 + j:].any()  # training-mode dropout masks are per unit: still causal
    x = torch.randn(2, 1, 6, 6, dtype=torch.float64)
    assert not torch.equal(m.network(x), m.network(x))  # a fresh mask per forward in training
    m.eval()
    assert torch.equal(m.network(x), m.network(x))  # and none when sampling or scoring


def test_plain_masked_stack_has_the_blind_spot():
    """[1] Fig. 1: stacked mask-B 3x3 convs never see up-and-right beyond the first layer's reach."""
    m = model(arch="plain")  # 7x7 mask A reaches 3 columns right; later 3x3 layers add nothing there
    s = seen(m, 3, 1).flatten()
    blind = (~s[:3 * 6 + 1]).nonzero().flatten().tolist()
    assert blind == [2 * 6 + 5]  # (2, 5): one row up, four columns right of (3, 1)
    assert not s[3 * 6 + 1:].any()  # causality still holds
    assert seen(model(), 3, 1)[2, 5]  # the gated stack sees the same pixel


@pytest.mark.parametrize("binary,conditional", [(True, False), (False, True)])
def test_cached_sampler_gives_the_network_outputs_at_every_pixel(binary, conditional):
    m = model(7, 5, binary, conditional=conditional, kernel_size=5, first_kernel_size=3)
    x = torch.rand(3, 1, 7, 5) * 2 - 1
    x = torch.where(x > 0, 1.0, -1.0) if binary else m.head.check(x)
    y = torch.tensor([0, 4, 9]) if conditional else None
    full = m.network(x, y)
    for start_row in (0, 3):  # also when the first rows were given
        step = CachedGatedSampler(m, y)
        with torch.no_grad():
            for i, j in itertools.product(range(start_row, 7), range(5)):
                assert torch.allclose(step(x, i, j, 0), full[:, :, i, j], atol=1e-5), (i, j)


def test_conditional_model_is_normalised_per_class_and_in_the_marginal():
    m = model(3, 3, conditional=True, layers=2).double()
    grid = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=9)), dtype=torch.float64).view(512, 1, 3, 3)
    with torch.no_grad():
        per_class = torch.stack([m.log_prob(grid, label=k) for k in range(10)])  # (10, 512)
        marginal = m.log_prob(grid)
        pix = m.pixel_log_prob(grid)
    assert torch.allclose(torch.logsumexp(per_class, 1).exp(), torch.ones(10, dtype=torch.float64))
    assert torch.logsumexp(marginal, 0).exp().item() == pytest.approx(1.0, abs=1e-9)
    assert torch.allclose(marginal, torch.logsumexp(per_class, 0) - math.log(10))
    assert torch.allclose(pix.flatten(1).sum(1), marginal)
    assert not torch.allclose(per_class[0], per_class[1])  # the label matters


def test_label_control():
    m = model(4, 4, conditional=True, layers=2)
    assert [c.name for c in m.controls_for("sample")] == ["temperature", "label"]
    assert [c.name for c in m.controls_for("steps")] == ["temperature", "label", "every"]
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    assert not torch.equal(m.sample(8, g(), label=1), m.sample(8, g(), label=7))
    assert torch.equal(m.sample(8, g(), label=[3] * 8), m.sample(8, g(), label=3))
    with pytest.raises(ValueError, match="0..9"):
        m.sample(2, label=10)
    with pytest.raises(ValueError, match="unconditional"):
        model(4, 4).sample(2, label=1)


def test_plain_arch_keeps_the_colour_order_within_a_pixel():
    """RGB with the 256-way head: R sees no channel of its pixel, G sees R, B sees R and G."""
    m = model(3, 3, binary=False, channels=3, arch="plain", layers=2).double()
    x = torch.rand(1, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    out = m.network(x).view(1, 3, 256, 3, 3)  # (N, C, K, H, W)
    for c in range(3):
        (g,) = torch.autograd.grad(out[:, c, :, 1, 1].sum(), x, retain_graph=True)
        at_pixel = g[0, :, 1, 1] != 0
        assert at_pixel.tolist() == [k < c for k in range(3)]
        assert (g[0, :, 1, 2:] == 0).all() and (g[0, :, 2] == 0).all()


@pytest.mark.parametrize("arch", ["plain", "gated"])
def test_colour_archs_keep_the_colour_order_and_see_no_later_pixel(arch):
    """RGB with the 256-way head: R sees no channel of its pixel, G sees R, B sees R and G; every
    channel sees every colour of every earlier pixel (the gated arch: no blind spot)."""
    m = model(4, 4, binary=False, channels=3, arch=arch, layers=3, features=12).double()
    x = torch.rand(4, 3, 4, 4, dtype=torch.float64, requires_grad=True)  # 4 images: a path the head's
    out = m.network(x).view(4, 3, 256, 4, 4)  # ReLU closes in one image is open in another
    for c in range(3):
        (g,) = torch.autograd.grad(out[:, c, :, 2, 1].sum(), x, retain_graph=True)
        seen_here = (g.abs().sum(0) != 0).flatten(1)  # (C, H*W)
        assert seen_here[:, 2 * 4 + 1].tolist() == [k < c for k in range(3)]
        assert not seen_here[:, 2 * 4 + 2:].any()  # nothing after the pixel
        if arch == "gated":
            assert seen_here[:, :2 * 4 + 1].all()


def test_colour_cached_sampler_gives_the_network_outputs_for_every_channel():
    m = model(5, 4, binary=False, channels=3, layers=3, features=6, kernel_size=3, first_kernel_size=5)
    x = m.head.check(torch.rand(2, 3, 5, 4) * 2 - 1)
    full = m.network(x)
    step = CachedGatedSampler(m, None)
    with torch.no_grad():
        for i, j in itertools.product(range(5), range(4)):
            for c in range(3):
                partial = x.clone()  # as the sampler sees it: later channels of (i, j) not drawn yet
                partial[:, c:, i, j] = 0
                partial[:, :, i, j + 1:] = 0
                partial[:, :, i + 1:] = 0
                k = slice(c * 256, (c + 1) * 256)  # the caller reads channel c's 256 logits
                assert torch.allclose(step(partial, i, j, c)[:, k], full[:, k, i, j], atol=1e-5), (i, j, c)


def test_colour_samples_from_the_cached_and_reference_samplers_agree():
    m = model(4, 3, binary=False, channels=3, layers=2, features=6)
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    assert torch.equal(m.sample(2, g()), m.sample(2, g(), sampler="reference"))


def test_bad_configs_are_refused():
    with pytest.raises(GenlabError, match="features=6"):
        model(channels=3, binary=False, features=8)
    with pytest.raises(GenlabError, match="gated, plain"):
        model(arch="resnet")
    with pytest.raises(GenlabError, match="categorical"):
        model(binary=False, head="bernoulli")
    m = model(4, 4, binary=False)
    assert m.head.name == "categorical"
    assert torch.equal(m.check_inputs(torch.full((1, 1, 4, 4), 0.3)), torch.full((1, 1, 4, 4), 166.0) / 127.5 - 1)  # 0.3 -> level 166
