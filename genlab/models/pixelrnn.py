"""PixelRNN: Row LSTM and Diagonal BiLSTM.

van den Oord, Kalchbrenner & Kavukcuoglu, "Pixel Recurrent Neural Networks",
ICML 2016, arXiv:1601.06759.

p(x) = prod_i p(x_i | x_<i) in raster order (§2). The network is a 7x7
mask-A convolution (the pixel never sees itself), a stack of residual LSTM
layers (2h features in, h LSTM units, a 1x1 conv back to 2h added to the
input, §3.4) and an output head ReLU -> 1x1 -> ReLU -> 1x1 (§3.5). Every LSTM
step is Eq. (3): [o, f, i, g] = [σ, σ, σ, tanh](K^ss ⊛ h_prev + K^is ⊛ x),
c = f ⊙ c_prev + i ⊙ g, h = o ⊙ tanh(c).

- Row LSTM (§3.1), family ``row_lstm``: input-to-state is a 1x3 conv along
  the row with mask B (sees the left neighbour and the centre), state-to-state
  a 1-D k=3 conv over the previous row's h; rows are processed top to bottom.
  Its receptive field is a triangle (measured exactly in the tests): in its
  own row output (r, c) sees only the 3 + L pixels to its left (L layers),
  and in row r - k the columns c - 3 - L - k .. c + 2 + k.
- Diagonal BiLSTM (§3.2), family ``diagonal_bilstm``: the map is skewed (row
  r shifted right by r, n x (2n-1)) so each column is a diagonal; 1x1
  input-to-state, a column-wise 2x1 state-to-state conv (the cell above and
  the cell to the left); two directions, the right-to-left one run on the
  mirrored image and **shifted down one row** before it is added, otherwise
  the layer sees pixels to the right of the current one.

Colour (§3.4, "the features are split into three groups"): every feature map
and LSTM unit belongs to a colour group (genlab.nn.masked.channel_groups); the
stem (mask A), the input-to-state convs, the residual 1x1 projections and the
head are masked by group (mask B), so R is predicted from the context, G also
from R, B also from R and G. The state-to-state convs need no colour mask: they
read only earlier pixels, whose colours are all known.

Deviations: Adam instead of RMSProp; zero initial states instead of learned
ones; only the cells of the skewed map that are real pixels are computed (the
state outside the image is zero). One consequence of the paper's construction
that we measured rather than assumed: the Diagonal BiLSTM output at (r, c)
never sees the last pixel of the previous row, (r-1, W-1), when c < W-4
(information about a pixel only exists at later positions; in row r it
enters at columns >= W-4 through the 7x7 stem, and the left-to-right
direction only carries it rightwards). Every other earlier pixel is seen.

Speed: the recurrences are sequential (H rows / H+W-1 diagonals) but
vectorised over batch, cells of a step and channels. `LSTMScan` is a fused
autograd Function with hand-written backpropagation through time (far fewer
memory passes than autograd's); `lstm_scan_reference` is the plain-autograd
reference it must equal (tests/test_pixelrnn.py). Sampling uses per-pixel
caching samplers (`RowLSTMSampler`, `DiagonalBiLSTMSampler`) that compute one
cell per layer per pixel and must equal `network` at every pixel.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from genlab.model import DataSpec, option
from genlab.nn.autoregressive import AutoregressiveModel, make_head
from genlab.nn.masked import MaskedConv2d, channel_groups
from genlab.registry import register


# ----- the LSTM recurrence ------------------------------------------------------------
def lstm_cell(gates: torch.Tensor, c_prev: torch.Tensor):
    """Eq. (3)-(4). gates (..., 4h) laid out [o, f, i, g]; returns h, c (..., h)."""
    o, f, i, g = gates.chunk(4, dim=-1)
    c = torch.sigmoid(f) * c_prev + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def shift_rows(h: torch.Tensor, offset: int) -> torch.Tensor:
    """y[:, l] = h[:, l - offset] along dim 1 of (D, L, N, h); zero where l - offset is outside."""
    if offset == 0:
        return h
    if offset > 0:
        return F.pad(h, (0, 0, 0, 0, offset, 0))[:, : h.shape[1]]
    return F.pad(h, (0, 0, 0, 0, 0, -offset))[:, -offset:]


def starts(ranges) -> list[int]:
    """Where each step's cells begin in the packed layout."""
    out, total = [], 0
    for lo, hi in ranges:
        out.append(total)
        total += hi - lo
    return out


