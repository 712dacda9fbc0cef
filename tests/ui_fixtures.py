"""Fixtures for the UI tests: tiny test-only families, a catalogue of their checkpoints,
the app launched in-process on a free port, gradio_client, and headless Debian chromium.

The fake families cover capabilities no shipped family may have yet (encode, log_prob as a
bound, pixel_log_prob with completion, sample_steps); they are registered only while a UI test
module runs, so no other test ever sees them in `list_families()`.
"""
from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
for _k in ("NO_PROXY", "no_proxy"):
    os.environ[_k] = ",".join(filter(None, [os.environ.get(_k, ""), "127.0.0.1,localhost"]))

import contextlib  # noqa: E402
import dataclasses  # noqa: E402
import math  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from genlab import registry  # noqa: E402
from genlab.model import Control, DataSpec, GenerativeModel, OptimizerSpec, Phase  # noqa: E402
from genlab.models.dcgan import DCGAN, DCGANConfig  # noqa: E402
from genlab.nn.autoregressive import AutoregressiveModel, BernoulliHead  # noqa: E402
from genlab.nn.masked import MaskedConv2d  # noqa: E402
from genlab.checkpoint import save_checkpoint  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # chromium still looks up Google hosts despite the flags above; resolve nothing but loopback
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
]


# ----- test-only families ---------------------------------------------------------------------
@dataclass
class FakeVAEConfig:
    latent_dim: int = 4


class FakeVAE(GenerativeModel):
    """A linear 'VAE': z (4) -> tanh(Az + b); encode is the least-squares inverse; a Gaussian bound."""

    family = "uitest_vae"
    Config = FakeVAEConfig

    def __init__(self, config, data_spec):
        super().__init__(config, data_spec)
        self.latent_dim = config.latent_dim
        d = math.prod(data_spec.image_shape)
        self.dec = nn.Linear(config.latent_dim, d)
        self.log_std = nn.Parameter(torch.full((config.latent_dim,), -1.0))

    def phases(self):
        return [Phase("elbo", list(self.parameters()), lambda b: (self.dec.weight.sum() * 0, {}), OptimizerSpec())]

    def prior(self, n, generator=None):
        return self.randn(n, self.latent_dim, generator=generator)

    def decode(self, z, **controls):
        return torch.tanh(self.dec(z.to(self.device))).view(len(z), *self.data_spec.image_shape)

    def encode(self, x):
        x = self.check_images(x)
        target = torch.atanh(x.flatten(1).clamp(-0.99, 0.99)) - self.dec.bias
        mean = torch.linalg.lstsq(self.dec.weight, target.T).solution.T  # (N, latent_dim)
        return mean, self.log_std.exp().expand_as(mean)

    def log_prob(self, x, generator=None):
        x = self.check_images(x)
        mean, _ = self.encode(x)
        err = (self.decode(mean) - x).flatten(1).pow(2).sum(1)
        return -err - 0.5 * mean.pow(2).sum(1)  # a (fake) bound

    def sample(self, n, generator=None, temperature: float = 1.0, **controls):
        return self.decode(self.prior(n, generator) * temperature)

    def controls(self):
        return [Control("temperature", "slider", 1.0, low=0.0, high=1.5, help="scale of z")]


@dataclass
class FakeARConfig:
    lr: float = 1e-3


class FakeAR(AutoregressiveModel):
    """One masked 7x7 conv over binary digits: a real (if weak) autoregressive model, with the
    base class's exact likelihood, completion and step-by-step sampling; frames slowed down so a
    browser can watch them arrive."""

    family = "uitest_ar"
    Config = FakeARConfig
    frame_delay = 0.06

    def __init__(self, config, data_spec):
        super().__init__(config, data_spec)
        self.head = BernoulliHead()
        self.conv = MaskedConv2d(1, 1, 7, mask_type="A")

    @classmethod
    def check_data_spec(cls, spec):
        if not spec.binary:
            raise ValueError(f"uitest_ar takes binary digits (data 'mnist-binary'); got {spec.name!r}")

    def network(self, x, label=None):
        return self.conv(x)

    def sample_steps(self, n, generator=None, **kw):
        for frame in super().sample_steps(n, generator=generator, **kw):
            time.sleep(self.frame_delay)
            yield frame


FAKES = (FakeVAE, FakeAR)
MNIST = DataSpec(1, 28, 28, 10, False, "mnist")
MNIST_BINARY = DataSpec(1, 28, 28, 10, True, "mnist-binary")


@contextlib.contextmanager
def fake_families():
    """Register the fake families for the duration of the block, then remove them."""
    for cls in FAKES:
        registry.register(cls)
    try:
        yield
    finally:
        for cls in FAKES:
            registry._FAMILIES.pop(cls.family, None)


def write_checkpoint(model: GenerativeModel, path: Path, step: int = 123, metrics: dict | None = None) -> Path:
    state = {"family": model.family, "config": dataclasses.asdict(model.config),
             "data_spec": dataclasses.asdict(model.data_spec), "step": step, "model": model.state_dict(),
             "ema": {}, "metrics": metrics or {}, "train_seconds": 42.0, "created": "2024-01-01T00:00:00+00:00"}
    return save_checkpoint(state, path)


def make_catalogue(root: Path) -> tuple[Path, Path]:
    """checkpoints/: an untrained small DCGAN, the fake VAE and the fake AR; runs/: one broken run."""
    ckpt, runs = root / "checkpoints", root / "runs"
    torch.manual_seed(0)
    write_checkpoint(DCGAN(DCGANConfig(latent_dim=16, width=8), MNIST), ckpt / "dcgan-test.pt",
                     metrics={"fid": 123.4, "class_coverage": 0.5})
    write_checkpoint(FakeVAE(FakeVAEConfig(), MNIST), ckpt / "vae-test.pt")
    write_checkpoint(FakeAR(FakeARConfig(), MNIST_BINARY), ckpt / "ar-test.pt")
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
    with fake_families():
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
    pg.get_by_role("tab", name="Sample").wait_for(timeout=30_000)
    yield pg
    pg.close()
