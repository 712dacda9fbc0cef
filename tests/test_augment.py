"""Training-data augmentation (genlab/data/augment.py): what each warp does, that it keeps binary
data binary, that only training batches see it, and that a resumed run draws the same warps."""
import math

import pytest
import torch

from genlab.data import load_dataset
from genlab.data.augment import RandomWarp
from genlab.errors import GenlabError
from genlab.training.batches import make_batches
from genlab.training.config import parse_recipe
from genlab.training.distributed import DistInfo

CPU = torch.device("cpu")


def centre_of_mass(images: torch.Tensor) -> torch.Tensor:
    """(N, 2) x, y in pixels of the ink (images in [-1, 1], background -1)."""
    ink = (images[:, 0] + 1) / 2
    h, w = ink.shape[-2:]
    total = ink.sum((1, 2))
    x = (ink * torch.arange(w).view(1, 1, w)).sum((1, 2)) / total
    y = (ink * torch.arange(h).view(1, h, 1)).sum((1, 2)) / total
    return torch.stack([x, y], 1)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("mnist", "train").images[:200]


def test_no_warp_is_the_identity_and_a_zero_warp_resamples_exactly(digits):
    assert not RandomWarp().active and torch.equal(RandomWarp()(digits), digits)
    # the grid of a warp that draws no move lands on pixel centres: bilinear returns the image
    still = RandomWarp(shift=1e-9, seed=0)
    assert torch.allclose(still(digits), digits, atol=1e-5)


def test_shift_moves_the_ink_by_at_most_the_limit_and_usually_by_a_fair_part_of_it(digits):
    moved = RandomWarp(shift=2.0, seed=0)(digits)
    d = centre_of_mass(moved) - centre_of_mass(digits)
    assert d.abs().max() <= 2.0 + 0.15  # resampling blurs the ink a little
    assert d.abs().mean() > 0.6  # uniform in [-2, 2]: mean |d| = 1
    # the ink is kept (border padding is the background): the same total, to resampling error
    assert torch.allclose((moved + 1).sum((1, 2, 3)), (digits + 1).sum((1, 2, 3)), rtol=0.05)


def test_rotation_turns_the_ink_about_the_centre_by_at_most_the_limit(digits):
    # one digit, its ink's principal axis before and after: the angle turned is within the limit
    def axis_angle(img):
        ink = (img[0] + 1) / 2
        ys, xs = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
        m = ink.sum()
        cx, cy = (ink * xs).sum() / m, (ink * ys).sum() / m
        cxx, cyy = (ink * (xs - cx) ** 2).sum() / m, (ink * (ys - cy) ** 2).sum() / m
        cxy = (ink * (xs - cx) * (ys - cy)).sum() / m
        return 0.5 * math.atan2(2 * cxy, cxx - cyy)

    ones = load_dataset("mnist", "train")
    one = ones.images[ones.labels == 1][:20]  # long thin strokes have a clear axis
    turned = RandomWarp(rotate=20.0, seed=3)(one)
    turns = [math.degrees(abs(axis_angle(b) - axis_angle(a))) % 180 for a, b in zip(one, turned)]
    angles = [min(t, 180 - t) for t in turns]  # an axis has no direction
    assert max(angles) < 20.0 + 3.0 and sum(angles) / len(angles) > 4.0


def test_elastic_is_a_smooth_field_of_simards_size(digits):
    warp = RandomWarp(elastic=34.0, seed=0)
    still = torch.nn.functional.affine_grid(torch.eye(2, 3).expand(64, 2, 3), [64, 1, 28, 28], align_corners=False)
    disp = (warp.grid(64, 28, 28) - still) * 14  # grid units -> pixels (28 px span 2)
    # uniform [-1, 1] noise (std 0.577) through a Gaussian of sigma 4 has std 0.577 / (2 sqrt(pi) 4)
    # away from the border; times alpha 34: about 1.4 px
    inner = disp[:, 8:20, 8:20]
    assert 1.0 < inner.std().item() < 1.8
    step = (inner[:, 1:] - inner[:, :-1]).std()
    assert step < 0.25 * inner.std()  # neighbours move together: a bend, not noise
    bent = warp(digits)
    assert ((bent - digits).abs().mean((1, 2, 3)) > 0.02).float().mean() > 0.9  # it changes nearly every digit


def test_warped_dynamic_binarisation_and_static_binary_data_stay_binary():
    for name in ("mnist-dynbin", "mnist-binary"):
        data = load_dataset(name, "train")
        batch = next(make_batches(data, 64, CPU, seed=0, dist=DistInfo(), augment=(1.5, 10.0, 20.0)))
        assert set(batch["image"].unique().tolist()) <= {-1.0, 1.0}, name


def test_a_restored_batch_stream_draws_the_same_warps_and_only_training_batches_are_warped():
    data = load_dataset("mnist-dynbin", "train")
    batches = make_batches(data, 32, CPU, seed=0, dist=DistInfo(), augment=(2.0, 10.0, 20.0))
    plain = make_batches(data, 32, CPU, seed=0, dist=DistInfo())
    warped, unwarped = next(batches), next(plain)
    assert torch.equal(batches.last_indices, plain.last_indices)
    assert not torch.equal(warped["image"], unwarped["image"])  # the same digits, moved
    state = batches.state_dict()
    again = make_batches(data, 32, CPU, seed=0, dist=DistInfo(), augment=(2.0, 10.0, 20.0))
    again.load_state_dict(state)
    assert torch.equal(next(again)["image"], next(batches)["image"])
    # the test split is the fixed binarisation, untouched
    assert torch.equal(load_dataset("mnist-dynbin", "test").images, load_dataset("mnist-binary", "test").images)


def test_a_streamed_set_is_warped_too(tmp_path):
    from PIL import Image
    import numpy as np
    for i in range(8):
        pixels = np.zeros((16, 16, 3), np.uint8)
        pixels[4:12, 6:10] = 255
        Image.fromarray(pixels).save(tmp_path / f"{i}.png")
    data = load_dataset(f"folder:{tmp_path}", "train", image_size=16)
    if data.in_memory:
        pytest.skip("folder sets load into memory here")
    batches = make_batches(data, 8, CPU, seed=0, dist=DistInfo(), num_workers=0, augment=(3.0, 0.0, 0.0))
    images = next(batches)["image"]
    assert not torch.equal(images[0], images[1])  # the same picture, moved differently
    state = batches.state_dict()
    assert "warp" in state


@pytest.mark.parametrize("key,value", [("augment_shift", -1), ("augment_rotate", 270), ("augment_elastic", "nan")])
def test_bad_augment_values_are_refused_in_one_line(key, value):
    text = f'family = "vae"\n[train]\n{key} = {value}\n'
    with pytest.raises(GenlabError, match=key):
        parse_recipe(text, "recipe").train.validate()
