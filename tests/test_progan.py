"""Progressive GAN: its layers, the fade-in of G, D and the real images, the stage schedule, the
resolution scrubber, and an exact resume from the middle of a fade-in (papers.md section 11's
common bugs are the ones tested against)."""
import math

import pytest
import torch
import torch.nn.functional as F

from genlab.checkpoint import load_checkpoint
from genlab.data import load_dataset
from genlab.errors import GenlabError
from genlab.metrics.likelihood import crop_padding, is_mnist_like
from genlab.model import DataSpec
from genlab.models.progan import ProGAN, ProGANConfig
from genlab.nn.progressive import (EqualizedConv2d, EqualizedLinear, MinibatchStddev, downsample2, pixel_norm,
                                   upsample2)
from genlab.registry import build, model_from_state
from genlab.training import resolve_run
from genlab.training.trainer import Trainer
from state_checks import assert_same

SPEC16 = DataSpec(channels=1, height=16, width=16, name="toy16")  # stages 4, 8, 16


def tiny(spec=SPEC16, **kw) -> ProGAN:
    torch.manual_seed(0)
    cfg = dict(latent_dim=8, fmap_base=16, fmap_max=8, stable_steps=(4,), fade_steps=(4,))
    cfg.update(kw)
    return ProGAN(ProGANConfig(**cfg), spec)


