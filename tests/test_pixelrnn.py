"""PixelRNN (Row LSTM, Diagonal BiLSTM): the properties that make it a PixelRNN.

The shared autoregressive contract (tests/test_autoregressive_contract.py) also
runs over both families; here: the fused LSTM scan equals its autograd
reference, exact causality with a deliberately broken variant that must be
caught, the receptive fields the paper describes (and the one pixel the
Diagonal BiLSTM construction misses), normalisation, the caching samplers.
"""
from __future__ import annotations

import itertools

import pytest
import torch

from genlab.model import DataSpec
from genlab.models.pixelrnn import (LSTMScan, PixelRNNConfig, diagonal_plan, lstm_scan_reference)
from genlab.registry import build

FAMILIES = ("row_lstm", "diagonal_bilstm")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The recurrences are many small ops: with 2 threads on a busy 2-core machine they
    run ~50x slower (threads spin waiting for each other); 1 thread, then restore."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def model(family, h=6, w=6, layers=2, binary=True, **kw):
    torch.manual_seed(0)
    spec = DataSpec(channels=1, height=h, width=w, binary=binary, name="tiny")
    return build(family, PixelRNNConfig(hidden=4, layers=layers, head_hidden=8, **kw), spec).double().eval()


def dependencies(m, what="network"):
    """dep[i, j]: output at raster pixel i depends on input pixel j (exact non-zero gradient).

    One backward pass: image k of the batch asks only for the output at pixel k.
    Inputs are continuous random values so no gradient vanishes by accident.
    """
    h, w = m.data_spec.height, m.data_spec.width
    p = h * w
    x = torch.randn(p, 1, h, w, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    x.requires_grad_(True)
    out = getattr(m, what)(x).sum(1).view(p, p)  # (image k, pixel i), channels summed
    out.diagonal().sum().backward()
    return x.grad.view(p, p) != 0


# ----- the fused recurrence --------------------------------------------------------------
@pytest.mark.parametrize("offsets,ranges", [
    ((1, 0, -1), ((0, 5),) * 4),  # Row LSTM: 4 rows of 5 columns
    ((1, 0), diagonal_plan(3, 5)[2]),  # Diagonal BiLSTM on a wide image
    ((1, 0), diagonal_plan(5, 2)[2]),  # and a tall one
])
def test_fused_scan_equals_autograd_reference(offsets, ranges):
    cells = sum(hi - lo for lo, hi in ranges)
    g = torch.Generator().manual_seed(0)
    gin = torch.randn(2, cells, 3, 8, dtype=torch.float64, generator=g, requires_grad=True)
    w = torch.randn(2, 2 * len(offsets), 8, dtype=torch.float64, generator=g, requires_grad=True)
    fast = LSTMScan.apply(gin, w, offsets, ranges)
    ref = lstm_scan_reference(gin, w, offsets, ranges)
    assert torch.allclose(fast, ref, atol=1e-12)
    upstream = torch.randn_like(ref)
    assert all(torch.allclose(a, b, atol=1e-12) for a, b in zip(
        torch.autograd.grad((fast * upstream).sum(), (gin, w)), torch.autograd.grad((ref * upstream).sum(), (gin, w))))
    assert torch.autograd.gradcheck(lambda a, b: LSTMScan.apply(a, b, offsets, ranges), (gin, w))


def test_diagonal_plan_is_the_skew():
    """2x3 image: diagonals (0,0) | (0,1) (1,0) | (0,2) (1,1) | (1,2); the mirror runs right to left."""
    order, inverse, ranges = diagonal_plan(2, 3)
    assert order[0].tolist() == [0, 1, 3, 2, 4, 5]
    assert order[1].tolist() == [2, 1, 5, 0, 4, 3]
    assert ranges == ((0, 1), (0, 2), (0, 2), (1, 2))
    assert torch.equal(order.gather(1, inverse), torch.arange(6).expand(2, 6))


# ----- causality and receptive fields ---------------------------------------------------
@pytest.mark.parametrize("family", FAMILIES)
def test_output_never_depends_on_current_or_later_pixels(family):
    dep = dependencies(model(family, 7, 6, layers=3))
    assert not dep.triu().any(), f"pixel {int(dep.triu().nonzero()[0, 0])} sees the future"


def test_check_catches_right_to_left_without_down_shift():
    m = model("diagonal_bilstm")
    for lstm in m.lstms:
        lstm.shift_right_to_left = False  # the paper's warning: now the layer sees pixels to the right
    dep = dependencies(m)
    w = m.data_spec.width
    assert dep.triu().any()
    assert dep[0, 1] and dep[2 * w, 2 * w + 3]  # pixel (0,0) sees (0,1); (2,0) sees (2,3)


def test_check_catches_unmasked_row_conv():
    m = model("row_lstm")
    m.lstms[0].input_to_state.mask.fill_(1)  # the 1x3 conv now reads the feature to the right
    dep = dependencies(m)
    w = m.data_spec.width
    sees_itself = dep.diagonal().view(-1, w)
    assert sees_itself[:, :-1].all()  # through its right neighbour's features (the last column has none)


def test_diagonal_bilstm_sees_every_earlier_pixel_but_the_end_of_the_previous_row():
    """Full context, except (r-1, W-1) for outputs (r, c) with c < W-4 (module docstring)."""
    h, w = 7, 9
    dep = dependencies(model("diagonal_bilstm", h, w, layers=2), "features")
    missed = {(divmod(i, w), divmod(j, w)) for i, j in (~dep).tril(-1).nonzero().tolist()}
    expected = {((r, c), (r - 1, w - 1)) for r in range(1, h) for c in range(w - 4)}
    assert missed == expected


@pytest.mark.parametrize("layers", [1, 2])
def test_row_lstm_receptive_field_is_a_triangle(layers):
    """§3.1: the Row LSTM misses context. Measured, exactly: output (r, c) sees, in its own
    row, the 3 + L pixels to its left (7x7 stem, one 1x3 tap per layer); in row r - k
    (k >= 1), the columns c - 3 - L - k .. c + 2 + k: a cone widening one column per row."""
    h, w = 7, 11
    dep = dependencies(model("row_lstm", h, w, layers=layers), "features")
    expected = torch.zeros_like(dep)
    for r, c, k in itertools.product(range(h), range(w), range(h)):
        if k <= r:
            lo, hi = (c - 3 - layers, c - 1) if k == 0 else (c - 3 - layers - k, c + 2 + k)
            expected[r * w + c, (r - k) * w + max(0, lo):(r - k) * w + min(w - 1, hi) + 1] = True
    assert torch.equal(dep, expected)
    assert (~dep).tril(-1).sum() > 0.1 * h * w * (h * w - 1) / 2  # a real share of the context is missed


# ----- likelihood -------------------------------------------------------------------------
@pytest.mark.parametrize("family", FAMILIES)
def test_all_512_binary_3x3_images_sum_to_one(family):
    m = model(family, 3, 3)
    grid = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=9)), dtype=torch.float64).view(512, 1, 3, 3)
    with torch.no_grad():
        logp = m.log_prob(grid)
    assert torch.logsumexp(logp, 0).exp().item() == pytest.approx(1.0, abs=1e-10)
    assert logp.std() > 0.01  # not the uniform distribution by construction


