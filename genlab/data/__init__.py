"""Data sets as genlab sees them: images NCHW float in [-1, 1], integer labels.

`load_dataset(name)` gives an `ImageDataset`. Small sets are held as one
tensor (the trainer moves it to the device whole); big torchvision sets stream
through a DataLoader. Names:

- ``mnist``          the embedded 10k MNIST subset (default; no network)
- ``mnist-binary``   the same digits, fixed stochastic binarisation ({-1, 1})
- ``mnist-dynbin``   dynamic binarisation: every training batch draws its pixels afresh,
                     +1 with probability = grey level (the train set is then never the same
                     twice, a regulariser for the Bernoulli models on 9k digits); the test split
                     and every non-batch use (grids, plots) are mnist-binary's fixed draw, so
                     likelihoods compare across the two
- ``tv-mnist``, ``fashion-mnist``, ``cifar10``, ``celeba``: torchvision sets
  under ``root`` (they are downloaded only with ``download=True``)
- ``folder:PATH``    the user's own pictures: a flat folder or one sub-folder per class (data/folder.py)
- any name added with `register_dataset` (procedural sets, a family's own data)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from genlab.errors import GenlabError
from genlab.data.mnist import load_mnist
from genlab.model import DataSpec

EMBEDDED = ("mnist", "mnist-binary", "mnist-dynbin")
TORCHVISION = {
    # name: (torchvision class, channels, size, classes, split keyword)
    "tv-mnist": ("MNIST", 1, 28, 10),
    "fashion-mnist": ("FashionMNIST", 1, 28, 10),
    "cifar10": ("CIFAR10", 3, 32, 10),
    "celeba": ("CelebA", 3, 64, 0),
}
DATASET_NAMES = EMBEDDED + tuple(TORCHVISION) + ("folder:PATH", "pair:DIR_A,DIR_B")


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


def dataset_names() -> tuple[str, ...]:
    return DATASET_NAMES + tuple(sorted(_REGISTERED))


def local_dataset_names() -> tuple[str, ...]:
    """The data sets that need no download: the embedded digits and what genlab derives or renders
    from them (padded digits, domain styles, 3-D shapes)."""
    return EMBEDDED + tuple(sorted(_REGISTERED))


def load_dataset(name: str = "mnist", split: str = "train", root: str | None = None,
                 image_size: int | None = None, download: bool = False) -> ImageDataset:
    if name in _REGISTERED:
        return _REGISTERED[name](split, root, image_size)
    if name in EMBEDDED:
        binarised = name != "mnist"
        images, labels = load_mnist(split, binarised=binarised)
        x = uint8_to_unit(images * 255 if binarised else images)
        spec = DataSpec(channels=1, height=28, width=28, num_classes=10, binary=binarised, name=name)
        labels = torch.from_numpy(labels.astype(np.int64))
        if name == "mnist-dynbin" and split == "train":
            grey = torch.from_numpy(load_mnist(split)[0].astype(np.float32) / 255).unsqueeze(1)
            return ImageDataset(spec, x, labels, extras={"grey": grey}, binarise_from="grey")
        return ImageDataset(spec, x, labels)
    if name in TORCHVISION:
        return _torchvision_dataset(name, split, root, image_size, download)
    if name.startswith("folder:"):
        return _folder_dataset(Path(name[len("folder:"):]), image_size)
    if name.startswith("pair:"):  # two folders, one per domain (genlab/data/domains.py)
        return _pair_dataset(name[len("pair:"):], split, root, image_size)
    raise GenlabError(f"unknown data set {name!r}; choose one of {', '.join(dataset_names())}")


def _to_unit_transform(size: int, channels: int):
    from torchvision import transforms as T

    steps = [T.Resize(size), T.CenterCrop(size)]
    if channels == 1:
        steps.append(T.Grayscale(1))
    steps += [T.ToTensor(), T.Normalize([0.5] * channels, [0.5] * channels)]
    return T.Compose(steps)


def _torchvision_dataset(name, split, root, image_size, download) -> ImageDataset:
    import torchvision

    cls_name, channels, size, classes = TORCHVISION[name]
    size = image_size or size
    root = Path(root or Path.home() / ".cache" / "genlab" / name)
    cls = getattr(torchvision.datasets, cls_name)
    kwargs = {"split": "train" if split == "train" else "test"} if name == "celeba" else {"train": split == "train"}
    try:
        ds = cls(str(root), transform=_to_unit_transform(size, channels), download=download, **kwargs)
    except (RuntimeError, OSError) as e:
        raise GenlabError(
            f"data set {name!r} not found under {root} ({e}). Put it there and pass --data-root DIR, or "
            f"download it once (needs internet): python -c \"import torchvision; "
            f"torchvision.datasets.{cls_name}('{root}', download=True)\"") from None
    spec = DataSpec(channels=channels, height=size, width=size, num_classes=classes, name=name)
    return ImageDataset(spec, stream=ds)


def _folder_dataset(path: Path, image_size: int | None) -> ImageDataset:
    from genlab.data.folder import PictureFolder

    size = image_size or 64
    ds = PictureFolder(path, size)
    classes = len(ds.classes) if len(ds.classes) > 1 else 0
    return ImageDataset(DataSpec(channels=3, height=size, width=size, num_classes=classes,
                                 name=f"folder:{path}"), stream=ds)


from genlab.data import padded  # noqa: E402,F401  (registers mnist-pad32)
from genlab.data.domains import pair_dataset as _pair_dataset  # noqa: E402  (registers mnist-styles2/8)
from genlab.data import shapes3d  # noqa: E402,F401  (registers shapes3d, shapes3d-64)
