"""Pictures in and out of the app.

In: whatever a user gives (a drawing from the sketchpad, an upload of any
mode and size, a path) becomes a (1, C, H, W) tensor in [-1, 1] that fits the
model's data spec, plus notes saying what was changed. The framing follows the
data the model declares (genlab.data.framing), not its channel count: digit
models want a light digit on a dark ground, centred by mass in the digits' box
of their frame (MNIST: 20 of 28 pixels, padded data: the same box with the
padding around it, coloured digits alike), so drawings and big uploads are
brought to that form; the pictures of other data fill their frame (a centre
crop). Things that are not images, or absurdly large ones, are refused.

Out: model images in [-1, 1] become uint8 pictures, upscaled with nearest
neighbour so pixels stay pixels.
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from genlab.data.framing import framing
from genlab.errors import GenlabError
from genlab.grids import make_grid
from genlab.model import DataSpec

MAX_SIDE = 4096  # larger uploads are refused, not shrunk: they are almost surely a mistake
BLANK_CONTRAST = 16  # grey levels between the darkest and lightest pixel below which an image is blank


class ImageInputError(GenlabError):
    pass


def open_image(value, what: str = "image") -> Image.Image | None:
    """A PIL image from an ImageEditor dict, a numpy array, a PIL image or a file path (None if empty)."""
    if value is None:
        return None
    if isinstance(value, dict):  # gr.ImageEditor: {"background", "layers", "composite"}
        value = value.get("composite") if value.get("composite") is not None else value.get("background")
        if value is None:
            return None
    if isinstance(value, Image.Image):
        img = value
    elif isinstance(value, np.ndarray):
        if value.ndim not in (2, 3) or value.size == 0:
            raise ImageInputError(f"the {what} has shape {value.shape}; expected (H, W) or (H, W, channels)")
        arr = value if value.dtype == np.uint8 else np.clip(value, 0, 255).astype(np.uint8)
        img = Image.fromarray(arr[..., 0] if arr.ndim == 3 and arr.shape[2] == 1 else arr)
    else:
        try:
            img = Image.open(str(value))
        except (UnidentifiedImageError, Image.DecompressionBombError) as e:
            raise ImageInputError(f"the {what} is not an image we can read (PNG, JPEG, GIF, WebP, BMP): "
                                  f"{type(e).__name__}") from None
        except OSError as e:
            raise ImageInputError(f"could not read the {what}: {e}") from None
    if max(img.size) > MAX_SIDE:  # checked before decoding the pixels
        raise ImageInputError(f"the {what} is {img.width}x{img.height} pixels; the limit is {MAX_SIDE} "
                              "on a side: please shrink it first")
    if min(img.size) < 1:
        raise ImageInputError(f"the {what} is empty ({img.width}x{img.height})")
    return img


def _flatten(img: Image.Image, notes: list[str]) -> Image.Image:
    """-> 'RGB' or 'L' with no transparency: ink drawn on a transparent canvas keeps its
    contrast whatever its colour (dark ink goes on white, light ink on black)."""
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        a = np.asarray(rgba)[..., 3].astype(np.float32) / 255
        if a.min() < 1:
            lum = np.asarray(rgba.convert("L"), dtype=np.float32) / 255
            ink = (lum * a).sum() / max(a.sum(), 1e-6)
            bg = "white" if ink < 0.5 else "black"
            img = Image.alpha_composite(Image.new("RGBA", rgba.size, bg), rgba)
            notes.append(f"transparent areas filled with {bg}")
        return img.convert("RGB")
    if img.mode not in ("RGB", "L"):
        return img.convert("RGB")
    return img


def _resize(arr: np.ndarray, w: int, h: int, how=Image.LANCZOS) -> np.ndarray:
    """(H, W, C) values in [0, 255] resized to (h, w, C)."""
    pic = arr.clip(0, 255).astype(np.uint8)
    out = np.asarray(Image.fromarray(pic[..., 0] if pic.shape[2] == 1 else pic).resize((w, h), how), np.float32)
    return out.reshape(h, w, arr.shape[2])


def _border(arr: np.ndarray) -> np.ndarray:
    """The outermost pixels of an (H, W, C) picture, (P, C)."""
    return np.concatenate([arr[0], arr[-1], arr[:, 0], arr[:, -1]])


def _centre_subject(arr: np.ndarray, size: int, box: int) -> np.ndarray:
    """(H, W, C) -> (size, size, C): the subject (what differs from the border's colour) cropped
    to its bounding box, fitted into a box x box square and centred by mass on that colour."""
    ground = np.median(_border(arr), axis=0)  # (C,): 0 for a light digit on black
    ink = np.abs(arr - ground).max(-1)
    ys, xs = np.nonzero(ink > 0.1 * max(ink.max(), 1e-6))
    if len(ys) == 0:
        return _resize(arr, size, size, Image.BILINEAR)
    crop = arr[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    scale = box / max(crop.shape[:2])
    h, w = max(1, round(crop.shape[0] * scale)), max(1, round(crop.shape[1] * scale))
    small = _resize(crop, w, h)
    mass = np.abs(small - ground).max(-1)
    total = mass.sum()
    cy = (mass.sum(1) @ np.arange(h)) / total if total else h / 2
    cx = (mass.sum(0) @ np.arange(w)) / total if total else w / 2
    y0 = int(np.clip(round(size / 2 - cy), 0, size - h))
    x0 = int(np.clip(round(size / 2 - cx), 0, size - w))
    out = np.empty((size, size, arr.shape[2]), np.float32)
    out[:] = ground
    out[y0:y0 + h, x0:x0 + w] = small
    return np.clip(out, 0, 255).astype(np.uint8).astype(np.float32)


def _is_blown_up(arr: np.ndarray, h: int, w: int) -> bool:
    """Is `arr` (H, W, C) an h x w picture enlarged by an integer factor with nearest neighbour?"""
    k = arr.shape[0] // h
    if k < 2 or arr.shape[:2] != (h * k, w * k):
        return False
    return np.array_equal(arr[::k, ::k].repeat(k, 0).repeat(k, 1), arr)


def to_model_input(value, spec: DataSpec, what: str = "image") -> tuple[torch.Tensor, list[str]]:
    """A user image -> ((1, C, H, W) in [-1, 1] fitting `spec`, notes about the conversion)."""
    img = open_image(value, what)
    if img is None:
        raise ImageInputError(f"no {what} given: draw a digit or upload a picture (PNG, JPEG, ...); "
                              "an uploaded file that is not a picture cannot be shown, so it counts as none")
    notes: list[str] = []
    img = _flatten(img, notes)
    orig = img.size
    lum = np.asarray(img.convert("L"), dtype=np.int16)
    if int(lum.max()) - int(lum.min()) < BLANK_CONTRAST:  # nothing drawn: not a digit, so no score either
        raise ImageInputError(f"the {what} is blank (one flat shade, {orig[0]}x{orig[1]}): draw a digit or "
                              "upload a picture with something on it")
    frame = framing(spec)  # from the data the model declares, whatever its channel count
    if spec.channels == 1:
        if img.mode != "L":
            rgb = np.asarray(img)
            if not (np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2])):
                notes.append("colour converted to grey")
        img = img.convert("L")
    elif img.mode != "RGB":
        notes.append("grey converted to colour")
        img = img.convert("RGB")
    arr = np.asarray(img, dtype=np.float32).reshape(img.height, img.width, -1)  # (H, W, C)
    if frame.light_on_dark and np.median(_border(lum[..., None])) > 127:
        arr = 255 - arr  # dark ink on light paper -> a light subject on a dark ground, as in the data
        notes.append(f"inverted to a light {'digit' if frame.box else 'subject'} on a dark background")
    size = (spec.height, spec.width)
    k = arr.shape[0] // spec.height
    if arr.shape[:2] != size and _is_blown_up(arr, *size):
        arr = arr[::k, ::k]  # an exact k-times enlargement (e.g. a test image on the canvas): undo it
        notes.append(f"reduced {orig[0]}x{orig[1]} -> {spec.width}x{spec.height} (exact {k}x)")
    if arr.shape[:2] != size:
        if frame.box:
            arr = _centre_subject(arr, spec.height, frame.box)
            notes.append(f"resized {orig[0]}x{orig[1]} -> {spec.width}x{spec.height}, digit centred in a "
                         f"{frame.box}-pixel box as in the data")
        else:
            pic = arr.astype(np.uint8)
            fitted = ImageOps.fit(Image.fromarray(pic[..., 0] if pic.shape[2] == 1 else pic), size[::-1], Image.LANCZOS)
            arr = np.asarray(fitted, dtype=np.float32).reshape(*size, -1)
            notes.append(f"resized {orig[0]}x{orig[1]} -> {spec.width}x{spec.height} (centre crop)")
    x = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1))).unsqueeze(0) / 127.5 - 1.0  # (1, C, H, W)
    if spec.binary:
        x = torch.where(x > 0, 1.0, -1.0)
        notes.append("binarised at mid-grey (the model was trained on binary digits)")
    return x, notes


def to_picture(images: torch.Tensor, scale: int = 1, nrow: int | None = None) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] -> one uint8 picture (a grid when N > 1), upscaled `scale` times."""
    pic = make_grid(images, nrow=nrow, pad=2 if len(images) > 1 else 0)
    if scale > 1:
        pic = pic.repeat(scale, axis=0).repeat(scale, axis=1)
    return pic


def display_scale(height: int, target: int = 256) -> int:
    """Nearest-neighbour factor that brings an image side up to about `target` pixels."""
    return max(1, target // max(height, 1))


def heatmap(values: np.ndarray, scale: int = 8, cmap: str = "magma") -> np.ndarray:
    """(H, W) non-negative values -> RGB uint8 picture, 0 dark, the maximum bright."""
    from matplotlib import colormaps

    v = np.asarray(values, dtype=np.float32)
    v = v / max(float(v.max()), 1e-6)
    rgb = (colormaps[cmap](v)[..., :3] * 255).astype(np.uint8)
    return rgb.repeat(scale, axis=0).repeat(scale, axis=1)