@pytest.mark.parametrize("family", FAMILIES)
def test_learns_a_structured_toy_distribution(family):
    """Images whose rows are all the same random bit: ~H nats, far below H*W*ln 2 for a model that learns."""
    torch.manual_seed(0)
    m = model(family, 5, 5, layers=1).float().train()
    m.optim.lr = 1e-2
    (phase,) = m.bind_phases()
    opt = phase.optimizer.build(phase.params)
    for _ in range(60):
        bits = torch.randint(0, 2, (32, 1, 5, 1)).float() * 2 - 1
        loss, _ = phase.loss({"image": bits.expand(-1, -1, -1, 5), "label": None})
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * 25 * 0.6931  # uniform is 17.3 nats; the truth 3.5 nats


# ----- sampling -----------------------------------------------------------------------------
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("shape", [(5, 7), (6, 3)])
def test_caching_sampler_equals_network_at_every_pixel(family, shape):
    m = model(family, *shape, layers=3).float()
    h, w = shape
    x = torch.randint(0, 2, (3, 1, h, w), generator=torch.Generator().manual_seed(0)).float() * 2 - 1
    with torch.no_grad():
        full = m.network(x)
        sampler = m.fast_sampler(None)
        cells = torch.stack([sampler(x, i, j, 0) for i in range(h) for j in range(w)], -1)
    assert torch.allclose(cells.view_as(full), full, atol=1e-5)


@pytest.mark.parametrize("family", FAMILIES)
def test_sampling_seeded_fast_equals_reference_and_completion_keeps_rows(family):
    m = model(family, 5, 4).float()
    given = torch.randint(0, 2, (2, 1, 5, 4), generator=torch.Generator().manual_seed(3)).float() * 2 - 1
    seeded = lambda s: torch.Generator().manual_seed(s)  # noqa: E731
    a = m.sample(4, generator=seeded(1), given=given[:1], given_rows=2)
    assert torch.equal(a, m.sample(4, generator=seeded(1), given=given[:1], given_rows=2))
    assert torch.equal(a, m.sample(4, generator=seeded(1), given=given[:1], given_rows=2, sampler="reference"))
    assert not torch.equal(a, m.sample(4, generator=seeded(2), given=given[:1], given_rows=2))
    assert torch.equal(a[:, :, :2], given[:1, :, :2].expand(4, -1, -1, -1))
    cold = m.sample(4, generator=seeded(1), temperature=1e-4)
    with torch.no_grad():
        assert torch.equal(torch.where(m.network(cold) > 0, 1.0, -1.0), cold)  # T -> 0: each pixel its mode


