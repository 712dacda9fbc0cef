"""Every endpoint of the app through gradio_client, against the app launched in-process on a
free loopback port with the shipped checkpoints (see tests/ui_fixtures.py): normal inputs give
the right pictures and numbers, bad inputs give a message that says what was wrong, and the app
keeps answering afterwards. A model's controls go in as one {name: value} dict."""
from __future__ import annotations

import math
import re
import time

import numpy as np
import pytest
from PIL import Image

from ui_fixtures import STANDIN, app_url, client, one_torch_thread, sheet_tiles, ui_app, ui_dirs  # noqa: F401  (fixtures)

N_AXES = 8  # latent sliders
LATENT = "aae-mnist, dcgan-mnist, infogan-mnist, vae-mnist, vae2d-mnist"


def load(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def pad_value(path) -> dict:
    from gradio_client import handle_file

    return {"background": handle_file(str(path)), "layers": [], "composite": handle_file(str(path)), "id": None}


@pytest.fixture(scope="module")
def digit_png(tmp_path_factory):
    """MNIST test digit #0 on a 280x280 canvas, as the drawing pad would hold it."""
    from ui.tabs.likelihood import test_image
    from ui_fixtures import MNIST

    path = tmp_path_factory.mktemp("pads") / "digit.png"
    Image.fromarray(test_image(MNIST, 0)[0]["composite"]).save(path)
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
            "refresh_models", "sample_model", "steps_model", "complete_model", "latent_seed", "train_family"} <= names


def test_a_sample_click_cancels_the_first_sheet_still_on_its_way(ui_app):
    """The page opens with a sheet drawn on load; on a busy server it could land after the user's
    own click and replace it (CI saw "16 samples" where the user asked for 12). The Sample
    button's click therefore cancels that on-load event."""
    demo, _ = ui_app
    deps = demo.config["dependencies"]
    by_name = {d.get("api_name"): d for d in deps}
    first, click = by_name["sample_on_load"], by_name["sample"]
    cancelling = [d for d in deps if d["targets"] == click["targets"] and d.get("cancels")]
    assert any(first["id"] in d["cancels"] for d in cancelling), cancelling


def test_picking_a_model_cancels_the_tabs_setup_still_on_its_way_from_page_open(ui_app):
    """Each tab sets itself up for its first model when the page opens, and again when a model is
    picked. With a class opening the app at once the first setup can wait in the queue and land
    after the user's pick, leaving the first model's controls beside the picked one; so the pick
    cancels it (ui.common.on_open_and_change), in every tab that has such a pair."""
    demo, _ = ui_app
    deps = demo.config["dependencies"]
    by_name = {d.get("api_name"): d for d in deps}
    pairs = [(name, name.removesuffix("_on_load")) for name in by_name
             if name and name.endswith("_model_on_load") or name == "equivariance_models_on_load"]
    assert len(pairs) >= 8, pairs  # sample, latent, steps, likelihood, noising, translate, 3-D view, equivariance
    for on_load, on_pick in pairs:
        first, pick = by_name[on_load], by_name[on_pick]
        cancelling = [d for d in deps if d["targets"] == pick["targets"] and d.get("cancels")]
        assert any(first["id"] in d["cancels"] for d in cancelling), (on_pick, "does not cancel", on_load)


def test_server_listens_on_loopback_only(app_url):
    assert app_url.startswith("http://127.0.0.1:")


def test_model_cards_are_served_rendered_with_their_pictures(app_url):
    """The Models tab's "model card" link: the card as a page (headings, tables, pictures that
    load), not its Markdown source; unknown or path-like names get 404 naming the cards."""
    import httpx

    r = httpx.get(f"{app_url}card/dcgan", timeout=30)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "<h1>" in r.text and "<table>" in r.text and "\n# " not in r.text  # rendered, not raw Markdown
    pictures = re.findall(r"<img src=\"([^\"]+)\"", r.text)
    assert pictures, "dcgan.md shows its samples"
    for src in pictures:
        got = httpx.get(app_url.rstrip("/") + src, timeout=30)
        assert got.status_code == 200 and got.content[:8] == b"\x89PNG\r\n\x1a\n", src
    assert httpx.get(f"{app_url}card/pixelrnn", timeout=30).status_code == 200  # the card of two families
    for bad in ("no_such_family", "dcgan.md", "DCGAN"):
        r = httpx.get(f"{app_url}card/{bad}", timeout=30)
        assert r.status_code == 404 and "there are:" in r.text and "dcgan" in r.text, bad
    for climb in ("..%2F..%2FREADME", "%2E%2E", "..%2Fmodels%2Fdcgan"):  # nothing outside the cards
        r = httpx.get(f"{app_url}card/{climb}", timeout=30)
        assert r.status_code == 404 and "genlab" not in r.text.lower(), climb


