"""DCGAN's weight initialisation (Radford et al. 2016, section 4), kept by its successors.

One job: `normal_init` draws every conv, transposed-conv and linear weight from N(0, std) with
biases 0, and the scales of batch norm (2-d) and affine instance norm from N(1, std) with
shifts 0. DCGAN and InfoGAN use it as the paper; CycleGAN and StarGAN as the official code's
init_type='normal'. A net without one of these layer types is unaffected by its rule.
"""
from __future__ import annotations

from torch import nn


def normal_init(module: nn.Module, std: float = 0.02) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d) or (isinstance(m, nn.InstanceNorm2d) and m.affine):
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)
