"""The contract every genlab family implements.

A family is a `GenerativeModel` subclass in `genlab/models/<family>.py`:

- `family` (registry name) and `Config` (a dataclass; the only way to build it);
- built as `Model(config, data_spec)`; `check_data_spec` refuses image shapes
  the architecture cannot handle, naming the sizes it accepts;
- `phases()` lists the training phases in order. Each names its parameters,
  its optimiser settings and a `loss(batch) -> (loss, logs)` function. The
  trainer owns backward, optimiser steps, precision and devices; a model never
  calls `.backward()` or `.step()` itself;
- `sample(n, generator=None, **controls)` returns images in [-1, 1]; the same
  generator seed gives the same images. Random numbers are drawn on the CPU
  from `generator` so that a seed means the same on every device. Families
  that only translate (CycleGAN) have no `sample`: "sample" is then missing
  from their capabilities, and `preview(images, generator)` (what the trainer's
  sample grids show) translates fixed real images instead.

Optional capabilities, present only where a family really has them (the UI
and CLI look at `model.capabilities`, never at names):

=================  ==========================================================
``latent``         `latent_dim`, `prior(n, generator)`, `decode(z, **controls)`,
                   `controls()` (named extra controls: InfoGAN codes, camera)
``encode``         `encode(x) -> (mean, std)` of q(z|x)
``log_prob``       `log_prob(x)` nats per image; `log_prob_is_exact` says
                   whether it is exact or a bound
``pixel_log_prob`` `pixel_log_prob(x)` per-pixel nats, shape (N, H, W)
``translate``      `translate(x, target)`
``views``          `latent`, and `render_views(z, azimuth=None, elevation=None,
                   radius=None, fov=None, size=None)` -> {"colour" (N, 3, S, S) in
                   [-1, 1], "depth" (N, 1, S, S) distance along each ray,
                   "opacity" (N, 1, S, S) in [0, 1]} from any camera (numbers or
                   (N,) tensors; None: the model's default view; S: `size` or
                   the data's side); a camera it cannot render raises ValueError
                   naming the accepted range (`check_camera(azimuth, elevation,
                   radius, fov)`); `split(z) -> (shape code, appearance code)`,
                   z being their concatenation; the camera's ranges and defaults
                   are the `decode` controls of those four names
``sample_steps``   `sample_steps(n, generator=None, **kw)` yields intermediate
                   images (denoising steps, pixels filled in, resolutions)

``complete``       `complete(given, keep_rows, generator=None, **controls)`: the
                   top `keep_rows` rows of `given` kept, the rest generated
``noise``          `T` noise levels, `add_noise(x, t, generator=None)` -> x_t
                   (the forward process to t in 0..T-1) and `denoise(x_t, t,
                   generator=None, **controls)` -> an image (the reverse chain
                   from t; its controls are those declared for `denoise`)
``transform``      `latent`, and `decode` slider controls in the group
                   TRANSFORM_GROUP that move the output (TRANSFORM_CONTROLS);
                   `transform_controls()` lists them
=================  ==========================================================

Controls are declared, never guessed from signatures: each `Control` says
which calls it applies to (`CONTROL_USES`) and which group it belongs to.

Batches are dicts: ``image`` (N, C, H, W) float in [-1, 1] (binary data sets
use exactly -1 and 1), ``label`` (N,) int64, and whatever named tensors the data
set adds (``domain``, ``target_domain``, ``attributes``, ...).

Step-dependent training (a fade-in alpha, a resolution stage, a patch scale):
the trainer calls `advance(step)` before every step; the model updates its
state and returns the names of the phases whose optimiser must start afresh.
`step_state()` / `load_step_state()` put that state in the checkpoint.

Optimiser settings are not part of `Config`: each family declares an `Optim`
dataclass (learning rates, betas) whose values come from the recipe's
``[optim]`` section, so a resumed run may change them. `phases()` reads
`self.optim`.
"""
from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterator, Sequence

import torch
from torch import nn