# ----- Sample -----------------------------------------------------------------------------------
def test_sample_sheet_count_and_seeds(client):
    sheet, text = client.predict("dcgan-mnist", 4, 9, {"truncation": 1.0}, api_name="/sample")
    assert Image.open(sheet).size == (2 * (8 * 30 + 2), 2 * (2 * 30 + 2))  # 8 a row: 8 + 1, x2
    items = sheet_tiles(sheet, 9)
    assert len(items) == 9 and items[8].std() > 0 and items[0].shape == (56, 56)
    again = sheet_tiles(client.predict("dcgan-mnist", 4, 9, api_name="/sample")[0], 9)  # controls left out
    other = sheet_tiles(client.predict("dcgan-mnist", 5, 9, {"truncation": 1.0}, api_name="/sample")[0], 9)
    assert np.array_equal(items[0], again[0])
    assert not np.array_equal(items[0], other[0])
    assert "9 samples from **dcgan-mnist**" in text and "truncation=1.0" in text


def test_api_calls_that_leave_out_controls_get_the_models_defaults(client):
    """predict(model, seed, count) with no controls dict: every control at the model's default
    (truncation 1.0 for DCGAN), not at 0 (which gave every seed the same blank grid)."""
    left_out, text = client.predict("dcgan-mnist", 3, 4, api_name="/sample")
    given, _ = client.predict("dcgan-mnist", 3, 4, {"truncation": 1.0}, api_name="/sample")
    zero, _ = client.predict("dcgan-mnist", 3, 4, {"truncation": 0.0}, api_name="/sample")
    other, _ = client.predict("dcgan-mnist", 4, 4, api_name="/sample")
    assert np.array_equal(load(left_out), load(given))
    assert not np.array_equal(sheet_tiles(left_out, 4)[0], sheet_tiles(zero, 4)[0])
    assert not np.array_equal(sheet_tiles(left_out, 4)[0], sheet_tiles(other, 4)[0])
    assert "every control at the model's default" in text


def test_sample_model_gives_that_models_controls(client):
    controls, about = client.predict("nade-mnist", api_name="/sample_model")
    assert controls == {"temperature": 1.0}  # `every` applies to the step-by-step view only
    assert "nade" in about and "sample_steps" in about
    controls, _ = client.predict("infogan-mnist", api_name="/sample_model")
    assert controls == {"truncation": 1.0, "digit_code": "random", "code_1": 0.0, "code_2": 0.0}


def test_six_sliders_through_the_api(client):
    controls, _ = client.predict(STANDIN, api_name="/sample_model")
    assert list(controls) == ["width", "height", "depth", "azimuth", "elevation", "radius"]
    flat, _ = client.predict(STANDIN, 0, 1, controls, api_name="/sample")
    moved, text = client.predict(STANDIN, 0, 1, {**controls, "radius": -1.0}, api_name="/sample")
    diff = np.abs(sheet_tiles(moved, 1)[0].astype(int) - sheet_tiles(flat, 1)[0].astype(int)).max(axis=1)
    assert diff[:48].max() == 0 and diff[48:].min() > 100 and "radius=-1.0" in text  # the sixth band only