# ----- layers --------------------------------------------------------------------------------------
@pytest.mark.parametrize("fan_in_channels,kernel", [(4, 1), (16, 3), (256, 3), (1024, 1)])
def test_equalized_conv_has_unit_variance_output_whatever_the_fan_in(fan_in_channels, kernel):
    torch.manual_seed(0)
    layer = EqualizedConv2d(fan_in_channels, 256, kernel, gain=1.0)
    x = torch.randn(16, fan_in_channels, 8, 8)
    with torch.no_grad():
        y = layer(x)[:, :, 1:-1, 1:-1]  # away from the zero padding
    assert y.var().item() == pytest.approx(1.0, rel=0.1)
    # The He constant is applied at run time: the stored weights stay N(0, 1) whatever the fan-in
    # (an init-only scaling would store weights of std 1/sqrt(fan_in)).
    assert layer.weight.std().item() == pytest.approx(1.0, rel=0.05)
    assert torch.allclose(y, F.conv2d(x, layer.weight * layer.scale, layer.bias, padding=kernel // 2)[:, :, 1:-1, 1:-1])
    assert layer.scale == pytest.approx(1 / math.sqrt(fan_in_channels * kernel * kernel))


@pytest.mark.parametrize("fan_in", [8, 128, 2048])
def test_equalized_linear_has_unit_variance_output_and_gain_squared_with_a_gain(fan_in):
    torch.manual_seed(0)
    x = torch.randn(512, fan_in)
    with torch.no_grad():
        assert EqualizedLinear(fan_in, 512, gain=1.0)(x).var().item() == pytest.approx(1.0, rel=0.1)
        assert EqualizedLinear(fan_in, 512)(x).var().item() == pytest.approx(2.0, rel=0.1)  # He gain sqrt(2)


def test_equalized_layer_gradients_carry_the_runtime_scale():
    """d loss / d stored weight = c x d loss / d effective weight: Adam, which normalises step sizes,
    then moves every layer's effective weights at a speed proportional to its c."""
    torch.manual_seed(0)
    layer = EqualizedLinear(64, 4, gain=1.0)
    x = torch.randn(10, 64)
    layer(x).sum().backward()
    effective = (layer.weight * layer.scale).detach().requires_grad_(True)
    F.linear(x, effective, layer.bias.detach()).sum().backward()
    assert torch.allclose(layer.weight.grad, effective.grad * layer.scale)


def test_pixel_norm_gives_unit_mean_square_per_pixel():
    torch.manual_seed(0)
    x = torch.randn(3, 7, 5, 5) * torch.rand(3, 1, 5, 5) * 10  # every pixel at its own scale
    ms = pixel_norm(x).pow(2).mean(dim=1)
    assert torch.allclose(ms, torch.ones_like(ms), atol=1e-5)
    z = pixel_norm(torch.randn(6, 32) * 3)  # the latent: onto the sphere of radius sqrt(dim)
    assert torch.allclose(z.norm(dim=1), torch.full((6,), math.sqrt(32)), atol=1e-4)


def test_minibatch_stddev_adds_one_map_equal_to_the_groups_mean_std():
    torch.manual_seed(0)
    x = torch.randn(8, 3, 4, 4)
    y = MinibatchStddev(4)(x)
    assert y.shape == (8, 4, 4, 4) and torch.equal(y[:, :3], x)
    for j in range(2):  # groups of 4: samples j, j + 2, j + 4, j + 6
        members = [j, j + 2, j + 4, j + 6]
        expected = (x[members].var(dim=0, unbiased=False) + 1e-8).sqrt().mean()
        for i in members:
            assert torch.allclose(y[i, 3], expected.expand(4, 4), atol=1e-6)
    assert not torch.allclose(y[0, 3], y[1, 3])  # two groups, two values
    assert MinibatchStddev(4)(x[:2]).shape == (2, 4, 4, 4)  # a batch smaller than the group: one group of 2


def test_minibatch_stddev_refuses_a_batch_not_divisible_by_its_group():
    with pytest.raises(ValueError, match="divisible by its group size 4"):
        MinibatchStddev(4)(torch.randn(6, 3, 4, 4))


# ----- fade-in ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("stage", [1, 2])
def test_generator_at_alpha_0_is_the_smaller_network_upsampled_and_at_alpha_1_drops_the_old_path(stage):
    model = tiny()
    g, z = model.generator, torch.randn(5, 8)
    with torch.no_grad():
        smaller = g(z, stage - 1, 1.0)
        assert torch.allclose(g(z, stage, 0.0), upsample2(smaller), atol=1e-6)
        assert not torch.allclose(g(z, stage, 0.5), upsample2(smaller), atol=1e-3)  # the new block shows
        grown, halfway = g(z, stage, 1.0), g(z, stage, 0.5)
        g.to_rgb[stage - 1].weight.add_(1.0)  # change the old toRGB: the old path's output changes
        assert torch.equal(g(z, stage, 1.0), grown)
        assert not torch.allclose(g(z, stage, 0.5), halfway)


@pytest.mark.parametrize("stage", [1, 2])
def test_discriminator_fades_in_the_same_way(stage):
    model = tiny()
    d, side = model.discriminator, 4 * 2 ** stage
    x = torch.randn(8, 1, side, side)
    with torch.no_grad():
        assert torch.allclose(d(x, stage, 0.0), d(downsample2(x), stage - 1, 1.0), atol=1e-5)
        grown, halfway = d(x, stage, 1.0), d(x, stage, 0.5)
        d.from_rgb[stage - 1].weight.add_(1.0)
        assert torch.equal(d(x, stage, 1.0), grown)
        assert not torch.allclose(d(x, stage, 0.5), halfway)


def test_real_images_are_faded_too():
    model = tiny()
    x = torch.rand(4, 1, 16, 16) * 2 - 1
    at8 = F.avg_pool2d(x, 2)
    model.set_stage(1, 0.0)
    assert torch.allclose(model.real_images(x), upsample2(F.avg_pool2d(at8, 2)))  # what stage 0 saw, upsampled
    model.set_stage(1, 0.25)
    assert torch.allclose(model.real_images(x), 0.75 * upsample2(F.avg_pool2d(at8, 2)) + 0.25 * at8, atol=1e-6)
    model.set_stage(1, 1.0)
    assert torch.allclose(model.real_images(x), at8)
    model.set_stage(2, 1.0)
    assert torch.equal(model.real_images(x), x)


def test_the_schedule_is_a_float_alpha_rising_linearly_and_adam_resets_at_each_new_resolution():
    model = tiny(stable_steps=(3, 4), fade_steps=(4, 8))
    seen = {step: (model.advance(step), model.stage, model.alpha) for step in range(30)}
    assert [seen[s][1:] for s in range(3)] == [(0, 1.0)] * 3
    assert [seen[s][2] for s in range(3, 7)] == [0.0, 0.25, 0.5, 0.75]  # not stuck at 0 (integer division)
    assert [seen[s][1:] for s in range(7, 11)] == [(1, 1.0)] * 4
    assert seen[11][1:] == (2, 0.0) and seen[15][2] == 0.5 and seen[19][1:] == (2, 1.0) and seen[29][1:] == (2, 1.0)
    resets = {s: r for s, (r, _, _) in seen.items() if r}
    assert resets == {3: {"discriminator", "generator"}, 11: {"discriminator", "generator"}}
    assert model.stage_starts() == [0, 3, 11]


def test_the_penalty_mixes_per_sample_and_leaves_alpha_alone():
    model = tiny()
    model.set_stage(1, 0.3)
    shapes = []
    rand = model.rand
    model.rand = lambda *shape, generator=None: shapes.append(shape) or rand(*shape, generator=generator)
    loss, logs = model.discriminator_loss({"image": torch.rand(8, 1, 16, 16) * 2 - 1})
    assert shapes == [(8,)]  # one coefficient per sample, not per pixel
    assert model.alpha == 0.3 and logs["alpha"].item() == pytest.approx(0.3) and torch.isfinite(loss)
    loss.backward()
    assert model.discriminator.from_rgb[1].weight.grad is not None  # the new fromRGB trains while fading in


def test_the_lazy_penalty_comes_every_kth_step_weighted_k_times():
    every_step, lazy = tiny(), tiny(gp_every=3)  # same weights (tiny seeds them)
    batch = {"image": torch.rand(8, 1, 16, 16) * 2 - 1}

    def d_loss(model, step):
        model.advance(step)
        torch.manual_seed(1)  # the same fakes and mixing coefficients for every call
        return model.discriminator_loss(batch)[0].item()

    without = d_loss(lazy, 2)  # 2 % 3 != 0: no penalty term at all
    with_one, with_three = d_loss(every_step, 3), d_loss(lazy, 3)  # all three in stage 0
    assert with_one > without  # the penalty is positive
    assert with_three - without == pytest.approx(3 * (with_one - without), rel=1e-5)
    with pytest.raises(ValueError, match="gp_every"):
        tiny(gp_every=0)


def test_phases_train_only_the_stages_modules():
    model = tiny()
    model.set_stage(1, 0.5)
    d, g = model.bind_phases()
    assert (d.name, g.name) == ("discriminator", "generator")
    g_ids = {id(p) for p in g.params}
    assert all(id(p) in g_ids for p in model.generator.to_rgb[0].parameters())  # still fading out
    assert not any(id(p) in g_ids for p in model.generator.blocks[2].parameters())  # not grown yet
    assert d.optimizer.lr == 1e-3 and d.optimizer.betas == (0.0, 0.99)


# ----- sampling -------------------------------------------------------------------------------------
def test_sample_steps_render_one_latent_at_every_stage_so_far():
    model = tiny()
    model.set_stage(2, 0.5)
    frames = list(model.sample_steps(3, generator=torch.Generator().manual_seed(1)))
    assert len(frames) == 3 and all(f.shape == (3, 1, 16, 16) for f in frames)
    assert torch.equal(frames[-1], model.sample(3, generator=torch.Generator().manual_seed(1)))
    # The 4x4 frame is blocks of 4x4 identical pixels (nearest upsampling), and is the stage control's image.
    assert torch.equal(frames[0], F.interpolate(frames[0][:, :, ::4, ::4], scale_factor=4, mode="nearest"))
    assert torch.equal(frames[0], model.sample(3, generator=torch.Generator().manual_seed(1), stage=4))
    assert [c.name for c in model.controls_for("sample")] == ["stage"]
    assert model.controls_for("sample")[0].choices == [4, 8, 16]
    assert model.check_controls("sample", {"stage": "8"}) == {"stage": 8}
    model.set_stage(1, 1.0)
    with pytest.raises(ValueError, match="sides reached so far"):
        model.sample(2, stage=16)


def test_data_is_mnist_padded_to_32_and_scored_as_28x28_digits():
    ds = load_dataset("mnist-pad32")
    assert ds.images.shape[1:] == (1, 32, 32) and is_mnist_like(ds.spec) and ds.spec.pad == 2
    assert torch.equal(crop_padding(ds.images[:10], ds.spec), load_dataset("mnist").images[:10])
    assert (ds.images[:, :, :2] == -1).all() and (ds.images[:, :, :, -2:] == -1).all()
    with pytest.raises(GenlabError, match="mnist-pad32"):
        build("progan", None, DataSpec())  # 28x28: refused, naming the padded set


# ----- training -------------------------------------------------------------------------------------
TINY = ["batch_size=8", "log_every=1", "checkpoint_every=1000", "sample_every=1000", "grid_size=4",
        "ema_decay=0.9", "model.latent_dim=8", "model.fmap_base=8", "model.fmap_max=8",
        "model.stable_steps=[2, 2, 2]", "model.fade_steps=[4, 4, 4]",
        "model.gp_every=3"]  # lazy penalty: the legs stop and resume on steps without it (4, 10)


def fit(out, steps=12, resume=False):
    recipe, out = resolve_run("progan", None, "mnist-pad32", steps, TINY, None, out, resume)
    trainer = Trainer(recipe, out, resume=resume, progress=False)
    trainer.fit()
    return trainer


@pytest.mark.parametrize("first_leg", [4, 10])  # in the middle of the 8 px and of the 16 px fade-in
def test_a_run_stopped_mid_fade_in_resumes_bitwise(tmp_path, first_leg):
    whole = fit(tmp_path / "whole")
    fit(tmp_path / "split", steps=first_leg)
    state = load_checkpoint(tmp_path / "split/latest.pt")["step_state"]
    assert 0 < state["alpha"] < 1  # stopped mid-fade
    split = fit(tmp_path / "split", resume=True)
    a, b = load_checkpoint(tmp_path / "whole/latest.pt"), load_checkpoint(tmp_path / "split/latest.pt")
    for key in ("model", "ema", "optimizers", "step_state", "rng"):
        assert_same(a[key], b[key], key)
    assert a["step_state"] == {"stage": 2, "alpha": 0.75} and whole.step == split.step == 12
    # Loaded for sampling, the model is at the stage it reached.
    model = model_from_state(a)
    assert (model.stage, model.alpha) == (2, 0.75) and model.sample(4).shape == (4, 1, 32, 32)


@pytest.mark.parametrize("side, stages", [(32, 4), (64, 5)])
def test_rgb_data_at_32_or_64_px_grows_through_the_same_model(side, stages):
    spec = DataSpec(channels=3, height=side, width=side, name=f"rgb{side}")
    model = tiny(spec)
    assert model.num_stages == stages
    model.set_stage(stages - 1, 0.5)  # the last stage fading in
    loss, _ = model.discriminator_loss({"image": torch.rand(8, 3, side, side) * 2 - 1})
    loss.backward()
    assert torch.isfinite(loss) and model.sample(4).shape == (4, 3, side, side)
