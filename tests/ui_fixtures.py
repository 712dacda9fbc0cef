"""Fixtures for the UI tests: a catalogue of real shipped checkpoints (small, fast ones) plus
one test-only stand-in, the app launched in-process on a free port, gradio_client, and headless
Debian chromium.

The tabs are tested on the models users get (vae-mnist, vae2d-mnist, aae-mnist, nade-mnist,
pixelcnn-mnist, dcgan-mnist, infogan-mnist, linked from checkpoints/). The only stand-in,
`SliderBoard`, declares six slider controls in two groups, which no shipped family has; it is
registered only while a UI test module runs, so no other test sees it in `list_families()`.
"""
from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
for _k in ("NO_PROXY", "no_proxy"):
    os.environ[_k] = ",".join(filter(None, [os.environ.get(_k, ""), "127.0.0.1,localhost"]))

import contextlib  # noqa: E402
import dataclasses  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from genlab import registry  # noqa: E402
from genlab.checkpoint import save_checkpoint  # noqa: E402
from genlab.model import Control, DataSpec, GenerativeModel  # noqa: E402
from genlab.paths import CHECKPOINT_DIR  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # chromium still looks up Google hosts despite the flags above; resolve nothing but loopback
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
]

# every browser test module: pytestmark = NEEDS_CHROMIUM
NEEDS_CHROMIUM = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                    reason=f"{CHROMIUM} is not installed (apt-get install -y chromium)")


