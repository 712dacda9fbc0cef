"""The genlab Gradio app: one tab per module in TABS, each chosen by capabilities.

Adding a tab = a module in ui/tabs/ with TITLE and build(ctx), plus one entry
in TABS. Tabs talk to models only through the catalogue (ui/catalog.py) and
the model contract (genlab/model.py), never through family names.

Sessions share nothing mutable: per-session data lives in gr.State, models in
a read-only cache. Every event has an api_name, so gradio_client can drive
everything the page can.
"""
from __future__ import annotations

import html
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # read when gr.Blocks() is built: no phoning home
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import signal  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402

import gradio as gr  # noqa: E402

from genlab.paths import CHECKPOINT_DIR  # noqa: E402
from genlab.checkpoint import RUNS_DIR  # noqa: E402
from ui.catalog import Catalog  # noqa: E402
from ui.common import AppContext, work  # noqa: E402
from ui.links import LinkTab, opener  # noqa: E402
from genlab.results import CARD_DIR  # noqa: E402
from ui.tabs.models import card_page  # noqa: E402
from ui.tabs import noising  # noqa: E402
from ui.tabs import (equivariance, interpolate, latent, likelihood, models, sample, steps, train,  # noqa: E402
                     translate, view3d)

TABS = (sample, latent, interpolate, steps, noising, view3d, likelihood, translate, equivariance, train, models)

CSS = """
.pixelated img, img.pixelated { image-rendering: pixelated; }
#latent-image img { width: 300px; height: 300px; object-fit: contain; }
#steps-image img { width: 300px; height: 300px; object-fit: contain; }
.strips .thumbnail-item { aspect-ratio: auto !important; height: 90px !important; }
.genlab-cards { display: flex; flex-wrap: wrap; gap: 12px; }
.genlab-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px 12px;
               width: 330px; font-size: 0.85em; }
.genlab-card-body { display: flex; gap: 10px; align-items: flex-start; }
.genlab-thumb { width: 84px; height: 84px; flex: none; image-rendering: pixelated; background: #000;
                color: #aaa; font-size: 0.8em; display: flex; align-items: center; justify-content: center; }
.genlab-thumb.none { background: none; color: #b44; font-size: 0.7em; overflow: hidden; word-break: break-word; }
.genlab-card p { margin: 2px 0; }
.genlab-card details { margin-top: 4px; }
.genlab-card details table { font-size: 0.9em; }
#lik-heatmaps .thumbnail-item { aspect-ratio: auto !important; height: auto !important; display: flex;
                                flex-direction: column; overflow: visible !important; }
#lik-heatmaps .thumbnail-item img { aspect-ratio: 1 / 1; height: auto !important; }
#lik-heatmaps .caption-label { position: static !important; max-width: 100% !important; white-space: normal !important;
                               opacity: 1 !important; border: none !important; font-size: 0.8em; }
#translate-gallery .thumbnail-item { aspect-ratio: auto !important; height: auto !important; display: flex;
                                     flex-direction: column; overflow: visible !important; }
#translate-gallery .thumbnail-item img { aspect-ratio: 1 / 1; height: auto !important; }
#translate-gallery .caption-label { position: static !important; max-width: 100% !important;
                                    white-space: normal !important; opacity: 1 !important; border: none !important;
                                    font-size: 0.8em; }
#translate-gallery .grid-wrap { max-height: none !important; height: auto !important; min-height: 0 !important;
                                padding-top: 30px; }
#translate-gallery .grid-container { grid-auto-rows: auto !important; }
#sample-sheet img { width: auto !important; height: auto !important; max-width: 100%; max-height: 80vh;
                   object-fit: contain; }
#sample-sheet .image-container, #sample-sheet .image-frame { height: auto !important; }
#interp-all .grid-wrap { max-height: none !important; height: auto !important; overflow: visible !important;
                        padding-top: 30px; }
#interp-all .grid-container { grid-auto-rows: auto !important; }
#interp-all .thumbnail-item { aspect-ratio: auto !important; height: auto !important; display: flex;
                              flex-direction: column; overflow: visible !important; }
#interp-all .thumbnail-item img { height: auto !important; }
#interp-all .caption-label { position: static !important; max-width: 100% !important; opacity: 1 !important;
                             border: none !important; font-size: 0.8em; }
.genlab-card.broken { border-color: var(--error-border-color, #d33); }
.genlab-card th { text-align: left; padding-right: 8px; font-weight: 600; }
.genlab-card h3 { margin: 0 0 6px 0; }
"""