CAPABILITY_METHODS = {
    "latent": "decode",
    "encode": "encode",
    "log_prob": "log_prob",
    "pixel_log_prob": "pixel_log_prob",
    "translate": "translate",
    "views": "render_views",
    "sample_steps": "sample_steps",
    "complete": "complete",
    "noise": "add_noise",  # with denoise and T (see the table above)
}

# What a control can apply to: drawing from scratch (`sample`), decoding a chosen
# latent (`decode`), the step-by-step view (`sample_steps`), completion (`complete`), denoising
# a given x_t (`denoise`, the `noise` capability).
CONTROL_USES = ("sample", "decode", "steps", "complete", "denoise")

# A model that can move what it draws (translate or rotate its output through its own layers,
# as an alias-free generator does) says so with `decode` slider controls in this group, named
# from TRANSFORM_CONTROLS with these meanings; genlab.metrics.equivariance.undo_transform(images,
# (shift_x, shift_y), rotate) undoes them. The app's Equivariance tab lists models by this.
TRANSFORM_GROUP = "transform"
TRANSFORM_CONTROLS = {
    "shift_x": "move the output right by this many pixels (sub-pixel values allowed)",
    "shift_y": "move the output down by this many pixels",
    "rotate": "rotate the output by this many degrees, counter-clockwise about its centre (before the shift)",
}


def option(default, *, low=None, high=None, choices=None, help: str = ""):
    """A config field with its accepted values, checked when a model is built:

        width: int = option(64, low=8)
        dropout: float = option(0.5, low=0.0, high=0.99)
        net: str = option("mlp", choices=("mlp", "conv"))

    Fields declared plainly follow `check_config`'s defaults (ints >= 1, floats finite)."""
    return field(default=default, metadata={"low": low, "high": high, "choices": choices, "help": help})


def check_config(family: str, config) -> None:
    """Refuse a config value outside its accepted range, naming the option, the value and the range.

    An int option is a count or a size (>= 1) unless its field says otherwise; a tuple of
    ints is a list of sizes; floats must be finite; `option(...)` metadata narrows any of these."""
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        value, meta, hint = getattr(config, f.name), f.metadata, hints.get(f.name)
        where = f"option {f.name}"
        if meta.get("choices") is not None and value not in meta["choices"]:
            raise ValueError(f"{where} must be one of {', '.join(map(str, meta['choices']))}, got {value!r}")
        numbers = [value] if isinstance(value, (int, float)) and not isinstance(value, bool) else \
            list(value) if isinstance(value, tuple) else []
        is_int = hint is int or "tuple[int" in str(hint)
        low = meta.get("low", None)
        low = 1 if low is None and is_int else low
        for v in numbers:
            if isinstance(v, float) and not math.isfinite(v):
                raise ValueError(f"{where} must be a finite number, got {value!r}")
            if low is not None and v < low:
                raise ValueError(f"{where} must be >= {low}, got {value!r}")
            if meta.get("high") is not None and v > meta["high"]:
                raise ValueError(f"{where} must be <= {meta['high']}, got {value!r}")


@dataclass(frozen=True)
class CameraSpec:
    """The camera distribution of multi-view data (degrees; a look-at camera on a sphere).

    Training images come without poses; the model knows this distribution and draws
    its own cameras from it (GRAF). Angles are drawn uniformly in the given ranges.
    """

    azimuth: tuple[float, float] = (0.0, 360.0)
    elevation: tuple[float, float] = (0.0, 90.0)  # the upper hemisphere
    radius: tuple[float, float] = (4.0, 4.0)
    fov: float = 30.0  # vertical field of view

    def __post_init__(self):
        for name in ("azimuth", "elevation", "radius"):
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ValueError(f"camera {name} range ({lo}, {hi}) is empty")
        if not 0 < self.fov < 180:
            raise ValueError(f"camera fov must be in (0, 180) degrees, got {self.fov}")


