"""The Noise and denoise tab's handlers as plain functions, on the shipped diffusion checkpoint
(ddpm-mnist: add_noise / denoise, T = 1000) and one model without the `noise` capability."""
from __future__ import annotations

import re
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image

from genlab.registry import get_family, list_families
from ui_fixtures import one_torch_thread, shipped_catalogue  # noqa: F401  (fixture)

TAB = Path(__file__).resolve().parent.parent / "ui" / "tabs" / "noising.py"
DIFFUSION = "ddpm-mnist"


@pytest.fixture(scope="module")
def ctx(tmp_path_factory, one_torch_thread):  # noqa: F811
    from ui.catalog import Catalog
    from ui.common import AppContext

    c = AppContext(Catalog(*shipped_catalogue(tmp_path_factory.mktemp("noising"), (DIFFUSION, "vae-mnist"))))
    yield c
    c.close()


@pytest.fixture(scope="module")
def digit(ctx):
    """Test digit #0 of the model's own data on the pad (a 2), as "Use this test image" puts it."""
    from ui.tabs.noising import load_test_image

    pad, what = load_test_image(ctx, DIFFUSION, 0)
    assert "test image #0" in what and "a **2**" in what
    return pad


def pic(path) -> np.ndarray:
    return np.asarray(Image.open(path)).astype(np.int16)


def classify_picture(path, scale: int) -> int:
    """genlab's MNIST classifier's reading of a (scaled-up, grey) picture the tab returned."""
    from genlab.metrics.classifier import classify

    a = pic(path)
    a = a[..., 0] if a.ndim == 3 else a
    x = torch.from_numpy(a[::scale, ::scale].astype(np.float32))[None, None] / 127.5 - 1
    return int(classify(x)[1].argmax(1))


def test_the_tab_names_no_family_data_set_or_size():
    code = TAB.read_text().lower()
    for word in ("ddpm", "diffusion model", "mnist", "1000", "999"):
        assert word not in code, word
    assert not re.search(r"\b(28|32|64)\b", code)


def test_the_noise_capability_is_declared_by_families_that_can_noise_and_denoise(ctx):
    from genlab.model import CONTROL_USES, implements

    assert "denoise" in CONTROL_USES
    model = ctx.catalog.model(DIFFUSION)
    assert "noise" in model.capabilities and model.T == 1000
    assert "noise" not in ctx.catalog.model("vae-mnist").capabilities
    for family in list_families():  # the capability is whole: add_noise comes with denoise and T
        cls = get_family(family)
        if implements(cls, "add_noise"):
            assert implements(cls, "denoise") and implements(cls, "T"), family
    assert [k for _, k in ctx.catalog.choices("noise")] == [DIFFUSION]


def test_picking_the_model_sets_t_to_its_range_and_offers_its_denoise_controls(ctx):
    from ui.tabs.noising import on_model

    t, defaults = on_model(ctx, DIFFUSION)
    assert t["maximum"] == 999 and t["minimum"] == 0 and t["value"] == 500
    assert {"sampler", "steps", "eta", "guidance", "label"} <= set(defaults) and "every" not in defaults


def test_noise_to_t_and_denoise_back(ctx, digit):
    from ui.tabs.noising import noise_and_denoise

    seen, xt, back, summary = noise_and_denoise(ctx, DIFFUSION, digit, 300, 0, {"steps": 10})
    assert "t = 300 of 0..999" in summary and "steps=10" in summary
    x, noisy, den = pic(seen), pic(xt), pic(back)
    assert x.shape == noisy.shape == den.shape and x.shape[0] >= 140  # shown enlarged
    assert np.abs(den - x).mean() < np.abs(noisy - x).mean()  # the chain takes the noise away
    scale = x.shape[0] // ctx.catalog.model(DIFFUSION).data_spec.height
    assert classify_picture(seen, scale) == 2 and classify_picture(back, scale) == 2  # still the digit
    # seeded: the same seed, the same x_t (the same file); another seed, other noise
    assert noise_and_denoise(ctx, DIFFUSION, digit, 300, 0, {"steps": 10})[1] == xt
    assert noise_and_denoise(ctx, DIFFUSION, digit, 300, 1, {"steps": 10})[1] != xt
    # t = 0 barely noises; t = T - 1 leaves almost nothing of the input
    _, low, _, _ = noise_and_denoise(ctx, DIFFUSION, digit, 0, 0, {"steps": 10})
    assert np.abs(pic(low) - x).mean() < 5
    _, high, _, _ = noise_and_denoise(ctx, DIFFUSION, digit, 999.0, 0, {"steps": 10})  # a slider's float
    assert np.corrcoef(pic(high).ravel(), x.ravel())[0, 1] < 0.1


