"""The Equivariance tab in a real browser (headless Debian chromium, Playwright), on small
untrained alias-free and baseline checkpoints (none ships yet): both render, a slider drag
re-renders both on release, "undo the transform" brings them back. Screenshots go to
test-artifacts/ (git-ignored). Skipped, with the reason, without chromium."""
from __future__ import annotations

import re

import pytest

from test_ui_equivariance import write_models
from ui_fixtures import (NEEDS_CHROMIUM, ARTIFACTS, app_url, browser_context, one_torch_thread, page,  # noqa: F401
                         ui_app)

pytestmark = NEEDS_CHROMIUM


@pytest.fixture(scope="module")
def ui_dirs(tmp_path_factory, one_torch_thread):  # noqa: F811  (the app's catalogue: the small generators)
    root = tmp_path_factory.mktemp("ui-equivariance")
    write_models(root / "checkpoints")
    return root / "checkpoints", root / "runs"


def drag(page, elem_id: str, fraction: float) -> None:
    """Drag a slider's handle from its middle to `fraction` of its track, as a user does (ends in a release)."""
    track = page.locator(f"#{elem_id} input[type=range]").bounding_box()
    y = track["y"] + track["height"] / 2
    page.mouse.move(track["x"] + track["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(track["x"] + track["width"] * fraction, y, steps=8)
    page.mouse.up()


def test_drag_a_shift_then_undo_it(page):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Equivariance").click()
    about = page.locator("#eq-about")
    expect(about).to_contain_text("both render the same z", timeout=30_000)
    expect(page.locator("#eq-left input")).to_have_value(re.compile(r"^af ·"))
    expect(page.locator("#eq-right input")).to_have_value(re.compile(r"^base ·"))
    for side in ("left", "right"):
        expect(page.locator(f"#eq-{side}-image img")).to_be_visible()
        expect(page.locator(f"#eq-{side}-spectrum img")).to_be_visible()
    before = page.locator("#eq-left-image img").get_attribute("src")
    drag(page, "eq-shift-x", 0.53)  # a fraction of a pixel right of the middle
    expect(about).to_contain_text("Brought back vs untransformed", timeout=20_000)
    expect(page.locator("#eq-left-image img")).not_to_have_attribute("src", before)
    moved = page.locator("#eq-left-image img").get_attribute("src")
    page.locator("#eq-undo input").check()
    expect(about).to_contain_text("Shown: the renders brought back", timeout=20_000)
    expect(page.locator("#eq-left-image img")).not_to_have_attribute("src", moved)
    page.wait_for_function("[...document.querySelectorAll('#eq-left-image img, #eq-right-image img')]"
                           ".every(i => i.complete && i.naturalWidth > 0)", timeout=10_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "equivariance-undo.png"), full_page=True)
    assert page.external == [], page.external