def test_sample_bad_inputs_give_messages(client):
    assert "Value 500 is greater than maximum value 64" in error_of(client, "dcgan-mnist", 0, 500,
                                                                    api_name="/sample")
    assert "no checkpoint named 'nope'" in error_of(client, "nope", 0, 4, api_name="/sample")
    assert "truncation must lie in [0.0, 1.5], got 9" in error_of(client, "dcgan-mnist", 0, 4, {"truncation": 9},
                                                                  api_name="/sample")
    assert "dcgan has no sample control code_1; it takes truncation" in error_of(
        client, "dcgan-mnist", 0, 4, {"code_1": 0.5}, api_name="/sample")
    assert "digit_code must be one of random, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, got 'seven'" in error_of(
        client, "infogan-mnist", 0, 4, {"digit_code": "seven"}, api_name="/sample")
    assert "controls must be a JSON object of name -> value" in error_of(client, "dcgan-mnist", 0, 4, [0.5],
                                                                         api_name="/sample")
    assert re.search(r"broken/latest.pt is not a (readable|genlab) checkpoint",
                     error_of(client, "run:broken", 0, 4, api_name="/sample"))
    sheet, _ = client.predict("dcgan-mnist", 0, 2, api_name="/sample")  # still working
    assert len(sheet_tiles(sheet, 2)) == 2


# ----- Latent explorer ------------------------------------------------------------------------------
def test_latent_sliders_preview_and_render(client):
    out = client.predict("dcgan-mnist", 7, "leading dimensions", api_name="/latent_model")
    coords = [u["value"] for u in out[:N_AXES]]  # the sliders start at z's leading coordinates
    assert len(set(coords)) == N_AXES and out[N_AXES] == {}  # dcgan declares no decode control
    base = load(client.predict("dcgan-mnist", 7, "leading dimensions", *coords, {}, api_name="/latent_preview"))
    moved = coords.copy()
    moved[0] += 2.5
    after = load(client.predict("dcgan-mnist", 7, "leading dimensions", *moved, api_name="/latent_preview"))
    assert base.shape[:2] == (28, 28) and np.abs(after.astype(int) - base.astype(int)).max() > 0
    full, info = client.predict("dcgan-mnist", 7, "leading dimensions", *moved, {}, api_name="/latent_render")
    assert load(full).shape[:2] == (280, 280) and "seed 7" in info


def test_latent_decode_controls(client):
    out = client.predict("infogan-mnist", 0, "leading dimensions", api_name="/latent_model")
    coords, controls = [u["value"] for u in out[:N_AXES]], out[N_AXES]
    assert controls == {"digit_code": "random", "code_1": 0.0, "code_2": 0.0}  # no truncation: sample only
    one = load(client.predict("infogan-mnist", 0, "leading dimensions", *coords, {**controls, "digit_code": "1"},
                              api_name="/latent_preview"))
    two = load(client.predict("infogan-mnist", 0, "leading dimensions", *coords, {**controls, "digit_code": "8"},
                              api_name="/latent_preview"))
    assert not np.array_equal(one, two)
    assert "infogan has no decode control truncation; it takes digit_code, code_1, code_2" in error_of(
        client, "infogan-mnist", 0, "leading dimensions", *coords, {"truncation": 0.5}, api_name="/latent_preview")


def test_latent_principal_directions(client):
    client.predict("dcgan-mnist", 7, "leading dimensions", api_name="/latent_model")
    out = client.predict("dcgan-mnist", 7, "principal directions", *[0.0] * N_AXES, {}, api_name="/latent_basis")
    assert len(out) == N_AXES + 2  # sliders, image, info (the session state is not returned)
    assert [u["label"].split(" (")[0] for u in out[:3]] == ["direction 1", "direction 2", "direction 3"]
    assert "of image variance" in out[0]["label"] and load(out[N_AXES]).shape[:2] == (280, 280)


def test_latent_refuses_models_without_a_latent_space(client):
    msg = error_of(client, "nade-mnist", 0, "leading dimensions", api_name="/latent_model")
    assert "no 'latent' capability" in msg and LATENT in msg


def test_latent_encode_sets_sliders_to_the_posterior_mean(client, digit_png, ui_dirs):
    import torch

    from ui.catalog import Catalog
    from ui.images import to_model_input

    out = client.predict("vae-mnist", "leading dimensions", pad_value(digit_png), {"pixels": "mean"},
                         api_name="/latent_encode")
    sliders = [u["value"] for u in out[:N_AXES]]
    assert "posterior" in out[0]["label"] and "±" in out[0]["label"]
    model = Catalog(*ui_dirs).model("vae-mnist")
    x, _ = to_model_input(str(digit_png), model.data_spec)
    with torch.inference_mode():
        mean, _ = model.encode(x)
    assert sliders == pytest.approx(mean[0, :N_AXES].tolist(), abs=2e-3)
    assert "encoded drawing" in out[-2]
    assert load(out[-1]).shape[:2] == (140, 140)  # the digit as the model sees it


