"""NADE-specific properties (the shared AR contract is in test_autoregressive_contract.py)."""
from __future__ import annotations

import pytest
import torch

from genlab.errors import GenlabError
from genlab.model import DataSpec
from genlab.models.nade import nade_logits_blocked, nade_logits_reference
from genlab.registry import build

torch.set_num_threads(1)
BINARY = DataSpec(1, 4, 5, 10, True, "tiny-binary")


def params(d=20, h=6, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    W, c = torch.randn(h, d, generator=g, dtype=dtype), torch.randn(h, generator=g, dtype=dtype)
    V, b = torch.randn(d, h, generator=g, dtype=dtype), torch.randn(d, generator=g, dtype=dtype)
    return [t.requires_grad_(True) for t in (W, c, V, b)]


def logits_by_definition(x, W, c, V, b, upper=lambda h: h):
    """Eq. 1-3 computed the slow way, O(HD^2): h_d from scratch for every d."""
    out = []
    for d in range(x.shape[1]):
        h = upper(torch.sigmoid(c + x[:, :d] @ W[:, :d].T))  # (N, H): only x_<d
        out.append(b[d] + h @ V[d])
    return torch.stack(out, 1)


def test_running_sum_equals_the_definition_and_blocked_path_equals_it():
    x = torch.randint(0, 2, (3, 20)).double()
    p = params()
    slow = logits_by_definition(x, *p)
    ref = nade_logits_reference(x, *p)
    fast = nade_logits_blocked(x, *p, block=5)
    assert torch.allclose(ref, slow, atol=1e-10)
    assert torch.allclose(fast, ref, atol=1e-10)
    g_ref = torch.autograd.grad(ref.square().sum(), p)
    g_fast = torch.autograd.grad(fast.square().sum(), p)
    for a, b in zip(g_ref, g_fast):
        assert torch.allclose(a, b, atol=1e-9)


def test_deep_nade_paths_equal_the_definition_values_and_gradients():
    """Depth 3 (DeepNADE's shared ReLU layers above the running sum): the same three paths agree."""
    g = torch.Generator().manual_seed(1)
    U1, e1 = torch.randn(5, 6, generator=g, dtype=torch.float64), torch.randn(5, generator=g, dtype=torch.float64)
    U2, e2 = torch.randn(4, 5, generator=g, dtype=torch.float64), torch.randn(4, generator=g, dtype=torch.float64)
    W, c, _, b = params()
    V = torch.randn(20, 4, generator=g, dtype=torch.float64).requires_grad_(True)
    deep = [U1.requires_grad_(True), e1.requires_grad_(True), U2.requires_grad_(True), e2.requires_grad_(True)]

    def upper(h):
        return torch.relu(torch.relu(h @ U1.T + e1) @ U2.T + e2)

    x = torch.randint(0, 2, (3, 20)).double()
    slow = logits_by_definition(x, W, c, V, b, upper)
    ref = nade_logits_reference(x, W, c, V, b, upper)
    fast = nade_logits_blocked(x, W, c, V, b, block=5, upper=upper)
    assert torch.allclose(ref, slow, atol=1e-10) and torch.allclose(fast, ref, atol=1e-10)
    every = [W, c, V, b, *deep]
    for a, b_ in zip(torch.autograd.grad(ref.square().sum(), every), torch.autograd.grad(fast.square().sum(), every)):
        assert torch.allclose(a, b_, atol=1e-9)


def test_deep_nade_has_its_upper_layers_and_refuses_depth_0():
    m = build("nade", {"hidden": 7, "depth": 3, "upper_hidden": 5}, BINARY)
    assert m.V.shape == (20, 5) and len(m.upper_layers) == 2
    with pytest.raises(GenlabError, match="option depth must be >= 1, got 0"):
        build("nade", {"depth": 0}, BINARY)


def test_perturbing_pixel_d_changes_only_later_conditionals():
    x = torch.randint(0, 2, (1, 20)).double()
    p = params()
    base = nade_logits_reference(x, *p)
    for d in (0, 7, 19):
        y = x.clone()
        y[0, d] = 1 - y[0, d]
        changed = (nade_logits_reference(y, *p) - base).abs()[0] > 0
        assert not changed[:d + 1].any()  # p(x_d | .) and earlier are untouched
        assert changed[d + 1:].all()  # every later conditional sees x_d


def test_an_inclusive_running_sum_is_caught():
    """The classic off-by-one (h_d sees x_d) leaks the target; the definition check catches it."""
    x = torch.randint(0, 2, (2, 20)).double()
    W, c, V, b = params()
    leaky = b + torch.einsum("nhd,dh->nd", torch.sigmoid(c[None, :, None] + (W[None] * x[:, None]).cumsum(2)), V)
    assert not torch.allclose(leaky, logits_by_definition(x, W, c, V, b))


def test_mnist_size_has_the_papers_parameter_count():
    m = build("nade", {"hidden": 500}, DataSpec(binary=True, name="mnist-binary"))
    assert sum(p.numel() for p in m.parameters()) == 2 * 500 * 784 + 500 + 784  # W, V, c, b
    assert m.ordering == "raster"


@pytest.mark.parametrize("config", [{"hidden": 7}, {"hidden": 7, "depth": 3, "upper_hidden": 5}])
def test_incremental_sampler_gives_the_network_logits_and_the_future_stays_hidden(config):
    torch.manual_seed(0)
    m = build("nade", config, BINARY).eval()
    with torch.no_grad():
        m.b.normal_()
        m.c.normal_()
    x = torch.randint(0, 2, (3, 1, 4, 5)).float() * 2 - 1
    full = m.network(x)
    step = m.fast_sampler(None)
    for d in range(20):
        i, j = divmod(d, 5)
        assert torch.allclose(step(x, i, j, 0)[:, 0], full[:, 0, i, j], atol=1e-5)
        y = x.clone()
        y[:, 0, i, j] *= -1  # flip pixel d: its own and every earlier logit stay
        assert torch.equal(m.network(y).flatten(1)[:, :d + 1], full.flatten(1)[:, :d + 1])


def test_eight_bit_and_colour_data_are_refused():
    with pytest.raises(GenlabError, match="mnist-binary"):
        build("nade", {}, DataSpec(name="mnist"))
    with pytest.raises(GenlabError, match="one-channel"):
        build("nade", {}, DataSpec(channels=3, binary=True))
    m = build("nade", {"hidden": 4}, BINARY)
    with pytest.raises(ValueError, match="exactly -1 or 1"):
        m.log_prob(torch.rand(2, 1, 4, 5))
    with pytest.raises(ValueError, match="unconditional"):
        m.sample(2, label=3)