@pytest.mark.parametrize("t", [1000, -1, 2.5, "abc", None, True])
def test_a_bad_t_is_refused_with_its_range(ctx, digit, t):
    from ui.tabs.noising import noise_and_denoise

    with pytest.raises(gr.Error, match=r"t must be a whole number in 0\.\.999 \(this model has T = 1000"):
        noise_and_denoise(ctx, DIFFUSION, digit, t, 0)


def test_bad_inputs_are_refused_in_the_page(ctx, digit):
    from ui.tabs.noising import noise_and_denoise, strip

    with pytest.raises(gr.Error, match="no 'noise' capability; models that have it: ddpm-mnist"):
        noise_and_denoise(ctx, "vae-mnist", digit, 10, 0)
    with pytest.raises(gr.Error, match="no picture given"):
        noise_and_denoise(ctx, DIFFUSION, None, 10, 0)
    with pytest.raises(gr.Error, match="is blank"):
        noise_and_denoise(ctx, DIFFUSION, np.full((50, 50), 255, np.uint8), 10, 0)
    with pytest.raises(gr.Error, match="no denoise control every"):
        noise_and_denoise(ctx, DIFFUSION, digit, 10, 0, {"every": 3})
    with pytest.raises(gr.Error, match=r"steps must lie in \[1, 1000\], got 0"):
        noise_and_denoise(ctx, DIFFUSION, digit, 10, 0, {"steps": 0})
    with pytest.raises(gr.Error, match="the strip takes 2 to 12 noise levels, got 1"):
        strip(ctx, DIFFUSION, digit, 0, 1)


def test_a_strip_over_t(ctx, digit):
    from ui.tabs.noising import strip, strip_levels

    assert strip_levels(1000, 8) == [0, 143, 285, 428, 571, 714, 856, 999]
    assert strip_levels(3, 8) == [0, 1, 2]  # never more levels than the model has
    path, caption = strip(ctx, DIFFUSION, digit, 0, 5, {"steps": 8})
    assert "t = 0, 250, 500, 749, 999" in caption
    a = pic(path)
    from ui.images import display_scale

    h = ctx.catalog.model(DIFFUSION).data_spec.height
    scale = display_scale(h, 84)
    assert a.shape[:2] == ((2 * (h + 2) + 2) * scale, (5 * (h + 2) + 2) * scale)  # two rows of five
    top, bottom = a[: a.shape[0] // 2], a[a.shape[0] // 2:]
    col = a.shape[1] // 5
    # noise grows along the top row: the first x_t is the digit, the last nearly noise
    assert np.abs(top[:, :col] - bottom[:, :col]).mean() < np.abs(top[:, -col:] - bottom[:, -col:]).mean()


def test_an_upload_is_converted_for_the_model_and_noised(ctx, tmp_path):
    from ui.common import upload_for
    from ui.tabs.noising import noise_and_denoise

    rgb = np.full((300, 200, 3), 235, np.uint8)
    rgb[40:260, 90:115] = (30, 20, 60)  # a dark "1" on light paper, in colour
    Image.fromarray(rgb).save(tmp_path / "one.png")
    pad, text = upload_for(ctx, "noise")(DIFFUSION, str(tmp_path / "one.png"))
    assert "one.png** (200x300, RGB)" in text and "inverted" in text and "resized 200x300" in text
    seen, _, back, summary = noise_and_denoise(ctx, DIFFUSION, pad, 200, 0, {"steps": 10})
    scale = pic(seen).shape[0] // ctx.catalog.model(DIFFUSION).data_spec.height
    assert classify_picture(back, scale) == 1


def test_the_tab_builds_and_is_in_the_app(ctx):
    from ui import app
    from ui.tabs import noising

    assert noising in app.TABS
    with gr.Blocks() as demo:
        ctx.demo = demo
        noising.build(ctx)
    names = {d.get("api_name") for d in demo.config["dependencies"]}
    assert {"noise", "noise_strip", "noise_model", "noise_upload", "noise_test_image"} <= names
