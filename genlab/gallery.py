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


GIF_FRAMES = 41  # frames of a step-by-step GIF, evenly spaced over the whole chain, the last included


def build_gallery(names: list[str] | None, out: str | Path, n: int = 64, seed: int = 0, progress=None) -> Path:
    """For each checkpoint: a sample grid, and where the model allows it an
    interpolation strip and GIF (latent models) or a generation GIF (sample_steps).
    Writes out/index.html and returns its path."""
    from genlab.explore import even_frames, walk
    from genlab.registry import load, shipped_checkpoints

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = names or list(shipped_checkpoints())
    entries = []
    for i, name in enumerate(names, 1):
        if progress is not None:
            progress(i, len(names), name)
        model = load(name)
        stem = Path(name).stem if Path(name).suffix else name
        g = torch.Generator().manual_seed(seed)
        if "sample" in model.capabilities:
            images = model.sample(n, generator=g)
        else:  # a family that only translates: fixed test images and their translations
            from genlab.data import load_dataset

            images = model.preview(load_dataset(model.data_spec.name, "test").images[:n], generator=g)
        save_grid(images, out / f"{stem}_samples.png", scale=2)
        metrics = model.checkpoint.get("metrics", {})
        figures = ", ".join(f"{k} {metrics[k]:.3g}" for k in ("fid", "fid_floor", "nll_nats") if k in metrics)
        entries.append({"title": f"{stem}: samples", "image": f"{stem}_samples.png",
                        "caption": f"{model.family}, step {model.checkpoint.get('step')}; {figures}"})
        if "latent" in model.capabilities:
            rows, steps = 6, 10
            a = model.prior(rows, torch.Generator().manual_seed(seed + 1))
            b = model.prior(rows, torch.Generator().manual_seed(seed + 2))
            paths = torch.stack([walk(a[i], b[i], steps) for i in range(rows)])  # (rows, steps, D)
            with torch.no_grad():
                frames = [model.decode(paths[:, t]).float() for t in range(steps)]
            strip = torch.stack(frames, 1).flatten(0, 1)  # (rows * steps, C, H, W), row-major
            save_grid(strip, out / f"{stem}_interpolation.png", nrow=steps, scale=2)
            save_gif(frames, out / f"{stem}_interpolation.gif", scale=3)
            entries += [{"title": f"{stem}: slerp interpolation", "image": f"{stem}_interpolation.png",
                         "caption": "each row walks between two prior samples"},
                        {"title": f"{stem}: the same walk as a GIF", "image": f"{stem}_interpolation.gif"}]
        if "sample_steps" in model.capabilities:
            frames = even_frames(model.sample_steps(16, generator=torch.Generator().manual_seed(seed)), GIF_FRAMES)
            save_gif([f.float() for f in frames], out / f"{stem}_steps.gif", scale=3, bounce=False)
            entries.append({"title": f"{stem}: generation step by step", "image": f"{stem}_steps.gif"})
    return write_html(entries, out / "index.html")
