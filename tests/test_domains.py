"""Procedural translation domains (genlab/data/domains.py), the pair: folders and the
translation metrics (genlab/metrics/translation.py)."""
import pytest
import torch
from PIL import Image

from genlab.data import domains, load_dataset
from genlab.errors import GenlabError
from genlab.metrics import translation as T
from genlab.training.batches import InMemoryBatches
from genlab.training.distributed import DistInfo


@pytest.mark.parametrize("name,k", [("mnist-styles2", 2), ("mnist-styles8", 8)])
def test_every_domain_has_its_shape_and_range(name, k):
    for split, per in (("train", None), ("test", 1000)):
        ds = load_dataset(name, split)
        assert ds.spec.num_domains == k and ds.spec.image_shape == (3, 28, 28)
        assert ds.images.min() >= -1 and ds.images.max() <= 1
        counts = torch.bincount(ds.extras["domain"], minlength=k)
        assert (counts > 0).all() and (counts == per).all() if per else (counts.max() - counts.min() <= 1)
        assert {"domain", "source"} <= set(ds.extras) and "source" in ds.eval_only
    if k == 8:
        assert ds.spec.attributes == ("bold", "orange", "blue_bg")
        bits = torch.tensor(domains.domain_bits(ds.spec)).float()
        assert torch.equal(ds.extras["attributes"], bits[ds.extras["domain"]])


def test_training_never_sees_a_pair():
    """Each train digit is rendered in one domain only, and batches never carry `source`."""
    for name in domains.SETS:
        ds = load_dataset(name, "train")
        assert len(ds.extras["source"].unique()) == len(ds)  # no source twice: nothing to pair
    ds = load_dataset("mnist-styles2", "train")
    batches = InMemoryBatches(ds, 16, torch.device("cpu"), 0, DistInfo())
    for _ in range(300):
        b = next(batches)
        assert "source" not in b and len(b["image"]) == 32
        assert (b["domain"][:16] == 0).all() and (b["domain"][16:] == 1).all()
        src = ds.extras["source"][batches.last_indices]
        assert not (src[:16] == src[16:]).any()  # never lined up by position


def test_test_split_keeps_the_pairs_and_colours_invert_exactly():
    spec = domains.spec_for("mnist-styles8")
    images, labels = domains.test_pairs(spec)
    assert images.shape == (8, 1000, 3, 28, 28) and len(labels) == 1000
    plain = images[0][:, :1]  # white on black: all channels equal
    for d, bits in enumerate(domains.domain_bits(spec)):
        grey = domains.grey_digit(images[d], bits)
        if not bits[0]:  # colour changes only: the digit comes back exactly
            assert (grey - plain).abs().max() < 1e-5
        else:
            assert (grey >= plain - 1e-5).all()  # bold = dilated: never thinner
    assert not torch.equal(images[1], images[0])


def test_pair_folders(tmp_path):
    a, b = tmp_path / "horses", tmp_path / "zebras"
    for folder, colour in ((a, "red"), (b, "blue")):
        folder.mkdir()
        for i in range(3):
            Image.new("RGB", (40 + i, 30), colour).save(folder / f"{i}.png")
    ds = load_dataset(f"pair:{a},{b}", image_size=16)
    assert ds.spec.domains == ("horses", "zebras") and ds.images.shape == (6, 3, 16, 16)
    assert ds.unpaired_by == "domain" and "source" not in ds.extras
    assert ds.images[0, 0].mean() > 0.9 and ds.images[3, 2].mean() > 0.9  # red, then blue
    assert load_dataset(f"pair:{a},{b}").spec.height == domains.PAIR_DEFAULT_SIZE


def test_pair_folders_refused_by_name(tmp_path):
    good = tmp_path / "good"
    good.mkdir()
    Image.new("RGB", (8, 8)).save(good / "x.png")
    (tmp_path / "empty").mkdir()
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "notes.txt").write_text("hello")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "fake.png").write_text("not a png")
    cases = {f"pair:{tmp_path / 'missing'},{good}": "does not exist",
             f"pair:{tmp_path / 'empty'},{good}": "is empty",
             f"pair:{good},{tmp_path / 'text'}": "holds no images",
             f"pair:{good},{tmp_path / 'broken'}": "not a readable image",
             f"pair:{good}": "two folders"}
    for name, message in cases.items():
        with pytest.raises(GenlabError, match=message):
            load_dataset(name)


def test_translation_scores():
    g = torch.Generator().manual_seed(0)
    truth = torch.rand(10, 3, 8, 8, generator=g) * 2 - 1
    source = -truth
    s = T.score(truth, truth, source)
    assert s["l1"] == 0 and s["psnr"] == T.PSNR_CAP and s["identity_l1"] > 0.5
    noisy = (truth + 0.1).clamp(-1, 1)
    s = T.score(noisy, truth, source)
    assert 0 < s["l1"] <= 0.1 and s["identity_ratio"] > 5
    # PSNR of [-1, 1] images uses the range 2: a uniform error of 0.2 is 10 log10(4 / 0.04) = 20 dB
    assert T.psnr_per_image(torch.zeros(1, 1, 4, 4), torch.full((1, 1, 4, 4), 0.2)).item() == pytest.approx(20.0)
    assert T.error_map(truth, source).shape == (10, 8, 8)
