"""DiffAugment (genlab/nn/diffaugment.py): what each transform does, that gradients pass, and the
GAN families' `augment` option (real and fake both go through it; bad names refused)."""
import pytest
import torch

from genlab.errors import GenlabError
from genlab.model import DataSpec
from genlab.models.dcgan import DCGAN, DCGANConfig
from genlab.nn.diffaugment import color, cutout, diff_augment, parse_policy, translate
from genlab.registry import build, make_config


def test_translation_moves_each_image_by_whole_pixels_within_an_eighth_of_the_side():
    torch.manual_seed(0)
    x = torch.zeros(64, 1, 16, 16)
    x[:, 0, 8, 8] = 1.0  # one lit pixel in the middle, far from the edges
    y = translate(x)
    moves = set()
    for img in y[:, 0]:
        assert img.sum() == 1.0 and img.max() == 1.0  # moved, not blurred or lost
        r, c = (img == 1).nonzero()[0].tolist()
        assert abs(r - 8) <= 2 and abs(c - 8) <= 2  # 16 / 8 = 2 px at most
        moves.add((r - 8, c - 8))
    assert len(moves) > 10  # independent random shifts in x and y


def test_translation_repeats_the_edge_rather_than_inventing_a_border():
    torch.manual_seed(1)
    x = torch.full((32, 1, 8, 8), -1.0)  # flat background
    assert torch.equal(translate(x), x)


def test_cutout_zeroes_one_square_of_half_the_side_clipped_at_the_border():
    torch.manual_seed(0)
    y = cutout(torch.ones(200, 1, 8, 8))
    holes = (y == 0).sum(dim=(1, 2, 3))
    assert holes.max() == 16 and holes.min() >= 4  # 4x4 when inside, at least a 2x2 corner
    img = y[holes.argmax(), 0]
    rows, cols = (img == 0).nonzero().unbind(1)
    assert rows.max() - rows.min() == 3 and cols.max() - cols.min() == 3  # one 4x4 square


def test_color_changes_brightness_and_contrast_per_image():
    torch.manual_seed(0)
    x = torch.rand(16, 1, 8, 8) * 2 - 1
    y = color(x)
    assert not torch.allclose(y.mean(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3)))
    ratio = (y.std(dim=(1, 2, 3)) / x.std(dim=(1, 2, 3)))
    assert ratio.min() >= 0.5 - 1e-4 and ratio.max() <= 1.5 + 1e-4


def test_gradients_flow_through_every_transform():
    x = torch.randn(4, 3, 16, 16, requires_grad=True)
    diff_augment(x, ("color", "translation", "cutout")).square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_policies_are_parsed_and_unknown_ones_refused_with_the_choices():
    assert parse_policy("translation, cutout") == ("translation", "cutout")
    assert parse_policy("color+translation") == ("color", "translation")
    assert parse_policy("") == ()
    with pytest.raises(ValueError, match="unknown augmentation flip; choose from translation, cutout, color"):
        parse_policy("translation,flip")


def test_dcgan_refuses_a_bad_augment_option_at_build_time():
    with pytest.raises(GenlabError, match="unknown augmentation rotate"):
        build("dcgan", make_config("dcgan", {"augment": "rotate", "width": 8}), DataSpec())


def test_dcgan_discriminator_sees_augmented_real_and_fake_images():
    torch.manual_seed(0)
    model = DCGAN(DCGANConfig(latent_dim=8, width=8, augment="translation,cutout"), DataSpec())
    seen = []
    model.discriminator.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].detach()))
    real = torch.full((8, 1, 28, 28), -1.0)
    real[:, :, 10:18, 10:18] = 1.0
    loss, _ = model.discriminator_loss({"image": real})
    assert torch.isfinite(loss)
    assert not torch.equal(seen[0], real)  # the real batch was moved and cut
    assert (seen[0] == 0).any()  # cutout's zeros (the data has only -1 and 1)
    assert (seen[1] == 0).sum() >= 8 * 4  # the fake batch was cut too
    loss_g, _ = model.generator_loss({"image": real})
    loss_g.backward()
    assert all(p.grad is not None for p in model.generator.parameters())  # G learns through the transform


def test_alias_free_discriminator_with_minibatch_stddev_sees_its_group_and_augments():
    from genlab.models.alias_free import Discriminator

    torch.manual_seed(0)
    x = torch.randn(8, 1, 16, 16)
    y = x.clone()
    y[4] = torch.randn(1, 16, 16)  # same group as image 0 (groups are i, i + N/G, ...)
    with_std, without = Discriminator(16, 1, 8, mbstd_group=4), Discriminator(16, 1, 8)
    assert not torch.allclose(with_std(x)[0], with_std(y)[0])  # image 0's logit sees its group's variety
    assert torch.allclose(without(x)[0], without(y)[0])
    model = build("alias_free", make_config("alias_free", {
        "augment": "translation+cutout", "mbstd_group": 4, "num_layers": 3, "num_critical": 1,
        "channel_max": 8, "latent_dim": 8, "w_dim": 8, "d_width": 8, "margin": 2}),
        DataSpec(channels=1, height=16, width=16))
    assert model.augment.policy == ("translation", "cutout")
    loss, _ = model.discriminator_loss({"image": torch.full((4, 1, 16, 16), -1.0)})
    assert torch.isfinite(loss)
