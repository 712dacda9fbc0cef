"""MNIST padded to 32x32 (``mnist-pad32``): the embedded digits with 2 pixels of background
(-1) on every side, for architectures that need a power-of-two side (the progressive GAN's
4 -> 8 -> 16 -> 32).

The spec keeps the name ``mnist`` with ``pad = 2``, so evaluation knows these are MNIST
digits, crops the border off and scores the 28x28 digits like every other family's.
"""
from __future__ import annotations

import torch.nn.functional as F

from genlab.data.dataset import ImageDataset, embedded_dataset, register_dataset
from genlab.model import DataSpec

PAD = 2


def padded_mnist(split: str = "train", root=None, image_size=None) -> ImageDataset:
    side = 28 + 2 * PAD
    if image_size not in (None, side):
        raise ValueError(f"mnist-pad32 is {side}x{side} (28x28 digits padded by {PAD}); got image_size {image_size}")
    ds = embedded_dataset("mnist", split)
    images = F.pad(ds.images, (PAD,) * 4, value=-1.0)
    spec = DataSpec(channels=1, height=side, width=side, num_classes=10, name="mnist", pad=PAD)
    return ImageDataset(spec, images, ds.labels)


register_dataset("mnist-pad32", padded_mnist)
