"""The static gallery (`python -m genlab gallery`, genlab/gallery/): an index and a page per
checkpoint whose sections follow the model's capabilities, every picture on disk beside the page,
and the pages opened from file:// in Chromium with every image loaded and no request leaving the machine.

Built once per module, small: shipped vae2d-mnist (latent, encode), cyclegan-mnist (translate only),
ddpm-mnist (sample_steps, 3 sampler steps), infogan-mnist (controls in the group "codes") and an untrained alias_free model (transform controls)
saved with a metrics.jsonl beside it, as a run folder has. (The CLI's own gallery test is in test_cli.py.)
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import torch

from genlab.gallery import build_gallery, page_name
from genlab.gallery.markdown import render_markdown

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--host-resolver-rules=MAP * ~NOTFOUND"]
SHIPPED = ("vae2d-mnist", "cyclegan-mnist", "ddpm-mnist", "infogan-mnist")


class _Refs(HTMLParser):
    """Every src/href in a page, and the ids of its sections."""

    def __init__(self):
        super().__init__()
        self.src, self.href, self.sections = [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "src" in a:
            self.src.append(a["src"])
        if "href" in a:
            self.href.append(a["href"])
        if tag == "section":
            self.sections.append(a.get("id"))


def refs(path: Path) -> _Refs:
    r = _Refs()
    r.feed(path.read_text())
    return r


@pytest.fixture(scope="module")
def alias_free_run(tmp_path_factory) -> Path:
    """An untrained alias_free generator (it has the transform controls) as a run folder's latest.pt."""
    from genlab.checkpoint import save_checkpoint
    from genlab.model import DataSpec
    from genlab.registry import build

    torch.manual_seed(0)
    model = build("alias_free", data_spec=DataSpec(1, 32, 32, 10, False, "mnist", pad=2)).eval()
    folder = tmp_path_factory.mktemp("alias_free-run")
    save_checkpoint({"family": model.family, "config": dataclasses.asdict(model.config),
                     "data_spec": model.data_spec.to_dict(), "step": 30, "model": model.state_dict(), "ema": {},
                     "metrics": {}, "train_seconds": 1.0}, folder / "latest.pt")
    (folder / "metrics.jsonl").write_text("".join(json.dumps(
        {"step": s, "discriminator/loss": 1.0 / s, "generator/loss": 0.5 + 0.01 * s, "images_per_s": 9.0}) + "\n"
        for s in (10, 20, 30)))
    return folder / "latest.pt"


@pytest.fixture(scope="module")
def gallery(tmp_path_factory, alias_free_run):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("gallery")
    problems, lines, seen = [], [], []
    index = build_gallery([*SHIPPED, str(alias_free_run)], out, n=4, frames=4, controls={"steps": 3},
                          problems=problems, log=lines.append, progress=lambda i, total, name: seen.append(name))
    assert index == out / "index.html"
    assert seen == [*SHIPPED, str(alias_free_run)]
    return out, problems, lines


def test_every_page_is_linked_and_every_picture_is_a_local_file(gallery):
    out, problems, _ = gallery
    assert problems == []
    pages = [f"{name}.html" for name in SHIPPED] + ["alias_free-run0.html"]
    index = refs(out / "index.html")
    assert set(pages) <= set(index.href)
    for page in [out / "index.html", *(out / p for p in pages)]:
        r = refs(page)
        assert r.src, page
        for ref in r.src + r.href:
            assert "://" not in ref and not ref.startswith(("/", "//")), (page.name, ref)
        for src in r.src:
            assert (out / src).is_file() and (out / src).stat().st_size > 0, (page.name, src)
        assert "could not be drawn" not in page.read_text()


def test_sections_follow_capabilities(gallery):
    out = gallery[0]
    sections = {p: refs(out / f"{p}.html").sections
                for p in (*SHIPPED, "alias_free-run0")}
    assert sections["vae2d-mnist"] == ["samples", "interpolation", "training", "card"]
    assert sections["cyclegan-mnist"] == ["samples", "translation", "training", "card"]
    assert sections["ddpm-mnist"] == ["samples", "interpolation", "steps", "training", "card"]
    assert sections["infogan-mnist"] == ["samples", "interpolation", "codes", "training", "card"]
    assert sections["alias_free-run0"] == ["samples", "interpolation", "equivariance", "training", "card"]
    srcs = refs(out / "alias_free-run0.html").src
    assert {f"alias_free-run0/equivariance_{k}.png" for k in ("shift_x", "shift_y", "rotate")} <= set(srcs)
    assert "alias_free-run0/training.png" in srcs  # from the metrics.jsonl beside the checkpoint
    assert "ddpm-mnist/steps.gif" in refs(out / "ddpm-mnist.html").src


