"""A tiny family used only by engine tests: two phases, a buffer-driven NaN switch."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from genlab.model import DataSpec, GenerativeModel, OptimizerSpec, Phase, option
from genlab.registry import register


@dataclass
class ToyConfig:
    nan_at_call: int = option(-1, low=-1)  # the generator-phase loss becomes NaN on this call (-1: never)


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


@dataclass
class StagedConfig:
    stage_at: int = 5  # the step at which the second stage starts
    nan_at_call: int = option(-1, low=-1)  # (the toy's field; never NaN here)
    fade_steps: int = 3  # the new stage's weight fades in over this many steps


@register
class ToyStaged(Toy):
    """The toy with a stage schedule, as a progressive GAN has one: at `stage_at` a second
    generator phase ('refine') appears, the generator's optimiser starts afresh, and an
    alpha fades the refinement in. Alpha enters the loss, so a resume that restored the
    wrong stage state would train different weights."""

    family = "toy_staged"
    Config = StagedConfig

    def __init__(self, config: StagedConfig, data_spec: DataSpec):
        GenerativeModel.__init__(self, config, data_spec)
        size = data_spec.channels * data_spec.height * data_spec.width
        self.mean = nn.Linear(1, size)
        self.refine = nn.Linear(size, size)
        self.critic = nn.Linear(size, 1)
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))
        self.stage, self.alpha = 0, 0.0

    def advance(self, step):
        stage = int(step >= self.config.stage_at)
        self.alpha = min(1.0, (step - self.config.stage_at + 1) / self.config.fade_steps) if stage else 0.0
        if stage != self.stage:
            self.stage = stage
            return {"generator"}
        return set()

    def step_state(self):
        return {"stage": self.stage, "alpha": self.alpha}

    def load_step_state(self, state):
        self.stage, self.alpha = int(state.get("stage", 0)), float(state.get("alpha", 0.0))

    def _fake(self, n):
        x = self.mean(self.randn(n, 1))
        if self.stage:
            x = x + self.alpha * self.refine(x)
        return torch.tanh(x).view(n, *self.data_spec.image_shape)

    def refine_loss(self, batch):
        return (self._fake(len(batch["image"])) - batch["image"]).abs().mean(), {"alpha": torch.tensor(self.alpha)}

    def phases(self):
        out = super().phases()
        if self.stage:
            out.append(Phase("refine", list(self.refine.parameters()), self.refine_loss,
                             OptimizerSpec("sgd", lr=self.optim.lr, betas=(0.9, 0.999))))
        return out


@dataclass
class TranslatorConfig:
    pass


def two_domain_toy(split, root=None, image_size=None, n=40):
    """n random 4x4 sources in two domains (plain; dimmed and lifted: 0.5 x + 0.3), pairs known by `source`."""
    from genlab.data import ImageDataset

    g = torch.Generator().manual_seed(0 if split == "train" else 1)
    base = torch.rand(n, 1, 4, 4, generator=g) * 2 - 1
    spec = DataSpec(channels=1, height=4, width=4, name="toy-pairs", domains=("plain", "dimmed"))
    return ImageDataset(spec, torch.cat([base, 0.5 * base + 0.3]), torch.zeros(2 * n, dtype=torch.long),
                        extras={"domain": torch.cat([torch.zeros(n), torch.ones(n)]).long(),
                                "source": torch.cat([torch.arange(n), torch.arange(n)])},
                        unpaired_by="domain")


from genlab.data import register_dataset  # noqa: E402

register_dataset("toy-pairs", two_domain_toy)


@register
class ToyTranslator(GenerativeModel):
    """A family that only translates (no `sample`): one per-pixel affine map per direction,
    trained without pairs to match the other domain's mean and spread."""

    family = "toy_translator"
    Config = TranslatorConfig
    Optim = ToyOptim
    default_data = "toy-pairs"

    def __init__(self, config, data_spec: DataSpec):
        super().__init__(config, data_spec)
        if data_spec.num_domains != 2:
            raise ValueError(f"toy_translator needs 2 domains, got {data_spec.num_domains}")
        self.scale = nn.Parameter(torch.ones(2))
        self.shift = nn.Parameter(torch.zeros(2))

    def translate(self, x, target):
        t = torch.as_tensor(target).long().expand(len(x))
        return torch.tanh(self.scale[t].view(-1, 1, 1, 1) * x + self.shift[t].view(-1, 1, 1, 1))

    def loss(self, batch):
        x, d = batch["image"], batch["domain"]
        a, b = x[d == 0], x[d == 1]
        fake_b, fake_a = self.translate(a, 1), self.translate(b, 0)
        moments = lambda u: torch.stack([u.mean(), u.std()])  # noqa: E731
        loss = (moments(fake_b) - moments(b)).pow(2).sum() + (moments(fake_a) - moments(a)).pow(2).sum()
        return loss, {}

    def phases(self):
        return [Phase("translate", list(self.parameters()), self.loss, OptimizerSpec("adam", lr=self.optim.lr))]

    def preview(self, images, generator=None):
        return torch.cat([images, self.translate(images, 1)])
