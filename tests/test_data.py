import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from genlab.data import load_dataset, uint8_to_unit, unit_to_uint8
from genlab.data.mnist import ASSET, SHA256, load_mnist
from genlab.errors import GenlabError


def test_embedded_file_is_the_documented_one():
    assert hashlib.sha256(ASSET.read_bytes()).hexdigest() == SHA256


def test_split_is_fixed_disjoint_and_complete():
    train, ytr = load_mnist("train")
    test, yte = load_mnist("test")
    assert train.shape == (9000, 28, 28) and test.shape == (1000, 28, 28)
    every, _ = load_mnist("all")
    assert np.array_equal(np.concatenate([train, test]), every)
    train_hashes = {hashlib.md5(x.tobytes()).hexdigest() for x in train}
    assert not any(hashlib.md5(x.tobytes()).hexdigest() in train_hashes for x in test)
    assert set(np.unique(ytr)) == set(range(10)) and set(np.unique(yte)) == set(range(10))


def test_images_are_nchw_in_unit_range_with_labels():
    ds = load_dataset("mnist", "test")
    assert ds.images.shape == (1000, 1, 28, 28) and ds.images.dtype == torch.float32
    assert ds.images.min() == -1.0 and ds.images.max() == 1.0
    assert ds.labels.dtype == torch.int64 and ds.spec.num_classes == 10 and not ds.spec.binary


def test_binarisation_is_fixed_binary_and_follows_intensity():
    a = load_dataset("mnist-binary", "train").images
    b = load_dataset("mnist-binary", "train").images
    assert torch.equal(a, b)
    assert set(torch.unique(a).tolist()) == {-1.0, 1.0}
    grey = load_dataset("mnist", "train").images
    on = (a > 0).float().mean()
    expected = ((grey + 1) / 2).mean()
    assert abs(on - expected) < 0.002  # stochastic binarisation preserves mean intensity
    assert ((a > 0) & (grey == -1)).sum() == 0  # black pixels never switch on


def test_uint8_round_trip_is_exact():
    images, _ = load_mnist("test")
    assert np.array_equal(unit_to_uint8(uint8_to_unit(images)), images)


def test_unknown_dataset_and_missing_torchvision_set_name_the_fix(tmp_path):
    with pytest.raises(GenlabError, match="unknown data set 'mnits'.*mnist"):
        load_dataset("mnits")
    with pytest.raises(GenlabError, match=f"not found under {tmp_path}.*--data-root"):
        load_dataset("cifar10", root=str(tmp_path))
    with pytest.raises(GenlabError, match="does not exist"):
        load_dataset(f"folder:{tmp_path / 'nope'}")


def test_dynamic_binarisation_draws_every_batch_afresh_and_tests_on_the_fixed_draw():
    from genlab.training.batches import make_batches
    from genlab.training.distributed import DistInfo

    train, fixed = load_dataset("mnist-dynbin", "train"), load_dataset("mnist-binary", "train")
    assert train.spec.binary and torch.equal(train.images, fixed.images)  # grids and plots see the fixed draw
    test = load_dataset("mnist-dynbin", "test")
    assert torch.equal(test.images, load_dataset("mnist-binary", "test").images) and not test.extras
    batches = make_batches(train, 500, torch.device("cpu"), seed=0, dist=DistInfo())
    first = next(batches)
    assert "grey" not in first and set(first["image"].unique().tolist()) == {-1.0, 1.0}
    # the same digits drawn again differ pixel by pixel, and over many draws a pixel is +1 as often
    # as its grey level says
    rows = batches.last_indices
    grey = train.extras["grey"][rows]
    draws = torch.stack([torch.where(torch.rand(grey.shape, generator=batches.binarise_rng) < grey, 1.0, -1.0)
                         for _ in range(200)])
    share = (draws > 0).float().mean(0)
    mid = (grey > 0.2) & (grey < 0.8)
    assert (share[mid] - grey[mid]).abs().mean() < 0.04
    assert not torch.equal(draws[0], draws[1])
    # the binarisation generator travels with the data order: a restored iterator draws the same batch
    state = batches.state_dict()
    again = make_batches(train, 500, torch.device("cpu"), seed=0, dist=DistInfo())
    again.load_state_dict(state)
    assert torch.equal(next(again)["image"], next(batches)["image"])


