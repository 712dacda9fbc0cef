"""Models: a compact card per checkpoint: a sample thumbnail, the three or four figures that
matter for what the model can do, the full table of stored metrics on demand, and a link to the
family's model card (docs/models/<family>.md, served rendered at /card/<family>: `card_page`).

Which figures a card leads with comes from the model's capabilities and what its checkpoint
stores, never from its family's name: a likelihood model leads with its NLL, every sampler with
FID, a family's own figures (code accuracy, prior MMD, ...) come next, then precision/recall.
Thumbnails (4 samples, seed 0) are drawn once per checkpoint file in one background thread
(autoregressive samplers take seconds), so the tab never waits for them.
"""
from __future__ import annotations

import atexit
import base64
import functools
import html
import io
import re
import threading

import gradio as gr
import torch
from PIL import Image

from genlab.errors import GenlabError
from genlab.results import CARD_DIR, current_figures, family_doc, read_rows
from ui import links
from ui.catalog import Entry, matches, use_threads
from ui.common import AppContext, work
from ui.images import to_picture

TITLE = "Models"
# The figures of every evaluation; whatever else a checkpoint stores is its family's own.
GENERIC = {"fid", "kid", "precision", "recall", "coverage", "density", "confidence", "class_coverage",
           "class_entropy", "class_shares", "classifier_test_accuracy", "n", "seed", "seconds", "floor_n",
           "sampling_seconds", "kid_std", "nll_nats", "nll_bits_per_dim", "nll_nats_sem", "nll_seconds",
           "nll_exact", "nll_test_set", "nll_iwae_k", "bits_per_dim", "data", "family", "reference",
           "feature_extractor", "prior_mmd_n", "prior_mmd_permutations", "prior_mmd_p_value"}
OWN_FIRST = ("code_accuracy_real", "component_accuracy", "prior_mmd2", "swd_mean")  # a family's own, best known first
LABELS = {"swd_mean": "SWD ×1000 (pyramid mean)", "nll_nats": "NLL (nats)", "nll_bits_per_dim": "bits/dim", "fid": "FID", "kid": "KID ×1000",
          "precision": "precision", "recall": "recall", "code_accuracy_real": "code accuracy (real digits)",
          "component_accuracy": "component accuracy", "prior_mmd2": "prior MMD²"}
MAX_FIGURES = 4


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return html.escape(str(v))


BOOKKEEPING = ("_floor", "_seconds", "_n", "_std", "_sem", "_k")  # how a figure was measured, not a figure


def _numbers(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
            and not k.endswith(BOOKKEEPING)}


def headline(model, metrics: dict) -> list[tuple[str, str, object]]:
    """(key, label, value) of the 3-4 figures that matter for this model, best first."""
    nums = _numbers(metrics)
    keys = []
    if "log_prob" in model.capabilities:
        keys += ["nll_nats", "nll_bits_per_dim"]
    if "sample" in model.capabilities:
        keys += ["fid"]
    own = [k for k in OWN_FIRST if k in nums] + sorted(k for k in nums if k not in GENERIC and k not in OWN_FIRST)
    keys += own[:1] + ["precision", "recall", "kid"]
    out, seen = [], set()
    for k in keys:
        if k in nums and k not in seen and len(out) < MAX_FIGURES:
            seen.add(k)
            out.append((k, LABELS.get(k, k.replace("_", " ")), nums[k]))
    return out


def _full_table(metrics: dict) -> str:
    flat = {k: v for k, v in metrics.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)}
    if not flat:
        return ""
    cells = "".join(f"<tr><td>{html.escape(k)}</td><td>{_fmt(flat[k])}</td></tr>" for k in sorted(flat))
    return (f"<details class='genlab-all-metrics'><summary>all {len(flat)} figures</summary>"
            f"<table class='metrics'>{cells}</table></details>")


# ----- thumbnails: drawn once per checkpoint file, in the background ---------------------------
_thumbs: dict[tuple, str] = {}
_pending: list[tuple] = []
_lock = threading.Lock()
_worker: threading.Thread | None = None
POLL_S = 1.0  # while thumbnails are being drawn, the page asks for the cards this often