INTRO = ("# genlab playground\n"
         "Every model in `checkpoints/` and every run in `runs/` is here. Tabs show what each model can do: "
         "sample, walk its latent space, encode your drawing, score it, show its steps.")


def build_app(checkpoint_dir: str | Path = CHECKPOINT_DIR, runs_dir: str | Path = RUNS_DIR,
              threads: int | None = None) -> gr.Blocks:
    """threads: torch CPU threads for every handler (default: what torch has now)."""
    ctx = AppContext(Catalog(checkpoint_dir, runs_dir, threads))
    with gr.Blocks(title="genlab", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        ctx.demo = demo
        gr.Markdown(INTRO)
        link_tabs = []
        with gr.Tabs() as tabs:
            for tab in TABS:
                before, pickers_before = len(ctx.tab_selected), len(ctx.pickers)
                tab_id = tab.__name__.rsplit(".", 1)[-1]
                with gr.Tab(tab.TITLE, id=tab_id, elem_id=f"tab-{tab_id}") as page:
                    tab.build(ctx)
                for view, fn in ctx.tab_selected[before:]:
                    page.select(fn, None, view, show_progress="hidden", concurrency_id="fast")
                # a link's model goes to the tab's first picker (ui/links.py)
                picker, capability = (ctx.pickers[pickers_before:] or [(None, None)])[0]
                link_tabs.append(LinkTab(tab_id, tab.TITLE, picker, capability))
        ctx.link_tabs = link_tabs  # the Models tab's cards link to them
        pickers = [dd for dd, _ in ctx.pickers]
        outputs = pickers + [view for view, _ in ctx.views]
        # queued (its messages are toasts, which need the queue), with the light work: it only looks up names
        demo.load(opener(link_tabs, ctx.catalog, pickers), None, [tabs, *pickers], api_name=False,
                  show_progress="hidden", **work("open"))
        demo.load(ctx.refresh, pickers, outputs, api_name="refresh_models")
        gr.on(ctx.models_changed, ctx.refresh, pickers, outputs, api_name="refresh_models_after_change")
    demo.genlab_context = ctx  # for tests and benchmarks
    return demo


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def add_card_route(app) -> None:
    """GET /card/<family>: the family's model card rendered (the Models tab links to it); an
    unknown family gets 404 naming the cards there are."""
    from fastapi.responses import HTMLResponse

    def model_card(family: str) -> HTMLResponse:
        page = card_page(family)
        if page is None:
            known = ", ".join(sorted(p.stem for p in CARD_DIR.glob("*.md")))
            return HTMLResponse(f"no model card '{html.escape(family)}'; there are: {html.escape(known)}",
                                status_code=404)
        return HTMLResponse(page)

    app.add_api_route("/card/{family}", model_card, methods=["GET"], include_in_schema=False)


def serve(demo: gr.Blocks, host: str = "127.0.0.1", port: int | None = None, share: bool = False,
          block: bool = True, tries: int = 3) -> str:
    """Launch on host:port (a free port when None); returns the local URL.

    Binds to loopback unless told otherwise and shares publicly only with share=True.
    """
    last: Exception | None = None
    if block and threading.current_thread() is threading.main_thread():
        # SIGTERM (a service manager, a benchmark) ends the app like Ctrl+C, so atexit still
        # removes the scratch folder (Python's default SIGTERM skips atexit)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    for _ in range(tries if port is None else 1):
        try:
            # each kind of work has its own limit (ui.common.WORK_LIMITS); anything else: one at a time
            # quiet: gradio's own banner tells the user to edit launch(); ours names --share instead
            _, url, _ = demo.queue(default_concurrency_limit=1).launch(
                server_name=host, server_port=port or free_port(host), share=share,
                prevent_thread_lock=True, quiet=True, show_error=True, css=CSS,
                footer_links=[], max_file_size="20mb", allowed_paths=[str(CARD_DIR)])
        except OSError as e:  # the port was taken between probing and binding
            last = e
            continue
        add_card_route(demo.server_app)
        if block:
            public = f"; public link {demo.share_url}" if share and demo.share_url else \
                "" if share else "; python launch_ui.py --share for a public link"
            print(f"genlab playground on {url}  (Ctrl+C to stop{public})", flush=True)
            demo.block_thread()
        return url
    raise OSError(f"could not start the app on {host}:{port or 'a free port'}: {last}")
