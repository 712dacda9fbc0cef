"""The app's logic without a browser or a server: latent utilities, image conversion,
the catalogue, declared controls, and every tab's handlers called as plain functions, on the
shipped checkpoints (see tests/ui_fixtures.py)."""
from __future__ import annotations

import inspect
import math
import os
import re
import time
from pathlib import Path

import genlab
import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image

from genlab import explore
from genlab.checkpoint import load_checkpoint
from genlab.data.mnist import load_mnist
from genlab.model import DataSpec
from genlab.registry import shipped_checkpoints
from ui_fixtures import MNIST, STANDIN, one_torch_thread, sheet_tiles, ui_dirs  # noqa: F401  (fixtures)

LATENT = ["aae-mnist", "dcgan-mnist", "infogan-mnist", "vae-mnist", "vae2d-mnist"]


@pytest.fixture(scope="module")
def ctx(ui_dirs):
    from ui.catalog import Catalog
    from ui.common import AppContext

    c = AppContext(Catalog(*ui_dirs))
    yield c
    c.close()


def pic(value) -> np.ndarray:
    """A picture handlers return (a file in the scratch folder, written once) as an array."""
    return np.asarray(Image.open(value)) if isinstance(value, (str, Path)) else np.asarray(value)


def digit_pad(i: int = 0) -> dict:
    """MNIST test digit #i (8-bit) on the drawing pad, as the Likelihood tab puts it there."""
    from ui.tabs.likelihood import test_image

    return test_image(MNIST, i)[0]


# ----- genlab.explore ---------------------------------------------------------------------------
def test_slerp_keeps_the_norm_lerp_does_not():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(100, generator=g), torch.randn(100, generator=g)
    b = b * a.norm() / b.norm()  # equal norms: slerp stays on that sphere
    s, l = explore.walk(a, b, 9, "slerp"), explore.walk(a, b, 9, "lerp")
    assert torch.allclose(s[0], a, atol=1e-5) and torch.allclose(s[-1], b, atol=1e-5)
    assert torch.allclose(s.norm(dim=1), a.norm().expand(9), rtol=1e-4)
    assert l[4].norm() < 0.8 * a.norm()  # the straight line cuts inside the shell
    assert torch.allclose(explore.slerp(a, 2 * a, 0.5), 1.5 * a, atol=1e-5)  # parallel: falls back to lerp


def test_walk_rejects_bad_arguments():
    a = torch.zeros(3)
    with pytest.raises(ValueError, match="not one of"):
        explore.walk(a, a, 4, "cubic")
    with pytest.raises(ValueError, match="at least 2"):
        explore.walk(a, a, 1)


def test_truncate_and_coordinates():
    z = torch.tensor([2.0, -4.0])
    assert torch.equal(explore.truncate(z, 0.5), torch.tensor([1.0, -2.0]))
    assert torch.equal(explore.truncate(z, 0.0, mean=torch.ones(2)), torch.ones(2))
    basis = torch.eye(3)[:2]
    z3 = torch.tensor([1.0, 2.0, 3.0])
    moved = explore.with_coordinates(z3, basis, torch.tensor([5.0, 6.0]))
    assert torch.equal(moved, torch.tensor([5.0, 6.0, 3.0]))  # the rest of z is kept
    assert torch.equal(explore.coordinates(moved, basis), torch.tensor([5.0, 6.0]))
    assert torch.allclose(explore.spread_along(torch.tensor([1.0, 2.0, 3.0]), basis), torch.tensor([1.0, 2.0]))


class LinearDecoder:
    """decode(z) = z A^T with A = U diag(s) V^T: the principal directions are V's columns, in order."""

    def __init__(self, s=(5.0, 3.0, 1.0, 0.5)):
        g = torch.Generator().manual_seed(1)
        u, _ = torch.linalg.qr(torch.randn(50, 4, generator=g))
        self.v, _ = torch.linalg.qr(torch.randn(4, 4, generator=g))
        self.a = u @ torch.diag(torch.tensor(s)) @ self.v.T  # (50, 4)

    def prior(self, n, generator=None):
        return torch.randn(n, 4, generator=generator)

    def decode(self, z):
        return z @ self.a.T


def test_principal_directions_recover_a_linear_decoders_singular_vectors():
    dec = LinearDecoder()
    dirs, ratio = explore.principal_directions(dec, k=3, n=2000)
    assert torch.allclose(dirs @ dirs.T, torch.eye(3), atol=1e-5)
    for i in range(3):  # the same axes up to sign, in order of explained variance
        assert abs(float(dirs[i] @ dec.v[:, i])) > 0.99
    assert ratio[0] > ratio[1] > ratio[2]
    assert math.isclose(float(ratio[0]), 25 / (25 + 9 + 1 + 0.25), rel_tol=0.1)


# ----- ui.images ----------------------------------------------------------------------------------
def test_black_ink_on_a_transparent_canvas_becomes_a_white_centred_digit(recwarn):
    from ui.images import to_model_input

    rgba = np.zeros((280, 280, 4), np.uint8)
    rgba[43:121, 31:58, 3] = 255  # a black bar, top left, opaque; the rest transparent
    x, notes = to_model_input(rgba, MNIST)
    assert x.shape == (1, 1, 28, 28)
    assert float(x.max()) > 0.9 and float(x[0, 0, 0, 0]) == -1.0  # white ink, black background
    ys, xs = torch.nonzero(x[0, 0] > 0, as_tuple=True)
    assert abs(ys.float().mean() - 13.5) < 2 and abs(xs.float().mean() - 13.5) < 2  # centred by mass
    assert ys.max() - ys.min() + 1 <= 21  # fitted into the 20-pixel box
    text = " ".join(notes)
    assert "transparent" in text and "inverted" in text and "280x280 -> 28x28" in text


def test_an_mnist_sized_grey_digit_passes_unchanged():
    from ui.images import to_model_input

    digit = load_mnist("test")[0][0]
    x, notes = to_model_input(np.array(digit), MNIST)
    assert notes == []
    assert torch.equal(((x[0, 0] + 1) * 127.5).round().to(torch.uint8), torch.from_numpy(np.array(digit)))


def test_binary_and_colour_models_get_what_they_need():
    from ui.images import to_model_input

    digit = np.array(load_mnist("test")[0][0])
    xb, notes = to_model_input(digit, DataSpec(1, 28, 28, 10, True, "mnist-binary"))
    assert set(xb.unique().tolist()) == {-1.0, 1.0} and any("binarised" in n for n in notes)
    xc, notes = to_model_input(digit, DataSpec(3, 32, 32, 10, False, "cifar10"))
    assert xc.shape == (1, 3, 32, 32) and any("grey converted to colour" in n for n in notes)


def test_non_images_and_absurd_sizes_are_refused(tmp_path):
    from ui.images import ImageInputError, to_model_input

    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    with pytest.raises(ImageInputError, match="not an image"):
        to_model_input(str(text), MNIST)
    huge = tmp_path / "huge.png"
    Image.new("L", (5000, 8)).save(huge)
    with pytest.raises(ImageInputError, match="5000x8 pixels; the limit is 4096"):
        to_model_input(str(huge), MNIST)
    with pytest.raises(ImageInputError, match="no drawing given"):
        to_model_input(None, MNIST, "drawing")


# ----- ui.catalog ---------------------------------------------------------------------------------
def test_catalogue_lists_checkpoints_and_runs_and_names_what_is_wrong(ctx):
    from genlab.errors import GenlabError

    keys = [e.key for e in ctx.catalog.entries()]
    assert keys == ["aae-mnist", "dcgan-mnist", "infogan-mnist", "nade-mnist", "pixelcnn-mnist", STANDIN,
                    "vae-mnist", "vae2d-mnist", "run:broken"]
    assert [k for _, k in ctx.catalog.choices("latent")] == LATENT
    assert [k for _, k in ctx.catalog.choices("encode")] == ["aae-mnist", "vae-mnist", "vae2d-mnist"]
    assert [k for _, k in ctx.catalog.choices("complete")] == ["nade-mnist", "pixelcnn-mnist"]
    assert "run:broken" not in [k for _, k in ctx.catalog.choices()]
    with pytest.raises(GenlabError, match="no checkpoint named 'nope'; available: aae-mnist"):
        ctx.catalog.model("nope")
    with pytest.raises(GenlabError, match="nade model, which has no 'latent' capability; "
                                          "models that have it: " + ", ".join(LATENT)):
        ctx.catalog.model("nade-mnist", need="latent")
    with pytest.raises(GenlabError, match=r"broken/latest.pt is not a (readable|genlab) checkpoint"):
        ctx.catalog.model("run:broken")
    assert ctx.catalog.model("dcgan-mnist") is ctx.catalog.model("dcgan-mnist")  # cached


def test_picker_labels_name_the_family_only_where_the_name_does_not(tmp_path):
    from genlab.models.dcgan import DCGAN, DCGANConfig
    from ui.catalog import Catalog
    from ui_fixtures import write_checkpoint

    torch.manual_seed(0)
    write_checkpoint(DCGAN(DCGANConfig(latent_dim=4, width=4), MNIST), tmp_path / "ck" / "dcgan-mnist.pt", step=12000)
    write_checkpoint(DCGAN(DCGANConfig(latent_dim=4, width=4), MNIST), tmp_path / "runs" / "mine" / "latest.pt", step=7)
    labels = dict((k, label) for label, k in Catalog(tmp_path / "ck", tmp_path / "runs").choices())
    assert labels == {"dcgan-mnist": "dcgan-mnist · 12,000 steps", "run:mine": "run:mine (your run) · dcgan · 7 steps"}