def test_a_flat_folder_of_mixed_pictures_loads_as_rgb_squares(tmp_path, capsys):
    """Flat or class folders; grey, RGB, RGBA, palette and 16-bit files in PNG/JPEG/WebP/BMP; resized
    and centre-cropped; unreadable files skipped with a count; an empty folder refused."""
    import numpy as np
    from PIL import Image

    flat = tmp_path / "flat"
    flat.mkdir()
    Image.new("RGB", (40, 20), (255, 0, 0)).save(flat / "a.png")
    Image.new("L", (20, 20), 0).save(flat / "b.jpg")
    Image.new("RGBA", (20, 20), (0, 0, 255, 0)).save(flat / "c.webp")  # fully transparent: white
    Image.new("RGB", (20, 20), (0, 255, 0)).convert("P").save(flat / "d.bmp")  # a palette
    Image.fromarray(np.full((20, 20), 65535, np.uint16)).save(flat / "e.png")  # 16-bit white
    (flat / "f.png").write_bytes(b"not a picture")
    (flat / "readme.txt").write_text("ignored")
    data = load_dataset(f"folder:{flat}", image_size=16)
    assert "skipped 1 of 6 files" in capsys.readouterr().err
    assert data.spec.channels == 3 and data.spec.num_classes == 0 and len(data) == 5
    images = {Path(f).name: data.stream[i][0] for i, (f, _) in enumerate(data.stream.samples)}
    assert all(x.shape == (3, 16, 16) and x.min() >= -1 and x.max() <= 1 for x in images.values())
    assert torch.allclose(images["a.png"][:, 8, 8], torch.tensor([1.0, -1.0, -1.0]))
    assert images["c.webp"].min() > 0.99 and images["e.png"].min() > 0.99 and images["b.jpg"].max() < -0.9
    assert images["d.bmp"][1].min() > 0.99 and images["d.bmp"][0].max() < -0.99

    classes = tmp_path / "classes"
    for name in ("cats", "dogs"):
        (classes / name).mkdir(parents=True)
        Image.new("RGB", (16, 16)).save(classes / name / "x.png")
    data = load_dataset(f"folder:{classes}", image_size=16)
    assert data.spec.num_classes == 2 and [label for _, label in data.stream.samples] == [0, 1]

    (tmp_path / "empty").mkdir()
    with pytest.raises(GenlabError, match="no pictures in"):
        load_dataset(f"folder:{tmp_path / 'empty'}")


def test_image_size_resizes_a_folder_for_training_and_is_refused_where_a_set_cannot_resize(tmp_path):
    """`--image-size` / the recipe's `image_size` reaches the loader; the run's spec, its stored
    recipe and a resume all keep it; a fixed-size set or a nonsense size is refused in one line."""
    from PIL import Image

    from genlab.training import resolve_run
    from genlab.training.config import parse_recipe, recipe_to_toml
    from genlab.training.trainer import Trainer

    for i in range(6):
        Image.new("RGB", (48, 40), (40 * i, 90, 200)).save(tmp_path / f"{i}.png")
    recipe, out = resolve_run("dcgan", data=f"folder:{tmp_path}", steps=2, image_size=32,
                              overrides={"batch_size": 4, "checkpoint_every": 2, "sample_every": 2},
                              out=tmp_path / "run")
    trainer = Trainer(recipe, out, progress=False)
    assert trainer.data.spec.height == trainer.data.spec.width == 32 and trainer.data.spec.channels == 3
    trainer.fit()
    assert parse_recipe(recipe_to_toml(recipe), "round trip").image_size == 32
    resumed, _ = resolve_run(out=out, resume=True, steps=3)
    assert resumed.image_size == 32

    with pytest.raises(GenlabError, match=r"'mnist' is 28x28, not 32x32: image_size resizes only folder:"):
        load_dataset("mnist", image_size=32)
    with pytest.raises(GenlabError, match="shapes3d renders 32x32 or 64x64.*image_size resizes only"):
        load_dataset("shapes3d", image_size=48)
    for bad in (4, 5000, 32.5, "big"):
        with pytest.raises(GenlabError, match="image_size must be a whole number of pixels from 8 to 1024"):
            parse_recipe(f'family = "dcgan"\nimage_size = {bad!r}'.replace("'", '"'), "recipe")