def test_infogan_code_rows_are_captioned_with_the_digit_each_code_draws(gallery):
    from genlab.registry import load

    out = gallery[0]
    code = next(c for c in load("infogan-mnist").controls_for("decode") if c.kind == "choice")
    assert code.choice_labels  # measured and stored with the shipped checkpoint
    text = (out / "infogan-mnist.html").read_text()
    assert "top to bottom: " + ", ".join(f"{v}: {code.choice_label(v)}" for v in range(10)) in text


def test_gifs_animate_and_step_gif_ends_on_the_finished_chain(gallery):
    from PIL import Image

    out = gallery[0]
    assert Image.open(out / "vae2d-mnist" / "interpolation.gif").n_frames > 5
    assert Image.open(out / "ddpm-mnist" / "steps.gif").n_frames == 4  # --frames, the chain being longer


def test_shipped_checkpoints_say_they_hold_no_log_and_show_their_card(gallery):
    out = gallery[0]
    page = (out / "vae2d-mnist.html").read_text()
    assert "no training log" in page and "metrics.jsonl" in page
    card = page[page.index("id='card'"):]
    assert "<table>" in card and "sha256" in card and '<pre><code class="language-toml">' in card
    assert "[train]" in card and "<h4>Figures</h4>" in card  # the card's ## below the section's h2
    assert "docs/models/vae.md (../docs/models/vae.md)" in card  # a link as its text and target
    run = (out / "alias_free-run0.html").read_text()
    assert "no model card" in run


def test_progress_lines_name_each_section(gallery):
    lines = gallery[2]
    assert any(line.split()[0] == "equivariance" for line in lines)
    assert all(re.search(r"\d+\.\d s", line) for line in lines)


def test_markdown_headings_tables_code_links_and_raw_html():
    text = ("# Title\n\nSome `a<b` and **bold** [a link](../x.md), <https://arxiv.org/abs/1>.\n\n"
            "| a | b |\n|---|---|\n| 1 | <= 2 |\n\n```toml\nx = 1 < 2\n```\n- one\n- two\n\n<script>x</script>\n")
    out = render_markdown(text)
    assert "<h3>Title</h3>" in out  # below the page's h1 and the section's h2
    assert "<code>a&lt;b</code>" in out and "<strong>bold</strong>" in out
    assert "a link (../x.md)" in out and "https://arxiv.org/abs/1." in out and "<a " not in out
    assert "<th>a</th>" in out and "<td>1</td>" in out and "<td>&lt;= 2</td>" in out and "---" not in out
    assert '<pre><code class="language-toml">x = 1 &lt; 2\n</code></pre>' in out
    assert "<ul>\n<li>one</li>\n<li>two</li>\n</ul>" in out
    assert "<script>" not in out and "&lt;script&gt;" in out  # raw HTML is text, never markup
    assert render_markdown("###### deep", shift=2) == "<h6>deep</h6>\n"


def test_markdown_images_are_shown_only_where_the_caller_gives_a_local_file():
    text = "![a *grid*](figures/g.png) and ![web](https://example.org/x.png)\n"
    assert render_markdown(text) == "<p>a grid (figures/g.png) and web (https://example.org/x.png)</p>\n"
    seen = []
    out = render_markdown(text, image=lambda src: seen.append(src) or ("copy/g.png" if "://" not in src else None))
    assert seen == ["figures/g.png", "https://example.org/x.png"]
    assert '<img src="copy/g.png" alt="a grid" />' in out and "web (https://example.org/x.png)" in out


@pytest.mark.parametrize("card", sorted((Path(__file__).resolve().parent.parent / "docs" / "models").glob("*.md")),
                         ids=lambda p: p.name)
def test_every_model_card_under_docs_renders(card):
    """The cards in docs/models: their headings, tables, code, links and pictures (each a file
    beside the card) all come through."""
    text = card.read_text()
    found = []
    out = render_markdown(text, image=lambda src: found.append(src) or f"copied/{src}")
    prose = re.sub(r"^ {0,3}```.*?^ {0,3}```", "", text, flags=re.M | re.S)  # a '# ' in code is no heading
    headings = len(re.findall(r"^#{1,6} ", prose, re.M))
    assert len(re.findall(r"<h[3-6]>", out)) == headings and "<h1>" not in out and "<h2>" not in out
    assert out.count("<table>") == len(re.findall(r"^\|[ :]*-[-:| ]*\|\s*$", text, re.M))  # a table per delimiter row
    fenced = len(re.findall(r"^ {0,3}```", text, re.M)) // 2
    assert out.count("<pre><code") >= fenced and "```" not in out  # (indented blocks are code too)
    assert "<a " not in out and "<script" not in out
    assert len(found) == text.count("![") and all((card.parent / src).is_file() for src in found), found
    assert out.count("<img src=\"copied/") == len(found)


