"""DCGAN's nets (Radford, Metz & Chintala 2016, arXiv:1511.06434), shared by DCGAN and InfoGAN.

One job: the all-convolutional generator and discriminator of the paper's architecture
guidelines, sized by `genlab.nn.resolution.conv_plan` (base x base features, `stages` stride-2
steps): G projects z to base x base and upsamples with fractional-strided convs (BN and ReLU,
no BN on the tanh output); D downsamples with strided convs (LeakyReLU 0.2, BN except on the
input layer) to a single logit. `HiddenFCGenerator` and D's `hidden` add the fully connected
hidden layer of the InfoGAN paper's MNIST nets (Chen et al. 2016, appendix C.1).
"""
from __future__ import annotations

import torch
from torch import nn


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
