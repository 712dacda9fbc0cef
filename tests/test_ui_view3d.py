"""The 3-D view tab's handlers as plain functions, on the shipped radiance-field checkpoint
(checkpoints/graf-shapes.pt) beside a model without views: camera ranges from the model, colour,
depth and opacity pictures, shape and appearance moved apart, the orbit GIF, the swap, and bad
camera values refused with the accepted range, and the ray probe."""
from __future__ import annotations

import statistics
import time
import warnings

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from ui_fixtures import one_torch_thread, shipped_catalogue  # noqa: F401  (fixture)

KEY = "graf-shapes"
CODES = (3, 1.0, 5, 1.0)  # shape seed, shape scale, appearance seed, appearance scale
CAMERA = (90.0, 30.0, 4.5)  # azimuth, elevation, distance


@pytest.fixture(scope="module")
def ctx(tmp_path_factory, one_torch_thread):  # noqa: F811
    from ui.catalog import Catalog
    from ui.common import AppContext

    c = AppContext(Catalog(*shipped_catalogue(tmp_path_factory.mktemp("view3d"), (KEY, "dcgan-mnist")), threads=1))
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
    # genlab.grids.save_gif frames each picture with 2 pixels (8x enlarged here)
    assert path.endswith(".gif") and gif.n_frames == ORBIT_FRAMES and gif.size == (288, 288)
    first = np.asarray(gif.convert("RGB")).astype(int)[16:-16, 16:-16]
    shown = pic(view(ctx)[0]).astype(int)  # the first frame is the current view (up to the GIF palette)
    gif.seek(ORBIT_FRAMES // 4)
    turned = np.asarray(gif.convert("RGB")).astype(int)[16:-16, 16:-16]  # a quarter turn on
    # the 256-colour palette costs a few levels on speckled, many-coloured objects; a different view
    # of the object costs far more
    assert np.abs(first - shown).mean() < 8 < np.abs(turned - shown).mean() or \
        np.abs(first - shown).mean() < 0.5 * np.abs(turned - shown).mean()
    assert f"{ORBIT_FRAMES} views" in caption and "elevation 30°" in caption


def test_swap_exchanges_shape_and_appearance_between_two_samples(ctx):
    from ui.tabs.view3d import swap

    path, caption = swap(ctx, KEY, *CODES, *CAMERA, 1)
    grid = pic(path).astype(int)
    assert grid.shape == (2 * (32 + 2) * 4 + 2 * 4,) * 2 + (3,)  # 2 x 2 pictures of 32 px, 4x, 2 px apart
    cell = lambda r, c: grid[8 + r * 136:8 + r * 136 + 128, 8 + c * 136:8 + c * 136 + 128]  # noqa: E731
    a, ab, ba, b = cell(0, 0), cell(0, 1), cell(1, 0), cell(1, 1)
    assert np.array_equal(a, pic(view(ctx)[0])[::2, ::2])  # A is the sliders' sample
    # the swapped ones are new pictures, not copies of A or B
    assert min(np.abs(ab - a).mean(), np.abs(ab - b).mean(), np.abs(ba - a).mean(), np.abs(ba - b).mean()) > 1
    assert "rows: shape a, shape b (seed 1)" in caption.lower() and "largest depth change 0." in caption


def test_camera_sliders_leave_the_range_check_to_the_model(ctx):
    from ui.tabs.view3d import CameraSlider

    assert CameraSlider(5, 80).preprocess(95) == 95  # not Gradio's bare "greater than maximum value 80"
    with pytest.raises(gr.Error, match=r"elevation must lie in the trained range \[5, 80\].*got 95"):
        view(ctx, camera=(90.0, 95.0, 4.5))
    with pytest.raises(gr.Error, match="camera radius \\(distance\\) must be a number, got 'far'"):
        view(ctx, camera=(90.0, 30.0, "far"))


def test_the_tab_builds_with_its_api(ctx):
    from ui.tabs import view3d

    with gr.Blocks() as demo:
        ctx.demo = demo
        view3d.build(ctx)
    names = {d.get("api_name") for d in demo.config["dependencies"]}
    assert {"view3d", "view3d_model", "view3d_orbit", "view3d_swap", "view3d_probe", "view3d_probe_model"} <= names


def test_the_ray_probe_shows_where_a_pixels_colour_comes_from(ctx):
    """Through the object's centre the ray meets a surface (opacity near 1, a depth inside the
    sampled span); through a corner it meets empty space. The caption's colour is the rendered
    pixel's, and a click on the 8x enlarged picture probes the pixel under it."""
    from ui.tabs.view3d import probe, probe_click

    shown = pic(view(ctx)[0])
    fig, caption = probe(ctx, KEY, *CODES, *CAMERA, 16, 16)
    assert pic(fig).shape[:2] == (320, 640)  # genlab.plots.ray_profile_figure, 6.4 x 3.2 in at 100 dpi
    assert probe(ctx, KEY, *CODES, *CAMERA, 16, 16)[0] == fig  # the same ray: the same file, drawn once
    r, g, b = shown[16 * 8 + 4, 16 * 8 + 4]
    assert (f"Pixel row 16, column 16 (azimuth 90°, elevation 30°, distance 4.5): colour ({r}, {g}, {b})"
            in caption)  # the picture's own pixel
    assert "the surface at distance" in caption and "24 samples" in caption
    opacity = float(caption.split("opacity ")[1].split(",")[0])
    assert opacity > 0.9
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a figure with a sane axis, also for a ray that meets nothing
        _, corner = probe(ctx, KEY, *CODES, *CAMERA, 0, 0)
    assert "opacity 0.00, a ray that misses the volume" in corner
    row, col, fig2, caption2 = probe_click(ctx, KEY, (16 * 8 + 7, 16 * 8), *CODES, *CAMERA)
    assert (row, col) == (16, 16) and caption2 == caption
    for bad, message in (((32, 0), r"pixel row must be a whole number in \[0, 31\]"),
                         ((0, 1.5), r"pixel column must be a whole number in \[0, 31\]")):
        with pytest.raises(gr.Error, match=message):
            probe(ctx, KEY, *CODES, *CAMERA, *bad)
    with pytest.raises(gr.Error, match="no 'ray_profile' capability"):
        probe(ctx, "dcgan-mnist", *CODES, *CAMERA, 0, 0)


def test_picking_the_model_probes_its_centre_pixel_from_the_default_camera(ctx):
    from ui.tabs.view3d import open_probe

    shown, row, col, fig, caption = open_probe(ctx, KEY, *CODES)
    assert shown["visible"] and (row, col) == (16, 16) and fig is not None
    assert caption.startswith("Pixel row 16, column 16 (azimuth 45°, elevation 42.5°, distance 4)")