def test_latent_encode_bad_uploads(client, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("hello, I am not a picture")
    assert "not an image" in error_of(client, "vae-mnist", "leading dimensions", pad_value(text),
                                      api_name="/latent_encode")
    huge = tmp_path / "huge.png"
    Image.new("L", (6000, 4)).save(huge)
    assert "6000x4 pixels; the limit is 4096" in error_of(client, "vae-mnist", "leading dimensions",
                                                          pad_value(huge), api_name="/latent_encode")
    small_rgba = tmp_path / "small.png"
    rgba = np.zeros((50, 30, 4), np.uint8)
    rgba[10:40, 10:20] = (0, 0, 0, 255)  # dark ink on transparent, not square, not the model's size
    Image.fromarray(rgba).save(small_rgba)
    out = client.predict("vae-mnist", "leading dimensions", pad_value(small_rgba), api_name="/latent_encode")
    assert load(out[-1]).max() > 200  # converted to a white digit on black
    assert "no 'encode' capability" in error_of(client, "dcgan-mnist", "leading dimensions", pad_value(small_rgba),
                                                api_name="/latent_encode")


# ----- Interpolation ------------------------------------------------------------------------------
def test_interpolation_between_seeds_and_drawings(client, digit_png):
    strip, gif, caption = client.predict("dcgan-mnist", "two seeds", 0, 1, None, None, "slerp", 6,
                                         api_name="/interpolate")
    assert load(strip).shape[:2] == (3 * 32, 3 * (6 * 30 + 2))
    assert Image.open(gif).n_frames == 6 + 4 and "slerp walk, 6 steps" in caption
    lerp, _, _ = client.predict("dcgan-mnist", "two seeds", 0, 1, None, None, "lerp", 6, api_name="/interpolate")
    assert not np.array_equal(load(strip), load(lerp))
    every = client.predict("two seeds", 0, 1, None, None, "slerp", 5, api_name="/interpolate_all")
    assert [e["caption"] for e in every] == ["aae-mnist (aae)", "dcgan-mnist (dcgan)", "infogan-mnist (infogan)",
                                             "vae-mnist (vae)", "vae2d-mnist (vae)"]
    drawn, _, _ = client.predict("vae-mnist", "two drawings", 0, 1, pad_value(digit_png), pad_value(digit_png),
                                 "lerp", 4, api_name="/interpolate")
    cells = np.split(load(drawn)[:, : 3 * 4 * 30], 4, axis=1)
    assert all(np.array_equal(cells[0], c) for c in cells)  # the same digit twice: a constant walk


def test_interpolation_bad_inputs(client):
    assert "Value 100 is greater than maximum value 32" in error_of(
        client, "dcgan-mnist", "two seeds", 0, 1, None, None, "slerp", 100, api_name="/interpolate")
    assert "cannot encode images" in error_of(
        client, "dcgan-mnist", "two drawings", 0, 1, None, None, "slerp", 4, api_name="/interpolate")
    assert "no first drawing given" in error_of(
        client, "vae-mnist", "two drawings", 0, 1, None, None, "slerp", 4, api_name="/interpolate")


# ----- Step by step ---------------------------------------------------------------------------------
def test_steps_stream_frames_then_scrub(client):
    assert client.predict("pixelcnn-mnist", api_name="/steps_model") == {"temperature": 1.0, "every": 7}
    job = client.submit("pixelcnn-mnist", 0, 2, {"every": 28}, api_name="/steps")  # a frame per row
    final = job.result(timeout=60)
    outputs = job.outputs()
    assert len(outputs) >= 3, "the frames must arrive one by one"
    assert outputs[0][0] is None  # first: the earlier run's frames and picture are forgotten
    pics = [load(o[0]) for o in outputs[1:]]
    assert len({p.tobytes() for p in pics}) >= 3
    assert "done: 29 steps" in final[1]
    first = load(client.predict(0, api_name="/steps_scrub"))
    assert first.shape == pics[-1].shape and not np.array_equal(first, pics[-1])  # start frame: all grey


def test_steps_refuses_models_without_steps_and_bad_controls(client):
    assert "no 'sample_steps' capability" in error_of(client, "dcgan-mnist", 0, 2, api_name="/steps")
    assert "every must lie in [1, 784], got 0" in error_of(client, "nade-mnist", 0, 2, {"every": 0},
                                                           api_name="/steps")


# ----- Likelihood -------------------------------------------------------------------------------------
def test_likelihood_table_and_heatmaps(client, digit_png):
    table, maps, seen = client.predict(["pixelcnn-mnist", "vae-mnist"], pad_value(digit_png), api_name="/likelihood")
    rows = {r[0]: r for r in table["data"]}
    assert set(rows) == {"pixelcnn-mnist", "vae-mnist"}
    nats, bpd = float(rows["pixelcnn-mnist"][2]), float(rows["pixelcnn-mnist"][3])
    assert bpd == pytest.approx(nats / (784 * math.log(2)), abs=1e-3) and rows["pixelcnn-mnist"][4] == "exact"
    assert rows["vae-mnist"][4].startswith("bound")
    assert len(maps) == 1 and load(maps[0]["image"]).shape == (224, 224, 3)
    digit, which = client.predict(3, ["vae-mnist"], None, api_name="/test_digit")
    assert load(digit["composite"]).shape[:2] == (280, 280) and which == "mnist-dynbin test image #3: a **7**"  # vae-mnist's data


def test_likelihood_bad_inputs(client, digit_png, tmp_path):
    assert "pick at least one model" in error_of(client, [], pad_value(digit_png), api_name="/likelihood")
    assert "no 'log_prob' capability" in error_of(client, ["dcgan-mnist"], pad_value(digit_png),
                                                  api_name="/likelihood")
    assert "test image index must be between 0 and 999" in error_of(client, 5000, ["vae-mnist"], None,
                                                                     api_name="/test_digit")


def test_completion(client, digit_png):
    rows_kept, controls = client.predict("pixelcnn-mnist", api_name="/complete_model")
    assert rows_kept["maximum"] == 28 and rows_kept["value"] == 14 and controls == {"temperature": 1.0}
    pic, caption = client.predict("pixelcnn-mnist", pad_value(digit_png), 10, 2, 0, controls, api_name="/complete")
    pic = load(pic)
    assert pic.shape[:2] == (3 * 32, 3 * (3 * 30 + 2))
    top = slice(6, 3 * 12)
    assert np.array_equal(pic[top, 6:90], pic[top, 96:180])  # the 10 given rows are kept
    assert "the 10 rows given" in caption
    assert "no 'complete' capability" in error_of(client, "vae-mnist", pad_value(digit_png), 10, 2, 0,
                                                  api_name="/complete")
    assert "temperature must lie in [0.05, 2.0], got 0" in error_of(
        client, "nade-mnist", pad_value(digit_png), 10, 2, 0, {"temperature": 0}, api_name="/complete")


# ----- Train and Models ---------------------------------------------------------------------------------
def test_train_shows_progress_and_the_run_appears_everywhere(client, ui_app):
    # the family's own data, and its one-minute recipe's budget on the sliders
    from ui.tabs.train import quick_budget

    data, steps, batch, progress, start_from = client.predict("nade", api_name="/train_family")
    steps, info = steps["value"], steps["info"]  # an update: the budget and what it is
    assert [key for _, key in start_from["choices"]] == ["", "nade-mnist"]  # random weights, or its shipped model
    assert (data, steps, batch) == ("mnist-binary", *quick_budget("nade")) and f'max="{steps}"' in progress
    assert info.startswith("preset") and "no one-minute recipe" in client.predict("ddpm", api_name="/train_family")[1]["info"]
    assert client.predict("vae", api_name="/train_family")[0] == "mnist-binary"  # its one-minute recipe's data
    job = client.submit("aae", "mnist", 12, 8, api_name="/train")
    final = job.result(timeout=240)
    plot, grid, progress, status, key = final
    assert key.startswith("run:ui-aae-mnist-") and "finished step 12 of 12" in status
    assert 'value="12" max="12"' in progress and grid is not None
    assert len(job.outputs()) >= 2  # at least the start and the end
    after = str(client.predict(api_name="/train_stop"))  # Stop after the end leaves "finished ..." alone
    assert "stopping" not in after and "nothing is training" not in after
    pickers = ui_app[0].genlab_context.pickers  # one current value per model picker, in page order
    current = {"lik-models": ["nade-mnist"], "lik-complete-model": "nade-mnist", "steps-model": "nade-mnist"}
    refreshed = client.predict(*[current.get(dd.elem_id, "dcgan-mnist") if cap != "translate" else None
                                 for dd, cap in pickers], api_name="/refresh_models")
    assert key in [c[1] for c in refreshed[0]["choices"]]
    assert key in client.predict(api_name="/models")
    sheet, text = client.predict(key, 0, 3, api_name="/sample")
    assert len(sheet_tiles(sheet, 3)) == 3 and "3 samples" in text


def test_train_can_be_stopped(client):
    job = client.submit("aae", "mnist", 5000, 8, api_name="/train")
    deadline = time.time() + 120
    while time.time() < deadline and len(job.outputs()) < 1:
        time.sleep(0.2)
    assert "stopping" in client.predict(api_name="/train_stop")
    final = job.result(timeout=180)
    assert "stopped at step" in final[3] and final[4].startswith("run:")


def test_train_bad_inputs(client):
    assert "Value: nope is not in the list of choices" in error_of(client, "nope", "mnist", 10, 8,
                                                                   api_name="/train")
    assert "Value 0 is less than minimum value 10" in error_of(client, "aae", "mnist", 0, 8, api_name="/train")
    # a family/data mismatch found by the engine in the training thread reaches the page
    msg = error_of(client, "nade", "mnist", 10, 8, api_name="/train")
    assert msg.startswith("training stopped: ") and "NADE takes" in msg and "8-bit pixels" in msg
    assert "nothing is training" in client.predict(api_name="/train_stop")


def test_models_cards(client):
    html = client.predict(api_name="/models")
    for key in ("aae-mnist", "nade-mnist", "vae2d-mnist", STANDIN):
        assert f"data-key='{key}'" in html
    assert "cannot be loaded" in html and "fid</td><td>123.4" in html


# ----- sessions -----------------------------------------------------------------------------------------
def test_sessions_do_not_share_state(client, app_url):
    from gradio_client import Client

    other = Client(app_url, verbose=False, analytics_enabled=False)
    try:
        client.predict("dcgan-mnist", 5, "leading dimensions", api_name="/latent_model")  # my z: seed 5
        axes = [0.5] * N_AXES
        args = ("dcgan-mnist", 0, "leading dimensions", *axes, {})
        mine = load(client.predict(*args, api_name="/latent_preview"))
        theirs = load(other.predict(*args, api_name="/latent_preview"))
        # same sliders; the other 92 of 100 dimensions come from each session's own z
        assert not np.array_equal(mine, theirs)
        other.predict("dcgan-mnist", 0, "leading dimensions", api_name="/latent_model")
        assert np.array_equal(load(other.predict(*args, api_name="/latent_preview")), theirs)
        assert np.array_equal(load(client.predict(*args, api_name="/latent_preview")), mine)
        assert "nothing is training" in other.predict(api_name="/train_stop")
    finally:
        other.close()


def test_interpolation_pads_take_uploaded_files_through_the_server(client, tmp_path):
    """/interp_upload_a and /interp_upload_b: the file itself, checked and converted on the server."""
    from gradio_client import handle_file

    huge = tmp_path / "huge.png"
    Image.new("L", (6000, 6000), 0).save(huge)
    assert "6000x6000 pixels; the limit is 4096" in error_of(client, "vae-mnist", handle_file(str(huge)),
                                                              api_name="/interp_upload_a")
    rgb = np.full((300, 500, 3), 230, np.uint8)
    rgb[60:240, 230:260] = (20, 10, 40)
    Image.fromarray(rgb).save(tmp_path / "photo.jpg")
    pad, text = client.predict("vae-mnist", handle_file(str(tmp_path / "photo.jpg")), api_name="/interp_upload_b")
    assert "photo.jpg** (500x300, RGB)" in text and "resized 500x300 -> 28x28" in text
    assert load(pad["composite"]).shape[:2] == (280, 280)
