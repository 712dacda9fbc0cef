"""How each data set's subject sits in its pictures, so that a picture from elsewhere (a
drawing, an upload) can be framed the way the model's training images were.

MNIST-style digits (MNIST itself in every form, and the coloured digit domains of
genlab.data.domains) are a light stroke on a dark ground, fitted into a 20-pixel box of
MNIST's 28-pixel frame and centred by mass (LeCun et al. 1998); `DataSpec.pad` adds more
ground around that frame (32 px MNIST: the same 20-pixel digit, 2 px more on every side).
The pictures of every other data set fill their frame (a centre crop), whatever their
channel count.
"""
from __future__ import annotations

from dataclasses import dataclass

from genlab.data.domains import SETS as STYLED_DIGITS
from genlab.dataspec import DataSpec

MNIST_NAMES = ("mnist", "mnist-binary", "mnist-dynbin", "tv-mnist")
MNIST_SIDE = 28  # the digits' own frame; a model of padded digits sees 28 + 2 * pad
DIGIT_BOX = 20  # the side of the box a digit is fitted into, in that frame
LIGHT_ON_DARK = ("fashion-mnist",)  # other sets whose subject is light on a dark ground


@dataclass(frozen=True)
class Framing:
    """`box`: the side in pixels of the square the subject is fitted into and centred by mass
    (None: the picture fills the frame); `light_on_dark`: the subject is lighter than its ground."""

    box: int | None
    light_on_dark: bool


def is_digit_data(spec: DataSpec) -> bool:
    """Pictures of MNIST digits, grey or coloured, at any size, padded or not."""
    return spec.name in MNIST_NAMES or spec.name in STYLED_DIGITS


def framing(spec: DataSpec) -> Framing:
    """How a picture is framed for a model of `spec`: by the data it names, not by its channels."""
    if is_digit_data(spec) and spec.height == spec.width:
        inner = spec.height - 2 * spec.pad  # the digit's own frame (28 unless resized)
        return Framing(box=max(1, round(inner * DIGIT_BOX / MNIST_SIDE)), light_on_dark=True)
    return Framing(box=None, light_on_dark=spec.name in LIGHT_ON_DARK)
