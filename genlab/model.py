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
and CLI look at `model.capabilities`, never at names or signatures). Each is
declared on `GenerativeModel` below, with what it takes and gives: the
methods as stubs that refuse, the facts as attributes with the value a family
without the capability has. A family has a capability when it implements the
capability's methods; `capabilities` compares its methods with the stubs.

=================  ==========================================================
``latent``         `latent_dim`, `prior(n, generator)`, `prior_name` ("normal"
                   means z ~ N(0, I)), `decode(z, **controls)`, `controls()`
                   (named extra controls: InfoGAN codes, camera)
``encode``         `encode(x) -> (mean, std)` of q(z|x)
``log_prob``       `log_prob(x)` nats per image; `log_prob_is_exact` says
                   whether it is exact or a bound; `log_prob_is_sampled` that
                   it is a Monte Carlo estimate drawn from its `generator=`
                   argument; `log_prob_takes_k` that it takes `k=` importance
                   samples
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
``ray_profile``    `views`, and `ray_profile(z, row, col, azimuth=None, elevation=None,
                   radius=None, fov=None, size=None)` -> what one pixel's ray
                   meets: 1-D tensors over its S samples "distance" (increasing),
                   "density" (>= 0), "weight" (its share of the pixel, summing to
                   the opacity) and "colour" (S, 3) in [0, 1], and the pixel's
                   composited "pixel" (3,), "opacity" and "depth"; z is (1, D),
                   the camera as in `render_views`, (row, col) a pixel of the
                   S x S render (an out-of-range pixel raises ValueError)
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

A capability comes whole: a family implementing one of its methods and not
the others is refused when its class is defined (CAPABILITY_PARTS).

One seeding rule: whatever is random in a figure (samples, a Monte Carlo
bound) is drawn from a generator the caller passes, `seeded(seed)`, a CPU
generator, never from the global RNG; so `genlab eval`, the CLI and the app
give the same number for the same seed, on every device.

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
from typing import ClassVar, Iterator

import torch
from torch import nn

# Re-exported: families and callers import the whole contract from here.
from genlab.controls import CONTROL_USES, TRANSFORM_CONTROLS, TRANSFORM_GROUP, Control  # noqa: F401
from genlab.dataspec import CameraSpec, DataSpec  # noqa: F401
from genlab.options import check_config, option  # noqa: F401
from genlab.phases import LossFn, NoOptim, OptimizerSpec, Phase  # noqa: F401

# The method whose implementation gives a family each capability (the others come with it).
CAPABILITY_METHODS = {
    "latent": "decode",
    "encode": "encode",
    "log_prob": "log_prob",
    "pixel_log_prob": "pixel_log_prob",
    "translate": "translate",
    "views": "render_views",
    "ray_profile": "ray_profile",
    "sample_steps": "sample_steps",
    "complete": "complete",
    "noise": "add_noise",
}
# Everything a family implements to have a capability (stubs on GenerativeModel until it does).
CAPABILITY_PARTS = {
    "latent": ("decode", "prior"),
    "views": ("render_views", "check_camera", "split"),  # and latent
    "noise": ("add_noise", "denoise"),  # and T, an attribute or a property
}