def lstm_scan_reference(gin, weight, offsets, ranges):
    """The recurrence with plain autograd, on dense (step, position) grids.

    gin (D, cells, N, 4h): input-to-state pre-activations of D independent
    directions, packed step by step: step t holds positions [lo, hi) =
    ranges[t] (a row of the image, or one diagonal's rows), in order. weight
    (D, K*h, 4h): the state-to-state kernel over K neighbours, neighbour k of
    position l being position l - offsets[k] of the previous step (h = c = 0
    where that does not exist); c_prev is the same position's c. Returns h
    (D, cells, N, h), packed like gin.
    """
    d, _, n, g = gin.shape
    length = max(hi for _, hi in ranges)
    h = gin.new_zeros(d, length, n, g // 4)
    c = torch.zeros_like(h)
    out = []
    for (lo, hi), p in zip(ranges, starts(ranges)):
        nb = torch.cat([shift_rows(h, o) for o in offsets], dim=-1)  # (D, L, N, K*h)
        dense = F.pad(gin[:, p:p + hi - lo], (0, 0, 0, 0, lo, length - hi))  # (D, L, N, 4h), 0 outside
        h, c = lstm_cell(dense + torch.bmm(nb.reshape(d, length * n, -1), weight).view(d, length, n, g), c)
        keep = torch.zeros(length, 1, 1, dtype=h.dtype, device=h.device)
        keep[lo:hi] = 1  # positions outside the step hold h = c = 0
        h, c = h * keep, c * keep
        out.append(h[:, lo:hi])
    return torch.cat(out, dim=1)


def _overlap(lo, hi, prev, offset):
    """Positions [a, b) of a step in [lo, hi) whose position - offset lies in the previous step's range."""
    return max(lo, prev[0] + offset), min(hi, prev[1] + offset)


class LSTMScan(torch.autograd.Function):
    """`lstm_scan_reference` with hand-written backpropagation through time.

    In place on preallocated packed buffers (a step's cells are one contiguous
    block; no cell outside the image is stored): one bmm and a few elementwise
    passes per step, one big bmm for the state-to-state weight gradient.
    """

    @staticmethod
    def forward(ctx, gin, weight, offsets, ranges):
        d, cells, n, g = gin.shape
        hid, k = g // 4, len(offsets)
        acts = gin.clone()  # pre-activations, turned into gate activations in place
        nbs = gin.new_zeros(d, cells, n, k, hid)  # each cell's neighbour states
        cps = gin.new_zeros(d, cells, n, hid)  # each cell's c_prev
        cs, tcs, hs = (gin.new_empty(d, cells, n, hid) for _ in range(3))  # c, tanh(c), h
        first = starts(ranges)
        for t, (lo, hi) in enumerate(ranges):
            p, blk = first[t], slice(first[t], first[t] + hi - lo)
            if t > 0:
                prev, q = ranges[t - 1], first[t - 1]
                for j, o in enumerate(offsets + (0,)):  # the last one gathers c_prev
                    a, b = _overlap(lo, hi, prev, o)
                    if a < b:
                        src = slice(q + a - o - prev[0], q + b - o - prev[0])
                        if j < k:
                            nbs[:, p + a - lo:p + b - lo, :, j] = hs[:, src]
                        else:
                            cps[:, p + a - lo:p + b - lo] = cs[:, src]
            act = acts[:, blk]
            act.view(d, -1, g).baddbmm_(nbs[:, blk].view(d, -1, k * hid), weight)
            gates = act.view(d, hi - lo, n, 4, hid)
            gates[..., :3, :].sigmoid_()
            gates[..., 3, :].tanh_()
            o_, f, i, gg = gates.unbind(3)
            torch.mul(f, cps[:, blk], out=cs[:, blk])
            cs[:, blk].addcmul_(i, gg)
            torch.tanh(cs[:, blk], out=tcs[:, blk])
            torch.mul(o_, tcs[:, blk], out=hs[:, blk])
        ctx.save_for_backward(weight, acts, nbs, cps, tcs)
        ctx.offsets, ctx.ranges = offsets, ranges
        return hs

    @staticmethod
    def backward(ctx, grad_h):
        weight, acts, nbs, cps, tcs = ctx.saved_tensors
        offsets, ranges = ctx.offsets, ctx.ranges
        d, cells, n, g = acts.shape
        hid, k = g // 4, len(offsets)
        dgates = acts.new_empty(d, cells, n, 4, hid)
        dh = grad_h.clone(memory_format=torch.contiguous_format)  # + recurrent terms, added below
        dc = acts.new_zeros(d, cells, n, hid)  # dL/dc of each cell from the next step's c_prev
        wt = weight.transpose(1, 2)
        first = starts(ranges)
        for t in reversed(range(len(ranges))):
            lo, hi = ranges[t]
            p, blk = first[t], slice(first[t], first[t] + hi - lo)
            o, f, i, gg = acts[:, blk].view(d, hi - lo, n, 4, hid).unbind(3)
            tc, dh_t = tcs[:, blk], dh[:, blk]  # dh_t is complete: later steps are done
            dc_t = dc[:, blk].addcmul_(dh_t * o, 1 - tc * tc)  # through h = o tanh(c)
            do, df, di, dg = dgates[:, blk].unbind(3)
            torch.mul(dh_t * tc, o * (1 - o), out=do)  # σ' = σ(1 - σ)
            torch.mul(dc_t * cps[:, blk], f * (1 - f), out=df)
            torch.mul(dc_t * gg, i * (1 - i), out=di)
            torch.mul(dc_t * i, 1 - gg * gg, out=dg)  # tanh' = 1 - tanh^2
            if t == 0:
                continue
            prev, q = ranges[t - 1], first[t - 1]
            dnb = torch.bmm(dgates[:, blk].view(d, -1, g), wt).view(d, hi - lo, n, k, hid)
            for j, o_ in enumerate(offsets + (0,)):
                a, b = _overlap(lo, hi, prev, o_)
                if a < b:
                    src = slice(q + a - o_ - prev[0], q + b - o_ - prev[0])
                    if j < k:
                        dh[:, src] += dnb[:, a - lo:b - lo, :, j]
                    else:
                        dc[:, src] += dc_t[:, a - lo:b - lo] * f[:, a - lo:b - lo]
        dweight = torch.bmm(nbs.view(d, -1, k * hid).transpose(1, 2), dgates.view(d, -1, g))
        return dgates.view(d, cells, n, g), dweight, None, None


def lstm_scan(gin, weight, offsets, ranges):
    """Fast path of `lstm_scan_reference` (at least fp32 inside, whatever autocast says)."""
    dtype = torch.promote_types(gin.dtype, torch.float32)
    with torch.autocast(gin.device.type, enabled=False):
        return LSTMScan.apply(gin.to(dtype).contiguous(), weight.to(dtype), tuple(offsets), tuple(ranges))


# ----- the diagonal order (the skew of §3.2) --------------------------------------------
@functools.lru_cache(maxsize=8)
def diagonal_plan(height: int, width: int):
    """Cells in the Diagonal BiLSTM's processing order, for both directions.

    Skewing the map (row r shifted right by r, n x (2n-1), Fig. 3) makes
    diagonal t = r + c a column; here each diagonal's real pixels are simply
    stored together (no padding cells). Returns `order` (2, H*W): raster index
    of the k-th processed cell, direction 0 on the image, direction 1 on its
    mirror (so "left" is the pixel to the right); `inverse` (2, H*W); and the
    rows [lo, hi) of each diagonal.
    """
    ranges = tuple((max(0, t - width + 1), min(height, t + 1)) for t in range(height + width - 1))
    rc = [(r, t - r) for t, (lo, hi) in enumerate(ranges) for r in range(lo, hi)]
    # Cached for every later call: never an inference tensor, even when the first call comes
    # from sampling under inference_mode (the app), or training would refuse to use it.
    with torch.inference_mode(False):
        order = torch.tensor([[r * width + c for r, c in rc], [r * width + width - 1 - c for r, c in rc]])
        return order, order.argsort(dim=1), ranges


# ----- the two LSTM layers ------------------------------------------------------------
class RowLSTM(nn.Module):
    """(N, 2h, H, W) -> (N, h, H, W); §3.1. Steps are rows, positions columns."""

    offsets = (1, 0, -1)  # state-to-state neighbours on the previous row: left, above, right

    def __init__(self, channels: int, hidden: int, groups: int = 1):
        super().__init__()
        self.hidden = hidden
        # K^is, all rows at once; colour groups of the gates follow their units
        self.input_to_state = MaskedConv2d(channels, 4 * hidden, (1, 3), "B", groups, out_period=hidden)
        bound = (3 * hidden) ** -0.5
        self.state_to_state = nn.Parameter(torch.empty(1, 3 * hidden, 4 * hidden).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, height, width = x.shape
        gin = self.input_to_state(x).permute(2, 3, 0, 1).reshape(1, height * width, n, -1)  # (1, HW, N, 4h)
        h = lstm_scan(gin, self.state_to_state, self.offsets, ((0, width),) * height)  # (1, HW, N, h)
        return h.view(height, width, n, self.hidden).permute(2, 3, 0, 1)  # (N, h, H, W)


class DiagonalBiLSTM(nn.Module):
    """(N, 2h, H, W) -> (N, h, H, W); §3.2. Direction 0 runs left-to-right,
    direction 1 right-to-left (on the mirrored map); steps are diagonals."""

    offsets = (1, 0)  # the cell above (previous diagonal, row - 1) and the one to the left (same row)

    def __init__(self, channels: int, hidden: int, groups: int = 1):
        super().__init__()
        self.hidden = hidden
        self.shift_right_to_left = True  # False only to show the leak (tests)
        # 1x1 input-to-state per direction, mask B by colour group (all ones for one group)
        bound = channels ** -0.5
        self.input_weight = nn.Parameter(torch.empty(2, channels, 4 * hidden).uniform_(-bound, bound))
        seen = channel_groups(channels, groups)[:, None] <= channel_groups(4 * hidden, groups, hidden)[None, :]
        self.register_buffer("input_mask", seen.float(), persistent=False)
        self.input_bias = nn.Parameter(torch.zeros(2, 1, 4 * hidden))
        bound = (2 * hidden) ** -0.5  # column-wise 2x1 state-to-state kernel: (above, left) x h inputs
        self.state_to_state = nn.Parameter(torch.empty(2, 2 * hidden, 4 * hidden).uniform_(-bound, bound))

    @property
    def masked_input_weight(self) -> torch.Tensor:
        return self.input_weight * self.input_mask

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, ch, height, width = x.shape
        order, inverse, ranges = (t.to(x.device) if torch.is_tensor(t) else t for t in diagonal_plan(height, width))
        cells = x.permute(2, 3, 0, 1).reshape(height * width, n, ch)  # (HW, N, C), raster order
        xs = cells[order.flatten()].view(2, -1, ch)  # (2, HW*N, C), each direction in its diagonal order
        gin = torch.baddbmm(self.input_bias, xs, self.masked_input_weight).view(2, height * width, n, -1)
        h = lstm_scan(gin, self.state_to_state, self.offsets, ranges)  # (2, HW, N, h)
        h = h.flatten(0, 1)[(inverse + torch.tensor([[0], [height * width]], device=x.device)).flatten()]
        left, right = h.view(2, height, width, n, self.hidden).unbind(0)  # raster order again
        if self.shift_right_to_left:  # row r gets the right-to-left state of row r-1
            right = F.pad(right, (0, 0, 0, 0, 0, 0, 1, 0))[:height]
        return (left + right).permute(2, 3, 0, 1)  # (N, h, H, W)


# ----- config and model ---------------------------------------------------------------
@dataclass
class PixelRNNConfig:
    hidden: int = 16  # h: LSTM units per layer; the residual stream carries 2h features (§3.4)
    layers: int = 7  # LSTM layers (the paper's MNIST model: 7 layers, h = 16)
    head_hidden: int = 32  # width of the ReLU -> 1x1 -> ReLU -> 1x1 output head
    head: str = "auto"  # auto | bernoulli | categorical (256-way softmax)
    # dropout on each layer's residual branch in training (as PixelCNN++ uses it, Salimans et al.
    # 2017): a regulariser for the 9,000 embedded digits; shapes no weight, so a resume may change it
    dropout: float = option(0.0, low=0.0, high=0.9, resumable=True)


class PixelRNN(AutoregressiveModel):
    """What both variants share; a subclass names its `layer` class and sampler."""

    Config = PixelRNNConfig
    paper = "van den Oord et al. 2016, arXiv:1601.06759"
    tiny_config = {"hidden": 4, "layers": 2, "head_hidden": 8}
    default_data = "mnist-binary"  # the paper's MNIST setting: Bernoulli pixels
    layer: ClassVar[type[nn.Module]]
    sampler: ClassVar[type]

    def __init__(self, config: PixelRNNConfig, data_spec: DataSpec):
        super().__init__(config, data_spec)
        for name in ("hidden", "layers", "head_hidden"):
            if getattr(config, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(config, name)}")
        self.head = make_head(config.head, data_spec)
        h, g = config.hidden, data_spec.channels  # g colour groups (1: grey or binary)
        if h < g or config.head_hidden < g:
            raise ValueError(f"hidden ({h}) and head_hidden ({config.head_hidden}) need at least one unit per "
                             f"colour channel ({g})")
        self.stem = MaskedConv2d(g, 2 * h, 7, "A", g)
        self.lstms = nn.ModuleList(self.layer(2 * h, h, g) for _ in range(config.layers))
        # 1x1 maps: with one group mask B is all ones, i.e. a plain conv (the same parameters)
        self.projections = nn.ModuleList(MaskedConv2d(h, 2 * h, 1, "B", g) for _ in range(config.layers))
        self.dropout = nn.Dropout(config.dropout)  # elementwise, so causality is untouched; off in eval
        self.output = nn.Sequential(nn.ReLU(), MaskedConv2d(2 * h, config.head_hidden, 1, "B", g), nn.ReLU(),
                                    MaskedConv2d(config.head_hidden, g * self.head.num_outputs, 1, "B", g))

    @classmethod
    def supported_shapes(cls) -> str:
        return "images of any size: binary ('mnist-binary'), 8-bit grey or 8-bit colour (R, G, B in turn)"

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, 2h, H, W): the residual stream before the (per-pixel) head."""
        f = self.stem(x)  # (N, 2h, H, W)
        for lstm, project in zip(self.lstms, self.projections):
            f = f + project(self.dropout(lstm(f)))  # residual connection (§3.4)
        return f

    def network(self, x: torch.Tensor, label=None) -> torch.Tensor:
        """(N, C, H, W) -> (N, C*K, H, W) head inputs, causal in raster order."""
        return self.output(self.features(x))

    def fast_sampler(self, label):
        return self.sampler(self)

    def extra_repr(self) -> str:
        c = self.config
        return super().extra_repr() + f", layers={c.layers}, hidden={c.hidden}, head={self.head.name}"


# ----- samplers: one cell per layer per pixel ------------------------------------------
class CellSampler:
    """Runs the network pixel by pixel in raster order, caching per-layer rows.

    Called for pixel (i, j) with every earlier pixel of x final; walks all
    pixels up to (i, j) (given rows included) and returns the head's input there.
    A later colour c > 0 of the same pixel runs its cell again with the colours
    drawn so far (a cell may be recomputed: it only writes column j's state), and
    a row's end (`end_row`) waits until the next row starts.
    Subclasses implement `layer_cell(l, inp, i, j)` -> LSTM output h at (i, j)
    and may override `end_row(i)`.
    """

    def __init__(self, model: PixelRNN):
        self.m, self.next = model, 0
        self.width = model.data_spec.width
        w = self.m.stem.weight * self.m.stem.mask
        self.stem_weight = w[:, :, :4]  # rows below the centre are masked anyway: (2h, C, 4, 7)

    def setup(self, n: int, like: torch.Tensor) -> None:
        raise NotImplementedError

    def __call__(self, x, i, j, c):
        if self.next == 0:
            self.setup(len(x), x)
        if c > 0:
            return self.cell(x, i, j)
        out = None
        while self.next <= i * self.width + j:
            r, q = divmod(self.next, self.width)
            if q == 0 and r > 0:
                self.end_row(r - 1)
            out = self.cell(x, r, q)
            self.next += 1
        return out

    def cell(self, x, i, j):
        top, left = max(0, i - 3), max(0, j - 3)
        window = F.pad(x[:, :, top:i + 1, left:j + 4], (left - (j - 3), (j + 4) - min(self.width, j + 4),
                                                     top - (i - 3), 0))  # (N, C, 4, 7), zeros outside
        f = F.conv2d(window, self.stem_weight, self.m.stem.bias)  # (N, 2h, 1, 1)
        for l, project in enumerate(self.m.projections):
            f = f + project(self.layer_cell(l, f[:, :, 0, 0], i, j)[:, :, None, None])
        return self.m.output(f)[:, :, 0, 0]  # (N, K)

    def end_row(self, i: int) -> None:
        pass


class RowLSTMSampler(CellSampler):
    """Per layer: its input at (i, j-1) and the states (h, c) of the previous row."""

    def setup(self, n, like):
        h, w, layers = self.m.config.hidden, self.width, len(self.m.lstms)
        zeros = lambda *s: like.new_zeros(*s)  # noqa: E731
        self.inputs = [zeros(n, w, 2 * h) for _ in range(layers)]  # layer inputs on the current row
        self.prev_h = [zeros(n, w + 2, h) for _ in range(layers)]  # row i-1, one zero column each side
        self.prev_c = [zeros(n, w, h) for _ in range(layers)]
        self.cur_h = [zeros(n, w + 2, h) for _ in range(layers)]
        self.cur_c = [zeros(n, w, h) for _ in range(layers)]

    def layer_cell(self, l, inp, i, j):
        lstm = self.m.lstms[l]
        k = lstm.input_to_state.weight * lstm.input_to_state.mask  # (4h, 2h, 1, 3); tap 2 is masked
        left = self.inputs[l][:, j - 1] if j > 0 else torch.zeros_like(inp)
        gates = left @ k[:, :, 0, 0].T + inp @ k[:, :, 0, 1].T + lstm.input_to_state.bias
        nb = self.prev_h[l][:, j:j + 3].flatten(1)  # (N, 3h): left, above, right on the previous row
        h, c = lstm_cell(gates + nb @ lstm.state_to_state[0], self.prev_c[l][:, j])
        self.cur_h[l][:, j + 1], self.cur_c[l][:, j], self.inputs[l][:, j] = h, c, inp
        return h

    def end_row(self, i):
        self.prev_h, self.cur_h = self.cur_h, self.prev_h
        self.prev_c, self.cur_c = self.cur_c, self.prev_c


class DiagonalBiLSTMSampler(CellSampler):
    """Left-to-right cells as pixels arrive; the right-to-left pass over a row
    once it is complete (row i's output uses the right-to-left states of row i-1)."""

    def setup(self, n, like):
        h, w, layers = self.m.config.hidden, self.width, len(self.m.lstms)
        zeros = lambda *s: like.new_zeros(*s)  # noqa: E731
        self.inputs = [zeros(n, w, 2 * h) for _ in range(layers)]  # layer inputs on the current row
        # [direction][layer] states, (N, W, h), of the previous and the current row
        self.prev_h = [[zeros(n, w, h) for _ in range(layers)] for _ in range(2)]
        self.prev_c = [[zeros(n, w, h) for _ in range(layers)] for _ in range(2)]
        self.cur_h = [[zeros(n, w, h) for _ in range(layers)] for _ in range(2)]
        self.cur_c = [[zeros(n, w, h) for _ in range(layers)] for _ in range(2)]

    def step(self, direction, l, inp, j, before):
        """One cell of `direction` at column j; `before` is the column it recurs from."""
        lstm = self.m.lstms[l]
        gates = inp @ lstm.masked_input_weight[direction] + lstm.input_bias[direction, 0]
        ok = 0 <= before < self.width
        h_side = self.cur_h[direction][l][:, before] if ok else torch.zeros_like(inp[:, :lstm.hidden])
        c_side = self.cur_c[direction][l][:, before] if ok else torch.zeros_like(h_side)
        nb = torch.cat([self.prev_h[direction][l][:, j], h_side], dim=1)  # (N, 2h): above, side
        h, c = lstm_cell(gates + nb @ lstm.state_to_state[direction], c_side)
        self.cur_h[direction][l][:, j], self.cur_c[direction][l][:, j] = h, c
        return h

    def layer_cell(self, l, inp, i, j):
        self.inputs[l][:, j] = inp
        h = self.step(0, l, inp, j, j - 1)
        if self.m.lstms[l].shift_right_to_left:
            return h + self.prev_h[1][l][:, j]  # right-to-left state of row i-1
        raise ValueError("the sampler implements only the causal (shifted) Diagonal BiLSTM")

    def end_row(self, i):
        for l in range(len(self.m.lstms)):
            for j in reversed(range(self.width)):
                self.step(1, l, self.inputs[l][:, j], j, j + 1)
        self.prev_h, self.cur_h = self.cur_h, self.prev_h
        self.prev_c, self.cur_c = self.cur_c, self.prev_c


@register
class RowLSTMPixelRNN(PixelRNN):
    family = "row_lstm"
    layer = RowLSTM
    sampler = RowLSTMSampler


@register
class DiagonalBiLSTMPixelRNN(PixelRNN):
    family = "diagonal_bilstm"
    layer = DiagonalBiLSTM
    sampler = DiagonalBiLSTMSampler
