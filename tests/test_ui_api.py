"""Every endpoint of the app through gradio_client, against the app launched in-process on a
free loopback port: normal inputs give the right pictures and numbers, bad inputs give a
message that says what was wrong, and the app keeps answering afterwards."""
from __future__ import annotations

import math
import time

import numpy as np
import pytest
from PIL import Image

from ui_fixtures import app_url, client, one_torch_thread, ui_app, ui_dirs  # noqa: F401  (fixtures)

N_AXES = 8  # latent sliders
NO_CONTROLS = [0.0] * 4 + [""] * 2  # the control bank (4 sliders, 2 choices) when a model shows none


def load(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def pad_value(path) -> dict:
    from gradio_client import handle_file

    return {"background": handle_file(str(path)), "layers": [], "composite": handle_file(str(path)), "id": None}


@pytest.fixture(scope="module")
def digit_png(tmp_path_factory):
    """MNIST test digit #0 on a 280x280 canvas, as the drawing pad would hold it."""
    from ui.tabs.likelihood import test_digit

    path = tmp_path_factory.mktemp("pads") / "digit.png"
    Image.fromarray(test_digit(0)["composite"]).save(path)
    return path


def error_of(client, *args, api_name: str) -> str:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as e:
        client.predict(*args, api_name=api_name)
    return str(e.value)


def test_every_event_has_an_api_name(ui_app):
    demo, _ = ui_app
    fns = list(demo.fns.values())
    assert fns and all(f.api_name for f in fns if f.fn is not None), \
        [f.name for f in fns if f.fn is not None and not f.api_name]
    names = {f.api_name for f in fns}
    assert {"sample", "latent_preview", "latent_render", "latent_encode", "interpolate", "interpolate_all",
            "steps", "steps_scrub", "likelihood", "complete", "test_digit", "train", "train_stop", "models",
            "refresh_models"} <= names


def test_server_listens_on_loopback_only(app_url):
    assert app_url.startswith("http://127.0.0.1:")


# ----- Sample -----------------------------------------------------------------------------------
def test_sample_gallery_count_and_grid(client):
    items, grid, text = client.predict("dcgan-test", 4, 9, 1.0, api_name="/sample")
    assert len(items) == 9 and load(items[0]["image"]).shape[:2] == (112, 112)
    assert Image.open(grid).size == (2 * (3 * 30 + 2), 2 * (3 * 30 + 2))
    again, _, _ = client.predict("dcgan-test", 4, 9, 1.0, api_name="/sample")
    other, _, _ = client.predict("dcgan-test", 5, 9, 1.0, api_name="/sample")
    assert np.array_equal(load(items[0]["image"]), load(again[0]["image"]))
    assert not np.array_equal(load(items[0]["image"]), load(other[0]["image"]))
    assert "9 samples from **dcgan-test**" in text


def test_sample_model_shows_that_models_knobs(client):
    out = client.predict("ar-test", api_name="/sample_model")
    assert "uitest_ar" in out[-1] and "sample_steps" in out[-1]


def test_sample_bad_inputs_give_messages(client):
    # Gradio checks ranges and choices itself, with messages as clear as ours
    assert "Value 500 is greater than maximum value 64" in error_of(client, "dcgan-test", 0, 500,
                                                                    api_name="/sample")
    client.predict("dcgan-test", api_name="/sample_model")  # this session's knobs: dcgan's truncation
    assert "no checkpoint named 'nope'" in error_of(client, "nope", 0, 4, 1.0, api_name="/sample")
    assert "Value 9.0 is greater than maximum value 1.5" in error_of(client, "dcgan-test", 0, 4, 9.0,
                                                                     api_name="/sample")
    assert "broken/latest.pt is not a readable checkpoint" in error_of(client, "run:broken", 0, 4, 1.0,
                                                              api_name="/sample")
    items, _, _ = client.predict("dcgan-test", 0, 2, 1.0, api_name="/sample")  # still working
    assert len(items) == 2


# ----- Latent explorer ------------------------------------------------------------------------------
def test_latent_sliders_preview_and_render(client):
    out = client.predict("dcgan-test", 7, "leading dimensions", api_name="/latent_model")
    coords = [u["value"] for u in out[:N_AXES]]  # the sliders start at z's leading coordinates
    assert len(set(coords)) == N_AXES
    base = load(client.predict("dcgan-test", 7, "leading dimensions", *coords, *NO_CONTROLS,
                               api_name="/latent_preview"))
    moved = coords.copy()
    moved[0] += 2.5
    after = load(client.predict("dcgan-test", 7, "leading dimensions", *moved, *NO_CONTROLS,
                                api_name="/latent_preview"))
    assert base.shape[:2] == (28, 28) and np.abs(after.astype(int) - base.astype(int)).max() > 0
    full, info = client.predict("dcgan-test", 7, "leading dimensions", *moved, *NO_CONTROLS,
                                api_name="/latent_render")
    assert load(full).shape[:2] == (280, 280) and "seed 7" in info


def test_latent_principal_directions(client):
    client.predict("dcgan-test", 7, "leading dimensions", api_name="/latent_model")
    out = client.predict("dcgan-test", 7, "principal directions", *[0.0] * N_AXES, api_name="/latent_basis")
    assert len(out) == N_AXES + 2  # sliders, image, info (the session state is not returned)
    assert [u["label"].split(" (")[0] for u in out[:3]] == ["direction 1", "direction 2", "direction 3"]
    assert "of image variance" in out[0]["label"] and load(out[N_AXES]).shape[:2] == (280, 280)


def test_latent_refuses_models_without_a_latent_space(client):
    msg = error_of(client, "ar-test", 0, "leading dimensions", api_name="/latent_model")
    assert "no 'latent' capability" in msg and "dcgan-test, vae-test" in msg


def test_latent_encode_sets_sliders_to_the_posterior_mean(client, digit_png, ui_dirs):
    import torch

    from ui.catalog import Catalog
    from ui.images import to_model_input
    from ui.tabs.likelihood import test_digit

    out = client.predict("vae-test", "leading dimensions", pad_value(digit_png), api_name="/latent_encode")
    sliders = [u["value"] for u in out[:4]]
    assert "posterior" in out[0]["label"] and "±" in out[0]["label"]
    model = Catalog(*ui_dirs).model("vae-test")
    x, _ = to_model_input(test_digit(0), model.data_spec)
    with torch.inference_mode():
        mean, _ = model.encode(x)
    assert sliders == pytest.approx(mean[0].tolist(), abs=2e-3)
    assert "encoded drawing" in out[-2]
    assert load(out[-1]).shape[:2] == (140, 140)  # the digit as the model sees it


def test_latent_encode_bad_uploads(client, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("hello, I am not a picture")
    assert "not an image" in error_of(client, "vae-test", "leading dimensions", pad_value(text),
                                      api_name="/latent_encode")
    huge = tmp_path / "huge.png"
    Image.new("L", (6000, 4)).save(huge)
    assert "6000x4 pixels; the limit is 4096" in error_of(client, "vae-test", "leading dimensions",
                                                          pad_value(huge), api_name="/latent_encode")
    small_rgba = tmp_path / "small.png"
    rgba = np.zeros((50, 30, 4), np.uint8)
    rgba[10:40, 10:20] = (0, 0, 0, 255)  # dark ink on transparent, not square, not 28x28
    Image.fromarray(rgba).save(small_rgba)
    out = client.predict("vae-test", "leading dimensions", pad_value(small_rgba), api_name="/latent_encode")
    assert load(out[-1]).max() > 200  # converted to a white digit on black
    assert "no 'encode' capability" in error_of(client, "dcgan-test", "leading dimensions", pad_value(small_rgba),
                                                api_name="/latent_encode")


# ----- Interpolation ------------------------------------------------------------------------------
def test_interpolation_between_seeds_and_drawings(client, digit_png):
    strip, gif, caption = client.predict("dcgan-test", "two seeds", 0, 1, None, None, "slerp", 6,
                                         api_name="/interpolate")
    assert load(strip).shape[:2] == (3 * 32, 3 * (6 * 30 + 2))
    assert Image.open(gif).n_frames == 6 + 4 and "slerp walk, 6 steps" in caption
    lerp, _, _ = client.predict("dcgan-test", "two seeds", 0, 1, None, None, "lerp", 6, api_name="/interpolate")
    assert not np.array_equal(load(strip), load(lerp))
    every = client.predict("two seeds", 0, 1, None, None, "slerp", 5, api_name="/interpolate_all")
    assert [e["caption"] for e in every] == ["dcgan-test (dcgan)", "vae-test (uitest_vae)"]
    drawn, _, _ = client.predict("vae-test", "two drawings", 0, 1, pad_value(digit_png), pad_value(digit_png),
                                 "lerp", 4, api_name="/interpolate")
    cells = np.split(load(drawn)[:, : 3 * 4 * 30], 4, axis=1)
    assert all(np.array_equal(cells[0], c) for c in cells)  # the same digit twice: a constant walk


def test_interpolation_bad_inputs(client):
    assert "Value 100 is greater than maximum value 32" in error_of(
        client, "dcgan-test", "two seeds", 0, 1, None, None, "slerp", 100, api_name="/interpolate")
    assert "cannot encode images" in error_of(
        client, "dcgan-test", "two drawings", 0, 1, None, None, "slerp", 4, api_name="/interpolate")
    assert "no first drawing given" in error_of(
        client, "vae-test", "two drawings", 0, 1, None, None, "slerp", 4, api_name="/interpolate")


# ----- Step by step ---------------------------------------------------------------------------------
def test_steps_stream_frames_then_scrub(client):
    job = client.submit("ar-test", 0, 2, 1.0, api_name="/steps")
    final = job.result(timeout=60)
    outputs = job.outputs()
    assert len(outputs) >= 4, "the frames must arrive one by one"
    pics = [load(o[0]) for o in outputs]
    assert len({p.tobytes() for p in pics}) >= 4
    assert "done: 29 steps" in final[1]
    first = load(client.predict(0, api_name="/steps_scrub"))
    assert first.shape == pics[-1].shape and not np.array_equal(first, pics[-1])  # start frame: all grey


def test_steps_refuses_models_without_steps(client):
    assert "no 'sample_steps' capability" in error_of(client, "dcgan-test", 0, 2, api_name="/steps")


# ----- Likelihood -------------------------------------------------------------------------------------
def test_likelihood_table_and_heatmaps(client, digit_png):
    table, maps, seen = client.predict(["ar-test", "vae-test"], pad_value(digit_png), api_name="/likelihood")
    rows = {r[0]: r for r in table["data"]}
    assert set(rows) == {"ar-test", "vae-test"}
    nats, bpd = float(rows["ar-test"][2]), float(rows["ar-test"][3])
    assert bpd == pytest.approx(nats / (784 * math.log(2)), abs=1e-3) and rows["ar-test"][4] == "exact"
    assert len(maps) == 1 and load(maps[0]["image"]).shape == (224, 224, 3)
    digit, which = client.predict(3, api_name="/test_digit")
    assert load(digit["composite"]).shape[:2] == (280, 280) and which == "MNIST test digit #3: a **7**"


def test_likelihood_bad_inputs(client, digit_png, tmp_path):
    assert "pick at least one model" in error_of(client, [], pad_value(digit_png), api_name="/likelihood")
    assert "no 'log_prob' capability" in error_of(client, ["dcgan-test"], pad_value(digit_png),
                                                  api_name="/likelihood")
    assert "test digit index must be between 0 and 999" in error_of(client, 5000, api_name="/test_digit")


def test_completion(client, digit_png):
    pic, caption = client.predict("ar-test", pad_value(digit_png), 10, 2, 0, api_name="/complete")
    pic = load(pic)
    assert pic.shape[:2] == (3 * 32, 3 * (3 * 30 + 2))
    top = slice(6, 3 * 12)
    assert np.array_equal(pic[top, 6:90], pic[top, 96:180])  # the 10 given rows are kept
    assert "the 10 rows given" in caption
    assert "cannot complete images" in error_of(client, "vae-test", pad_value(digit_png), 10, 2, 0,
                                                api_name="/complete")


# ----- Train and Models ---------------------------------------------------------------------------------
def test_train_shows_progress_and_the_run_appears_everywhere(client):
    job = client.submit("dcgan", "mnist", 12, 8, api_name="/train")
    final = job.result(timeout=240)
    plot, grid, progress, status, key = final
    assert key.startswith("run:ui-dcgan-mnist-") and "finished after 12 steps" in status
    assert 'value="12" max="12"' in progress and grid is not None
    assert len(job.outputs()) >= 2  # at least the start and the end
    refreshed = client.predict("dcgan-test", "dcgan-test", "dcgan-test", "ar-test", ["ar-test"], "ar-test",
                               api_name="/refresh_models")
    assert key in [c[1] for c in refreshed[0]["choices"]]
    assert key in client.predict(api_name="/models")
    items, _, _ = client.predict(key, 0, 3, 1.0, api_name="/sample")
    assert len(items) == 3


def test_train_can_be_stopped(client):
    job = client.submit("dcgan", "mnist", 5000, 8, api_name="/train")
    deadline = time.time() + 120
    while time.time() < deadline and len(job.outputs()) < 1:
        time.sleep(0.2)
    assert "stopping" in client.predict(api_name="/train_stop")
    final = job.result(timeout=180)
    assert "stopped after" in final[3] and final[4].startswith("run:")


def test_train_bad_inputs(client):
    assert "Value: nope is not in the list of choices" in error_of(client, "nope", "mnist", 10, 8,
                                                                   api_name="/train")
    assert "Value 0 is less than minimum value 10" in error_of(client, "dcgan", "mnist", 0, 8, api_name="/train")
    # a family/data mismatch found by the engine in the training thread reaches the page
    assert "training stopped: uitest_ar: uitest_ar takes binary digits (data 'mnist-binary')" in error_of(
        client, "uitest_ar", "mnist", 10, 8, api_name="/train")
    assert "nothing is training" in client.predict(api_name="/train_stop")


def test_models_cards(client):
    html = client.predict(api_name="/models")
    for key in ("ar-test", "dcgan-test", "vae-test"):
        assert f"data-key='{key}'" in html
    assert "cannot be loaded" in html and "fid</td><td>123.4" in html


# ----- sessions -----------------------------------------------------------------------------------------
def test_sessions_do_not_share_state(client, app_url):
    from gradio_client import Client

    other = Client(app_url, verbose=False, analytics_enabled=False)
    try:
        client.predict("dcgan-test", 5, "leading dimensions", api_name="/latent_model")  # my z: seed 5
        axes = [0.5] * N_AXES
        args = ("dcgan-test", 0, "leading dimensions", *axes, *NO_CONTROLS)
        mine = load(client.predict(*args, api_name="/latent_preview"))
        theirs = load(other.predict(*args, api_name="/latent_preview"))
        # same sliders; the other 8 of 16 dimensions come from each session's own z
        assert not np.array_equal(mine, theirs)
        other.predict("dcgan-test", 0, "leading dimensions", api_name="/latent_model")
        assert np.array_equal(load(other.predict(*args, api_name="/latent_preview")), theirs)
        assert np.array_equal(load(client.predict(*args, api_name="/latent_preview")), mine)
        assert "nothing is training" in other.predict(api_name="/train_stop")
    finally:
        other.close()
