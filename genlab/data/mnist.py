"""The embedded MNIST subset (10,000 digits; provenance in assets/README.md).

Split and binarisation are fixed so that every figure genlab reports is
computed on the same digits: train = first 9,000, test = last 1,000.
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

ASSET = Path(__file__).parent / "assets" / "mnist10k.npz"
SHA256 = "f1a23f2fb1a1c97bb00a811807ddd50a888dbcdcdead94147993273c22ee3f37"
N_TRAIN = 9000
BINARISATION_SEED = 1234
SPLITS = ("train", "test", "all")


@functools.lru_cache(maxsize=1)
def _load_all() -> tuple[np.ndarray, np.ndarray]:
    with np.load(ASSET) as f:
        images, labels = f["images"], f["labels"]
    if images.shape != (10000, 28, 28) or images.dtype != np.uint8:
        raise RuntimeError(f"{ASSET} is damaged: images {images.shape} {images.dtype}")
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


@functools.lru_cache(maxsize=1)
def _binarised_all() -> np.ndarray:
    images, _ = _load_all()
    rng = np.random.default_rng(BINARISATION_SEED)
    bits = (rng.random(images.shape) < images / 255.0).astype(np.uint8)
    bits.setflags(write=False)
    return bits


def _split_slice(split: str) -> slice:
    if split == "train":
        return slice(0, N_TRAIN)
    if split == "test":
        return slice(N_TRAIN, None)
    if split == "all":
        return slice(None)
    raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")


def load_mnist(split: str = "train", binarised: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N,28,28), labels uint8 (N,)); binarised images hold 0/1."""
    sl = _split_slice(split)
    images, labels = _load_all()
    if binarised:
        images = _binarised_all()
    return images[sl], labels[sl]
