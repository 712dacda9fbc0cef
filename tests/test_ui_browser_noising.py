"""The Noise and denoise tab in a real browser (Debian's chromium, headless, Playwright), on the
shipped diffusion checkpoint: a test digit and a digit drawn with the mouse, noised to t and
denoised back, a strip over t, and a bad t refused with its range. Screenshots go to
test-artifacts/. Skipped, with the reason, without chromium."""
from __future__ import annotations

import re

import pytest

from test_ui_browser import draw_seven, open_tab, settle_pad, shot
from ui_fixtures import (NEEDS_CHROMIUM, ARTIFACTS, app_url, browser_context, one_torch_thread,  # noqa: F401
                         page, shipped_catalogue, ui_app)

pytestmark = NEEDS_CHROMIUM
SHIPPED = ("ddpm-mnist", "vae-mnist")


@pytest.fixture(scope="module")
def ui_dirs(tmp_path_factory, one_torch_thread):  # noqa: F811  (this module's catalogue)
    return shipped_catalogue(tmp_path_factory.mktemp("ui-noising"), SHIPPED)


T_LABEL = "t (noise level, 0..T-1)"


def test_noise_a_test_digit_and_denoise_it_then_a_strip(page):
    from playwright.sync_api import expect

    open_tab(page, "Noise and denoise")
    expect(page.locator("#noise-model input")).to_have_value(re.compile("ddpm-mnist"), timeout=20_000)
    t_number = page.get_by_role("spinbutton", name=f"number input for {T_LABEL}")
    expect(t_number).to_have_value("500", timeout=20_000)  # halfway through the model's T = 1000
    page.locator("#noise-load").click()
    expect(page.locator("#noise-which")).to_contain_text("test image #0: a 2", timeout=20_000)
    settle_pad(page, "noise-pad")
    page.get_by_role("slider", name=f"range slider for {T_LABEL}").fill("300")
    expect(t_number).to_have_value("300")
    page.get_by_text("Denoising controls (declared by the model)").click()
    steps = page.get_by_role("spinbutton", name="number input for steps")  # declared for denoise
    expect(steps).to_be_visible(timeout=20_000)
    steps.fill("10")
    steps.press("Enter")
    page.wait_for_timeout(300)
    page.locator("#noise-button").click()
    expect(page.locator("#noise-summary")).to_contain_text("t = 300 of 0..999", timeout=60_000)
    expect(page.locator("#noise-summary")).to_contain_text("steps=10")
    for elem in ("noise-input", "noise-xt", "noise-denoised"):
        expect(page.locator(f"#{elem} img")).to_be_visible()
    page.wait_for_function("['noise-input', 'noise-xt', 'noise-denoised'].every(id => "
                           "{const i = document.querySelector('#' + id + ' img'); return i && i.complete "
                           "&& i.naturalWidth > 0})", timeout=10_000)
    shot(page, "noising")
    page.get_by_role("slider", name="range slider for t values in the strip").fill("6")
    page.locator("#noise-strip-button").click()
    expect(page.locator("#noise-caption")).to_contain_text("t = 0, 200, 400, 599, 799, 999", timeout=60_000)
    expect(page.locator("#noise-strip img")).to_be_visible()
    page.locator("#noise-strip").scroll_into_view_if_needed()
    page.wait_for_function("(() => {const i = document.querySelector('#noise-strip img'); "
                           "return i && i.complete && i.naturalWidth > 0})()", timeout=10_000)
    shot(page, "noising-strip")
    page.locator("#noise-strip").screenshot(path=str(ARTIFACTS / "noising-strip-only.png"))
    assert page.external == [], page.external


def test_a_drawn_digit_and_a_bad_t(page):
    from playwright.sync_api import expect

    open_tab(page, "Noise and denoise")
    t_number = page.get_by_role("spinbutton", name=f"number input for {T_LABEL}")
    expect(t_number).to_have_value("500", timeout=20_000)
    page.locator("#noise-button").click()  # nothing on the pad yet
    expect(page.get_by_text(re.compile("no picture given"))).to_be_visible(timeout=20_000)
    draw_seven(page, "noise-pad")
    page.wait_for_timeout(500)
    page.get_by_role("slider", name=f"range slider for {T_LABEL}").fill("150")
    page.locator("#noise-button").click()
    expect(page.locator("#noise-summary")).to_contain_text("t = 150 of 0..999", timeout=60_000)
    expect(page.get_by_text(re.compile("inverted to a light digit"))).to_be_visible()  # said how it was taken
    shot(page, "noising-drawn")
    # a t past the end: the number box keeps to the model's range, so the page never sends it
    t_number.fill("1000")
    t_number.press("Tab")  # leaving the box puts the value back in range
    expect(t_number).to_have_value("999", timeout=10_000)
    page.locator("#noise-button").click()
    expect(page.locator("#noise-summary")).to_contain_text("t = 999 of 0..999", timeout=60_000)
    shot(page, "noising-t-clamped")


def test_a_bad_t_through_the_api_is_refused_with_the_range(app_url, tmp_path):
    """A script can send any t: the answer names the range the model takes."""
    import numpy as np
    from gradio_client import Client, handle_file
    from PIL import Image

    digit = np.zeros((280, 280), np.uint8)
    digit[40:240, 130:150] = 255  # a "1"
    Image.fromarray(digit).save(tmp_path / "one.png")
    pad = {"background": handle_file(str(tmp_path / "one.png")), "layers": [],
           "composite": handle_file(str(tmp_path / "one.png")), "id": None}
    c = Client(app_url, verbose=False, analytics_enabled=False)
    try:
        _, _, _, summary = c.predict("ddpm-mnist", pad, 10, 0, {"steps": 5}, api_name="/noise")
        assert "t = 10 of 0..999" in summary
        with pytest.raises(Exception, match=r"999"):
            c.predict("ddpm-mnist", pad, 1000, 0, {}, api_name="/noise")
        with pytest.raises(Exception, match=r"t must be a whole number in 0\.\.999"):
            c.predict("ddpm-mnist", pad, 2.5, 0, {}, api_name="/noise")
    finally:
        c.close()