def test_walking_a_catalogue_larger_than_sixteen_loads_each_file_once(tmp_path):
    """`loadable()` walks every entry in order (pickers, the Models tab, error messages); with the
    model cache smaller than the catalogue every walk reloaded every file (24 shipped files and a
    16-model cache: 336 loads to build the app)."""
    from genlab.models.dcgan import DCGAN, DCGANConfig
    from ui import catalog as cat
    from ui_fixtures import write_checkpoint

    torch.manual_seed(0)
    for i in range(24):
        write_checkpoint(DCGAN(DCGANConfig(latent_dim=4, width=4), MNIST), tmp_path / "ck" / f"m{i:02d}.pt")
    c = cat.Catalog(tmp_path / "ck", tmp_path / "runs")
    before = cat._load_cached.cache_info().misses
    assert len(c.loadable()) == 24
    assert cat._load_cached.cache_info().misses - before == 24
    c.loadable(), c.choices("sample"), c.model("m00")
    assert cat._load_cached.cache_info().misses - before == 24  # the second walk loads nothing


def test_a_rewritten_checkpoint_is_reloaded(tmp_path):
    from genlab.models.dcgan import DCGAN, DCGANConfig
    from ui.catalog import Catalog
    from ui_fixtures import write_checkpoint

    cat = Catalog(tmp_path / "none", tmp_path)
    torch.manual_seed(0)
    write_checkpoint(DCGAN(DCGANConfig(latent_dim=4, width=4), MNIST), tmp_path / "r" / "latest.pt", step=1)
    first = cat.model("run:r")
    write_checkpoint(DCGAN(DCGANConfig(latent_dim=4, width=4), MNIST), tmp_path / "r" / "latest.pt", step=2)
    os.utime(tmp_path / "r" / "latest.pt", ns=(1, 10 ** 18))  # a different mtime even on coarse clocks
    second = cat.model("run:r")
    assert second is not first and second.checkpoint["step"] == 2


def test_user_errors_become_messages_in_the_page():
    from genlab.errors import GenlabError
    from ui.common import user_errors

    @user_errors
    def bad():
        raise GenlabError("the model has no latent space")

    @user_errors
    def bad_stream():
        yield 1
        raise ValueError("frame 2 failed")

    with pytest.raises(gr.Error, match="no latent space"):
        bad()
    it = bad_stream()
    assert next(it) == 1
    with pytest.raises(gr.Error, match="frame 2 failed"):
        next(it)


def test_no_ui_code_names_a_family_a_data_set_or_an_image_size():
    """Tabs learn everything from the model (capabilities, declared controls, data spec)."""
    import ast
    import io
    import tokenize
    from pathlib import Path

    from genlab.data import DATASET_NAMES
    from genlab.registry import list_families

    names = set(list_families()) | {n for n in DATASET_NAMES if ":" not in n}
    for path in sorted((Path(__file__).resolve().parent.parent / "ui").rglob("*.py")):
        source = path.read_text()
        lines = source.splitlines()
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type not in (tokenize.STRING, tokenize.NUMBER):
                continue
            where = f"{path.name}:{tok.start[0]}: {lines[tok.start[0] - 1].strip()}"
            if tok.type == tokenize.STRING:
                try:
                    value = ast.literal_eval(tok.string)
                except (ValueError, SyntaxError):  # f-strings
                    continue
                assert value not in names, f"names a family or data set: {where}"
            # MNIST_BOX (a 20 px box in a 28 px frame) is a proportion that scales with the model's size
            if tok.type == tokenize.NUMBER and tok.string == "28" and "MNIST_BOX =" not in where:
                raise AssertionError(f"assumes a 28-pixel image: {where}")
        assert "inspect.signature" not in source, f"{path.name} reads signatures instead of declarations"


# ----- declared controls (ui.controls) ----------------------------------------------------------
@pytest.mark.parametrize("key, use, expected", [
    ("dcgan-mnist", "sample", {"truncation": 1.0}),
    ("dcgan-mnist", "decode", {}),  # truncation scales the prior draw: nothing to do with a chosen z
    ("infogan-mnist", "decode", {"digit_code": "random", "code_1": 0.0, "code_2": 0.0}),
    ("vae-mnist", "decode", {"pixels": "mode"}),  # binary data: the most probable image
    ("aae-mnist", "sample", {"pixels": "mean", "component": "random"}),
    ("nade-mnist", "steps", {"temperature": 1.0, "every": 7}),
    ("pixelcnn-mnist", "complete", {"temperature": 1.0}),
    (STANDIN, "sample", {n: 0.0 for n in ("width", "height", "depth", "azimuth", "elevation", "radius")}),
])
def test_each_tab_shows_the_controls_declared_for_its_use(ctx, key, use, expected):
    from ui.controls import default_values

    assert default_values(ctx.catalog.model(key), use) == expected


def test_control_values_are_checked_with_one_clear_message(ctx):
    from ui.controls import OWNER, control_values

    nade = ctx.catalog.model("nade-mnist")
    assert control_values(nade, "steps", {"every": 3.0}) == {"every": 3}  # integer slider
    assert control_values(nade, "steps", None) == {}  # left out: the model's own defaults apply
    assert control_values(nade, "steps", '{"temperature": 0.5}')["temperature"] == 0.5  # JSON text too
    # the page stamps the dict with the model its values were set for; the call never sees the stamp
    assert control_values(nade, "steps", {OWNER: "nade-mnist", "every": 28}) == {"every": 28}
    with pytest.raises(ValueError, match=r"temperature must lie in \[0.05, 2.0\], got 7"):
        control_values(nade, "steps", {"temperature": 7})
    with pytest.raises(ValueError, match="nade has no sample control every; it takes temperature"):
        control_values(nade, "sample", {"every": 3})
    with pytest.raises(ValueError, match=r'controls must be a JSON object of name -> value, e\.g\. '
                                         r'\{"temperature": 1\.0, "every": 7\}; got \[1, 2\]'):
        control_values(nade, "steps", [1, 2])
    infogan = ctx.catalog.model("infogan-mnist")
    assert control_values(infogan, "decode", {"digit_code": "3"})["digit_code"] == 3  # a choice's text
    with pytest.raises(ValueError, match="digit_code must be one of random, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, got '12'"):
        control_values(infogan, "decode", {"digit_code": "12"})


def box(widget) -> str | None:
    """The title of the group box a widget sits in (None: in no box)."""
    while widget is not None and not isinstance(widget, gr.Accordion):
        widget = widget.parent
    return None if widget is None else widget.label


def test_widgets_are_built_for_every_control_laid_out_by_group(ctx):
    from ui.controls import control_widgets

    with gr.Blocks():
        six = control_widgets(ctx.catalog.model(STANDIN).controls_for("sample"), "t")
        with gr.Blocks():
            codes = control_widgets(ctx.catalog.model("infogan-mnist").controls_for("sample"), "u")
    assert [type(w).__name__ for w in six] == ["Slider"] * 6  # no bank: all six show
    assert [w.label for w in six] == ["width", "height", "depth", "azimuth", "elevation", "radius"]
    assert [box(w) for w in six] == ["shape code"] * 3 + ["camera"] * 3  # a titled box per group
    assert [type(w).__name__ for w in codes] == ["Slider", "Dropdown", "Slider", "Slider"]
    assert [box(w) for w in codes] == [None, "codes", "codes", "codes"]  # truncation is in no group
    assert [v for _, v in codes[1].choices] == ["random", *map(str, range(10))] and codes[2].step == 0.04
    assert codes[1].choices[4][0].startswith("3 → draws ")  # the model's label; the value stays the code


# ----- tab handlers -------------------------------------------------------------------------------
def test_sample_counts_seeds_and_knobs(ctx):
    from ui.tabs import sample

    sheet, text = sample.sample(ctx, "dcgan-mnist", 5, 6, {"truncation": 1.0})
    assert Image.open(sheet).size == (2 * (6 * 30 + 2), 2 * (1 * 30 + 2))  # one row of 6 cells of 28+2 px, x2
    gallery = sheet_tiles(sheet, 6)
    assert len(gallery) == 6 and gallery[0].shape == (56, 56) and gallery[0].std() > 0
    again = sheet_tiles(sample.sample(ctx, "dcgan-mnist", 5, 6)[0], 6)  # controls left out: their defaults
    other = sheet_tiles(sample.sample(ctx, "dcgan-mnist", 6, 6)[0], 6)
    truncated = sheet_tiles(sample.sample(ctx, "dcgan-mnist", 5, 6, {"truncation": 0.2})[0], 6)
    assert all(np.array_equal(a, b) for a, b in zip(gallery, again))
    assert not np.array_equal(gallery[0], other[0])
    assert not np.array_equal(gallery[0], truncated[0])
    assert Image.open(sample.sample(ctx, "dcgan-mnist", 5, 64)[0]).size == (2 * (8 * 30 + 2),) * 2  # 8 a row
    assert "6 samples" in text and "truncation=1.0" in text
    with pytest.raises(gr.Error, match="count must be between 1 and 64, got 0"):
        sample.sample(ctx, "dcgan-mnist", 0, 0)
    for bad in (2**70, -1, 1.5):  # one seed rule for the app and the CLI, named in the message
        with pytest.raises(gr.Error, match=r"seed must be an integer in \[0, 2\*\*63 - 1\]"):
            sample.sample(ctx, "dcgan-mnist", bad, 2)
    with pytest.raises(gr.Error, match="dcgan has no sample control digit_code; it takes truncation"):
        sample.sample(ctx, "dcgan-mnist", 0, 2, {"digit_code": 3})
    _, text = sample.sample(ctx, "infogan-mnist", 0, 4, {"digit_code": "3", "code_1": 1.5})
    assert "digit_code=3" in text and "code_1=1.5" in text


