"""A user's picture is framed by the data the model declares (genlab.data.framing), not by its
channel count: digits (grey, padded or coloured) go into the digits' box, other data fills the
frame."""
from __future__ import annotations

import numpy as np
import torch

from genlab.data.domains import spec_for
from genlab.data.framing import framing
from genlab.model import DataSpec

MNIST = DataSpec(channels=1, height=28, width=28, num_classes=10, name="mnist")
PADDED = DataSpec(channels=1, height=32, width=32, num_classes=10, name="mnist", pad=2)
FASHION = DataSpec(channels=1, height=28, width=28, num_classes=10, name="fashion-mnist")
CIFAR = DataSpec(channels=3, height=32, width=32, num_classes=10, name="cifar10")


def _drawing(rgb: bool = False) -> np.ndarray:
    """Black ink on white paper: a tall bar off to the top left of a 280x280 canvas."""
    pic = np.full((280, 280), 255, np.uint8)
    pic[43:201, 31:67] = 0  # off the 10-pixel grid: not an exact enlargement of a 28 px picture
    return np.stack([pic] * 3, -1) if rgb else pic


def _extent(x: torch.Tensor) -> tuple[int, int, float, float]:
    """(rows, columns) of the bounding box of the light pixels and their centre of mass."""
    light = x[0].amax(0) > 0  # (H, W)
    ys, xs = torch.nonzero(light, as_tuple=True)
    return (int(ys.max() - ys.min() + 1), int(xs.max() - xs.min() + 1), ys.float().mean().item(),
            xs.float().mean().item())


def test_each_data_set_declares_how_its_subject_is_framed():
    assert framing(MNIST).box == 20 and framing(MNIST).light_on_dark
    assert framing(PADDED).box == 20  # the same digit, with 2 px more ground on every side
    assert framing(DataSpec(name="tv-mnist", height=32, width=32)).box == 23  # resized digits: the box scales
    assert framing(spec_for("mnist-styles2")).box == 20  # coloured digits are digits too
    assert framing(CIFAR).box is None and not framing(CIFAR).light_on_dark
    assert framing(FASHION).box is None and framing(FASHION).light_on_dark  # grey, but not digits


def test_padded_digits_get_the_20_pixel_box_centred_in_the_32_pixel_frame():
    from ui.images import to_model_input

    x, notes = to_model_input(_drawing(), PADDED)
    rows, _, cy, cx = _extent(x)
    assert x.shape == (1, 1, 32, 32) and rows == 20  # not 23: the padding is ground, not a larger digit
    assert abs(cy - 15.5) < 1.5 and abs(cx - 15.5) < 1.5
    assert "20-pixel box" in " ".join(notes) and float(x[0, 0, 0, 0]) == -1.0


def test_coloured_digit_data_is_framed_as_digits_in_colour():
    from ui.images import to_model_input

    x, notes = to_model_input(_drawing(rgb=True), spec_for("mnist-styles2"))
    rows, _, cy, cx = _extent(x)
    assert x.shape == (1, 3, 28, 28) and rows == 20 and abs(cy - 13.5) < 1.5 and abs(cx - 13.5) < 1.5
    assert "inverted to a light digit" in " ".join(notes) and (x[0, :, 0, 0] == -1).all()


def test_other_data_fills_its_frame_whatever_its_channels():
    from ui.images import to_model_input

    pic = np.zeros((140, 280), np.uint8)
    pic[30:110, 5:275] = 255  # a light band across the whole width, on black
    x, notes = to_model_input(pic, FASHION)
    _, cols, _, _ = _extent(x)
    assert x.shape == (1, 1, 28, 28) and cols >= 26  # filled (centre crop), not shrunk into a digit box
    assert any("centre crop" in n for n in notes)
    x, notes = to_model_input(_drawing(), FASHION)  # light paper: inverted, the data being light on dark
    assert any("inverted to a light subject" in n for n in notes)
    x, notes = to_model_input(_drawing(rgb=True), CIFAR)  # colour photos are taken as they are
    assert not any("inverted" in n for n in notes) and float(x[0, 0, 0, 0]) == 1.0
