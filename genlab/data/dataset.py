"""What a genlab data set is (`ImageDataset`), the table of named sets, and the embedded digits.

The modules that make sets (padded, domains, shapes3d) build on these, and
genlab/data/__init__.py imports those modules to fill the table, so all of it
sits here, below both: no set module imports the package back.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from genlab.data.mnist import load_mnist
from genlab.model import DataSpec

EMBEDDED = ("mnist", "mnist-binary", "mnist-dynbin")


@dataclass
class ImageDataset:
    """Either `images`/`labels` tensors (in memory) or a torch `stream` dataset.

    In-memory sets may carry more per-example tensors in `extras` (``domain``,
    ``attributes``, ``pose``, ``source``: the index of the source image a rendering
    came from). Those named in `eval_only` (ground-truth poses, pairings) are kept
    for evaluation and never put into a training batch.

    `unpaired_by` names an extra (``domain``) that splits the set into groups drawn
    independently: each training batch then holds `batch_size` examples of every
    group, group after group, from separate shuffles, and where a ``source`` extra
    exists no position ever holds two renderings of the same source (unpaired
    training, as CycleGAN's: the pairing is never seen).
    """

    spec: DataSpec
    images: torch.Tensor | None = None  # (N, C, H, W) float32 in [-1, 1]
    labels: torch.Tensor | None = None  # (N,) int64
    stream: torch.utils.data.Dataset | None = None
    extras: dict[str, torch.Tensor] = field(default_factory=dict)
    eval_only: tuple[str, ...] = ("source", "pose")
    unpaired_by: str | None = None
    binarise_from: str | None = None  # an extra of grey levels in [0, 1]: batches draw their images from it

    def __post_init__(self):
        if self.in_memory:
            for name, t in self.extras.items():
                if len(t) != len(self.images):
                    raise ValueError(f"extra {name!r} has {len(t)} entries for {len(self.images)} images")
            for what in ("unpaired_by", "binarise_from"):
                name = getattr(self, what)
                if name is not None and name not in self.extras:
                    raise ValueError(f"{what}={name!r} names no extra; extras: {', '.join(self.extras)}")

    @property
    def in_memory(self) -> bool:
        return self.images is not None

    def __len__(self) -> int:
        return len(self.images) if self.in_memory else len(self.stream)


def uint8_to_unit(images: np.ndarray) -> torch.Tensor:
    """uint8 (N,H,W) or (N,H,W,C) -> float32 NCHW in [-1, 1]."""
    x = torch.from_numpy(np.array(images, dtype=np.float32))
    x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
    return x / 127.5 - 1.0


def unit_to_uint8(images: torch.Tensor) -> np.ndarray:
    """float NCHW in [-1, 1] -> uint8 (N,H,W) for one channel, else (N,H,W,C)."""
    x = ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    x = x[:, 0] if x.shape[1] == 1 else x.permute(0, 2, 3, 1)
    return x.numpy()


_REGISTERED: dict[str, Callable[..., ImageDataset]] = {}


def register_dataset(name: str, loader: Callable[..., ImageDataset]) -> None:
    """Make `load_dataset(name, split, root=..., image_size=...)` call `loader(split, root, image_size)`."""
    _REGISTERED[name] = loader


def embedded_dataset(name: str, split: str = "train") -> ImageDataset:
    """One of the EMBEDDED sets: the digits as they are, binarised once, or binarised afresh per batch."""
    binarised = name != "mnist"
    images, labels = load_mnist(split, binarised=binarised)
    x = uint8_to_unit(images * 255 if binarised else images)
    spec = DataSpec(channels=1, height=28, width=28, num_classes=10, binary=binarised, name=name)
    labels = torch.from_numpy(labels.astype(np.int64))
    if name == "mnist-dynbin" and split == "train":
        grey = torch.from_numpy(load_mnist(split)[0].astype(np.float32) / 255).unsqueeze(1)
        return ImageDataset(spec, x, labels, extras={"grey": grey}, binarise_from="grey")
    return ImageDataset(spec, x, labels)