def _draw(key: tuple, model) -> str:
    with torch.inference_mode():
        if "sample" in model.capabilities:
            images = model.sample(4, generator=torch.Generator().manual_seed(0)).float().cpu()
        else:  # a translator: two test images of its first domain above what it makes of them in the second
            from ui.tabs.translate import rows_of, test_split

            x = test_split(model.data_spec)["images"][rows_of(model.data_spec, 0)[:2]]
            images = torch.cat([x, model.translate(x.to(model.device), 1).float().cpu()])
    buf = io.BytesIO()
    Image.fromarray(to_picture(images.clamp(-1, 1), scale=1, nrow=2)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _finish() -> None:
    """At exit: draw nothing more and wait for the thumbnail being drawn (torch must not be
    torn down under a running thread: that aborts the process)."""
    with _lock:
        _pending.clear()
        worker = _worker
    if worker is not None:
        worker.join(timeout=60)


atexit.register(_finish)


def _work(ctx: AppContext) -> None:
    global _worker
    use_threads(1)
    while True:
        with _lock:
            if not _pending:
                _worker = None
                return
            key, entry_key = _pending.pop(0)
        try:
            _thumbs[key] = _draw(key, ctx.catalog.model(entry_key))
        except Exception as e:  # noqa: BLE001 - a card without a thumbnail says why
            _thumbs[key] = f"error: {type(e).__name__}: {e}"


def thumbnail(ctx: AppContext, entry: Entry, model) -> str | None:
    """The card's thumbnail as a data: URI, or None while it is being drawn (then it is queued)."""
    global _worker
    if not {"sample", "translate"} & model.capabilities:
        return ""
    key = ctx.catalog._file_key(entry.path)
    if key in _thumbs:
        return _thumbs[key]
    with _lock:
        if all(k != key for k, _ in _pending):
            _pending.append((key, entry.key))
        if _worker is None:
            _worker = threading.Thread(target=_work, args=(ctx,), daemon=True, name="genlab-ui-thumbnails")
            _worker.start()
    return None


def card_page(family: str) -> str | None:
    """docs/models/<family>.md as a web page (`family`: a card's name, e.g. pixelrnn for both
    PixelRNNs), its pictures served from docs/models (the app's allowed path); None when there is
    no such card. Written by markdown-it-py as the gallery's
    cards are (genlab.gallery.markdown): raw HTML in the card is escaped."""
    from genlab.gallery.markdown import render_markdown
    from genlab.gallery.pages import html_page

    if not re.fullmatch(r"[a-z0-9_]+", family) or not (CARD_DIR / f"{family}.md").is_file():
        return None
    root = CARD_DIR.resolve()

    def picture(src: str) -> str | None:
        file = (root / src).resolve()
        if "://" in src or root not in file.parents or not file.is_file():
            return None  # shown as its alt text and target
        return f"/gradio_api/file={file}"

    body = render_markdown((CARD_DIR / f"{family}.md").read_text(), image=picture, shift=0)
    return html_page(f"{family}: genlab model card", body)


def card(entry: Entry, model=None, error: str | None = None, thumb: str | None = "", row: dict | None = None,
         open_in: tuple = ()) -> str:
    """`row`: the checkpoint's results.csv row (shipped ones), read once per page by `cards`;
    `open_in`: the tabs (ui.links.LinkTab) whose picker offers the model, linked from the card."""
    where = "shipped" if entry.shipped else "your run"
    head = f"<h3>{html.escape(entry.key)} <small>({where})</small></h3>"
    if error is not None:
        return (f"<div class='genlab-card broken'>{head}<p><b>cannot be loaded:</b> {html.escape(error)}</p>"
                f"<p><code>{html.escape(str(entry.path))}</code></p></div>")
    ck = model.checkpoint
    spec = model.data_spec
    secs = float(ck.get("train_seconds", 0) or 0)
    # The figures `genlab list`, the cards and RESULTS.md show: its results.csv row when that row
    # scored this very file, else the figures stored in it at release.
    metrics, _, source = current_figures(entry.path, ck, row if entry.shipped else None)
    if thumb is None:
        pic = "<div class='genlab-thumb pending'>drawing…</div>"
    elif thumb.startswith("data:"):
        pic = f"<img class='genlab-thumb pixelated' src='{thumb}' alt='4 samples of {html.escape(entry.key)}'>"
    else:
        # a thumbnail that could not be drawn says why ("error: ..."), never a black square
        pic = f"<div class='genlab-thumb none' title='{html.escape(thumb)}'>{html.escape(thumb[:160])}</div>"
    figures = headline(model, metrics)
    figs = ("".join(f"<tr><th>{html.escape(label)}</th><td>{_fmt(v)}</td></tr>" for _, label, v in figures)
            or "<tr><td colspan=2 class='muted'>no metrics stored (run <code>python -m genlab eval</code>)</td></tr>")
    if figures:  # where they come from, short; the whole line (the command) on hover
        protocol = re.search(r"n = [^;)]*", source)
        where = "results.csv" if source.startswith("Measured") else "stored at release"
        short = f"{where} · {protocol.group(0)}" if protocol else where
        figs += (f"<tr><td colspan=2 class='muted genlab-source' title='{html.escape(source)}'>"
                 f"{html.escape(short)}</td></tr>")
    doc = family_doc(model.family, entry.key)  # pixelrnn.md is the card of two families
    link = (f"<p><a href='/card/{html.escape(doc.stem)}' target='_blank'>"  # card_page, served by ui.app.serve
            f"model card: docs/models/{html.escape(doc.name)}</a></p>" if doc is not None else "")
    if open_in:  # links that reload the page on that tab with this model picked (ui/links.py)
        link += ("<p class='genlab-open-in'>open in: " + " · ".join(
            f"<a href='{html.escape(links.link(t.id, entry.key))}'>{html.escape(t.title)}</a>" for t in open_in)
            + "</p>")
    about = (f"{html.escape(' · '.join(filter(None, [model.family, model.paper])))}<br>"
             f"{html.escape(spec.name)} · {ck.get('step', '?')} steps"
             + (f" · {secs / 60:.1f} min on {html.escape(str(ck.get('device', '?')))}" if secs else "")
             + f" · {sum(p.numel() for p in model.parameters()):,} params")
    details = (f"<details><summary>details</summary><table>"
               f"<tr><th>capabilities</th><td>{html.escape(', '.join(sorted(model.capabilities)))}</td></tr>"
               f"<tr><th>data</th><td>{html.escape(spec.describe())}</td></tr>"
               f"<tr><th>file</th><td>{html.escape(str(entry.path))} ({entry.path.stat().st_size / 1e6:.1f} MB)</td></tr>"
               f"<tr><th>created</th><td>{html.escape(str(ck.get('created', '?')))}</td></tr></table></details>")
    return (f"<div class='genlab-card' data-key='{html.escape(entry.key)}'>{head}"
            f"<div class='genlab-card-body'>{pic}<div><p class='genlab-about'>{about}</p>"
            f"<table class='genlab-figures'>{figs}</table></div></div>{link}{details}{_full_table(metrics)}</div>")


def cards(ctx: AppContext) -> str:
    """HTML with one card per checkpoint in the catalogue, unreadable ones included."""
    out, rows = [], read_rows()
    for entry in ctx.catalog.entries():
        try:
            model = ctx.catalog.model(entry.key)
        except (GenlabError, OSError) as e:
            out.append(card(entry, error=str(e)))
            continue
        open_in = [t for t in ctx.link_tabs if t.picker is not None and matches(model, t.capability)]
        out.append(card(entry, model, thumb=thumbnail(ctx, entry, model), row=rows.get(entry.key), open_in=open_in))
    if not out:
        return "<p>No checkpoints yet: train one in the Train tab, or ship one into checkpoints/.</p>"
    return f"<div class='genlab-cards'>{''.join(out)}</div>"


def drawing() -> bool:
    """Whether thumbnails are still queued or being drawn."""
    with _lock:
        return bool(_pending) or _worker is not None


def live_cards(ctx: AppContext) -> tuple[str, gr.Timer]:
    """The cards, and the page's poll switched on while thumbnails are being drawn: each is
    shown as soon as it is ready, without Refresh (the drawing runs in its own thread, so the
    page never waits for it)."""
    html_ = cards(ctx)
    return html_, gr.Timer(active="genlab-thumb pending" in html_ or drawing())


def build(ctx: AppContext) -> None:
    refresh = gr.Button("Refresh", elem_id="models-refresh", size="sm")
    view = gr.HTML(elem_id="models-cards")
    poll = gr.Timer(POLL_S, active=False)
    show = functools.partial(cards, ctx)
    live = functools.partial(live_cards, ctx)
    polling = lambda: gr.Timer(active=drawing())  # noqa: E731 - on while thumbnails are being drawn
    refresh.click(show, None, view, api_name="models", **work("fast")).then(
        polling, None, poll, show_progress="hidden", api_name=False, queue=False)
    # on page load: the thumbnails start drawing at once, and the poll shows them as they come
    ctx.demo.load(show, None, view, api_name="models_on_load", **work("open")).then(
        polling, None, poll, show_progress="hidden", api_name=False, queue=False)
    poll.tick(live, None, [view, poll], show_progress="hidden", api_name=False, **work("fast"))
    ctx.models_changed.append(refresh.click)
    ctx.views.append((view, show))  # redrawn whenever the catalogue changes
    ctx.tab_selected.append(([view, poll], live))  # and when the tab is opened (thumbnails drawn meanwhile)
