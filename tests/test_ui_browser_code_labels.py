"""InfoGAN's labelled codes in a real browser (Debian's chromium, headless, Playwright), on the
shipped checkpoint: the digit_code dropdown lists "code → draws digit (share)", picking a label
sends the code, and what the page then draws is read by genlab's classifier as the labelled
digit. Screenshots go to test-artifacts/. Skipped, with the reason, without chromium."""
from __future__ import annotations

import re
from io import BytesIO

import numpy as np
import pytest
import torch
from PIL import Image

from genlab.registry import load
from test_ui_browser import open_tab, shot
from ui_fixtures import (NEEDS_CHROMIUM, app_url, browser_context, one_torch_thread, page,  # noqa: F401
                         shipped_catalogue, shown_sheet, ui_app)

pytestmark = NEEDS_CHROMIUM


@pytest.fixture(scope="module")
def ui_dirs(tmp_path_factory, one_torch_thread):  # noqa: F811  (this module's catalogue)
    return shipped_catalogue(tmp_path_factory.mktemp("ui-code-labels"), ("infogan-mnist",))


def test_the_code_dropdown_shows_what_each_code_draws(page):
    from playwright.sync_api import expect

    from genlab.metrics.classifier import classify

    labels = load("infogan-mnist").code_digits()
    code = max(range(10), key=lambda k: labels[k][1])  # the code that most reliably draws one digit
    digit, share = labels[code]
    label = f"{code} → draws {digit} ({share:.0%})"
    open_tab(page, "Sample")
    # the page's load events (the first samples) are done: the controls are not drawn again under us
    shown_sheet(page, 16, timeout=60_000)
    dropdown = page.locator("#sample-control-digit-code input")
    expect(dropdown).to_have_value("random", timeout=30_000)
    dropdown.click()
    options = page.get_by_role("option")
    expect(options).to_have_count(11, timeout=10_000)
    assert all(re.fullmatch(r"\d → draws \d \(\d+%\)", t) for t in options.all_inner_texts()[1:])
    expect(page.get_by_role("option", name=label)).to_be_visible()
    shot(page, "code-labels-dropdown")
    page.get_by_role("option", name=label).click()
    expect(dropdown).to_have_value(label)
    page.locator("#sample-button").click()
    expect(page.locator("#sample-summary")).to_contain_text(f"digit_code={code}", timeout=60_000)  # the code was sent
    pictures = shown_sheet(page, 16)
    shot(page, "code-labels-sampled")
    assert len(pictures) == 16
    x = torch.tensor(np.stack([p[::2, ::2] for p in pictures]), dtype=torch.float32)[:, None] / 127.5 - 1
    read = classify(x)[1].argmax(1)
    assert (read == digit).float().mean() >= 0.6, read.tolist()  # what the label says the code draws
    assert page.external == [], page.external