# ----- colour (§3.4): R, then G from R, then B from R and G -------------------------------
def colour_model(family, h=4, w=4, layers=2):
    torch.manual_seed(0)
    spec = DataSpec(channels=3, height=h, width=w, binary=False, name="tiny-rgb")
    return build(family, PixelRNNConfig(hidden=6, layers=layers, head_hidden=24), spec).double().eval()


@pytest.mark.parametrize("family", FAMILIES)
def test_colour_channels_see_the_earlier_colours_of_their_pixel_and_no_later_pixel(family):
    m = colour_model(family)
    x = torch.rand(16, 3, 4, 4, dtype=torch.float64, requires_grad=True)  # 16 images: no ReLU closes every path
    out = m.network(x).view(16, 3, 256, 4, 4)
    for c in range(3):
        (g,) = torch.autograd.grad(out[:, c, :, 2, 1].sum(), x, retain_graph=True)
        seen = (g.abs().sum(0) != 0).flatten(1)  # (C, H*W)
        assert seen[:, 2 * 4 + 1].tolist() == [k < c for k in range(3)], c
        assert not seen[:, 2 * 4 + 2:].any()
        assert seen[:, 2 * 4].all() and seen[:, 4 + 1].all()  # the left neighbour and the pixel above, all colours


@pytest.mark.parametrize("family", FAMILIES)
def test_colour_caching_sampler_equals_network_for_every_channel(family):
    m = colour_model(family, 4, 5, layers=3).float()
    x = m.head.check(torch.rand(2, 3, 4, 5) * 2 - 1)
    full = m.network(x)
    sampler = m.fast_sampler(None)
    with torch.no_grad():
        for i in range(4):
            for j in range(5):
                for c in range(3):
                    partial = x.clone()  # what the sampler holds: later colours and pixels not drawn yet
                    partial[:, c:, i, j] = 0
                    partial[:, :, i, j + 1:] = 0
                    partial[:, :, i + 1:] = 0
                    k = slice(c * 256, (c + 1) * 256)
                    assert torch.allclose(sampler(partial, i, j, c)[:, k], full[:, k, i, j], atol=1e-5), (i, j, c)


@pytest.mark.parametrize("family", FAMILIES)
def test_colour_samples_fast_equal_reference(family):
    m = colour_model(family, 3, 3).float()
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    assert torch.equal(m.sample(2, g()), m.sample(2, g(), sampler="reference"))


def test_refuses_bad_sizes():
    with pytest.raises(Exception, match="one unit per colour channel"):
        build("row_lstm", {"hidden": 2}, DataSpec(channels=3, height=8, width=8))
    with pytest.raises(Exception, match="option layers must be >= 1, got 0"):
        build("diagonal_bilstm", {"layers": 0}, DataSpec(binary=True))


def test_training_works_after_sampling_under_inference_mode():
    """The app scores and samples under inference_mode and may train the same family later in the process."""
    from genlab.models.pixelrnn import diagonal_plan

    diagonal_plan.cache_clear()
    m = model("diagonal_bilstm", 5, 5, layers=1).float()
    with torch.inference_mode():
        m.log_prob(torch.ones(1, 1, 5, 5))  # the first call builds and caches the diagonal plan
    (phase,) = m.train().bind_phases()
    loss, _ = phase.loss({"image": torch.ones(2, 1, 5, 5), "label": None})
    loss.backward()  # an inference tensor in the cached plan would raise here


@pytest.mark.parametrize("family", FAMILIES)
def test_dropout_works_in_training_only_and_keeps_the_mask(family):
    """Dropout on the residual branches: two training passes differ, evaluation is the very network
    without it (the samplers' cell-by-cell path included), and no output sees the future."""
    m = model(family, 6, 6, layers=2, dropout=0.5)
    plain = model(family, 6, 6, layers=2)
    plain.load_state_dict(m.state_dict())
    x = torch.randint(0, 2, (3, 1, 6, 6), generator=torch.Generator().manual_seed(2)).double() * 2 - 1
    assert torch.equal(m.network(x), plain.network(x))  # eval: dropout off
    m.train()
    a, b = m.network(x), m.network(x)
    assert not torch.equal(a, b)
    assert not dependencies(m).triu().any()
    m.eval()
    fast = m.sample(2, generator=torch.Generator().manual_seed(3))
    assert torch.equal(fast, plain.sample(2, generator=torch.Generator().manual_seed(3)))