@dataclass(frozen=True)
class DataSpec:
    """What a model needs to know about its data."""

    channels: int = 1
    height: int = 28
    width: int = 28
    num_classes: int = 0  # 0 = unlabelled
    binary: bool = False  # pixels are exactly -1 or 1 (binarised MNIST)
    name: str = "mnist"
    # Image-to-image data: the domains' names (CycleGAN: two; StarGAN: one per attribute
    # combination) and, where domains are combinations of binary attributes, their names.
    domains: tuple[str, ...] = ()
    attributes: tuple[str, ...] = ()
    camera: CameraSpec | None = None  # multi-view (3-D) data
    pad: int = 0  # pixels of padding added around the source images (evaluation crops them off)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.height, self.width)

    @property
    def num_domains(self) -> int:
        return len(self.domains)

    def describe(self) -> str:
        extra = f", {self.num_domains} domains" if self.domains else ""
        return f"{self.channels}x{self.height}x{self.width}{extra}"

    def to_dict(self) -> dict:
        """Plain Python values (checkpoints are read with weights_only)."""
        d = dataclasses.asdict(self)
        d["domains"], d["attributes"] = list(self.domains), list(self.attributes)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "DataSpec":
        """Inverse of to_dict; also reads checkpoints written before domains and cameras existed."""
        d = dict(d)
        d["domains"], d["attributes"] = tuple(d.get("domains", ())), tuple(d.get("attributes", ()))
        if d.get("camera") is not None:
            d["camera"] = CameraSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in d["camera"].items()})
        return cls(**d)


@dataclass
class OptimizerSpec:
    kind: str = "adam"  # adam | adamw | rmsprop | sgd
    lr: float = 2e-4
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0

    def build(self, params) -> torch.optim.Optimizer:
        if self.kind == "adam":
            return torch.optim.Adam(params, lr=self.lr, betas=self.betas, weight_decay=self.weight_decay)
        if self.kind == "adamw":
            return torch.optim.AdamW(params, lr=self.lr, betas=self.betas, weight_decay=self.weight_decay)
        if self.kind == "rmsprop":
            return torch.optim.RMSprop(params, lr=self.lr, weight_decay=self.weight_decay)
        if self.kind == "sgd":
            return torch.optim.SGD(params, lr=self.lr, momentum=self.betas[0], weight_decay=self.weight_decay)
        raise ValueError(f"unknown optimizer {self.kind!r}; choose adam, adamw, rmsprop or sgd")


LossFn = Callable[[dict], "tuple[torch.Tensor, dict[str, torch.Tensor]]"]


@dataclass
class Phase:
    """One optimisation step of a training iteration (e.g. 'discriminator')."""

    name: str
    params: Sequence[nn.Parameter]
    loss: LossFn
    optimizer: OptimizerSpec = field(default_factory=OptimizerSpec)
    every: int = 1  # run on steps where step % every == 0


@dataclass
class Control:
    """A named control the UI and CLI can show (a choice or a slider).

    `applies_to` says which calls take it (see CONTROL_USES): a truncation scales the
    prior draw, so it applies to `sample` but not to `decode` of a chosen z; an
    InfoGAN code applies to both. `group` gathers related controls (GRAF: "shape
    code", "appearance code", "camera") so the app lays them out together.
    `choice_labels` ({value: text}) is what the app shows for a choice's values
    (InfoGAN: "3 → draws 7 (94%)"); the value passed to the model stays the choice.
    """

    name: str
    kind: str  # "choice" | "slider"
    default: Any
    choices: Sequence[Any] = ()
    low: float = -1.0
    high: float = 1.0
    help: str = ""
    applies_to: tuple[str, ...] = ("sample",)
    group: str = ""
    step: float | None = None  # slider resolution; None: (high - low) / 100; 1 for integer sliders
    choice_labels: dict[Any, str] = field(default_factory=dict)  # display text of some choices

    def __post_init__(self):
        if self.kind not in ("choice", "slider"):
            raise ValueError(f"control {self.name}: kind must be 'choice' or 'slider', got {self.kind!r}")
        unknown = set(self.applies_to) - set(CONTROL_USES)
        if unknown:
            raise ValueError(f"control {self.name}: applies_to {sorted(unknown)} not among {CONTROL_USES}")
        stray = [v for v in self.choice_labels if v not in self.choices]
        if stray:
            raise ValueError(f"control {self.name}: choice_labels name {stray}, which are not among its choices")
        if self.group == TRANSFORM_GROUP and (self.name not in TRANSFORM_CONTROLS or self.kind != "slider"):
            raise ValueError(f"control {self.name}: the {TRANSFORM_GROUP!r} group holds sliders named "
                             f"{', '.join(TRANSFORM_CONTROLS)}")

    def choice_label(self, value) -> str:
        """What the app shows for one of the choices: its label, else the value itself."""
        return self.choice_labels.get(value, str(value))

    def check(self, value) -> Any:
        """The value as the model takes it; ValueError naming the accepted values otherwise."""
        if self.kind == "slider":
            try:
                v = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"{self.name} must be a number in [{self.low}, {self.high}], got {value!r}") from None
            if not self.low <= v <= self.high:
                raise ValueError(f"{self.name} must lie in [{self.low}, {self.high}], got {value}")
            return int(round(v)) if self.step == 1 else v
        by_text = {str(x): x for x in self.choices}
        if value in self.choices:
            return value
        if str(value) in by_text:
            return by_text[str(value)]
        raise ValueError(f"{self.name} must be one of {', '.join(by_text)}, got {value!r}")