class GenerativeModel(nn.Module):
    family: ClassVar[str] = ""
    Config: ClassVar[type] = object
    paper: ClassVar[str] = ""  # short citation with arXiv id
    ema_modules: ClassVar[tuple[str, ...]] = ()  # sub-modules whose weights get an EMA copy
    # sub-modules that only training uses (a discriminator): shipped files leave them out
    training_only_modules: ClassVar[tuple[str, ...]] = ()
    Optim: ClassVar[type] = NoOptim  # optimiser settings (the recipe's [optim] section)
    default_data: ClassVar[str] = "mnist"  # data set used when a recipe names none
    # config options renamed since checkpoints were written: {"old name": "new name"}
    renamed_options: ClassVar[dict[str, str]] = {}
    # log_prob: exact, or a bound on log p(x)
    log_prob_is_exact: ClassVar[bool] = False
    # log_prob: a Monte Carlo estimate, drawn from its `generator=` argument (seeded(seed))
    log_prob_is_sampled: ClassVar[bool] = False
    # log_prob: takes `k=`, the number of importance samples of its bound (IWAE)
    log_prob_takes_k: ClassVar[bool] = False
    # sample_steps: what one frame shows, for captions (e.g. DDPM's "x_t | predicted x0" pairs)
    steps_caption: ClassVar[str] = ""
    # no weight depends on the image size (a radiance field renders at any): a warm start may
    # take the weights to data of another size, the channels kept
    any_image_size: ClassVar[bool] = False
    latent_dim: int = 0  # latent: the size of z (0 without a latent space)
    T: int = 0  # noise: the number of noise levels

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for capability, parts in CAPABILITY_PARTS.items():
            done = [p for p in parts if implements(cls, p)]
            if done and len(done) < len(parts):
                missing = [p for p in parts if p not in done]
                raise TypeError(f"{cls.__name__} implements {', '.join(done)} of the {capability!r} capability "
                                f"but not {', '.join(missing)}")
        if implements(cls, "render_views") and not implements(cls, "decode"):
            raise TypeError(f"{cls.__name__} renders views but has no latent space (prior, decode)")
        if implements(cls, "ray_profile") and not implements(cls, "render_views"):
            raise TypeError(f"{cls.__name__} profiles rays but renders no views (render_views)")

    def __init__(self, config, data_spec: DataSpec):
        super().__init__()
        if not isinstance(config, self.Config):
            raise TypeError(f"{self.family} needs a {self.Config.__name__}, got {type(config).__name__}")
        check_config(self.family, config)
        self.check_data_spec(data_spec)
        self.config = config
        self.data_spec = data_spec
        self.optim = self.Optim()  # the trainer lays the recipe's [optim] values over these defaults
        self.checkpoint: dict = {}  # what genlab.load read beside the weights (path, step, metrics, ...)

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

    def finish_training(self, data) -> bool:
        """Called by the trainer once, when a run reaches its last step, with the training set,
        before the final checkpoint: fit what is fitted after training rather than by gradient
        steps (a VAE's ex-post latent mixture). Returns whether anything changed."""
        return False

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
        raise self._lacks("sample")

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
        """What this model can do (the table above): each capability whose methods its family
        implements, "sample" where it draws from scratch, "transform" where its decode controls
        move the output."""
        cls = type(self)
        caps = {c for c, m in CAPABILITY_METHODS.items() if implements(cls, m)}
        if implements(cls, "sample"):
            caps.add("sample")
        if "latent" in caps and self.transform_controls():
            caps.add("transform")
        return frozenset(caps)

    # ----- optional capabilities (see the table above): stubs until a family implements them -----
    def _lacks(self, capability: str) -> NotImplementedError:
        return NotImplementedError(f"{self.family or type(self).__name__} has no {capability!r} capability "
                                   f"(it has {', '.join(sorted(self.capabilities)) or 'none'})")

    @property
    def prior_name(self) -> str:
        """latent: the distribution `prior` draws; "normal" is z ~ N(0, I), which a family has unless
        it says otherwise ("uniform": U(-1, 1)^d; an AAE's "mixture", ...)."""
        return "normal"

    def prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """latent: n latents z (n, latent_dim) drawn from the prior."""
        raise self._lacks("latent")

    def decode(self, z: torch.Tensor, **controls) -> torch.Tensor:
        """latent: the images (N, C, H, W) in [-1, 1] of latents z (N, latent_dim)."""
        raise self._lacks("latent")

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """encode: (mean, std) of q(z|x), each (N, latent_dim)."""
        raise self._lacks("encode")

    def log_prob(self, x: torch.Tensor, **options) -> torch.Tensor:
        """log_prob: log p(x) (or its bound) in nats per image, (N,); `options` are those the
        log_prob_* facts declare (`generator`, `k`)."""
        raise self._lacks("log_prob")

    def pixel_log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """pixel_log_prob: log p of each pixel given the ones before it in nats, (N, H, W)."""
        raise self._lacks("pixel_log_prob")

    def translate(self, x: torch.Tensor, target) -> torch.Tensor:
        """translate: images x (N, C, H, W) in [-1, 1] carried into the target domain(s)."""
        raise self._lacks("translate")

    def render_views(self, z: torch.Tensor, azimuth=None, elevation=None, radius=None, fov=None,
                     size: int | None = None) -> dict:
        """views: {"colour", "depth", "opacity"} of latents z seen from the given camera."""
        raise self._lacks("views")

    def check_camera(self, azimuth=None, elevation=None, radius=None, fov=None) -> None:
        """views: ValueError naming the accepted range for a camera the model cannot render."""
        raise self._lacks("views")

    def split(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """views: a latent as (shape code, appearance code)."""
        raise self._lacks("views")

    def ray_profile(self, z: torch.Tensor, row: int, col: int, azimuth=None, elevation=None, radius=None,
                    fov=None, size: int | None = None) -> dict:
        """ray_profile: density, weight and colour along the ray through one pixel of a view."""
        raise self._lacks("ray_profile")

    def sample_steps(self, n: int, generator: torch.Generator | None = None, **kw) -> Iterator:
        """sample_steps: yields the intermediate images of drawing n samples."""
        raise self._lacks("sample_steps")

    def complete(self, given: torch.Tensor, keep_rows: int, generator: torch.Generator | None = None,
                 **controls) -> torch.Tensor:
        """complete: `given` with its top `keep_rows` rows kept and the rest generated."""
        raise self._lacks("complete")

    def add_noise(self, x: torch.Tensor, t, generator: torch.Generator | None = None) -> torch.Tensor:
        """noise: x_t, the forward process run from x to noise level t in 0..T-1."""
        raise self._lacks("noise")

    def denoise(self, x_t: torch.Tensor, t, generator: torch.Generator | None = None, **controls) -> torch.Tensor:
        """noise: an image, the reverse chain run from x_t at noise level t."""
        raise self._lacks("noise")

    def preview(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The images of a training sample grid, given as many fixed real images: samples
        for a family that can sample; a translating family overrides this (real images
        beside their translations)."""
        return self.sample(len(images), generator=generator)

    def config_dict(self) -> dict:
        return dataclasses.asdict(self.config)

    def extra_repr(self) -> str:
        return f"family={self.family}, data={self.data_spec.describe()}"


def implements(cls: type, name: str) -> bool:
    """Does family class `cls` implement contract member `name` itself (not the stub above)?"""
    return getattr(cls, name) is not getattr(GenerativeModel, name)


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
