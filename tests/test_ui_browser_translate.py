"""The Translate tab in a real browser (Debian's chromium, headless, Playwright), on the shipped
translation checkpoints (cyclegan-mnist: two domains; stargan-mnist: eight attribute
combinations): pick a model and a target domain, translate a test digit, and see the source,
translation, true counterpart, cycle and error heatmaps, and for the attribute model the grid of
every combination; a file that is not a picture, and "my picture" with nothing drawn, get a
message. Screenshots go to test-artifacts/. Skipped, with the reason, without chromium."""
from __future__ import annotations

import re
from io import BytesIO

import numpy as np
import pytest
from PIL import Image

from test_ui_browser import natural_width, open_tab, pick, shot, src, upload_file
from ui_fixtures import (NEEDS_CHROMIUM, ARTIFACTS, app_url, browser_context, one_torch_thread,  # noqa: F401
                         page, shipped_catalogue, ui_app)

pytestmark = NEEDS_CHROMIUM
SHIPPED = ("cyclegan-mnist", "stargan-mnist", "vae-mnist")
THUMBS = re.compile(r"^Thumbnail \d+ of \d+$")


@pytest.fixture(scope="module")
def ui_dirs(tmp_path_factory, one_torch_thread):  # noqa: F811  (this module's catalogue)
    return shipped_catalogue(tmp_path_factory.mktemp("ui-translate"), SHIPPED)


def captions(page) -> list[str]:
    items = page.locator("#translate-gallery").get_by_role("button", name=THUMBS)
    return [items.nth(i).locator(".caption-label").inner_text() for i in range(items.count())]


def all_loaded(page, sel: str) -> None:
    page.wait_for_function(f"[...document.querySelectorAll({sel!r})].every(i => i.complete && i.naturalWidth > 0)",
                           timeout=15_000)


def test_two_domain_model_shows_source_translation_truth_cycle_and_heatmaps(page):
    from playwright.sync_api import expect

    open_tab(page, "Translate")
    pick(page, "translate-model", "cyclegan-mnist")
    expect(page.locator("#translate-about")).to_contain_text("domains: plain, bold+orange+blue_bg", timeout=20_000)
    expect(page.locator("#translate-target input")).to_have_value("bold+orange+blue_bg")
    page.locator("#translate-index input").fill("3")
    page.locator("#translate-button").click()
    items = page.locator("#translate-gallery").get_by_role("button", name=THUMBS)
    expect(items).to_have_count(6, timeout=60_000)
    all_loaded(page, "#translate-gallery img")
    assert captions(page) == ["source: plain", "translation: bold+orange+blue_bg", "true counterpart",
                              "cycle: back to plain", captions(page)[4], captions(page)[5]]
    assert captions(page)[4].startswith("|translation − truth|") and captions(page)[5].startswith("|cycle − source|")
    summary = page.locator("#translate-summary")
    expect(summary).to_contain_text("test image #3 of plain")
    got = re.search(r"L1 to the truth ([\d.]+) \(no translation: ([\d.]+)\)", summary.inner_text())
    assert got and float(got.group(1)) < float(got.group(2))  # closer to the truth than the source is
    # the translation is in colour (orange on blue), the source grey; both shown big, pixelated
    imgs = page.locator("#translate-gallery img")
    source = np.asarray(Image.open(BytesIO(page.request.get(imgs.nth(0).get_attribute("src")).body())).convert("RGB"))
    fake = np.asarray(Image.open(BytesIO(page.request.get(imgs.nth(1).get_attribute("src")).body())).convert("RGB"))
    assert source.shape[0] >= 140 and np.ptp(source.astype(int), axis=2).max() == 0
    assert np.ptp(fake.astype(int), axis=2).max() > 60
    box = imgs.nth(1).bounding_box()
    assert box["width"] > 60 and box["height"] > 60, box  # readable on the page, not a speck
    for i in range(6):  # each caption whole and under its picture, not cut short over it
        item = page.locator("#translate-gallery").get_by_role("button", name=THUMBS).nth(i)
        pic_box, cap = item.locator("img").bounding_box(), item.locator(".caption-label")
        assert cap.bounding_box()["y"] >= pic_box["y"] + pic_box["height"] - 1, i
        assert cap.evaluate("e => e.scrollWidth <= e.clientWidth + 1"), cap.inner_text()
    tall = page.locator("#translate-gallery").bounding_box()["height"]
    assert tall < 2 * box["height"] + 120, tall  # one row of pictures, no empty box below them
    expect(page.locator("#translate-grid")).to_be_hidden()  # no attributes: no grid, not an empty box
    shot(page, "translate-cyclegan")
    assert page.external == [], page.external


