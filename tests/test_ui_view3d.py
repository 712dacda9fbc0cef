"""The 3-D view tab's handlers as plain functions, on the shipped radiance-field checkpoint
(checkpoints/graf-shapes.pt) beside a model without views: camera ranges from the model, colour,
depth and opacity pictures, shape and appearance moved apart, the orbit GIF, the swap, and bad
camera values refused with the accepted range."""
from __future__ import annotations

import statistics
import time

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from genlab.registry import CHECKPOINT_DIR
from ui_fixtures import one_torch_thread  # noqa: F401  (fixture)

KEY = "graf-shapes"
CODES = (3, 1.0, 5, 1.0)  # shape seed, shape scale, appearance seed, appearance scale
CAMERA = (90.0, 30.0, 4.5)  # azimuth, elevation, distance


@pytest.fixture(scope="module")
def ctx(tmp_path_factory, one_torch_thread):  # noqa: F811
    from ui.catalog import Catalog
    from ui.common import AppContext

    root = tmp_path_factory.mktemp("view3d")
    ckpt, runs = root / "checkpoints", root / "runs"
    ckpt.mkdir()
    runs.mkdir()
    for name in (KEY, "dcgan-mnist"):
        if not (CHECKPOINT_DIR / f"{name}.pt").exists():
            pytest.skip(f"shipped checkpoint {name} is missing")
        (ckpt / f"{name}.pt").symlink_to(CHECKPOINT_DIR / f"{name}.pt")
    c = AppContext(Catalog(ckpt, runs, threads=1))
    yield c
    c.close()


def pic(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def view(ctx, codes=CODES, camera=CAMERA):
    from ui.tabs.view3d import view as handler

    return handler(ctx, KEY, *codes, *camera)


def test_only_models_with_views_are_offered(ctx):
    assert [k for _, k in ctx.catalog.choices("views")] == [KEY]


def test_picking_the_model_sets_its_camera_ranges_and_draws_it(ctx):
    from ui.tabs.view3d import setup

    az, el, dist, about, colour, depth, opacity, caption = setup(ctx, KEY, *CODES)
    assert (az["minimum"], az["maximum"]) == (0, 360)
    assert (el["minimum"], el["maximum"], el["value"]) == (5, 80, 42.5)  # the trained elevations
    assert (dist["minimum"], dist["maximum"], dist["value"]) == (3, 6, 4)
    assert "shape code 64 numbers, appearance code 64" in about
    c, d, o = pic(colour), pic(depth), pic(opacity)
    assert c.shape == d.shape == (256, 256, 3) and o.shape == (256, 256)  # 32 px enlarged 8x; opacity grey
    assert "azimuth 45°, elevation 42.5°, distance 4" in caption and "rendered in" in caption
    assert len({tuple(px) for px in d.reshape(-1, 3)}) > 10  # a colour map, not a grey ramp


def test_camera_shape_and_appearance_move_what_they_should(ctx):
    base = [pic(p) for p in view(ctx)[:3]]
    turned = [pic(p) for p in view(ctx, camera=(150.0, 30.0, 4.5))[:3]]
    other_look = [pic(p) for p in view(ctx, codes=(3, 1.0, 6, 1.0))[:3]]
    other_shape = [pic(p) for p in view(ctx, codes=(4, 1.0, 5, 1.0))[:3]]
    assert not np.array_equal(base[0], turned[0]) and not np.array_equal(base[2], turned[2])
    # a new appearance recolours the object but leaves depth and opacity exactly as they were
    assert not np.array_equal(base[0], other_look[0])
    assert np.array_equal(base[1], other_look[1]) and np.array_equal(base[2], other_look[2])
    assert not np.array_equal(base[2], other_shape[2])


def test_a_camera_move_renders_well_under_a_second(ctx):
    view(ctx)  # warm
    times = []
    for az in (0.0, 40.0, 80.0, 120.0, 160.0):
        t0 = time.perf_counter()
        view(ctx, camera=(az, 30.0, 4.5))
        times.append(time.perf_counter() - t0)
    assert statistics.median(times) < 1.0, times


@pytest.mark.parametrize("camera,message", [
    ((90.0, 85.0, 4.5), r"elevation must lie in the trained range \[5, 80\] degrees.*got 85"),
    ((90.0, -10.0, 4.5), r"elevation must lie in the trained range \[5, 80\]"),
    ((90.0, 30.0, 0.0), r"distance \(radius\) must lie in \[3, 6\].*got 0"),
    ((float("nan"), 30.0, 4.5), "azimuth must be a finite number"),
])
def test_bad_camera_values_are_refused_with_the_accepted_range(ctx, camera, message):
    from ui.tabs.view3d import orbit, swap

    with pytest.raises(gr.Error, match=message):
        view(ctx, camera=camera)
    with pytest.raises(gr.Error, match=message):
        swap(ctx, KEY, *CODES, *camera, 1)
    if camera[0] == camera[0]:  # the orbit turns the azimuth itself
        with pytest.raises(gr.Error, match=message):
            orbit(ctx, KEY, *CODES, *camera)


@pytest.mark.parametrize("codes,message", [((-1, 1.0, 0, 1.0), "seed must be an integer"),
                                           ((0, 2.0, 0, 1.0), r"shape scale must lie in \[0, 1.5\]"),
                                           ((0, 1.0, 0, -0.5), "appearance scale must lie")])
def test_bad_codes_are_refused(ctx, codes, message):
    with pytest.raises(gr.Error, match=message):
        view(ctx, codes=codes)


def test_a_model_without_views_is_refused_by_name(ctx):
    from ui.tabs.view3d import view as handler

    with pytest.raises(gr.Error, match=f"no 'views' capability; models that have it: {KEY}"):
        handler(ctx, "dcgan-mnist", *CODES, *CAMERA)


def test_orbit_is_a_gif_once_around(ctx):
    from ui.tabs.view3d import ORBIT_FRAMES, orbit

    path, caption = orbit(ctx, KEY, *CODES, *CAMERA)
    gif = Image.open(path)
    # genlab.gallery.save_gif frames each picture with 2 pixels (8x enlarged here)
    assert path.endswith(".gif") and gif.n_frames == ORBIT_FRAMES and gif.size == (288, 288)
    first = np.asarray(gif.convert("RGB")).astype(int)[16:-16, 16:-16]
    shown = pic(view(ctx)[0]).astype(int)  # the first frame is the current view (up to the GIF palette)
    assert np.abs(first - shown).mean() < 4
    assert f"{ORBIT_FRAMES} views" in caption and "elevation 30°" in caption


def test_swap_exchanges_shape_and_appearance_between_two_samples(ctx):
    from ui.tabs.view3d import swap

    items, caption = swap(ctx, KEY, *CODES, *CAMERA, 1)
    assert [c for _, c in items] == ["A", "B (seed 1)", "shape A, appearance B", "shape B, appearance A"]
    a, b, ab, ba = (pic(p).astype(int) for p, _ in items)
    assert a.shape == (128, 128, 3)
    assert np.abs(a - pic(view(ctx)[0])[::2, ::2]).max() == 0  # A is the sliders' sample
    # the swapped ones are new pictures, not copies of A or B
    assert min(np.abs(ab - a).mean(), np.abs(ab - b).mean(), np.abs(ba - a).mean(), np.abs(ba - b).mean()) > 1
    assert "largest depth change 0 " in caption
