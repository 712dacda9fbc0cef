"""cifar10, fashion-mnist and celeba as genlab loads them through torchvision, on small files the
tests write in each set's own on-disk layout (nothing is downloaded). torchvision checks the md5 of
the real CIFAR-10 and CelebA files; these files are not the real ones, so that one check is
switched off here and everything after it (reading the format, genlab's transform, its spec and
labels, a training step) runs as on a user's machine."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from genlab.data import load_dataset


@pytest.fixture()
def no_md5(monkeypatch):
    """torchvision's file check without its md5 (the files exist; they are just not the real ones)."""
    import os

    from torchvision.datasets import celeba, cifar

    for module in (cifar, celeba):
        monkeypatch.setattr(module, "check_integrity", lambda path, md5=None: os.path.isfile(path))


def write_cifar10(root, per_batch: int = 4):
    """root/cifar-10-batches-py: five pickled training batches, a test batch and batches.meta."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (per_batch, 3 * 32 * 32), dtype=np.uint8)
        data[0, :1024] = 255  # the first image of each batch: a pure red plane (channel order R, G, B)
        data[0, 1024:] = 0
        with open(folder / name, "wb") as f:
            pickle.dump({"data": data, "labels": [i % 10 for i in range(per_batch)]}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                                     "ship", "truck"]}, f)


def write_idx(path, array: np.ndarray) -> None:
    """The MNIST idx format: magic (0, 0, type 8 = uint8, ndim), big-endian sizes, the bytes."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_fashion_mnist(root, n: int = 6):
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix in ("train", "t10k"):
        images = np.zeros((n, 28, 28), np.uint8)
        images[:, 10:18, 10:18] = 255  # a white square on black
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)


def write_celeba(root, n: int = 6):
    """root/celeba: aligned JPEGs (178 x 218, as the real ones) and the five annotation lists."""
    folder = root / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True)
    names = [f"{i + 1:06d}.jpg" for i in range(n)]
    for i, name in enumerate(names):
        Image.new("RGB", (178, 218), (0, 0, 255) if i % 2 else (0, 255, 0)).save(folder / "img_align_celeba" / name)
    split = [0] * (n - 2) + [2, 2]  # the last two are the test split
    (folder / "list_eval_partition.txt").write_text("".join(f"{m} {s}\n" for m, s in zip(names, split)))
    (folder / "identity_CelebA.txt").write_text("".join(f"{m} {i}\n" for i, m in enumerate(names)))
    attrs = [f"attr_{k}" for k in range(40)]
    (folder / "list_attr_celeba.txt").write_text(
        f"{n}\n" + " ".join(attrs) + "\n" + "".join(f"{m} " + " ".join(["1", "-1"] * 20) + "\n" for m in names))
    (folder / "list_bbox_celeba.txt").write_text(
        f"{n}\nimage_id x_1 y_1 width height\n" + "".join(f"{m} 1 2 3 4\n" for m in names))
    (folder / "list_landmarks_align_celeba.txt").write_text(
        f"{n}\n" + " ".join(f"p{k}" for k in range(10)) + "\n" + "".join(f"{m} " + " ".join(["5"] * 10) + "\n"
                                                                     for m in names))


def test_cifar10_loads_from_its_pickled_batches(tmp_path, no_md5):
    write_cifar10(tmp_path)
    train, test = load_dataset("cifar10", "train", root=str(tmp_path)), load_dataset("cifar10", "test", root=str(tmp_path))
    assert (len(train), len(test)) == (20, 4) and train.spec.describe() == "3x32x32" and train.spec.num_classes == 10
    image, label = train.stream[0]
    assert image.shape == (3, 32, 32) and label == 0
    assert torch.allclose(image[:, 5, 5], torch.tensor([1.0, -1.0, -1.0]))  # red stays red, in [-1, 1]
    small = load_dataset("cifar10", "train", root=str(tmp_path), image_size=16)
    assert small.stream[0][0].shape == (3, 16, 16) and small.spec.height == 16


def test_fashion_mnist_loads_from_its_idx_files(tmp_path):
    write_fashion_mnist(tmp_path)
    data = load_dataset("fashion-mnist", "train", root=str(tmp_path))
    assert len(data) == 6 and data.spec.describe() == "1x28x28" and data.spec.num_classes == 10
    image, label = data.stream[3]
    assert image.shape == (1, 28, 28) and label == 3 and image[0, 14, 14] == 1.0 and image[0, 0, 0] == -1.0


def test_celeba_loads_its_split_and_centre_crops(tmp_path, no_md5):
    write_celeba(tmp_path)
    train = load_dataset("celeba", "train", root=str(tmp_path))
    test = load_dataset("celeba", "test", root=str(tmp_path))
    assert (len(train), len(test)) == (4, 2) and train.spec.describe() == "3x64x64"
    image, attributes = train.stream[1]
    assert image.shape == (3, 64, 64) and torch.allclose(image[:, 32, 32], torch.tensor([-1.0, -1.0, 1.0]), atol=0.02)  # JPEG
    assert attributes.shape == (40,)


def test_a_dcgan_trains_a_step_on_cifar10_files(tmp_path, no_md5):
    from genlab.training import resolve_run
    from genlab.training.trainer import Trainer

    write_cifar10(tmp_path / "data")
    recipe, out = resolve_run("dcgan", data="cifar10", data_root=str(tmp_path / "data"), steps=1,
                              overrides={"batch_size": 4, "num_workers": 0, "grid_size": 4}, out=tmp_path / "run")
    trainer = Trainer(recipe, out, progress=False)
    trainer.fit()
    assert trainer.step == 1 and (out / "latest.pt").is_file()
