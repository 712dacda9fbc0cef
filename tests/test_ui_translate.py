"""The Translate tab's handlers as plain functions, on small stand-in checkpoints of both
translation families (untrained: the page's mechanics, not the models' quality) and on the
shipped ones where they exist; the tab's code names no family, data set or image size."""
from __future__ import annotations

import re
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch

from genlab.data.domains import spec_for
from genlab.paths import CHECKPOINT_DIR
from ui_fixtures import one_torch_thread, write_checkpoint  # noqa: F401  (fixture)

TAB = Path(__file__).resolve().parent.parent / "ui" / "tabs" / "translate.py"


@pytest.fixture(scope="module")
def ctx(tmp_path_factory, one_torch_thread):  # noqa: F811
    from genlab.models.cyclegan import CycleGAN, CycleGANConfig
    from genlab.models.stargan import StarGAN, StarGANConfig
    from ui.catalog import Catalog
    from ui.common import AppContext

    root = tmp_path_factory.mktemp("translate")
    ckpt, runs = root / "checkpoints", root / "runs"
    ckpt.mkdir()
    runs.mkdir()
    torch.manual_seed(0)
    write_checkpoint(CycleGAN(CycleGANConfig(width=4, blocks=1), spec_for("mnist-styles2")), ckpt / "two.pt")
    write_checkpoint(StarGAN(StarGANConfig(width=4, blocks=1, d_width=4), spec_for("mnist-styles8")), ckpt / "many.pt")
    for name in ("cyclegan-mnist", "stargan-mnist", "vae-mnist"):
        if (CHECKPOINT_DIR / f"{name}.pt").exists():
            (ckpt / f"{name}.pt").symlink_to(CHECKPOINT_DIR / f"{name}.pt")
    return AppContext(Catalog(ckpt, runs))


def test_the_tab_names_no_family_data_set_or_size():
    code = TAB.read_text().lower()
    for word in ("cyclegan", "stargan", "mnist", "styles", "bold", "orange"):
        assert word not in code, word
    assert not re.search(r"\b(28|32|64)\b", code)


def test_only_translation_models_are_offered(ctx):
    keys = [k for _, k in ctx.catalog.choices("translate")]
    assert "two" in keys and "many" in keys and "vae-mnist" not in keys


def test_model_change_offers_its_domains(ctx):
    from ui.tabs.translate import on_model

    source, target, about = on_model(ctx, "many")
    assert len(source["choices"]) == 8 and target["value"] == spec_for("mnist-styles8").domains[1]
    assert "attributes" in about


def test_a_test_digit_shows_source_translation_truth_cycle_and_errors(ctx):
    from ui.tabs.translate import SOURCES, translate

    spec = spec_for("mnist-styles2")
    items, grid, summary = translate(ctx, "two", SOURCES[0], 3, spec.domains[0], spec.domains[1])
    captions = [c for _, c in items]
    assert len(items) == 6 and captions[2] == "true counterpart" and grid is None
    assert "L1 to the truth" in summary and "Cycle L1" in summary
    assert all(isinstance(p, np.ndarray) and p.ndim == 3 for p, _ in items)


def test_attribute_models_show_every_combination(ctx):
    from ui.tabs.translate import SOURCES, translate

    spec = spec_for("mnist-styles8")
    items, grid, summary = translate(ctx, "many", SOURCES[0], 0, spec.domains[5], spec.domains[2])
    assert grid is not None and grid.shape[1] > 7 * grid.shape[0]  # 8 images side by side
    assert "Grid, left to right" in summary


def test_an_upload_is_converted_and_said_so(ctx):
    from ui.tabs.translate import SOURCES, translate

    spec = spec_for("mnist-styles2")
    grey = np.zeros((56, 56), np.uint8)
    grey[10:46, 25:31] = 255  # a white bar on black: a "1"
    items, _, summary = translate(ctx, "two", SOURCES[1], 0, spec.domains[0], spec.domains[1], grey)
    assert "grey converted to colour" in summary and "resized" in summary
    assert len(items) == 4 and "cycle error" in summary  # no truth: source, translation, cycle, heatmap


def test_bad_choices_are_refused_in_the_page(ctx):
    from ui.tabs.translate import SOURCES, show_source, translate

    spec = spec_for("mnist-styles2")
    with pytest.raises(gr.Error, match="unknown target domain 'zebra'"):
        translate(ctx, "two", SOURCES[0], 0, spec.domains[0], "zebra")
    with pytest.raises(gr.Error, match="between 0 and 999"):
        translate(ctx, "two", SOURCES[0], 5000, spec.domains[0], spec.domains[1])
    with pytest.raises(gr.Error, match="no picture given"):
        translate(ctx, "two", SOURCES[1], 0, spec.domains[0], spec.domains[1], None)
    if "vae-mnist" in [k for _, k in ctx.catalog.choices()]:
        with pytest.raises(gr.Error, match="no 'translate' capability"):
            translate(ctx, "vae-mnist", SOURCES[0], 0, "a", "b")
    pad, what = show_source(ctx, "two", 1, spec.domains[1])
    assert pad["composite"].shape[2] == 3 and "test image #1" in what


def test_the_tab_builds(ctx):
    from ui.tabs import translate

    with gr.Blocks() as demo:
        ctx.demo = demo
        translate.build(ctx)
    names = {d.get("api_name") for d in demo.config["dependencies"]}
    assert {"translate", "translate_model", "translate_test_image"} <= names


@pytest.mark.parametrize("key", ["cyclegan-mnist", "stargan-mnist"])
def test_shipped_models_translate_a_test_digit_close_to_the_truth(ctx, key):
    from ui.tabs.translate import SOURCES, translate

    if key not in [k for _, k in ctx.catalog.choices("translate")]:
        pytest.skip(f"{key} is not shipped")
    spec = ctx.catalog.model(key).data_spec
    _, _, summary = translate(ctx, key, SOURCES[0], 0, spec.domains[0], spec.domains[-1])
    got = re.search(r"L1 to the truth ([\d.]+) \(no translation: ([\d.]+)\)", summary)
    assert float(got.group(1)) < float(got.group(2))


def test_the_upload_button_converts_the_file_itself_for_the_translation_model(ctx, tmp_path):
    """The Translate tab's "Upload a picture" (the shared `ui.common.upload_for`): the file is
    checked at its own size, converted for the model's data and put on the pad, which translates."""
    from PIL import Image

    from ui.common import upload_for
    from ui.tabs.translate import SOURCES, translate

    spec = spec_for("mnist-styles2")
    huge = tmp_path / "huge.png"
    Image.new("L", (6000, 6000), 0).save(huge)
    with pytest.raises(gr.Error, match="6000x6000 pixels; the limit is 4096"):
        upload_for(ctx, "translate")("two", str(huge))
    grey = np.zeros((300, 200), np.uint8)
    grey[40:260, 90:110] = 255
    Image.fromarray(grey).save(tmp_path / "one.png")
    pad, text = upload_for(ctx, "translate")("two", str(tmp_path / "one.png"))
    assert "one.png** (200x300, L)" in text and "grey converted to colour" in text and "resized 200x300" in text
    items, _, summary = translate(ctx, "two", SOURCES[1], 0, spec.domains[0], spec.domains[1], pad)
    assert len(items) == 4 and "your picture" in summary
