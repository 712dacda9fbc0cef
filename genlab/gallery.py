"""Pictures of samples: grids, strips, GIFs and a static HTML gallery."""
from __future__ import annotations

import html
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from genlab.data import unit_to_uint8


def make_grid(images: torch.Tensor, nrow: int | None = None, pad: int = 2, pad_value: int = 0) -> np.ndarray:
    """images (N, C, H, W) in [-1, 1] -> one uint8 picture (H', W') or (H', W', C)."""
    arr = unit_to_uint8(images)
    if arr.ndim == 3:
        arr = arr[..., None]
    n, h, w, c = arr.shape
    nrow = nrow or max(1, int(math.ceil(math.sqrt(n))))
    ncol = int(math.ceil(n / nrow))
    grid = np.full((ncol * (h + pad) + pad, nrow * (w + pad) + pad, c), pad_value, dtype=np.uint8)
    for i in range(n):
        r, q = divmod(i, nrow)
        y, x = pad + r * (h + pad), pad + q * (w + pad)
        grid[y:y + h, x:x + w] = arr[i]
    return grid[..., 0] if c == 1 else grid


def to_pil(picture: np.ndarray, scale: int = 1) -> Image.Image:
    img = Image.fromarray(picture)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    return img


def save_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None, scale: int = 1) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    to_pil(make_grid(images, nrow), scale).save(path)
    return path


def save_strip(images: torch.Tensor, path: str | Path, scale: int = 2) -> Path:
    """One row, e.g. an interpolation walk."""
    return save_grid(images, path, nrow=len(images), scale=scale)


def save_gif(frames: list[torch.Tensor], path: str | Path, scale: int = 2, ms_per_frame: int = 80,
             bounce: bool = True) -> Path:
    """frames: a list of (N, C, H, W) batches; each becomes one grid frame."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pics = [to_pil(make_grid(f), scale).convert("P") for f in frames]
    if bounce and len(pics) > 2:
        pics = pics + pics[-2:0:-1]
    pics[0].save(path, save_all=True, append_images=pics[1:], duration=ms_per_frame, loop=0)
    return path


def write_html(entries: list[dict], path: str | Path, title: str = "genlab gallery") -> Path:
    """entries: {"title", "image" (path relative to the HTML file), "caption"}."""
    path = Path(path)
    cards = "\n".join(
        f'<figure><img src="{html.escape(e["image"])}" alt="{html.escape(e["title"])}">'
        f'<figcaption><b>{html.escape(e["title"])}</b><br>{html.escape(e.get("caption", ""))}</figcaption></figure>'
        for e in entries)
    path.write_text(
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}figure{display:inline-block;margin:1em;vertical-align:top}"
        "img{image-rendering:pixelated;max-width:420px}</style>"
        f"<h1>{html.escape(title)}</h1>\n{cards}\n")
    return path
