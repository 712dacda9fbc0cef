"""The Equivariance tab on a clean checkout's two shipped generators (headless Debian chromium,
Playwright): it opens with the alias-free generator and its baseline side by side, and after a
sub-pixel shift brought back, the alias-free render holds still by far more dB than the baseline's.
Skipped, with the reason, without chromium or while either checkpoint is missing."""
from __future__ import annotations

import re

import pytest

from test_ui_browser import shot
from test_ui_browser_equivariance import drag
from ui_fixtures import (NEEDS_CHROMIUM, app_url, browser_context, one_torch_thread,  # noqa: F401
                         page, shipped_catalogue, ui_app)

pytestmark = NEEDS_CHROMIUM
SHIPPED = ("alias_free-mnist", "alias_free_baseline-mnist")


@pytest.fixture(scope="module")
def ui_dirs(tmp_path_factory, one_torch_thread):  # noqa: F811  (this module's catalogue)
    return shipped_catalogue(tmp_path_factory.mktemp("ui-eq-shipped"), SHIPPED)


def test_the_shipped_pair_opens_side_by_side_and_the_alias_free_one_holds_still(page):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Equivariance").click()
    about = page.locator("#eq-about")
    expect(about).to_contain_text("both render the same z", timeout=30_000)
    expect(page.locator("#eq-left input")).to_have_value(re.compile(r"^alias_free-mnist"))
    expect(page.locator("#eq-right input")).to_have_value(re.compile(r"^alias_free_baseline-mnist"))
    page.locator("#eq-undo input").check()
    drag(page, "eq-shift-x", 0.53)  # a fraction of a pixel right of the middle
    expect(about).to_contain_text("Brought back vs untransformed", timeout=30_000)
    text = about.inner_text()
    held = dict(re.findall(r"(alias_free\S*-mnist) ([\d.]+) dB", text))
    # One latent at one shift: 6 dB is a quarter of the baseline's error power. (Stop 20's file holds
    # 31.8 dB against 22.8 here; over 250 latents its EQ-T is 33.4 against 17.2, eval's figure.)
    assert float(held["alias_free-mnist"]) > float(held["alias_free_baseline-mnist"]) + 6, text
    # what a perfect generator would score at this shift, beside each (the undo's own limit)
    ceilings = dict(re.findall(r"(alias_free\S*-mnist) [\d.]+ dB \(at most ([\d.]+)\)", text))
    assert set(ceilings) == set(SHIPPED) and float(ceilings["alias_free_baseline-mnist"]) > float(
        held["alias_free_baseline-mnist"]), text
    page.wait_for_function("[...document.querySelectorAll('#eq-left-image img, #eq-right-image img')]"
                           ".every(i => i.complete && i.naturalWidth > 0)", timeout=10_000)
    shot(page, "equivariance-shipped")