def test_six_sliders_all_reach_the_model(ctx):
    from ui.tabs import sample

    values, about = sample.on_model(ctx, STANDIN)
    assert len(values) == 6 and "uitest_sliders" in about
    flat = sheet_tiles(sample.sample(ctx, STANDIN, 0, 1, values)[0], 1)
    moved, text = sample.sample(ctx, STANDIN, 0, 1, {**values, "radius": 1.0})  # the sixth
    moved = sheet_tiles(moved, 1)
    diff = np.abs(moved[0].astype(int) - flat[0].astype(int)).max(axis=1)  # per row of 56
    assert diff[:48].max() == 0 and diff[48:].min() > 100  # only the last band (rows 24-27 of 28) changed
    assert "radius=1.0" in text


def test_latent_preview_moves_only_with_the_sliders(ctx):
    from ui.tabs import latent

    out = latent.setup(ctx, "dcgan-mnist", 3, latent.BASES[0])
    state, sliders, controls = out[0], out[1:1 + latent.N_AXES], out[1 + latent.N_AXES]
    coords = [s["value"] for s in sliders]
    z = torch.tensor(state["z"])
    assert coords == [round(float(v), 3) for v in z[:8]] and controls == {}
    model = ctx.catalog.model("dcgan-mnist")
    with torch.inference_mode():
        expected = ((model.decode(z[None]).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)[0, 0].numpy()
    same = pic(latent.preview(ctx, "dcgan-mnist", 3, latent.BASES[0], state, *z[:8].tolist(), {}))
    assert np.array_equal(same, expected)
    moved = pic(latent.preview(ctx, "dcgan-mnist", 3, latent.BASES[0], state, *(z[:8] + 2).tolist()))
    assert np.abs(moved.astype(int) - same.astype(int)).max() > 0
    full, info = latent.render(ctx, "dcgan-mnist", 3, latent.BASES[0], state, *z[:8].tolist(), {})
    assert pic(full).shape == (280, 280) and "seed 3" in info and "|z|" in info
    with pytest.raises(gr.Error, match="dcgan has no decode control truncation; it takes none"):
        latent.preview(ctx, "dcgan-mnist", 3, latent.BASES[0], state, *z[:8].tolist(), {"truncation": 0.5})


def test_latent_decode_controls_change_the_image(ctx):
    from ui.tabs import latent

    out = latent.setup(ctx, "infogan-mnist", 0, latent.BASES[0])
    state, controls = out[0], out[1 + latent.N_AXES]
    axes = [s["value"] for s in out[1:1 + latent.N_AXES]]
    assert controls == {"digit_code": "random", "code_1": 0.0, "code_2": 0.0}
    pics = [latent.preview(ctx, "infogan-mnist", 0, latent.BASES[0], state, *axes, {**controls, "digit_code": d})
            for d in ("1", "8")]
    assert not np.array_equal(*pics)
    reseeded = latent.reseed(ctx, "infogan-mnist", 1, latent.BASES[0], {**controls, "digit_code": "8"})
    assert len(reseeded) == 1 + latent.N_AXES + 3  # a new z; the controls keep the user's values
    assert reseeded[0]["source"] == "seed 1"
    vae = latent.setup(ctx, "vae-mnist", 0, latent.BASES[0])
    axes = [s["value"] for s in vae[1:1 + latent.N_AXES]]
    mean = latent.preview(ctx, "vae-mnist", 0, latent.BASES[0], vae[0], *axes, {"pixels": "mean"})
    drawn = latent.preview(ctx, "vae-mnist", 0, latent.BASES[0], vae[0], *axes, {"pixels": "sample"})
    assert not np.array_equal(mean, drawn)


def test_principal_directions_basis_keeps_z(ctx):
    from ui.tabs import latent

    state = latent.setup(ctx, "dcgan-mnist", 3, latent.BASES[0])[0]
    out = latent.change_basis(ctx, "dcgan-mnist", 3, latent.BASES[1], state, *state["z"][:8], {})
    assert out[0]["basis"] == latent.BASES[1] and out[0]["z"] == pytest.approx(state["z"], abs=1e-5)
    assert "of image variance" in out[1]["label"]


def test_encode_starts_the_sliders_at_the_posterior_mean(ctx):
    from ui.images import to_model_input
    from ui.tabs import latent

    pad = digit_pad(3)
    out = latent.encode(ctx, "vae2d-mnist", latent.BASES[0], pad, {}, {"pixels": "mean"})
    state, sliders = out[0], out[1:1 + latent.N_AXES]
    model = ctx.catalog.model("vae2d-mnist")
    x, _ = to_model_input(pad, model.data_spec)
    mean, std = model.encode(x)
    assert [s["value"] for s in sliders[:2]] == [round(float(v), 3) for v in mean[0]]
    assert "±" in sliders[0]["label"] and f"{float(std[0, 0]):.2f}" in sliders[0]["label"]
    assert [s["visible"] for s in sliders] == [True] * 2 + [False] * 6  # a 2-d latent: 2 sliders
    assert "encoded drawing" in out[-2]
    with pytest.raises(gr.Error, match="no 'encode' capability"):
        latent.encode(ctx, "dcgan-mnist", latent.BASES[0], pad, {})


def test_interpolation_strip_gif_and_every_family(ctx):
    from ui.tabs import interpolate

    strip, gif, caption = interpolate.interpolate(ctx, "dcgan-mnist", "two seeds", 0, 1, None, None, "slerp", 5)
    lerp, _, _ = interpolate.interpolate(ctx, "dcgan-mnist", "two seeds", 0, 1, None, None, "lerp", 5)
    assert pic(strip).shape == (3 * (28 + 4), 3 * (5 * 30 + 2))  # 5 cells of 28 + 2 px padding, upscaled x3
    assert not np.array_equal(pic(strip), pic(lerp))
    assert Image.open(gif).n_frames == 5 + 3  # bounce: forward, then back without repeating the ends
    both = interpolate.interpolate_all(ctx, "two seeds", 0, 1, None, None, "slerp", 4)
    assert [c for _, c in both] == ["aae-mnist (aae)", "dcgan-mnist (dcgan)", "infogan-mnist (infogan)",
                                    "vae-mnist (vae)", "vae2d-mnist (vae)"]
    drawn = interpolate.interpolate_all(ctx, "two drawings", 0, 1, digit_pad(0), digit_pad(1), "lerp", 4)
    assert [c for _, c in drawn] == ["aae-mnist (aae)", "vae-mnist (vae)", "vae2d-mnist (vae)"]  # encoders only
    with pytest.raises(gr.Error, match="cannot encode images"):
        interpolate.interpolate(ctx, "dcgan-mnist", "two drawings", 0, 1, digit_pad(0), digit_pad(1), "lerp", 4)


def test_steps_stream_and_scrub(ctx):
    from ui.tabs import steps

    assert steps.on_model(ctx, "pixelcnn-mnist") == {"temperature": 1.0, "every": 7}
    frames = list(steps.run(ctx, "pixelcnn-mnist", 0, 2, {"every": 28}))  # a frame per row
    *stream, last = frames
    assert len(stream) >= 2  # ~1 s of work, streamed at up to 10 frames a second
    assert stream[0][0] is None and stream[0][2]["frames"] == []  # first: the last run's frames forgotten
    shown = [pic(f[0]) for f in stream[1:]]
    assert len({p.tobytes() for p in shown}) == len(shown)  # every streamed frame is new
    kept = last[2]
    assert kept["key"] == "pixelcnn-mnist" and len(kept["frames"]) == 29 and "done: 29 steps" in last[1]
    model = ctx.catalog.model("pixelcnn-mnist")
    final = model.sample(2, generator=torch.Generator().manual_seed(0))
    assert np.array_equal(pic(last[0]), steps._picture(final))  # the last frame is the sample
    assert np.array_equal(pic(steps.scrub(ctx, kept, 0)), kept["frames"][0])
    with pytest.raises(gr.Error, match="frame must be between 0 and 28"):
        steps.scrub(ctx, kept, 99)
    *_, coarse = steps.run(ctx, "nade-mnist", 0, 1, {"every": 392})  # the declared `every` reaches the model
    assert "done: 3 steps" in coarse[1]
    with pytest.raises(gr.Error, match=r"every must lie in \[1, 784\], got 0"):
        next(steps.run(ctx, "nade-mnist", 0, 1, {"every": 0}))


def test_likelihood_table_heatmaps_and_completion(ctx, monkeypatch):
    import ui.common
    from ui.images import to_model_input
    from ui.tabs import likelihood

    toasts = []
    monkeypatch.setattr(ui.common.gr, "Info", toasts.append)
    pad = digit_pad(0)
    rows, maps, seen = likelihood.score(ctx, ["pixelcnn-mnist", "vae-mnist", "nade-mnist", "vae2d-mnist"], pad)
    # one toast for the action, however many models converted the drawing (there were four)
    assert toasts == ["drawing: reduced 280x280 -> 28x28 (exact 10x); binarised at mid-grey "
                      "(the model was trained on binary digits)"]
    by_model = {r[0]: r for r in rows}
    model = ctx.catalog.model("pixelcnn-mnist")
    x, _ = to_model_input(pad, model.data_spec)
    nats = -float(model.log_prob(x)[0])
    assert by_model["pixelcnn-mnist"][2] == pytest.approx(nats, abs=0.01)
    assert by_model["pixelcnn-mnist"][3] == pytest.approx(nats / (784 * math.log(2)), abs=1e-4)
    assert by_model["pixelcnn-mnist"][4] == "exact" and by_model["vae-mnist"][4] == "bound (NLL ≤ shown), seeded estimate"
    again, _, _ = likelihood.score(ctx, ["vae-mnist"], pad)
    assert again[0][2] == by_model["vae-mnist"][2]  # the IWAE estimate is seeded: the same digit, the same score
    assert sorted(c.split(":")[0] for _, c in maps) == ["nade-mnist", "pixelcnn-mnist"]  # the AR models' per-pixel costs
    rows_kept, controls = likelihood.on_complete_model(ctx, "pixelcnn-mnist")
    assert (rows_kept["maximum"], rows_kept["value"]) == (28, 14) and controls == {"temperature": 1.0}
    done, caption = likelihood.complete(ctx, "pixelcnn-mnist", pad, 14, 3, 0, controls)
    done = pic(done)
    assert done.shape == (3 * 32, 3 * (4 * 30 + 2))  # the given digit, then 3 completions, x3
    top = slice(3 * 2, 3 * (2 + 14))  # the 14 given rows of each cell
    given = done[top, 3 * 2:3 * 30]
    for k in (1, 2, 3):
        assert np.array_equal(done[top, 3 * (2 + 30 * k):3 * (30 + 30 * k)], given)
    assert done[3 * 17:3 * 30, 3 * 2:3 * 30].max() == 0  # below the given rows: blacked out in the first cell
    assert "3 completions" in caption
    cold, _ = likelihood.complete(ctx, "pixelcnn-mnist", pad, 14, 3, 0, {"temperature": 0.3})
    assert not np.array_equal(pic(cold), done)
    with pytest.raises(gr.Error, match="no 'complete' capability; models that have it: nade-mnist, pixelcnn-mnist"):
        likelihood.complete(ctx, "vae-mnist", pad, 14, 3, 0)
    with pytest.raises(gr.Error, match=r"rows kept must be between 0 and 28 \(the model's height\), got 29"):
        likelihood.complete(ctx, "nade-mnist", pad, 29, 3, 0)


def test_test_images_come_from_the_chosen_models_data(ctx):
    from ui.tabs import likelihood

    pad, which = likelihood.load_test_image(ctx, 3, ["vae-mnist"], None)
    data = genlab.load("vae-mnist").data_spec.name  # mnist-dynbin: its test split is the fixed binarised draw
    assert which == f"{data} test image #3: a **7**" and pic(pad["composite"]).shape[:2] == (280, 280)
    assert set(np.unique(pic(pad["composite"]))) <= {0, 255}  # binarised, as that model's data is
    pad, which = likelihood.load_test_image(ctx, 3, [], "nade-mnist")  # none scored: the completing model's
    assert which.startswith(f"{genlab.load('nade-mnist').data_spec.name} test image #3")  # mnist-dynbin's test
    assert set(np.unique(pic(pad["composite"]))) <= {0, 255}  # split is the fixed binarised draw
    with pytest.raises(gr.Error, match="test image index must be between 0 and 999, got 5000"):
        likelihood.load_test_image(ctx, 5000, ["vae-mnist"], None)
    with pytest.raises(gr.Error, match="pick a model first"):
        likelihood.load_test_image(ctx, 0, [], None)
    padded, _ = likelihood.test_image(DataSpec(1, 32, 32, 10, False, "mnist", pad=2), 0)  # as that model saw it
    assert padded["composite"].shape == (256, 256, 3) and padded["composite"][:16].max() == 0  # 8x, black border
    from genlab.errors import GenlabError

    with pytest.raises(GenlabError, match="no test images of 'no-such-data' are available here"):
        likelihood.test_image(DataSpec(3, 32, 32, 10, False, "no-such-data"), 0)


def test_model_cards_show_metrics_and_broken_files(ctx):
    from ui.tabs import models

    html = models.cards(ctx)
    assert html.count("class='genlab-card'") == 8 and html.count("genlab-card broken") == 1
    assert "<th>FID</th><td>123.4</td>" in html and "cannot be loaded" in html  # a run: its stored figures
    assert "model card: docs/models/dcgan.md" in html
    from genlab.results import read_rows

    fid = float(read_rows()["dcgan-mnist"]["fid"])  # the page reads results.csv for its shipped cards
    assert f"<th>FID</th><td>{fid:.4g}</td>" in html.split("data-key='dcgan-mnist'")[1].split("data-key=")[0]


def test_every_view_shows_the_figures_of_results_csv_for_every_shipped_checkpoint(capsys):
    """One source: for each shipped checkpoint whose results.csv row scored that very file, the
    Models tab's card and `genlab list` show the row's FID and NLL (what RESULTS.md and the README
    show), with the row's n; none shows the figures stored at release instead."""
    from genlab.cli import main as cli
    from genlab.manifest import sha256_of
    from genlab.registry import load
    from genlab.results import figures_of, read_rows
    from ui.catalog import Entry
    from ui.tabs import models

    rows = read_rows()
    cli(["list"])
    listed = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.startswith("  ")}
    checked = 0
    for name, path in shipped_checkpoints().items():
        row = rows.get(name)
        if row is None or row["sha256"] != sha256_of(path):
            continue
        figures, checked = figures_of(row), checked + 1
        html = models.card(Entry(name, path, True), load(path), row=row)
        for key, label in (("fid", "FID"), ("nll_nats", "NLL (nats)")):
            if key in figures:
                assert f"<th>{label}</th><td>{figures[key]:.4g}</td>" in html, (name, key)
                assert f"{key} {figures[key]:.4g}" in listed[name], (name, key)
        assert f"n = {row['n']}" in html, name
        # every shipped file links to its family's model card, pixelrnn.md for both PixelRNNs
        want = "pixelrnn" if name.startswith(("row_lstm", "diagonal_bilstm")) else None
        link = re.search(r"href='/card/(\w+)'", html)
        assert link and (want is None or link.group(1) == want), (name, link and link.group(1))
    assert checked >= 10, "results.csv scores too few of the shipped files"


