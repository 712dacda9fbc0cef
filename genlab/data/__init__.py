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

from pathlib import Path

from genlab.data import padded  # noqa: F401  (registers mnist-pad32)
from genlab.data import shapes3d  # noqa: F401  (registers shapes3d, shapes3d-64)
from genlab.data.dataset import (EMBEDDED, _REGISTERED, ImageDataset, embedded_dataset, register_dataset,  # noqa: F401
                                 uint8_to_unit, unit_to_uint8)
from genlab.data.domains import pair_dataset as _pair_dataset  # registers mnist-styles2/8
from genlab.errors import GenlabError
from genlab.model import DataSpec

TORCHVISION = {
    # name: (torchvision class, channels, size, classes, split keyword)
    "tv-mnist": ("MNIST", 1, 28, 10),
    "fashion-mnist": ("FashionMNIST", 1, 28, 10),
    "cifar10": ("CIFAR10", 3, 32, 10),
    "celeba": ("CelebA", 3, 64, 0),
}
DATASET_NAMES = EMBEDDED + tuple(TORCHVISION) + ("folder:PATH", "pair:DIR_A,DIR_B")


def class_name(data: str, label: int) -> str | None:
    """What class `label` of data set `data` is, where its classes have names (shapes3d's shapes;
    "combination" is a two-object scene); None where the label is the name (a digit)."""
    if data.startswith("shapes3d"):
        return shapes3d.CLASSES[label]
    return None


def dataset_names() -> tuple[str, ...]:
    return DATASET_NAMES + tuple(sorted(_REGISTERED))


def local_dataset_names() -> tuple[str, ...]:
    """The data sets that need no download: the embedded digits and what genlab derives or renders
    from them (padded digits, domain styles, 3-D shapes)."""
    return EMBEDDED + tuple(sorted(_REGISTERED))


RESIZABLE = "folder:, pair: and the torchvision sets"


def load_dataset(name: str = "mnist", split: str = "train", root: str | None = None,
                 image_size: int | None = None, download: bool = False) -> ImageDataset:
    """The named set's `split`; `image_size` resizes pictures (folder:, pair:, torchvision sets),
    and for a set made at fixed sizes it must be one of them."""
    try:
        ds = _load(name, split, root, image_size, download)
    except ValueError as e:  # a bad split, or a registered set's own size check
        raise GenlabError(str(e) + (f"; image_size resizes only {RESIZABLE}" if image_size else "")) from None
    if image_size is not None and (ds.spec.height, ds.spec.width) != (image_size, image_size):
        raise GenlabError(f"data set {name!r} is {ds.spec.height}x{ds.spec.width}, not {image_size}x{image_size}: "
                          f"image_size resizes only {RESIZABLE}")
    return ds


def _load(name, split, root, image_size, download) -> ImageDataset:
    if name in _REGISTERED:
        return _REGISTERED[name](split, root, image_size)
    if name in EMBEDDED:
        return embedded_dataset(name, split)
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
            f"download it once (needs internet): genlab train ... --data {name} --download") from None
    spec = DataSpec(channels=channels, height=size, width=size, num_classes=classes, name=name)
    return ImageDataset(spec, stream=ds)


def _folder_dataset(path: Path, image_size: int | None) -> ImageDataset:
    from genlab.data.folder import PictureFolder

    size = image_size or 64
    ds = PictureFolder(path, size)
    classes = len(ds.classes) if len(ds.classes) > 1 else 0
    return ImageDataset(DataSpec(channels=3, height=size, width=size, num_classes=classes,
                                 name=f"folder:{path}"), stream=ds)

