"""DCGAN: Radford, Metz & Chintala 2016, arXiv:1511.06434.

The paper's "architecture guidelines for stable deep convolutional GANs":
strided convolutions instead of pooling (D) and fractional-strided ones (G);
batch norm in both nets except the G output and the D input layer; no fully
connected hidden layers (G projects and reshapes z, D flattens to one logit);
ReLU in G with Tanh out; LeakyReLU(0.2) in D; weights N(0, 0.02); Adam with
lr 2e-4 and beta1 0.5.

Deviations: z is N(0, I) rather than the paper's U(-1, 1) (set prior =
"uniform" for the paper's), so interpolation and truncation act on a
Gaussian; the smallest feature map is 7x7 for 28x28 MNIST (4x4 otherwise).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from genlab.model import DataSpec, option
from genlab.models.adversarial import GENERATOR_LOSSES, PRIORS, AdversarialModel
from genlab.nn.diffaugment import HELP as AUGMENT_HELP
from genlab.nn.resolution import CONV_SIZES as SUPPORTED_SIZES, conv_plan
from genlab.registry import register

@dataclass
class DCGANConfig:
    latent_dim: int = 100
    width: int = 64  # channels of G's last hidden layer / D's first; doubled per stage
    prior: str = option("normal", choices=PRIORS)
    generator_loss: str = option("non_saturating", choices=GENERATOR_LOSSES)
    augment: str = option("", help=AUGMENT_HELP)
    # A fully connected hidden layer (BN + ReLU / LeakyReLU) in front of G's projection and
    # after D's convolutions: 0 keeps the paper's all-convolutional nets. The InfoGAN paper's
    # MNIST nets are DCGAN's with these layers (1,024 units); with them, and nothing else
    # changed, 3,000 steps reach a FID ten times lower (docs/models/dcgan.md).
    hidden_g: int = option(0, low=0, help="units of an FC hidden layer in front of G's projection (0: none)")
    hidden_d: int = option(0, low=0, help="units of an FC hidden layer after D's convolutions (0: none)")


class Generator(nn.Module):
    def __init__(self, latent_dim: int, width: int, channels: int, base: int, stages: int):
        super().__init__()
        top = width * 2 ** (stages - 1)
        self.top, self.base = top, base
        # Project and reshape: the linear layer *is* a 1x1 -> base x base transposed conv.
        self.project = nn.Sequential(nn.Linear(latent_dim, top * base * base, bias=False))
        self.project_norm = nn.Sequential(nn.BatchNorm2d(top), nn.ReLU(True))
        layers, ch = [], top
        for _ in range(stages - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1), nn.Tanh()]  # no BN on the output layer
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.project(z).view(-1, self.top, self.base, self.base)  # (N, top, base, base)
        return self.body(self.project_norm(h))


class HiddenFCGenerator(nn.Module):
    """An FC hidden layer (BN, ReLU) in front of DCGAN's project-and-upsample stack: the
    InfoGAN paper's MNIST generator."""

    def __init__(self, latent_dim: int, hidden: int, width: int, channels: int, base: int, stages: int):
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(latent_dim, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(True))
        self.conv = Generator(hidden, width, channels, base, stages)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.conv(self.fc(z))  # (N, latent) -> (N, C, H, W) in [-1, 1]


class Discriminator(nn.Module):
    def __init__(self, width: int, channels: int, base: int, stages: int, hidden: int = 0):
        super().__init__()
        layers, ch = [nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True)], width  # no BN on input
        for _ in range(stages - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch * 2), nn.LeakyReLU(0.2, True)]
            ch *= 2
        self.body = nn.Sequential(*layers)
        flat = ch * base * base
        self.hidden = (nn.Sequential(nn.Linear(flat, hidden, bias=False), nn.BatchNorm1d(hidden),
                                     nn.LeakyReLU(0.2, True)) if hidden else nn.Identity())
        self.logit = nn.Linear(hidden or flat, 1)  # flatten to a single logit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logit(self.hidden(self.body(x).flatten(1))).squeeze(1)  # (N,)


def init_dcgan_weights(module: nn.Module) -> None:
    """N(0, 0.02) for conv/linear weights; BN scale N(1, 0.02), shift 0 (paper, §4)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


@register
class DCGAN(AdversarialModel):
    family = "dcgan"
    Config = DCGANConfig
    paper = "Radford et al. 2016, arXiv:1511.06434"

    def __init__(self, config: DCGANConfig, data_spec: DataSpec):
        super().__init__(config, data_spec)
        base, stages = conv_plan(data_spec.height)
        self.latent_dim = config.latent_dim
        if config.hidden_g:
            self.generator = HiddenFCGenerator(config.latent_dim, config.hidden_g, config.width, data_spec.channels,
                                               base, stages)
        else:
            self.generator = Generator(config.latent_dim, config.width, data_spec.channels, base, stages)
        self.discriminator = Discriminator(config.width, data_spec.channels, base, stages, config.hidden_d)
        init_dcgan_weights(self)

    @classmethod
    def supported_shapes(cls) -> str:
        return f"square images of side {', '.join(map(str, SUPPORTED_SIZES))}, any channel count"

    @classmethod
    def check_data_spec(cls, spec: DataSpec) -> None:
        if spec.height != spec.width or spec.height not in SUPPORTED_SIZES:
            raise ValueError(f"DCGAN takes {cls.supported_shapes()}; got {spec.describe()}")
