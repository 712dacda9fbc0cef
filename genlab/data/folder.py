"""`folder:PATH`: the user's own pictures.

A flat folder of pictures (the common way to keep them) or one sub-folder per class (labels from
the folder names, sorted). PNG, JPEG, WebP, BMP, GIF (first frame) and TIFF; grey, RGB, RGBA
(composited on white), palette and 16-bit files all become RGB. Each picture is resized so that
its shorter side is the run's size (`--image-size`, `image_size` in a recipe; 64 by
default), then centre-cropped to a square. Files that cannot be
decoded are skipped and counted in one line; a folder with no readable picture is refused.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from genlab.errors import GenlabError

EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")


def _pictures(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in EXTENSIONS)


def scan(path: Path) -> tuple[list[Path], list[int], list[str]]:
    """(files, labels, class names): class sub-folders when any holds pictures, else the flat folder."""
    if not path.is_dir():
        raise GenlabError(f"image folder {path} does not exist; pass --data folder:DIR, a folder of pictures "
                          "(or of one sub-folder per class)")
    classes = [d for d in sorted(path.iterdir()) if d.is_dir() and not d.name.startswith(".") and _pictures(d)]
    if classes:
        files, labels = [], []
        for i, d in enumerate(classes):
            found = _pictures(d)
            files += found
            labels += [i] * len(found)
        return files, labels, [d.name for d in classes]
    files = _pictures(path)
    return files, [0] * len(files), []


def to_rgb(image) -> "Image.Image":
    """Any PIL mode as 8-bit RGB: alpha over white, palettes expanded, 16-bit and float scaled."""
    from PIL import Image

    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or a.max() > 255 else 255.0
        image = Image.fromarray(np.clip(a / top * 255 + 0.5, 0, 255).astype(np.uint8), "L")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA"):
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, image.convert("RGBA")).convert("RGB")
    return image.convert("RGB")


class PictureFolder(torch.utils.data.Dataset):
    """The readable pictures of `path` as (image in [-1, 1], label) at `size` x `size`."""

    def __init__(self, path: Path, size: int):
        from PIL import Image, UnidentifiedImageError
        from torchvision import transforms as T

        files, labels, self.classes = scan(path)
        if not files:
            raise GenlabError(f"no pictures in {path} ({', '.join(EXTENSIONS)}), nor in sub-folders of it")
        self.samples, bad = [], []
        for file, label in zip(files, labels):  # decoded once now: a broken file is known now, not mid-training
            try:
                with Image.open(file) as im:
                    im.draft("RGB", (size, size))  # JPEG: decode at a reduced scale, much faster
                    im.load()
                self.samples.append((file, label))
            except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
                bad.append(file)
        if not self.samples:
            raise GenlabError(f"none of the {len(files)} files in {path} is a readable picture "
                              f"(e.g. {bad[0].name})")
        if bad:
            print(f"genlab: skipped {len(bad)} of {len(files)} files in {path} that are not readable pictures "
                  f"(e.g. {bad[0].name})", file=sys.stderr)
        self.transform = T.Compose([T.Resize(size), T.CenterCrop(size), T.ToTensor(),
                                    T.Normalize([0.5] * 3, [0.5] * 3)])

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        from PIL import Image

        file, label = self.samples[i]
        with Image.open(file) as im:
            im.seek(0)
            return self.transform(to_rgb(im)), label