def test_train_tab_defaults_come_from_the_catalogue(ctx):
    from genlab.registry import list_families
    from ui.catalog import Catalog
    from ui.common import AppContext
    from ui.tabs import train

    assert train.default_family(ctx) == "aae"  # the first shipped checkpoint's family
    assert train.default_data("nade") == "mnist-binary" and train.default_data("aae") == "mnist"
    # Families that train on derived or rendered data are offered it (alias-free needs 32 px digits).
    assert train.default_data("alias_free") == "mnist-pad32" and train.default_data("alias_free_baseline") == "mnist-pad32"
    assert train.default_data("graf") == "shapes3d" and train.default_data("cyclegan") == "mnist-styles2"
    assert train.default_data("stargan") == "mnist-styles8"
    empty = AppContext(Catalog(ctx.scratch / "none", ctx.scratch / "none"))
    assert train.default_family(empty) == list_families()[0]


# ----- every shipped checkpoint works in every tab its capabilities open ------------------------
SHIPPED = sorted(shipped_checkpoints())


@pytest.mark.parametrize("name", SHIPPED or [pytest.param("none", marks=pytest.mark.skip("no shipped checkpoints yet"))])
def test_every_shipped_checkpoint_in_its_tabs(name, one_torch_thread, request):
    from ui.catalog import Catalog
    from ui.common import AppContext
    from ui.tabs import interpolate, latent, likelihood, sample, steps

    c = AppContext(Catalog())
    request.addfinalizer(c.close)
    model = c.catalog.model(name)

    def shown(picture, drawn: bool = True):  # a colour model's pictures are RGB, and in colour once drawn
        picture = pic(picture)
        if model.data_spec.channels == 3:
            assert picture.ndim == 3 and picture.shape[-1] >= 3, picture.shape
            if drawn:
                assert not np.array_equal(picture[..., 0], picture[..., 1]), "a colour model shown in grey"
        return picture

    if "sample" in model.capabilities:
        sheet, text = sample.sample(c, name, 0, 1)
        h, w = model.data_spec.height, model.data_spec.width
        assert "1 sample from" in text and shown(sheet).shape[:2] == (2 * h, 2 * w)  # one sample at 2x
    else:
        with pytest.raises(gr.Error, match="no 'sample' capability"):
            sample.sample(c, name, 0, 1)
    pad = likelihood.test_image(model.data_spec, 7)[0]
    if "latent" in model.capabilities:
        out = latent.setup(c, name, 0, latent.BASES[0])
        a = pic(latent.preview(c, name, 0, latent.BASES[0], out[0], *[0.0] * 8, out[1 + latent.N_AXES]))
        b = pic(latent.preview(c, name, 0, latent.BASES[0], out[0], *[2.0] * 8))
        assert not np.array_equal(a, b), "moving every slider must change the image"
        shown(a)
        strip, _, _ = interpolate.interpolate(c, name, "two seeds", 0, 1, None, None, "slerp", 3)
        assert shown(strip).ndim >= 2
    if "encode" in model.capabilities:
        assert latent.encode(c, name, latent.BASES[0], pad, {})[0]["std"] is not None
    if "log_prob" in model.capabilities:
        rows, maps, _ = likelihood.score(c, [name], pad)
        assert math.isfinite(rows[0][2])
        assert len(maps) == ("pixel_log_prob" in model.capabilities)
    if "complete" in model.capabilities:
        done, _ = likelihood.complete(c, name, pad, model.data_spec.height - 2, 1, 0)
        assert pic(done).ndim >= 2  # (its colours are mostly the pad's: not a colour check)
    if "sample_steps" in model.capabilities:
        run = steps.run(c, name, 0, 1)
        next(run)  # the start: frames forgotten
        first = next(run)
        run.close()
        assert shown(first[0], drawn=False).ndim >= 2  # an autoregressive model's first frame is the empty canvas
        assert model.steps_caption and first[1].endswith(model.steps_caption)  # every frame says what it shows


