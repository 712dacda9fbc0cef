"""A tiny family used only by engine tests: two phases, a buffer-driven NaN switch."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from genlab.model import DataSpec, GenerativeModel, OptimizerSpec, Phase
from genlab.registry import register


@dataclass
class ToyConfig:
    nan_at_call: int = -1  # the generator-phase loss becomes NaN on this call (-1: never)


@dataclass
class ToyOptim:
    lr: float = 1e-2


@register
class Toy(GenerativeModel):
    """A 'generator' (a per-pixel mean) and a 'critic' (a linear layer) trained in two phases."""

    family = "toy"
    Config = ToyConfig
    Optim = ToyOptim
    ema_modules = ("mean",)

    def __init__(self, config: ToyConfig, data_spec: DataSpec):
        super().__init__(config, data_spec)
        self.mean = nn.Linear(1, data_spec.channels * data_spec.height * data_spec.width)
        self.critic = nn.Linear(data_spec.channels * data_spec.height * data_spec.width, 1)
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))

    def _fake(self, n):
        noise = self.randn(n, 1)
        return torch.tanh(self.mean(noise)).view(n, *self.data_spec.image_shape)

    def critic_loss(self, batch):
        real = batch["image"].flatten(1)
        fake = self._fake(len(real)).flatten(1)
        return (self.critic(fake) - self.critic(real)).mean() + 0.1 * self.critic.weight.pow(2).sum(), {}

    def generator_loss(self, batch):
        self.calls += 1
        loss = (self._fake(len(batch["image"])) - batch["image"]).pow(2).mean()
        if int(self.calls) == self.config.nan_at_call:
            loss = loss * float("nan")
        return loss, {"calls": self.calls.float()}

    def phases(self):
        spec = OptimizerSpec("adam", lr=self.optim.lr)
        return [Phase("critic", list(self.critic.parameters()), self.critic_loss, spec),
                Phase("generator", list(self.mean.parameters()), self.generator_loss, spec)]

    @torch.no_grad()
    def sample(self, n, generator=None, **controls):
        return torch.tanh(self.mean(self.randn(n, 1, generator=generator))).view(n, *self.data_spec.image_shape)
