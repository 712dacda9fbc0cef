"""What pixel-by-pixel (autoregressive) families share: NADE, PixelRNN, PixelCNN.

An autoregressive image model factorises p(x) = prod_i p(x_i | x_<i) over
sub-pixels in raster order (rows top to bottom, columns left to right, and
within a pixel channel by channel, R -> G -> B). The log-likelihood is exact.

A family subclasses `AutoregressiveModel` and supplies

- ``self.head``: an output head, built with `make_head(kind, data_spec)`:
  `BernoulliHead` (binarised data, pixels exactly -1/+1 <-> 0/1) or
  `CategoricalHead` (a 256-way softmax over 8-bit grey levels, van den Oord
  et al. 2016, arXiv:1601.06759 §2.2);
- ``network(x, label) -> (N, C*K, H, W)``: the head's inputs for every
  sub-pixel at once (teacher forcing), K = ``head.num_outputs`` per channel,
  channels grouped as C consecutive blocks of K. It MUST be causal: the output
  at sub-pixel i may depend only on sub-pixels before i (tested with input
  gradients in tests/test_autoregressive_contract.py);
- to enable class conditioning, a config with ``conditional: bool``; optionally ``tiny_config`` (class attribute: config
  overrides for a tiny CPU model, used by the contract tests);
- optionally ``fast_sampler(label)`` returning a `PixelSampler` that caches
  what earlier pixels computed. The reference (`ReferenceSampler`) re-runs
  `network` on the whole image for every sub-pixel; a fast sampler must give
  the same outputs (tested: same seed -> same images).

and gets, from this base class:

- ``log_prob(x, label=None)``: exact log p(x) in nats per image, (N,);
  ``pixel_log_prob(x, label=None)``: (N, H, W) nats per pixel (channels summed),
  which sum to `log_prob`. For a class-conditional model with ``label=None``
  both give the *marginal* p(x) = sum_y p(y) p(x | y) under a uniform class
  prior, still exact (the per-pixel map is the difference of cumulative
  marginals, log p(x_<=i) - log p(x_<i));
- the training phase "likelihood": loss = NLL in nats summed over pixels,
  averaged over the batch; logs ``bits_per_dim`` = nats / (C*H*W ln 2);
- ``sample(n, generator=None, temperature=1.0, label=None, given=None,
  given_rows=0, sampler="fast")`` and ``sample_steps(n, ..., every=W)``.

Sampling conventions (one API for generation and completion):

- all random numbers are drawn up front, one uniform per sub-pixel,
  ``u = rand(n, H, W, C)`` from ``generator`` (then labels, if drawn), and a
  sub-pixel's value is the inverse CDF of its conditional at its own u. Hence
  the same seed gives the same images on every device, for either sampler, in
  any batch chunking, and whatever rows were given;
- completion: ``given`` is a batch (n or 1, C, H, W) in [-1, 1]; its first
  ``given_rows`` rows are copied unchanged into the output and the model fills
  in the rest. Rows of ``given`` below ``given_rows`` are ignored;
- ``temperature`` T divides the logits (p^(1/T), renormalised); T < 1 gives
  cleaner, less varied images. T must be > 0;
- ``sample_steps`` yields (n, C, H, W) images: first the start (given rows,
  everything else 0 = mid-grey, which is neither black nor white on binary
  data), then one frame every ``every`` pixels (default: one per row), the last
  frame being the finished sample, equal to `sample` with the same arguments.

Inputs are checked: wrong shapes, values outside [-1, 1] and (for the
Bernoulli head) values other than exactly -1/+1 raise ValueError. The
categorical head quantises x to the nearest of 256 levels, round((x+1)*127.5),
which is exact for 8-bit images loaded by genlab.data.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Iterator, Protocol

import torch
import torch.nn.functional as F

from genlab.model import Control, DataSpec, GenerativeModel, OptimizerSpec, Phase

HEADS = ("auto", "bernoulli", "categorical")
SAMPLERS = ("fast", "reference")
SAMPLE_CHUNK = 256  # images per sampling pass (random numbers are drawn for all n first)


# ----- output heads ---------------------------------------------------------------
def _at_least_fp32(t: torch.Tensor) -> torch.Tensor:
    """fp16/bf16 logits (autocast) -> fp32 for softmax and sampling; fp64 stays fp64."""
    return t.to(torch.promote_types(t.dtype, torch.float32))


class BernoulliHead:
    """One logit per sub-pixel: p(x_i = +1 | x_<i) = sigmoid(logit)."""

    num_outputs = 1
    name = "bernoulli"

    def check(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.all((x == 1) | (x == -1)):
            bad = x[(x != 1) & (x != -1)][:3].tolist()
            raise ValueError(f"the Bernoulli head models binary images with pixels exactly -1 or 1 "
                             f"(data 'mnist-binary'); got other values, e.g. {bad}. Binarise first "
                             f"(x = where(x > 0, 1, -1)) or use a categorical (8-bit) model")
        return x

    def log_prob(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """out (N, C, 1, H, W) logits, x (N, C, H, W) in {-1, 1} -> (N, C, H, W) nats."""
        return -F.binary_cross_entropy_with_logits(out[:, :, 0], (x + 1) / 2, reduction="none")

    def sample(self, out: torch.Tensor, u: torch.Tensor, temperature: float) -> torch.Tensor:
        """out (N, 1) logits, u (N,) uniforms -> (N,) values in {-1, 1} (inverse CDF: 1 iff u < p)."""
        p = torch.sigmoid(_at_least_fp32(out[:, 0]) / temperature)
        return torch.where(u < p, 1.0, -1.0).to(out.dtype)


class CategoricalHead:
    """A softmax over `levels` grey levels per sub-pixel (256 for 8-bit images)."""

    name = "categorical"

    def __init__(self, levels: int = 256):
        self.num_outputs = levels

    def to_index(self, x: torch.Tensor) -> torch.Tensor:
        """[-1, 1] -> level index 0..levels-1 (exact for 8-bit images)."""
        return ((x + 1) * (self.num_outputs - 1) / 2).round().long().clamp(0, self.num_outputs - 1)

    def to_value(self, k: torch.Tensor) -> torch.Tensor:
        """Level index -> [-1, 1], computed as genlab.data does (k / 127.5 - 1), bit for bit."""
        return k.float() / ((self.num_outputs - 1) / 2) - 1

    def check(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_value(self.to_index(x)).to(x.dtype)

    def log_prob(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """out (N, C, K, H, W) logits, x (N, C, H, W) -> (N, C, H, W) nats."""
        logp = F.log_softmax(_at_least_fp32(out), dim=2)
        return logp.gather(2, self.to_index(x).unsqueeze(2)).squeeze(2)

    def sample(self, out: torch.Tensor, u: torch.Tensor, temperature: float) -> torch.Tensor:
        """out (N, K) logits, u (N,) -> (N,) values: the first level whose CDF exceeds u."""
        cdf = torch.softmax(_at_least_fp32(out) / temperature, dim=1).cumsum(1)  # (N, K)
        k = (cdf < u[:, None]).sum(1).clamp(max=self.num_outputs - 1)
        return self.to_value(k).to(out.dtype)


def make_head(kind: str, data_spec: DataSpec):
    """'auto' picks Bernoulli for binary data sets and a 256-way softmax otherwise."""
    if kind not in HEADS:
        raise ValueError(f"head must be one of {', '.join(HEADS)}; got {kind!r}")
    if kind == "auto":
        kind = "bernoulli" if data_spec.binary else "categorical"
    if kind == "bernoulli":
        if not data_spec.binary:
            raise ValueError(f"head 'bernoulli' needs binary data (e.g. 'mnist-binary'); data "
                             f"{data_spec.name!r} has 8-bit pixels: use head 'categorical' or 'auto'")
        return BernoulliHead()
    return CategoricalHead(256)


# ----- samplers -------------------------------------------------------------------
class PixelSampler(Protocol):
    """Gives the head's inputs for one sub-pixel during generation.

    Called once per sub-pixel in raster then channel order, possibly starting
    after some given rows; `x` (N, C, H, W) then holds every sub-pixel before
    (i, j, c) (later ones are 0). Returns (N, C*K): the network's output
    column at (i, j), of which the caller uses channel c's K entries.
    """

    def __call__(self, x: torch.Tensor, i: int, j: int, c: int) -> torch.Tensor: ...


class ReferenceSampler:
    """Re-runs the whole network for every sub-pixel: O(HW) passes, obviously right."""

    def __init__(self, model: "AutoregressiveModel", label: torch.Tensor | None):
        self.model, self.label = model, label

    def __call__(self, x, i, j, c):
        return self.model.network(x, self.label)[:, :, i, j]


# ----- the base class -------------------------------------------------------------
@dataclass
class LikelihoodOptim:
    lr: float = 1e-3  # Adam
    # > 0: AdamW's decoupled weight decay (Loshchilov & Hutter 2019): every weight shrinks by
    # lr * weight_decay a step, a regulariser against fitting the 9,000 embedded digits
    weight_decay: float = 0.0


class AutoregressiveModel(GenerativeModel):
    Optim = LikelihoodOptim
    log_prob_is_exact = True
    # with ema_decay > 0, an average of every weight (Polyak averaging: PixelCNN++, Salimans et al.
    # 2017, evaluates with decay 0.9995) is what samples, scores and ships
    ema_modules = ("",)
    ordering: ClassVar[str] = "raster"  # rows top->bottom, columns left->right, channels R->G->B
    tiny_config: ClassVar[dict] = {}  # overrides for a tiny CPU model (contract tests)
    head: BernoulliHead | CategoricalHead

    def __init__(self, config, data_spec: DataSpec, conditional: bool = False):
        """`conditional`: p(x | label), passed by a family whose config has the option."""
        super().__init__(config, data_spec)
        self.num_classes = data_spec.num_classes if conditional else 0
        if conditional and not data_spec.num_classes:
            raise ValueError(f"conditional=true needs a labelled data set; {data_spec.name!r} has no classes")

    # ----- to implement ---------------------------------------------------------------
    def network(self, x: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        """(N, C, H, W) in [-1, 1] -> (N, C*K, H, W) head inputs; causal in raster order."""
        raise NotImplementedError

    def fast_sampler(self, label: torch.Tensor | None) -> PixelSampler | None:
        """A caching sampler, or None when the family has only the reference one."""
        return None

    # ----- likelihood -------------------------------------------------------------------
    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def check_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """Shape, range and (Bernoulli) binary checks; x on the model's device and dtype."""
        return self.head.check(self.check_images(x).to(self.device, self.dtype))

    def _labels(self, label, n: int, generator: torch.Generator | None = None,
                draw: bool = False) -> torch.Tensor | None:
        """Labels as a (n,) long tensor; None stays None unless `draw` (then uniform classes)."""
        if label is None:
            if draw and self.num_classes:
                return torch.randint(self.num_classes, (n,), generator=generator).to(self.device)
            return None
        if not self.num_classes:
            raise ValueError(f"this {self.family} model is unconditional; train it with conditional=true "
                             f"to pass a label")
        y = torch.as_tensor(label, dtype=torch.long).reshape(-1)
        if len(y) == 1:
            y = y.expand(n)
        if len(y) != n or y.min() < 0 or y.max() >= self.num_classes:
            raise ValueError(f"label must be one class or {n} classes in 0..{self.num_classes - 1}; "
                             f"got {label!r}")
        return y.to(self.device)

    def _sub_pixel_log_prob(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        out = self.network(x, y)
        n, _, h, w = out.shape
        out = out.view(n, x.shape[1], self.head.num_outputs, h, w)  # (N, C, K, H, W)
        return self.head.log_prob(out, x)  # (N, C, H, W)

    def pixel_log_prob(self, x: torch.Tensor, label=None) -> torch.Tensor:
        """log p(x_ij | earlier pixels) in nats, (N, H, W); sums to `log_prob`."""
        x = self.check_inputs(x)
        y = self._labels(label, len(x))
        if y is not None or not self.num_classes:
            return self._sub_pixel_log_prob(x, y).sum(1)
        # Marginal over a uniform class prior, per pixel: log p(x_<=i) - log p(x_<i).
        n, _, h, w = x.shape
        per_class = torch.stack([self._sub_pixel_log_prob(x, torch.full((n,), k, device=x.device)).sum(1)
                                 for k in range(self.num_classes)])  # (K, N, H, W)
        cum = per_class.flatten(2).cumsum(2)  # (K, N, H*W) log p(x_<=i | y)
        marg = torch.logsumexp(cum, 0) - math.log(self.num_classes)  # (N, H*W)
        return torch.diff(marg, dim=1, prepend=torch.zeros_like(marg[:, :1])).view(n, h, w)

    def log_prob(self, x: torch.Tensor, label=None) -> torch.Tensor:
        """Exact log p(x) in nats per image, (N,); marginal over classes when label is None."""
        return self.pixel_log_prob(x, label).flatten(1).sum(1)

    def bits_per_dim(self, nats: torch.Tensor) -> torch.Tensor:
        return nats / (math.prod(self.data_spec.image_shape) * math.log(2))

    # ----- training -----------------------------------------------------------------------
    def likelihood_loss(self, batch: dict):
        x = batch["image"]
        y = batch["label"] if self.num_classes else None
        nll = -self._sub_pixel_log_prob(x, y).flatten(1).sum(1).mean()  # nats per image
        return nll, {"nats": nll.detach(), "bits_per_dim": self.bits_per_dim(nll.detach())}

    def optimizer_spec(self) -> OptimizerSpec:
        if self.optim.weight_decay > 0:
            return OptimizerSpec("adamw", lr=self.optim.lr, weight_decay=self.optim.weight_decay)
        return OptimizerSpec("adam", lr=self.optim.lr)

    def phases(self) -> list[Phase]:
        return [Phase("likelihood", list(self.parameters()), self.likelihood_loss, self.optimizer_spec())]

    # ----- generation ---------------------------------------------------------------------
    def controls(self) -> list[Control]:
        drawing = ("sample", "steps", "complete")
        out = [Control("temperature", "slider", 1.0, low=0.05, high=2.0, applies_to=drawing,
                       help="divides the logits: below 1 gives cleaner, less varied images")]
        if self.num_classes:
            out.append(Control("label", "choice", None, choices=[None, *range(self.num_classes)], applies_to=drawing,
                               help="class to draw (None: a random class per image)"))
        h, w = self.data_spec.height, self.data_spec.width
        out.append(Control("every", "slider", self._default_every(), low=1, high=h * w, step=1, applies_to=("steps",),
                           help="pixels filled in between two frames of the step-by-step view"))
        return out

    def _default_every(self) -> int:
        """Pixels per step-by-step frame unless told: four frames a row."""
        return max(1, self.data_spec.width // 4)

    @torch.no_grad()
    def complete(self, given: torch.Tensor, keep_rows: int, generator: torch.Generator | None = None,
                 **controls) -> torch.Tensor:
        """Each image of `given` with its top `keep_rows` rows kept and the rest drawn from
        p(rest | top): exact conditional sampling, as raster order makes it."""
        return self.sample(len(given), generator=generator, given=given, given_rows=keep_rows, **controls)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0,
               label=None, given: torch.Tensor | None = None, given_rows: int = 0,
               sampler: str = "fast", **controls) -> torch.Tensor:
        """n images in [-1, 1]; with `given`/`given_rows`, completions of its top rows."""
        u, y, start = self._prepare(n, generator, temperature, label, given, given_rows, sampler, controls)
        chunks = []
        for lo in range(0, n, SAMPLE_CHUNK):
            sl = slice(lo, lo + SAMPLE_CHUNK)
            *_, last = self._generate(start[sl], u[sl], None if y is None else y[sl], temperature,
                                      given_rows, sampler, every=0)
            chunks.append(last)
        return torch.cat(chunks)

    steps_caption = "pixels drawn so far, in raster order (the rest still blank)"

    @torch.no_grad()
    def sample_steps(self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0,
                     label=None, given: torch.Tensor | None = None, given_rows: int = 0,
                     sampler: str = "fast", every: int | None = None, **controls) -> Iterator[torch.Tensor]:
        """Frames of generation: start, one every `every` pixels (default a quarter row), finished image."""
        u, y, start = self._prepare(n, generator, temperature, label, given, given_rows, sampler, controls)
        every = self._default_every() if every is None else every
        if every < 1:
            raise ValueError(f"every must be at least 1 pixel, got {every}")
        yield from self._generate(start, u, y, temperature, given_rows, sampler, every)

    def _prepare(self, n, generator, temperature, label, given, given_rows, sampler, controls):
        if controls:
            raise ValueError(f"{self.family} has no control {', '.join(sorted(controls))}; it takes "
                             f"temperature, label, given, given_rows, sampler")
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}; got {sampler!r}")
        c, h, w = self.data_spec.image_shape
        if not 0 <= given_rows <= h:
            raise ValueError(f"given_rows must be in 0..{h}, got {given_rows}")
        if given_rows and given is None:
            raise ValueError("given_rows > 0 needs the image to complete: pass given=(N, C, H, W)")
        u = self.rand(n, h, w, c, generator=generator).to(self.dtype)  # one uniform per sub-pixel, drawn first
        y = self._labels(label, n, generator, draw=True)
        start = torch.zeros(n, c, h, w, device=self.device, dtype=self.dtype)  # 0 = mid-grey: not yet generated
        if given_rows:
            g = self.check_inputs(given)
            if len(g) not in (1, n):
                raise ValueError(f"given must hold 1 or n={n} images; got {len(g)}")
            start[:, :, :given_rows] = g[:, :, :given_rows]
        return u, y, start

    def _generate(self, x, u, y, temperature, given_rows, sampler, every) -> Iterator[torch.Tensor]:
        """Fill x (N, C, H, W) in place from row `given_rows` on; yield frames (every=0: only the end)."""
        x = x.clone()
        c_, h, w = self.data_spec.image_shape
        step = ReferenceSampler(self, y) if sampler == "reference" else (self.fast_sampler(y) or ReferenceSampler(self, y))
        k = self.head.num_outputs
        if every:
            yield x.clone()
        done = 0
        for i in range(given_rows, h):
            for j in range(w):
                for c in range(c_):
                    out = step(x, i, j, c)  # (N, C*K)
                    x[:, c, i, j] = self.head.sample(out[:, c * k:(c + 1) * k], u[:, i, j, c], temperature)
                done += 1
                if every and done % every == 0 and (i, j) != (h - 1, w - 1):
                    yield x.clone()
        yield x