def test_a_card_beside_a_checkpoint_shows_its_pictures_from_copies_beside_the_page(tmp_path, monkeypatch):
    import shutil

    import genlab.gallery.sections as sections
    from genlab.registry import shipped_checkpoints

    run = tmp_path / "run"
    (run / "figures").mkdir(parents=True)
    shutil.copyfile(shipped_checkpoints()["vae2d-mnist"], run / "latest.pt")
    shutil.copyfile(Path(__file__).resolve().parent.parent / "docs" / "models" / "gan_samples.png",
                    run / "figures" / "samples.png")
    (run / "latest.md").write_text("## Samples\n\n![64 samples](figures/samples.png) ![gone](missing.png)\n")
    monkeypatch.setattr(sections, "SECTIONS", tuple(s for s in sections.SECTIONS if s[0].__name__ == "_card"))
    build_gallery([str(run / "latest.pt")], tmp_path / "g", n=2)
    page = (tmp_path / "g" / "run.html").read_text()
    assert "<img src=\"run/card-figures_samples.png\" alt=\"64 samples\" />" in page
    assert (tmp_path / "g" / "run" / "card-figures_samples.png").read_bytes() == \
        (run / "figures" / "samples.png").read_bytes()
    assert "gone (missing.png)" in page and "<h4>Samples</h4>" in page


def test_page_names():
    assert page_name("vae2d-mnist") == "vae2d-mnist"
    assert page_name("runs/alias_free-mnist/latest.pt") == "alias_free-mnist"
    assert page_name("some dir/my model.pt") == "my_model"


def test_the_gallery_opens_from_disk_in_chromium(gallery):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium); the browser test needs it")
    pytest.importorskip("playwright.sync_api", reason="pip install playwright (never `playwright install`)")
    from playwright.sync_api import sync_playwright

    out = gallery[0]
    ARTIFACTS.mkdir(exist_ok=True)
    requests = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda r: requests.append(r.url))

            def all_images_loaded():
                page.wait_for_load_state("load")
                sizes = page.eval_on_selector_all("img", "imgs => imgs.map(i => [i.getAttribute('src'), "
                                                          "i.complete, i.naturalWidth])")
                assert sizes and all(done and w > 0 for _, done, w in sizes), sizes
                return len(sizes)

            page.goto((out / "index.html").as_uri())
            assert all_images_loaded() == 5  # a thumbnail per checkpoint
            page.screenshot(path=str(ARTIFACTS / "gallery-index.png"), full_page=True)
            page.locator("h3 a", has_text="ddpm-mnist").click()
            page.wait_for_url("**/ddpm-mnist.html")
            assert all_images_loaded() >= 5
            assert page.locator("#steps img").count() == 2
            page.screenshot(path=str(ARTIFACTS / "gallery-ddpm-mnist.png"), full_page=True)
            page.goto((out / "alias_free-run0.html").as_uri())
            all_images_loaded()
            page.screenshot(path=str(ARTIFACTS / "gallery-alias_free.png"), full_page=True)
            page.goto((out / "infogan-mnist.html").as_uri())
            all_images_loaded()
            page.goto((out / "cyclegan-mnist.html").as_uri())
            all_images_loaded()
            page.locator("#card").scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "gallery-cyclegan-mnist.png"), full_page=True)
        finally:
            browser.close()
    assert requests and all(u.startswith("file://") for u in requests), [u for u in requests if
                                                                         not u.startswith("file://")]


def test_a_failing_section_is_noted_and_the_rest_goes_on(tmp_path, monkeypatch):
    import genlab.gallery.sections as sections

    def _broken(page):
        raise RuntimeError("boom")

    monkeypatch.setattr(sections, "SECTIONS", sections.SECTIONS[:1] + ((_broken, lambda m: True),))
    problems = []
    build_gallery(["vae2d-mnist", tmp_path / "missing.pt"], tmp_path / "g", n=2, problems=problems)
    assert problems[0] == ("vae2d-mnist", "broken", "RuntimeError: boom") and problems[1][1] == "load"
    page = (tmp_path / "g" / "vae2d-mnist.html").read_text()
    assert "could not be drawn: RuntimeError: boom" in page and "vae2d-mnist/samples.png" in page
    assert "could not be loaded" in (tmp_path / "g" / "index.html").read_text()


def test_translation_grid_of_a_multi_attribute_model_matches_its_truth():
    """StarGAN's grid: per digit a row of translations into every domain, then the true renderings;
    the translations are on the whole far closer to their true counterparts than the untranslated
    source is, and each one closer (a bold stroke is the smallest change, the hardest to beat)."""
    from genlab.gallery.sections import translation_rows
    from genlab.registry import load

    model = load("stargan-mnist")
    d = model.data_spec.num_domains
    images, per_row = translation_rows(model, digits=2)
    assert per_row == d and images.shape == (4 * d, *model.data_spec.image_shape)
    translated, truth = images[:d], images[d:2 * d]
    source = truth[:1].expand_as(truth)  # row 0's source is the digit in domain 0
    err = (translated - truth).abs().mean((1, 2, 3))
    base = (source - truth).abs().mean((1, 2, 3))
    assert err.mean() < base.mean() / 2 and (err[1:] < base[1:]).all(), (err, base)
