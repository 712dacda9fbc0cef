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
  from `generator` so that a seed means the same on every device.

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
``sample_steps``   `sample_steps(n, generator=None, **kw)` yields intermediate
                   images (denoising steps, pixels filled in, resolutions)
=================  ==========================================================

Batches are dicts: ``image`` (N, C, H, W) float in [-1, 1] (binary data sets
use exactly -1 and 1) and ``label`` (N,) int64.
"""
from __future__ import annotations

import dataclasses
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
    "sample_steps": "sample_steps",
}


@dataclass(frozen=True)
class DataSpec:
    """What a model needs to know about its data."""

    channels: int = 1
    height: int = 28
    width: int = 28
    num_classes: int = 0  # 0 = unlabelled
    binary: bool = False  # pixels are exactly -1 or 1 (binarised MNIST)
    name: str = "mnist"

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.height, self.width)

    def describe(self) -> str:
        return f"{self.channels}x{self.height}x{self.width}"


@dataclass
class OptimizerSpec:
    kind: str = "adam"  # adam | adamw | rmsprop | sgd
    lr: float = 2e-4
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    warmup_steps: int = 0  # linear learning-rate warm-up

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
    """A named latent control the UI can show (a choice or a slider)."""

    name: str
    kind: str  # "choice" | "slider"
    default: Any
    choices: Sequence[Any] = ()
    low: float = -1.0
    high: float = 1.0
    help: str = ""


class GenerativeModel(nn.Module):
    family: ClassVar[str] = ""
    Config: ClassVar[type] = object
    paper: ClassVar[str] = ""  # short citation with arXiv id
    ema_modules: ClassVar[tuple[str, ...]] = ()  # sub-modules whose weights get an EMA copy
    log_prob_is_exact: ClassVar[bool] = False
    default_data: ClassVar[str] = "mnist"  # data set used when a recipe names none

    def __init__(self, config, data_spec: DataSpec):
        super().__init__()
        if not isinstance(config, self.Config):
            raise TypeError(f"{self.family} needs a {self.Config.__name__}, got {type(config).__name__}")
        self.check_data_spec(data_spec)
        self.config = config
        self.data_spec = data_spec

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

    # ----- generation ----------------------------------------------------------
    def sample(self, n: int, generator: torch.Generator | None = None, **controls) -> torch.Tensor:
        raise NotImplementedError

    def controls(self) -> list[Control]:
        return []

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
        caps = {"sample"}
        caps.update(c for c, m in CAPABILITY_METHODS.items() if callable(getattr(self, m, None)))
        return frozenset(caps)

    def config_dict(self) -> dict:
        return dataclasses.asdict(self.config)

    def extra_repr(self) -> str:
        return f"family={self.family}, data={self.data_spec.describe()}"


def iterate_in_chunks(n: int, chunk: int) -> Iterator[int]:
    """Sizes of successive chunks covering n items (for batched sampling)."""
    while n > 0:
        yield min(chunk, n)
        n -= chunk
