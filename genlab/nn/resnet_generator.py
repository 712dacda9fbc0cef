"""The ResNet image-to-image generator of CycleGAN and StarGAN (Johnson et al. 2016, arXiv:1603.08155,
in the layout of CycleGAN's paper, Zhu et al. 2017, arXiv:1703.10593).

One job: `ResnetGenerator` (c7s1-w, two stride-2 downsamplings, residual blocks at 4w, two
stride-2 upsamplings, c7s1-out, tanh; instance norm with affine scales, reflection padding) and
`check_side`, the image sides its two stride-2 stages can take.
"""
from __future__ import annotations

from torch import nn


class ResidualBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), nn.InstanceNorm2d(ch, affine=True), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), nn.InstanceNorm2d(ch, affine=True))

    def forward(self, x):
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """c7s1-w, d2w, d4w, `blocks` x R4w, u2w, uw, c7s1-out, tanh (Johnson et al. 2016 layout)."""

    def __init__(self, in_ch: int, out_ch: int, width: int, blocks: int, first_pad: str = "reflect"):
        super().__init__()
        w = width
        # StarGAN's label channels are constant over the image: with reflection padding the first
        # conv turns them into a constant per channel, which instance norm then removes entirely.
        # Zero padding (as in the official StarGAN code) keeps the label in the borders' response.
        first = [nn.ReflectionPad2d(3), nn.Conv2d(in_ch, w, 7)] if first_pad == "reflect" else [nn.Conv2d(in_ch, w, 7, 1, 3)]
        layers = [*first, nn.InstanceNorm2d(w, affine=True), nn.ReLU(True)]
        for m in (1, 2):
            layers += [nn.Conv2d(w * m, w * m * 2, 3, 2, 1), nn.InstanceNorm2d(w * m * 2, affine=True), nn.ReLU(True)]
        layers += [ResidualBlock(w * 4) for _ in range(blocks)]
        for m in (4, 2):
            layers += [nn.ConvTranspose2d(w * m, w * m // 2, 3, 2, 1, output_padding=1),
                       nn.InstanceNorm2d(w * m // 2, affine=True), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(w, out_ch, 7), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x)


def check_side(family: str, spec) -> None:
    """Refuse (ValueError) a DataSpec whose sides the generator's two stride-2 stages cannot halve twice."""
    if spec.height % 4 or spec.width % 4 or min(spec.height, spec.width) < 12:
        raise ValueError(f"{family} takes images whose sides are multiples of 4 and at least 12 "
                         f"(two stride-2 stages); got {spec.describe()}")
