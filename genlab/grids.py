"""Batches of images laid out as one picture: grids and strips as PNG, and animated GIFs.

Images come as float (N, C, H, W) in [-1, 1], the models' range; pictures leave as uint8
numpy arrays or PIL images. The tiling itself is torchvision.utils.make_grid's.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from genlab.data import unit_to_uint8


def make_grid(images: torch.Tensor, nrow: int | None = None, pad: int = 2, pad_value: int = 0) -> np.ndarray:
    """images (N, C, H, W) in [-1, 1] -> one uint8 picture (H', W') or (H', W', C): `nrow` images
    a row (default: a square-ish grid), `pad` pixels of `pad_value` around and between them."""
    # deferred: importing torchvision costs about a second, which `genlab list` and the like need not pay
    from torchvision.utils import make_grid as tile

    arr = torch.from_numpy(unit_to_uint8(images))
    batch = arr[:, None] if arr.ndim == 3 else arr.permute(0, 3, 1, 2)
    nrow = nrow or max(1, int(math.ceil(math.sqrt(len(batch)))))
    if len(batch) < nrow:  # torchvision narrows a short row to its images; blanks keep it nrow wide
        batch = torch.cat([batch, batch.new_full((nrow - len(batch), *batch.shape[1:]), pad_value)])
    if len(batch) == 1:  # torchvision hands a lone image back unframed; frame it as any grid
        grid = torch.nn.functional.pad(batch[0], (pad,) * 4, value=pad_value)
    else:
        grid = tile(batch, nrow=nrow, padding=pad, pad_value=pad_value)
    # torchvision repeats one channel three times; keep one
    return grid[0].numpy() if batch.shape[1] == 1 else grid.permute(1, 2, 0).numpy()


def to_pil(picture: np.ndarray, scale: int = 1) -> Image.Image:
    """A uint8 picture as a PIL image, enlarged `scale` times with sharp pixels."""
    img = Image.fromarray(picture)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    return img


def save_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None, scale: int = 1) -> Path:
    """The grid of `images` as a PNG (or any format PIL infers from the suffix); a strip with nrow=len(images)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    to_pil(make_grid(images, nrow), scale).save(path)
    return path


def save_gif(frames: list[torch.Tensor], path: str | Path, scale: int = 2, ms_per_frame: int = 80,
             bounce: bool = True, nrow: int | None = None) -> Path:
    """frames: a list of (N, C, H, W) batches; each becomes one grid frame. `bounce` plays them
    there and back."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pics = [to_pil(make_grid(f, nrow), scale).convert("P") for f in frames]
    if bounce and len(pics) > 2:
        pics = pics + pics[-2:0:-1]
    pics[0].save(path, save_all=True, append_images=pics[1:], duration=ms_per_frame, loop=0)
    return path