@dataclass
class NoOptim:
    """Families with no trainable phases (or none yet) have no optimiser settings."""


class GenerativeModel(nn.Module):
    family: ClassVar[str] = ""
    Config: ClassVar[type] = object
    paper: ClassVar[str] = ""  # short citation with arXiv id
    ema_modules: ClassVar[tuple[str, ...]] = ()  # sub-modules whose weights get an EMA copy
    Optim: ClassVar[type] = NoOptim  # optimiser settings (the recipe's [optim] section)
    log_prob_is_exact: ClassVar[bool] = False
    # log_prob(x, k=..., generator=...) is a Monte Carlo bound over k samples (IWAE)
    log_prob_is_sampled: ClassVar[bool] = False
    default_data: ClassVar[str] = "mnist"  # data set used when a recipe names none

    def __init__(self, config, data_spec: DataSpec):
        super().__init__()
        if not isinstance(config, self.Config):
            raise TypeError(f"{self.family} needs a {self.Config.__name__}, got {type(config).__name__}")
        check_config(self.family, config)
        self.check_data_spec(data_spec)
        self.config = config
        self.data_spec = data_spec
        self.optim = self.Optim()  # the trainer lays the recipe's [optim] values over these defaults

    # ----- construction checks -------------------------------------------------
    @classmethod
    def supported_shapes(cls) -> str:
        """Human-readable description of accepted image shapes (for messages)."""
        return "any"

    @classmethod
    def check_data_spec(cls, spec: DataSpec) -> None:
        """Raise ValueError naming the accepted sizes when `spec` cannot be handled."""

    def check_images(self, x: torch.Tensor, what: str = "images") -> torch.Tensor:
        """Validate user images against the model's data spec; returns x as float."""
        expected = self.data_spec.image_shape
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"{self.family} expects {what} of shape (N, {', '.join(map(str, expected))}) "
                             f"in [-1, 1]; got {tuple(x.shape)}")
        x = x.float()
        if x.min() < -1.0001 or x.max() > 1.0001:
            raise ValueError(f"{what} must lie in [-1, 1]; got values in [{x.min():.3g}, {x.max():.3g}]")
        return x

    # ----- training ------------------------------------------------------------
    def phases(self) -> list[Phase]:
        raise NotImplementedError

    def forward(self, phase: str, batch: dict):
        """Dispatch to a phase's loss; lets the trainer wrap the model (compile)."""
        return self._phase_losses[phase](batch)

    def bind_phases(self) -> list[Phase]:
        phases = self.phases()
        self._phase_losses = {p.name: p.loss for p in phases}
        return phases

    # ----- step-dependent training ---------------------------------------------
    def advance(self, step: int) -> set[str]:
        """Called by the trainer before training step `step` (0-based). Update any state that
        depends on the step (fade-in alpha, resolution stage, patch scale) and return the
        names of the phases whose optimiser must start afresh (a new resolution); an empty
        set when nothing structural changed. After a non-empty answer the trainer calls
        `phases()` again, so the phase set itself may change here."""
        return set()

    def step_state(self) -> dict:
        """The step-dependent state, as plain values and tensors (saved in checkpoints)."""
        return {}

    def load_step_state(self, state: dict) -> None:
        """Restore what `step_state` returned (resume; loading a checkpoint)."""

    # ----- evaluation -------------------------------------------------------------
    def extra_metrics(self, n: int, seed: int = 0) -> dict:
        """The family's own figures for `python -m genlab eval` (InfoGAN code accuracy,
        AAE posterior-vs-prior MMD, equivariance, translation error), as a flat dict of
        numbers and short strings. Seeded: the same call gives the same figures."""
        return {}

    # ----- generation ----------------------------------------------------------
    def sample(self, n: int, generator: torch.Generator | None = None, **controls) -> torch.Tensor:
        raise NotImplementedError

    def controls(self) -> list[Control]:
        return []

    def controls_for(self, use: str) -> list[Control]:
        """The declared controls that apply to `use` (one of CONTROL_USES), in order."""
        if use not in CONTROL_USES:
            raise ValueError(f"unknown control use {use!r}; one of {', '.join(CONTROL_USES)}")
        return [c for c in self.controls() if use in c.applies_to]

    def transform_controls(self) -> dict[str, Control]:
        """{name: Control} of the `decode` controls that move the output (see TRANSFORM_GROUP);
        empty for a model that cannot move what it draws."""
        return {c.name: c for c in self.controls_for("decode") if c.group == TRANSFORM_GROUP}

    def check_controls(self, use: str, values: dict) -> dict:
        """Validate {name: value} for `use`: unknown names and out-of-range values are refused
        with a message naming what is accepted. Names left out (or None) stay out, so the call
        uses the model's own default: one meaning of "sample with seed s" for the CLI, the app
        and evaluation (InfoGAN's continuous codes are then drawn from their prior, not fixed)."""
        known = {c.name: c for c in self.controls_for(use)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"{self.family} has no {use} control {', '.join(unknown)}; "
                             f"it takes {', '.join(known) or 'none'}")
        return {name: known[name].check(v) for name, v in values.items() if v is not None}

    @property
    def device(self) -> torch.device:
        for t in self.parameters():
            return t.device
        return torch.device("cpu")

    def randn(self, *shape, generator=None) -> torch.Tensor:
        """Standard normal noise. With a generator it is drawn on the CPU, so a seed
        means the same images on every device; without one (training) it is drawn
        on the model's device from the global RNG, which the trainer checkpoints."""
        if generator is None:
            return torch.randn(*shape, device=self.device)
        return torch.randn(*shape, generator=generator).to(self.device)

    def rand(self, *shape, generator=None) -> torch.Tensor:
        if generator is None:
            return torch.rand(*shape, device=self.device)
        return torch.rand(*shape, generator=generator).to(self.device)

    @property
    def capabilities(self) -> frozenset[str]:
        caps = {c for c, m in CAPABILITY_METHODS.items() if callable(getattr(self, m, None))}
        if type(self).sample is not GenerativeModel.sample:
            caps.add("sample")
        if "latent" in caps and self.transform_controls():
            caps.add("transform")
        return frozenset(caps)

    def preview(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The images of a training sample grid, given as many fixed real images: samples
        for a family that can sample; a translating family overrides this (real images
        beside their translations)."""
        return self.sample(len(images), generator=generator)

    def config_dict(self) -> dict:
        return dataclasses.asdict(self.config)

    def extra_repr(self) -> str:
        return f"family={self.family}, data={self.data_spec.describe()}"


MAX_SEED = 2**63 - 1  # torch.Generator.manual_seed takes a signed 64-bit integer


def seeded(seed) -> torch.Generator:
    """A CPU generator for `seed`; a seed outside [0, 2**63 - 1] is refused by name."""
    if isinstance(seed, float) and seed.is_integer():
        seed = int(seed)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be an integer in [0, 2**63 - 1], got {seed!r}")
    return torch.Generator().manual_seed(seed)


def iterate_in_chunks(n: int, chunk: int) -> Iterator[int]:
    """Sizes of successive chunks covering n items (for batched sampling)."""
    while n > 0:
        yield min(chunk, n)
        n -= chunk