# ----- the Sample tab's sheet, cut back into samples --------------------------------------------
def sheet_tiles(sheet, n: int, side: int = 28, scale: int = 2, columns: int = 8, pad: int = 2) -> list:
    """The n samples of a Sample-tab sheet (a path, PNG bytes or an array) as arrays of
    side*scale pixels: the grid genlab.grids.make_grid draws (`pad` pixels around and between
    the cells, min(n, columns) a row; none around a lone sample), enlarged `scale` times."""
    import io

    import numpy as np
    from PIL import Image

    if isinstance(sheet, bytes):
        sheet = io.BytesIO(sheet)
    pic = np.asarray(Image.open(sheet)) if not isinstance(sheet, np.ndarray) else sheet
    pad = pad if n > 1 else 0  # ui.images.to_picture draws a lone sample unframed
    cols, cell = min(n, columns), side + pad
    assert pic.shape[:2] == (((n + cols - 1) // cols * cell + pad) * scale, (cols * cell + pad) * scale), pic.shape
    out = []
    for k in range(n):
        top, left = (pad + k // cols * cell) * scale, (pad + k % cols * cell) * scale
        out.append(pic[top:top + side * scale, left:left + side * scale])
    return out


def shown_sheet(page, n: int, side: int = 28, timeout: float = 30_000) -> list:
    """The n samples the Sample tab shows in the browser, once its summary names n samples and
    the sheet of that size has loaded: fetched from the page's own <img> and cut into tiles."""
    import re

    from playwright.sync_api import expect

    expect(page.locator("#sample-summary")).to_contain_text(re.compile(rf"\b{n} samples from"), timeout=timeout)
    cols, pad = min(n, 8), 2 if n > 1 else 0
    width, height = 2 * (cols * (side + pad) + pad), 2 * ((n + cols - 1) // cols * (side + pad) + pad)
    page.wait_for_function("([w, h]) => { const i = document.querySelector('#sample-sheet img');"
                           " return !!i && i.complete && i.naturalWidth === w && i.naturalHeight === h; }",
                           arg=[width, height], timeout=timeout)
    src = page.locator("#sample-sheet img").first.get_attribute("src")
    return sheet_tiles(page.request.get(src).body(), n, side)


# ----- the shipped checkpoints the UI tests use, and the one stand-in ----------------------------
SHIPPED_FOR_UI = ("aae-mnist", "dcgan-mnist", "infogan-mnist", "nade-mnist", "pixelcnn-mnist", "vae-mnist",
                  "vae2d-mnist")
STANDIN = "sliders-test"  # the stand-in's catalogue key
MNIST = DataSpec(1, 28, 28, 10, False, "mnist")


@dataclass
class SliderBoardConfig:
    bands: int = 6


class SliderBoard(GenerativeModel):
    """Six slider controls in two groups ("shape code" and "camera", as a 3-D family would have),
    none of which any shipped family has: image band i is as bright as slider i, plus seeded noise."""

    family = "uitest_sliders"
    Config = SliderBoardConfig
    NAMES = (("shape code", ("width", "height", "depth")), ("camera", ("azimuth", "elevation", "radius")))

    def __init__(self, config, data_spec):
        super().__init__(config, data_spec)
        self.gain = nn.Parameter(torch.ones(()))

    def phases(self):
        return []

    def controls(self):
        return [Control(name, "slider", 0.0, low=-1.0, high=1.0, group=group, help=f"band {i} brightness")
                for i, (group, name) in enumerate((g, n) for g, names in self.NAMES for n in names)]

    @torch.no_grad()
    def sample(self, n, generator=None, **controls):
        values = self.check_controls("sample", controls)
        c, h, w = self.data_spec.image_shape
        band = torch.arange(h) * len(values) // h  # which control each row shows
        level = torch.tensor(list(values.values()), dtype=torch.float32)[band]  # (H,)
        noise = 0.05 * self.randn(n, c, h, w, generator=generator).cpu()
        return (self.gain.detach().cpu() * level.view(1, 1, h, 1) + noise).clamp(-1, 1)


@contextlib.contextmanager
def standin_family():
    """Register the stand-in family for the duration of the block, then remove it."""
    registry.register(SliderBoard)
    try:
        yield
    finally:
        registry._FAMILIES.pop(SliderBoard.family, None)


def write_checkpoint(model: GenerativeModel, path: Path, step: int = 123, metrics: dict | None = None) -> Path:
    state = {"family": model.family, "config": dataclasses.asdict(model.config),
             "data_spec": dataclasses.asdict(model.data_spec), "step": step, "model": model.state_dict(),
             "ema": {}, "metrics": metrics or {}, "train_seconds": 42.0, "created": "2024-01-01T00:00:00+00:00"}
    return save_checkpoint(state, path)


def shipped_catalogue(root: Path, names) -> tuple[Path, Path]:
    """root/checkpoints linking the named shipped checkpoints (the test is skipped where one is
    missing) and an empty root/runs."""
    ckpt, runs = root / "checkpoints", root / "runs"
    ckpt.mkdir(parents=True)
    runs.mkdir()
    for name in names:
        src = CHECKPOINT_DIR / f"{name}.pt"
        if not src.exists():
            pytest.skip(f"shipped checkpoint {src} is missing")
        (ckpt / src.name).symlink_to(src)
    return ckpt, runs


def make_catalogue(root: Path) -> tuple[Path, Path]:
    """checkpoints/: links to the shipped checkpoints above and the stand-in; runs/: one broken run."""
    ckpt, runs = shipped_catalogue(root, SHIPPED_FOR_UI)
    write_checkpoint(SliderBoard(SliderBoardConfig(), MNIST), ckpt / f"{STANDIN}.pt", metrics={"fid": 123.4})
    (runs / "broken").mkdir(parents=True)
    (runs / "broken" / "latest.pt").write_bytes(b"this is not a checkpoint")
    return ckpt, runs


# ----- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def one_torch_thread():
    """The app serves one small image at a time: one intra-op thread is fastest, and on a busy
    2-core machine two threads spin against each other (measured 100x slower). Restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def ui_dirs(tmp_path_factory, one_torch_thread):
    with standin_family():
        yield make_catalogue(tmp_path_factory.mktemp("ui"))


@pytest.fixture(scope="module")
def ui_app(ui_dirs):
    from ui.app import build_app, serve

    demo = build_app(*ui_dirs)
    url = serve(demo, block=False)
    try:
        yield demo, url
    finally:
        demo.close()
        demo.genlab_context.close()  # its genlab-ui-* scratch folder


@pytest.fixture(scope="module")
def app_url(ui_app):
    return ui_app[1]


@pytest.fixture(scope="module")
def client(app_url):
    from gradio_client import Client

    c = Client(app_url, verbose=False, analytics_enabled=False)
    yield c
    c.close()


@pytest.fixture(scope="module")
def browser_context():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium); browser tests need it")
    pytest.importorskip("playwright.sync_api", reason="pip install playwright (never `playwright install`)")
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, headless=True,
                                                   args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 1000})
        try:
            yield ctx
        finally:
            ctx.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture()
def page(browser_context, app_url):
    """A fresh tab on the app; every request that is not to loopback is recorded in page.external."""
    pg = browser_context.new_page()
    pg.external = []
    pg.on("request", lambda r: pg.external.append(r.url)
          if not r.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")) else None)
    pg.goto(app_url)
    pg.get_by_role("tab", name="Sample").wait_for(timeout=90_000)  # a busy 2-core machine needs more than 30 s
    yield pg
    pg.close()