def test_attribute_model_shows_the_grid_of_every_combination(page):
    from playwright.sync_api import expect

    open_tab(page, "Translate")
    pick(page, "translate-model", "stargan-mnist")
    expect(page.locator("#translate-about")).to_contain_text("attributes: bold, orange, blue_bg", timeout=20_000)
    page.locator("#translate-target input").click()
    page.get_by_role("option", name="orange+blue_bg", exact=True).click()
    expect(page.locator("#translate-target input")).to_have_value("orange+blue_bg")
    page.locator("#translate-button").click()
    items = page.locator("#translate-gallery").get_by_role("button", name=THUMBS)
    expect(items).to_have_count(6, timeout=60_000)
    expect(page.locator("#translate-summary")).to_contain_text("→ orange+blue_bg with stargan-mnist")
    expect(page.locator("#translate-summary")).to_contain_text("Grid, left to right: plain, bold, orange")
    assert captions(page)[1] == "translation: orange+blue_bg" and captions(page)[2] == "true counterpart"
    grid = page.locator("#translate-grid img")
    expect(page.locator("#translate-grid")).to_be_visible(timeout=10_000)  # shown for attribute models
    expect(grid).to_be_visible(timeout=10_000)
    all_loaded(page, "#translate-grid img")
    w = natural_width(page, "#translate-grid img")
    h = grid.evaluate("img => img.naturalHeight")
    assert w > 7 * h, (w, h)  # eight combinations side by side
    page.locator("#translate-grid").scroll_into_view_if_needed()
    shot(page, "translate-stargan")
    page.locator("#translate-grid").screenshot(path=str(ARTIFACTS / "translate-stargan-grid.png"))
    assert page.external == [], page.external


def test_a_wrong_upload_and_an_empty_picture_get_a_message(page, tmp_path):
    from playwright.sync_api import expect

    open_tab(page, "Translate")
    pick(page, "translate-model", "cyclegan-mnist")
    expect(page.locator("#translate-about")).to_contain_text("domains:", timeout=20_000)
    page.locator("#tab-translate").get_by_text("My picture (draw or upload)").click()
    bad = tmp_path / "digit.png"
    bad.write_text("I am a text file with a .png name")
    upload_file(page, "translate-upload", bad)
    expect(page.get_by_text(re.compile("not an image we can read"))).to_be_visible(timeout=30_000)
    shot(page, "translate-bad-upload")
    page.locator("#translate-source-kind").get_by_text("my picture").click()
    page.locator("#translate-button").click()  # nothing drawn or uploaded
    expect(page.get_by_text(re.compile("no picture given"))).to_be_visible(timeout=30_000)
    # the tab still works: a real picture, uploaded, is converted and translated
    rgb = np.full((300, 200, 3), 235, np.uint8)
    rgb[40:260, 90:115] = (30, 20, 60)
    Image.fromarray(rgb).save(tmp_path / "one.png")
    upload_file(page, "translate-upload", tmp_path / "one.png")
    expect(page.locator("#translate-which")).to_contain_text("one.png (200x300, RGB)", timeout=30_000)
    expect(page.locator("#translate-pad").get_by_text("Draw here", exact=True)).to_have_count(0, timeout=20_000)
    page.wait_for_timeout(500)
    before = src(page, "#translate-gallery img") if page.locator("#translate-gallery img").count() else None
    page.locator("#translate-button").click()
    expect(page.locator("#translate-summary")).to_contain_text("your picture", timeout=60_000)
    items = page.locator("#translate-gallery").get_by_role("button", name=THUMBS)
    expect(items).to_have_count(4)  # no true counterpart for a picture: source, translation, cycle, heatmap
    assert before is None or src(page, "#translate-gallery img") != before
    shot(page, "translate-my-picture")
