"""genlab.grids: the layout of a grid (torchvision's tiling, our frame and row width), strips and GIFs."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from genlab.grids import make_grid, save_gif, save_grid


def images(n: int, c: int, h: int = 5, w: int = 4) -> torch.Tensor:
    """n distinct images in [-1, 1]: image i is flat at the level 15 * (i + 1) of 255."""
    levels = torch.arange(1, n + 1, dtype=torch.float32) * 15 / 127.5 - 1
    return levels.view(n, 1, 1, 1).expand(n, c, h, w).clone()


@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("n, nrow, pad", [(1, None, 2), (1, 1, 0), (1, 3, 2), (2, None, 2), (5, None, 1),
                                          (7, 3, 2), (16, 4, 0), (3, 8, 2)])
def test_each_image_sits_in_its_cell_and_the_rest_is_padding(n, c, nrow, pad):
    """Row-major cells of (h + pad, w + pad) after a pad-wide frame; `nrow` cells a row even when
    fewer images are given (a strip of 3 in 8 columns is 8 wide), ceil(sqrt(n)) by default."""
    x = images(n, c)
    grid = make_grid(x, nrow=nrow, pad=pad, pad_value=7)
    cols = nrow or int(np.ceil(np.sqrt(n)))
    rows = -(-n // cols)
    assert grid.dtype == np.uint8
    assert grid.shape == (rows * (5 + pad) + pad, cols * (4 + pad) + pad, *(() if c == 1 else (c,)))
    expected = np.full(grid.shape, 7, dtype=np.uint8)
    for i in range(n):
        y, q = pad + (i // cols) * (5 + pad), pad + (i % cols) * (4 + pad)
        expected[y:y + 5, q:q + 4] = 15 * (i + 1)
    assert np.array_equal(grid, expected)


def test_values_are_clamped_and_rounded_as_the_models_range_says():
    x = torch.tensor([-2.0, -1.0, 0.0, 1.0, 3.0]).view(5, 1, 1, 1)
    assert make_grid(x, nrow=5, pad=0).tolist() == [[0, 0, 128, 255, 255]]


def test_saved_grid_and_strip_are_scaled_with_sharp_pixels(tmp_path):
    x = images(3, 1)
    path = save_grid(x, tmp_path / "sub" / "strip.png", nrow=3, scale=2)
    pic = np.asarray(Image.open(path))
    assert pic.shape == (2 * (5 + 4), 2 * (3 * 6 + 2))
    assert np.array_equal(pic[::2, ::2], make_grid(x, nrow=3))


def test_gif_frames_bounce_back_unless_told_not_to(tmp_path):
    frames = [images(2, 3) * (k / 4) for k in range(4)]
    there_and_back = Image.open(save_gif(frames, tmp_path / "a.gif", scale=1))
    assert there_and_back.n_frames == 4 + 2 and there_and_back.size == (2 * 6 + 2, 5 + 4)
    assert Image.open(save_gif(frames, tmp_path / "b.gif", scale=3, bounce=False)).n_frames == 4