def test_a_test_digit_on_the_canvas_reaches_the_model_exactly():
    from ui.images import to_model_input

    digit = np.array(load_mnist("test")[0][5])
    x, notes = to_model_input(digit_pad(5), MNIST)
    assert torch.equal(((x[0, 0] + 1) * 127.5).round().to(torch.uint8), torch.from_numpy(digit))
    assert notes == ["reduced 280x280 -> 28x28 (exact 10x)"]


# ----- issues 16 and 17: the app under load, first-hour fixes -------------------------------------
def test_identical_pictures_are_written_once_and_never_partially(ctx, monkeypatch):
    """Concurrent sessions asking for the same picture share one file: it must be written under a
    temporary name and renamed into place, and never rewritten once it exists (a rewrite in place
    truncated images other sessions were downloading). Handlers hand Gradio such files, not arrays
    (Gradio writes arrays into its cache by rewriting a content-named file in place)."""
    import threading

    picture = (np.arange(64 * 64) % 251).astype(np.uint8).reshape(64, 64)
    written = []
    save = Image.Image.save
    monkeypatch.setattr(Image.Image, "save", lambda im, fp, *a, **k: (written.append(str(fp)), save(im, fp, *a, **k))[1])
    path = ctx.save_png(picture, "same")
    assert written and all(w != path for w in written)  # never written under its own name
    st = os.stat(path)
    assert ctx.save_png(picture, "same") == path
    assert os.stat(path).st_mtime_ns == st.st_mtime_ns and os.stat(path).st_ino == st.st_ino  # not rewritten
    monkeypatch.setattr(Image.Image, "save", save)

    fresh = (np.arange(96 * 96) % 241).astype(np.uint8).reshape(96, 96)
    expected = None
    bad, paths = [], []

    def writer():
        paths.append(ctx.save_png(fresh, "race"))

    def reader(p):
        for _ in range(50):
            try:
                data = np.asarray(Image.open(p))
            except FileNotFoundError:
                continue
            except Exception as e:  # noqa: BLE001 - a truncated PNG
                bad.append(repr(e))
                continue
            if not np.array_equal(data, fresh):
                bad.append("different pixels")

    import hashlib
    target = ctx.scratch / f"race-{hashlib.sha1(fresh.tobytes() + str(fresh.shape).encode()).hexdigest()[:16]}.png"
    threads = [threading.Thread(target=writer) for _ in range(8)] + [threading.Thread(target=reader, args=(target,))
                                                                      for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(paths) == {str(target)} and not bad, bad[:3]
    assert not list(ctx.scratch.glob(".*.tmp*"))  # no temp file left behind
    del expected

    from ui.tabs import latent, sample
    sheet, _ = sample.sample(ctx, "dcgan-mnist", 0, 2)
    assert isinstance(sheet, str) and os.path.isfile(sheet)  # the samples' sheet: a file, not an array
    out = latent.setup(ctx, "dcgan-mnist", 0, latent.BASES[0])
    assert isinstance(out[2 + latent.N_AXES], str)  # the decoded image: a file, not an array


def test_sample_tab_opens_on_the_best_looking_model(ctx, tmp_path):
    """The model with the best stored figures (lowest FID in its checkpoint), not a fixed name."""
    from ui.catalog import Catalog
    from ui.common import AppContext
    from ui.tabs import sample
    from ui_fixtures import SliderBoard, SliderBoardConfig, write_checkpoint

    fids = {e.key: (m.checkpoint.get("metrics") or {}).get("fid") for e, m in ctx.catalog.loadable()}
    best = min((v, k) for k, v in fids.items() if v is not None)[1]
    assert sample.best_model(ctx) == best
    (tmp_path / "ck").mkdir()
    for fid, name in ((50.0, "b"), (20.0, "a"), (None, "c")):
        write_checkpoint(SliderBoard(SliderBoardConfig(), MNIST), tmp_path / "ck" / f"{name}.pt",
                         metrics={} if fid is None else {"fid": fid})
    other = AppContext(Catalog(tmp_path / "ck", tmp_path / "runs"))
    try:
        assert sample.best_model(other) == "a"
    finally:
        other.close()


def test_infogan_samples_equal_the_clis_for_the_same_seed(ctx, tmp_path):
    """One meaning of "sample with seed s": controls the page did not touch are not sent, so the
    app draws InfoGAN's continuous codes as `genlab sample infogan-mnist --seed 0` does."""
    import subprocess
    import sys

    from ui.tabs import sample

    out = tmp_path / "cli.npz"
    r = subprocess.run([sys.executable, "-m", "genlab", "sample", "infogan-mnist", "--seed", "0", "--n", "8",
                        "--out", str(out)], capture_output=True, text=True,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    cli = np.load(out)["images"].reshape(8, 28, 28)
    app = np.stack([p[::2, ::2] for p in sheet_tiles(sample.sample(ctx, "infogan-mnist", 0, 8, {})[0], 8)])
    assert np.array_equal(app, cli)
    fixed = np.stack([p[::2, ::2] for p in sheet_tiles(sample.sample(ctx, "infogan-mnist", 0, 8, sample.on_model(
        ctx, "infogan-mnist")[0])[0], 8)])
    assert not np.array_equal(fixed, cli)  # all defaults sent explicitly = codes fixed at 0: not the CLI's


def test_step_by_step_frames_belong_to_their_run_and_stop_says_stopped(ctx):
    from ui.tabs import steps

    run = steps.run(ctx, "pixelcnn-mnist", 0, 1, {"every": 7})
    first = next(run)
    assert first[0] is None and first[2]["frames"] == [] and first[3]["visible"] is False  # old frames gone
    seen = [next(run) for _ in range(3)]
    run.close()  # what Stop does to the generator
    kept = seen[-1][2]
    assert kept["key"] == "pixelcnn-mnist" and 1 <= len(kept["frames"]) <= 112
    status, scrubber = steps.stopped(kept)
    assert status.startswith(f"stopped after {len(kept['frames'])} kept frames of **pixelcnn-mnist**")
    assert scrubber["visible"] is True and scrubber["maximum"] == max(len(kept["frames"]) - 1, 1)
    assert steps.stopped({"key": None, "frames": []})[0] == "stopped before the first step"
    finished = steps._run("pixelcnn-mnist", 0, kept["frames"], finished=True)
    assert steps.stopped(finished) == (gr.update(), gr.update())  # Stop after the end: "done: ..." stays
    frames, scrub, image, text = steps.forget("nade-mnist")  # another model: nothing of the old one stays
    assert frames["frames"] == [] and scrub["visible"] is False and image is None
    with pytest.raises(gr.Error, match="nothing to scrub yet"):
        steps.scrub(ctx, frames, 0)


def test_train_queue_says_another_training_runs_and_the_place(ctx):
    from ui.tabs import train

    ctx.train_queue = train.TrainQueue()
    other = object()
    ctx.train_queue.join(other, "dcgan on mnist")
    assert ctx.train_queue.try_start(other)  # another session's training holds the app's one slot
    job: dict = {}
    gen = train.start(ctx, "dcgan", "mnist", 100, 8, job)
    status = next(gen)[3]
    assert "another training is running (dcgan on mnist" in status and "number 1 in the queue" in status
    job["stop"].set()  # Stop while waiting: cancelled, nothing trained
    assert "cancelled while waiting" in next(gen)[3]
    with pytest.raises(StopIteration):
        next(gen)
    assert ctx.train_queue.waiting == []
    ctx.train_queue.leave(other)


def test_train_intervals_scale_with_the_budget():
    from ui.tabs import train

    for total in (10, 300, 2000, 5000, 20000):
        iv = train.intervals(total)
        assert 1 <= iv["log_every"] <= max(1, min(10, total // 100))  # loss points from the first 1%
        assert iv["sample_every"] <= max(5, min(100, total // 10))  # a grid from the first 10%
    assert train.intervals(2000) == {"log_every": 10, "sample_every": 100}  # was 33 and 250


def test_train_stop_reports_the_step_it_saved(ctx, tmp_path):
    """Stop: the page reports the step of the checkpoint the trainer saved, not the last logged one."""
    from ui.catalog import Catalog
    from ui.common import AppContext
    from ui.tabs import train

    c = AppContext(Catalog(ctx.catalog.checkpoint_dir, tmp_path / "runs", threads=1))
    try:
        job: dict = {}
        gen = train.start(c, "dcgan", "mnist", 5000, 8, job)
        out = None
        for i, o in enumerate(gen):
            if i == 3:
                assert train.stop_training(job).startswith("stopping at the end of the current step")
            out = o
        run = next((tmp_path / "runs").iterdir())
        saved = load_checkpoint(run / "latest.pt")["step"]
        assert f"stopped at step {saved} of 5000" in out[3] and f"checkpoint saved at step {saved}" in out[3]
        assert f"step {saved} / 5000" in out[2]
    finally:
        c.close()


def test_train_tab_trains_a_family_on_its_own_derived_data(ctx, tmp_path):
    """The alias-free families train on 32 px digits (mnist-pad32), which the tab now offers;
    a data set that would need a download is refused with the list of local ones."""
    from ui.catalog import Catalog
    from ui.common import AppContext
    from ui.tabs import train

    c = AppContext(Catalog(ctx.catalog.checkpoint_dir, tmp_path / "runs", threads=1))
    try:
        out = None
        for out in train.start(c, "alias_free_baseline", "mnist-pad32", 2, 8, {}):
            pass
        run = next((tmp_path / "runs").iterdir())
        assert load_checkpoint(run / "latest.pt")["step"] == 2 and "mnist-pad32" in run.name
        with pytest.raises(gr.Error, match="mnist-pad32"):
            list(train.start(c, "dcgan", "cifar10", 2, 8, {}))
    finally:
        c.close()


def test_train_tab_fine_tunes_a_shipped_model_and_refuses_another_familys(ctx, tmp_path):
    """'Start from' a shipped DCGAN: the run begins from its weights (the log names the file and
    its step); a NADE model cannot start a DCGAN run."""
    import json

    from ui.catalog import Catalog
    from ui.common import AppContext
    from ui.tabs import train

    c = AppContext(Catalog(ctx.catalog.checkpoint_dir, tmp_path / "runs", threads=1))
    try:
        assert "dcgan-mnist" in [k for _, k in train.start_choices(c, "dcgan")]
        assert "nade-mnist" not in [k for _, k in train.start_choices(c, "dcgan")]
        for out in train.start(c, "dcgan", "mnist", 2, 8, {}, "", 32, "dcgan-mnist"):
            pass
        run = next((tmp_path / "runs").iterdir())
        events = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        shipped = load_checkpoint(c.catalog.entry("dcgan-mnist").path)
        assert any(e.get("event") == "init_from" and e["path"].endswith("dcgan-mnist.pt")
                   and e["from_step"] == shipped["step"] for e in events)
        assert load_checkpoint(run / "latest.pt")["config"] == shipped["config"]
        with pytest.raises(gr.Error, match="nade-mnist is a nade model; a dcgan run can start from random weights"):
            list(train.start(c, "dcgan", "mnist", 2, 8, {}, "", 32, "nade-mnist"))
    finally:
        c.close()


def test_train_tab_trains_on_a_zip_of_the_users_own_pictures(ctx, tmp_path):
    """A zip of pictures (one top folder, two class folders, with the clutter zips carry) is
    unpacked into the app's scratch folder and trained on at the chosen size; bad zips and
    folders are refused in one line."""
    import zipfile

    from PIL import Image

    from ui.catalog import Catalog
    from ui.common import AppContext
    from ui.tabs import train

    c = AppContext(Catalog(ctx.catalog.checkpoint_dir, tmp_path / "runs", threads=1))
    try:
        archive = tmp_path / "mine.zip"
        with zipfile.ZipFile(archive, "w") as z:
            for i in range(12):
                picture = tmp_path / f"{i}.png"
                Image.new("RGB", (48, 40), (20 * i, 255 - 20 * i, 128)).save(picture)
                z.write(picture, f"holiday/{'cats' if i % 2 else 'dogs'}/{i}.png")
            z.writestr("holiday/notes.txt", "not a picture")
            z.writestr("__MACOSX/holiday/._0.png", "resource fork")
        folder, note = train.unpack_pictures(c, str(archive))
        assert sorted(p.name for p in Path(folder).iterdir()) == ["cats", "dogs"]
        assert note == "unpacked 12 pictures in 2 class folders into the app's scratch folder"
        assert train.unpack_pictures(c, str(archive))[0] == folder  # the same zip: unpacked once
        for out in train.start(c, "dcgan", "mnist", 2, 8, {}, folder, 32):
            pass
        run = next((tmp_path / "runs").iterdir())
        state = load_checkpoint(run / "latest.pt")
        assert state["step"] == 2 and "-folder-" in run.name
        assert (state["data_spec"]["channels"], state["data_spec"]["height"]) == (3, 32)

        evil = tmp_path / "evil.zip"
        with zipfile.ZipFile(evil, "w") as z:
            z.writestr("../escape.png", b"x")
        with pytest.raises(gr.Error, match="outside its folder"):
            train.unpack_pictures(c, str(evil))
        with pytest.raises(gr.Error, match="not a zip archive"):
            train.unpack_pictures(c, str(tmp_path / "0.png"))
        with pytest.raises(gr.Error, match="does not exist on the server"):
            list(train.start(c, "dcgan", "mnist", 2, 8, {}, str(tmp_path / "nowhere"), 32))
        with pytest.raises(gr.Error, match="picture size must be one of 32, 64"):
            list(train.start(c, "dcgan", "mnist", 2, 8, {}, folder, 48))
    finally:
        c.close()


def test_a_blank_image_is_not_scored(ctx):
    from ui.images import ImageInputError, to_model_input
    from ui.tabs import likelihood

    blank = np.zeros((280, 280, 4), np.uint8)  # an untouched pad
    white = np.full((280, 280, 3), 255, np.uint8)
    for img in (blank, white):
        with pytest.raises(ImageInputError, match="is blank"):
            to_model_input(img, MNIST)
    with pytest.raises(gr.Error, match="is blank"):
        likelihood.score(ctx, ["vae-mnist"], {"background": white, "layers": [], "composite": white})


def test_user_errors_log_one_line_and_faults_keep_their_traceback():
    import logging

    from ui.common import log, user_errors

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    log.addHandler(handler)
    try:
        @user_errors
        def handler_fn():
            raise ValueError("count must be between 1 and 64, got 0")

        with pytest.raises(gr.Error) as err:
            handler_fn()
        assert err.value.print_exception is False  # Gradio prints no traceback for it
        assert err.value.duration is None  # the message stays until the user closes it
        assert [r.getMessage() for r in records] == ["handler_fn refused: count must be between 1 and 64, got 0"]

        @user_errors
        def broken():
            raise RuntimeError("a real fault")

        with pytest.raises(RuntimeError):  # not turned into a user message: Gradio logs its traceback
            broken()
    finally:
        log.removeHandler(handler)


def test_scratch_folders_are_removed_when_the_process_ends(tmp_path):
    import subprocess
    import sys

    code = ("import numpy as np; from ui.catalog import Catalog; from ui.common import AppContext; "
            "c = AppContext(Catalog('none', 'none')); print(c.save_png(np.zeros((4, 4), np.uint8), 'x'))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=Path(__file__).resolve().parent.parent)
    assert r.returncode == 0, r.stderr
    path = Path(r.stdout.strip().splitlines()[-1])
    assert path.name.startswith("x-") and not path.parent.exists()


def test_latent_explorer_offers_a_manifold_map_for_a_2d_latent_space(ctx):
    from ui.tabs import latent

    n = 1 + latent.N_AXES + 4  # state, axes, defaults, image, about, encode group
    manifold = latent.setup(ctx, "vae2d-mnist", 0, latent.BASES[0])[n]
    assert manifold["visible"] is True
    assert pic(manifold["value"]).shape == (20 * 30 + 2, 20 * 30 + 2)  # 20 x 20 decodes
    assert latent.setup(ctx, "vae-mnist", 0, latent.BASES[0])[n]["visible"] is False  # 16-D: no map
    assert "Clear canvas" in latent.CLEAR_PAD_JS  # the page empties the pad on another model (browser test)


def test_events_have_separate_concurrency_limits_per_kind_of_work(ui_dirs):
    from ui.app import build_app

    demo = build_app(*ui_dirs)
    try:
        groups = {fn.api_name: (fn.concurrency_id, fn.concurrency_limit) for fn in demo.fns.values() if fn.api_name}
    finally:
        demo.genlab_context.close()
    cheap = {groups[k][0] for k in ("sample", "latent_render", "latent_model", "sample_model")}
    assert len(cheap) == 1 and groups["sample"][1] > 1  # cheap work runs side by side...
    for heavy in ("train", "steps", "likelihood", "complete"):
        assert groups[heavy][0] not in cheap  # ...and never waits behind training or step-by-step runs
    assert groups["train"][0] != groups["steps"][0]


def test_control_panels_render_one_at_a_time(ui_dirs):
    """Gradio's gr.render rewrites the session's block table while another render of the same
    session may be iterating it ("dictionary changed size during iteration" in CI: the Sample
    tab's InfoGAN controls never appeared). Every panel's render is in one group of limit 1."""
    from ui.app import build_app

    demo = build_app(*ui_dirs)
    try:
        renders = [(fn.concurrency_id, fn.concurrency_limit) for fn in demo.fns.values() if fn.renderable is not None]
    finally:
        demo.genlab_context.close()
    assert len(renders) >= 4  # the control panels of Sample, Latent explorer, Step by step, ...
    assert set(renders) == {("render", 1)}


def test_handlers_that_return_arrays_reach_gradio_as_files(ctx):
    from ui.common import as_files

    pic_ = np.full((8, 8), 7, np.uint8)
    out = as_files(ctx, lambda: ([(pic_, "a"), pic_], {"background": pic_, "layers": []}, "text", None), "t")()
    (items, pad, text, none) = out
    assert isinstance(items[0][0], str) and items[0][1] == "a" and items[1] == items[0][0]  # one file per picture
    assert isinstance(pad["background"], str) and pad["layers"] == [] and text == "text" and none is None
    assert np.array_equal(np.asarray(Image.open(items[1])), pic_)


def test_uploads_are_checked_and_converted_at_their_own_size(ctx, tmp_path):
    """The 4,096 px limit fires on the file itself (the pad's browser side used to shrink it
    first), and what was done is said in terms of the original file."""
    from ui.tabs import latent, likelihood

    huge = tmp_path / "huge.png"
    Image.new("L", (6000, 6000), 0).save(huge)
    with pytest.raises(gr.Error, match="6000x6000 pixels; the limit is 4096"):
        likelihood.upload(ctx, str(huge), ["vae-mnist"], None)
    photo = tmp_path / "photo.jpg"
    rgb = np.full((300, 500, 3), 230, np.uint8)
    rgb[60:240, 230:260] = (20, 10, 40)  # a dark "1" on light paper, in colour
    Image.fromarray(rgb).save(photo)
    pad, text = likelihood.upload(ctx, str(photo), ["vae-mnist"], None)
    assert "photo.jpg** (500x300, RGB)" in text and "resized 500x300 -> 28x28" in text and "inverted" in text
    assert pic(pad["composite"]).shape[:2] == (280, 280)
    rows, _, _ = likelihood.score(ctx, ["vae-mnist"], pad)  # the pad then scores as the file was converted
    assert math.isfinite(rows[0][2])
    enc_pad, _ = latent.upload(ctx, "vae-mnist", str(photo))
    assert enc_pad["background"] == pad["background"]
    blank = tmp_path / "blank.png"
    Image.new("RGB", (64, 64), "white").save(blank)
    with pytest.raises(gr.Error, match="is blank"):
        likelihood.upload(ctx, str(blank), ["vae-mnist"], None)


def _pads_and_upload_events(demo) -> tuple[dict, dict]:
    """{pad elem_id: its sources}, {upload button elem_id: the handler of its upload event}."""
    from ui.common import DrawingPad

    blocks = demo.blocks.values()
    pads = {b.elem_id: tuple(b.sources) for b in blocks if isinstance(b, DrawingPad)}
    buttons = {b._id: b.elem_id for b in blocks if isinstance(b, gr.UploadButton)}
    events = {}
    for fn in demo.fns.values():
        for target, name in fn.targets:
            if name == "upload" and target in buttons:
                events[buttons[target]] = fn.fn
    return pads, events


def test_a_refused_picture_leaves_its_pad_usable(ctx, ui_dirs):
    """Every event that puts a picture on a drawing pad (an upload, a test image) has a failure
    listener that updates that pad: Gradio otherwise leaves an "Error" badge over the pad that
    blocks its brush and Clear until the next good upload (issue 28; in the browser:
    test_ui_browser.py::test_a_non_image_upload_gets_a_message_and_the_app_keeps_working)."""
    from ui.app import build_app
    from ui.common import DrawingPad

    demo = build_app(*ui_dirs)
    pads = {b._id: b.elem_id for b in demo.blocks.values() if isinstance(b, DrawingPad)}
    fns = list(demo.fns.values())
    filling = {f._id: f for f in fns if not f.trigger_after and any(o._id in pads for o in f.outputs)
               and f.fn is not None and any(event in ("upload", "click") for _, event in f.targets)}
    assert {pads[o._id] for f in filling.values() for o in f.outputs if o._id in pads} >= {
        "lik-pad", "latent-pad", "interp-pad-a", "interp-pad-b", "translate-pad", "noise-pad"}
    for fid, f in filling.items():
        cleared = {o._id for g in fns if g.trigger_after == fid and g.trigger_only_on_failure for o in g.outputs}
        assert {o._id for o in f.outputs if o._id in pads} <= cleared, f"{f.api_name}: no failure listener on its pad"


def test_every_pad_takes_uploads_through_the_server_with_one_shared_handler(ctx, ui_dirs, tmp_path):
    """No drawing pad takes an upload in the browser (it would shrink the file into its canvas):
    Interpolation and Translate have an "Upload a picture" button like Likelihood and the
    Latent explorer, handled by the one `ui.common.upload_for` (limits, notes, blank images)."""
    from ui.app import build_app
    from ui.common import upload_for

    demo = build_app(*ui_dirs)
    pads, events = _pads_and_upload_events(demo)
    assert set(pads) >= {"lik-pad", "latent-pad", "interp-pad-a", "interp-pad-b", "translate-pad"}
    assert all(sources == ("clipboard",) for sources in pads.values()), pads
    assert set(events) >= {"interp-a-upload", "interp-b-upload", "translate-upload"}
    shared = inspect.unwrap(upload_for(ctx, "encode")).__code__
    for button in ("interp-a-upload", "interp-b-upload", "translate-upload"):
        assert inspect.unwrap(events[button]).__code__ is shared, button  # the same code, not a copy

    photo = tmp_path / "photo.jpg"
    rgb = np.full((300, 500, 3), 230, np.uint8)
    rgb[60:240, 230:260] = (20, 10, 40)  # a dark "1" on light paper, in colour
    Image.fromarray(rgb).save(photo)
    pad, text = upload_for(ctx, "encode")("vae-mnist", str(photo))
    assert "photo.jpg** (500x300, RGB)" in text and "resized 500x300 -> 28x28" in text
    assert pic(pad["composite"]).shape[:2] == (280, 280)
    from ui.tabs import interpolate

    _, _, caption = interpolate.interpolate(ctx, "vae-mnist", interpolate.SOURCES[1], 0, 1, pad, pad, "slerp", 4)
    assert "4 steps" in caption  # the uploaded pad walks as a drawing does
    huge = tmp_path / "huge.png"
    Image.new("L", (6000, 6000), 0).save(huge)
    with pytest.raises(gr.Error, match="6000x6000 pixels; the limit is 4096"):
        upload_for(ctx, "encode")("vae-mnist", str(huge))
    blank = tmp_path / "blank.png"
    Image.new("RGB", (64, 64), "white").save(blank)
    with pytest.raises(gr.Error, match="is blank"):
        upload_for(ctx, "encode")("vae-mnist", str(blank))
    with pytest.raises(gr.Error, match="no 'encode' capability"):
        upload_for(ctx, "encode")("dcgan-mnist", str(photo))


def test_model_thumbnails_show_without_refresh(ctx, monkeypatch):
    """Page load starts the thumbnails and switches the page's poll on; the poll shows each
    thumbnail when it is ready and switches itself off (no Refresh, no reopening the tab)."""
    from ui.tabs import models

    monkeypatch.setattr(models, "_thumbs", {})
    html, timer = models.live_cards(ctx)
    assert "drawing…" in html and timer.active  # drawing in the background: the page polls
    for _ in range(600):
        html, timer = models.live_cards(ctx)
        if not timer.active:
            break
        time.sleep(0.1)
    assert not timer.active and "drawing…" not in html and "<img class='genlab-thumb" in html


def test_translators_get_real_thumbnails_and_a_failed_thumbnail_says_why(tmp_path):
    """CycleGAN/StarGAN cards show two test images above their translations (not black); a
    thumbnail that cannot be drawn shows its error."""
    from ui.catalog import Entry
    from ui.tabs import models

    name = "cyclegan-mnist"
    path = shipped_checkpoints().get(name)
    if path is None:
        pytest.skip(f"{name} is not shipped")
    from genlab.registry import load

    model = load(path)
    uri = models._draw(("k",), model)
    assert uri.startswith("data:image/png;base64,")
    import base64
    import io

    from PIL import Image

    picture = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("L"), dtype=float)
    assert picture.std() > 20  # digits above their styled versions, not a black square
    html = models.card(Entry(name, path, True), model, thumb="error: RuntimeError: out of memory")
    assert "error: RuntimeError: out of memory" in html and "genlab-thumb none" in html


def test_likelihood_rows_say_what_data_they_are_over_and_sit_by_kind(ctx):
    """Binary and 8-bit NLLs are different questions: each row names its data and rows of one kind
    sit together whatever order the models were picked in."""
    from ui.tabs import likelihood

    rows, _, _ = likelihood.score(ctx, ["vae-mnist", "pixelcnn-mnist"], digit_pad(0))
    assert [r[5].split(" (")[0] for r in rows] == ["binary 28x28"] * 2
    assert likelihood.data_kind(DataSpec(1, 28, 28, 10, False, "mnist")) == "8-bit grey 28x28 (mnist)"
    assert likelihood.data_kind(DataSpec(3, 32, 32, 0, False, "shapes3d")) == "8-bit colour 32x32 (shapes3d)"


def test_a_digit_is_named_with_its_article():
    from ui.common import a_label

    assert [a_label(n) for n in (7, 8, 0, 11, 18, 80, 1)] == [
        "a **7**", "an **8**", "a **0**", "an **11**", "an **18**", "an **80**", "a **1**"]
    # a shapes3d label is a shape, not a number ("shapes3d test image #0: a 5" was a two-object scene)
    assert [a_label(n, "shapes3d") for n in (0, 3, 5)] == [
        "a **sphere**", "a **torus**", "a **combination** of two objects"]
    assert a_label(5, "mnist") == "a **5**"


def test_likelihood_tab_scores_and_completes_with_a_colour_pixelcnn(tmp_path):
    """A colour model (gated PixelCNN on shapes3d's 32x32 views) in the Likelihood tab: a test
    render of its own data on the pad, an exact NLL in bits/dim labelled as 8-bit colour data, a
    per-pixel heatmap, and completions of the top rows in colour."""
    from genlab.data import load_dataset
    from genlab.registry import build
    from ui.catalog import Catalog
    from ui.common import AppContext
    from ui.tabs import likelihood
    from ui_fixtures import write_checkpoint

    spec = load_dataset("shapes3d", "test").spec
    torch.manual_seed(0)
    model = build("pixelcnn", {"features": 6, "layers": 2, "kernel_size": 3, "first_kernel_size": 3,
                               "head_features": 6}, spec)
    write_checkpoint(model, tmp_path / "ck" / "pixelcnn-colour.pt")
    c = AppContext(Catalog(tmp_path / "ck", tmp_path / "runs", threads=1))
    try:
        pad, what = likelihood.load_test_image(c, 3, ["pixelcnn-colour"])
        assert what.startswith("shapes3d test image #3: a") and not what[-2].isdigit()  # named by its shape
        rows, maps, seen = likelihood.score(c, ["pixelcnn-colour"], pad)
        (key, family, nats, bits, kind, data), = rows
        assert kind == "exact" and data == "8-bit colour 32x32 (shapes3d)"
        assert bits == pytest.approx(nats / (3 * 32 * 32 * math.log(2)), abs=1e-4) and 0 < bits < 9
        assert len(maps) == 1 and "-log2 p per pixel" in maps[0][1]
        strip, note = likelihood.complete(c, "pixelcnn-colour", pad, 16, 2, 0)
        picture = np.asarray(Image.open(strip)) if isinstance(strip, str) else strip
        assert picture.ndim == 3 and picture.shape[-1] >= 3  # drawn in colour
    finally:
        c.close()


def test_noise_tab_and_sampling_work_with_a_colour_ddpm(tmp_path):
    """A colour DDPM (shapes3d's 32x32 views): a test render on the pad, noised and denoised back
    in colour, a strip over t, and the Sample tab's gallery in colour."""
    from genlab.data import load_dataset
    from genlab.registry import build
    from ui.catalog import Catalog
    from ui.common import AppContext
    from ui.tabs import noising
    from ui.tabs import sample as sample_tab
    from ui_fixtures import write_checkpoint

    spec = load_dataset("shapes3d", "test").spec
    torch.manual_seed(0)
    model = build("ddpm", {"width": 8, "mults": (1, 2), "blocks": 1, "timesteps": 20, "default_steps": 4,
                           "conditional": True}, spec)
    write_checkpoint(model, tmp_path / "ck" / "ddpm-colour.pt")
    c = AppContext(Catalog(tmp_path / "ck", tmp_path / "runs", threads=1))
    try:
        pad, what = noising.load_test_image(c, "ddpm-colour", 5)
        assert what.startswith("shapes3d test image #5")
        seen, xt, back, summary = noising.noise_and_denoise(c, "ddpm-colour", pad, 10, 0)
        for path in (seen, xt, back):
            picture = np.asarray(Image.open(path))
            assert picture.ndim == 3 and picture.shape[-1] == 3
        assert "t = 10 of 0..19" in summary
        strip_path, _ = noising.strip(c, "ddpm-colour", pad, 0, 3)
        assert np.asarray(Image.open(strip_path)).ndim == 3
        sheet, line = sample_tab.sample(c, "ddpm-colour", 0, 4)
        tiles = sheet_tiles(sheet, 4, side=c.catalog.model("ddpm-colour").data_spec.height)
        assert len(tiles) == 4 and tiles[3].shape[-1] == 3 and "4 samples" in line
    finally:
        c.close()


def _page_open_pair(fn, outputs: int):
    """on_open_and_change on a bare Blocks: its page-open and trigger handlers, as Gradio holds them."""
    from types import SimpleNamespace

    from ui.common import on_open_and_change

    with gr.Blocks() as demo:
        picked = gr.Textbox()
        shown = [gr.Textbox() for _ in range(outputs)]
        on_open_and_change(SimpleNamespace(demo=demo), [picked.change], fn, picked,
                           shown if outputs > 1 else shown[0], "pair")
    by_name = {f.api_name: f.fn for f in demo.fns.values()}
    return by_name["pair_on_load"], by_name["pair"]


@pytest.mark.parametrize("outputs", [1, 2])
def test_a_page_open_run_finishing_after_the_users_own_run_sends_nothing(outputs):
    """A trigger cancels the page-open run only while it is queued. One already executing on a
    busy server could land after the user's own run (CI saw "16 samples" after a request for 12),
    so it sends nothing once a trigger of the same browser session has started, and a session
    that has triggered nothing still gets its first view."""
    import threading

    from gradio.helpers import special_args

    release = threading.Event()

    def view(value):
        if value == "page open":
            assert release.wait(10)  # still executing when the user's run starts and ends
        return (value,) * outputs if outputs > 1 else value

    on_load, on_pick = _page_open_pair(view, outputs)
    # Gradio injects the request by its annotation: the handlers take it after the inputs
    args, *_ = special_args(on_load, ["x"], request=gr.Request(session_hash="s"))
    assert args[0] == "x" and args[1].session_hash == "s"

    landed = {}
    first = threading.Thread(target=lambda: landed.update(
        a=on_load("page open", gr.Request(session_hash="a"))))
    first.start()
    assert on_pick("the user's pick", gr.Request(session_hash="a")) == view("the user's pick")
    release.set()
    first.join(10)
    skipped = landed["a"] if outputs > 1 else (landed["a"],)
    assert len(skipped) == outputs and all(u == gr.skip() for u in skipped), landed
    # another session, which has picked nothing, gets its page-open view
    assert on_load("page open", gr.Request(session_hash="b")) == view("page open")
    # and a later page-open run in session a is skipped before it starts
    assert on_load("again", gr.Request(session_hash="a")) == (gr.skip() if outputs == 1 else (gr.skip(),) * 2)


def test_a_streamed_page_open_run_stops_once_the_user_has_started_their_own():
    """The same guard for a handler that streams frames (step-by-step views)."""
    state = {"on_pick": None}

    def frames(value):
        for i in range(4):
            if value == "page open" and i == 2:  # the user picks while the page-open run streams
                list(state["on_pick"]("pick", gr.Request(session_hash="a")))
            yield f"{value} {i}"

    on_load, state["on_pick"] = _page_open_pair(frames, 1)
    assert inspect.isgeneratorfunction(on_load) and inspect.isgeneratorfunction(state["on_pick"])
    assert list(on_load("page open", gr.Request(session_hash="a"))) == ["page open 0", "page open 1"]
    assert list(on_load("page open", gr.Request(session_hash="b")))[-1] == "page open 3"


def test_a_click_does_not_wait_behind_other_sessions_page_open_runs():
    """A class opening the app at once queues every session's page-open runs (each tab's setup, the
    first sheet); a click in one group with them waited behind the whole class's (34-41 s for twenty
    sessions, tools/bench_ui_load.py --page-open). With more sessions' page-opens held executing
    than the click's group has slots, the click must still be answered."""
    import threading
    import uuid
    from types import SimpleNamespace

    import httpx
    from gradio_client import Client

    from ui.common import WORK_LIMITS, on_open_and_change, work

    release, started = threading.Event(), threading.Semaphore(0)

    def view(value):
        if value == "page open":
            started.release()
            release.wait(60)
        return value

    with gr.Blocks() as demo:
        picked = gr.Textbox("page open")
        shown = gr.Textbox()
        go = gr.Button()
        on_open_and_change(SimpleNamespace(demo=demo), [go.click], view, picked, shown, "pair", **work("fast"))
    _, url, _ = demo.queue().launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=None)
    try:
        load = next(d for d in demo.config["dependencies"] if d.get("api_name") == "pair_on_load")
        sessions = WORK_LIMITS["fast"] + 1  # enough to fill the click's group were they in it
        with httpx.Client(base_url=url, timeout=30) as http:
            for _ in range(sessions):  # what a browser sends as it opens the page
                r = http.post("gradio_api/queue/join", json={
                    "data": ["page open"], "event_data": None, "fn_index": load["id"],
                    "trigger_id": load["targets"][0][0], "session_hash": uuid.uuid4().hex[:11]})
                r.raise_for_status()
            assert started.acquire(timeout=30)  # page-opens are executing, the rest queued
            answer = {}
            clicker = threading.Thread(target=lambda: answer.update(
                got=Client(url, verbose=False).predict("the user's pick", api_name="/pair")))
            clicker.start()
            clicker.join(30)
            held = not release.is_set()
            release.set()
            assert held and answer.get("got") == "the user's pick", answer
    finally:
        release.set()
        demo.close()
