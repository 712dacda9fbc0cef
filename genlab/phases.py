"""What a family hands the trainer: its training `Phase`s (parameters, loss, optimiser) and
the optimiser settings each phase is built with (`OptimizerSpec`; `NoOptim` for none)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
from torch import nn


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
class NoOptim:
    """Families with no trainable phases (or none yet) have no optimiser settings."""
