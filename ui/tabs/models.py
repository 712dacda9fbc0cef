"""Models: a card per checkpoint with what it is, how it was trained and what it measured."""
from __future__ import annotations

import functools
import html

import gradio as gr

from genlab.errors import GenlabError
from ui.catalog import Entry
from ui.common import AppContext

TITLE = "Models"
HEADLINE_METRICS = ("fid", "kid", "precision", "recall", "class_coverage", "nll_nats", "bits_per_dim")


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return html.escape(str(v))


def _metrics(metrics: dict) -> str:
    flat = {k: v for k, v in metrics.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)}
    first = [k for k in HEADLINE_METRICS if k in flat]
    rest = sorted(k for k in flat if k not in first)
    if not flat:
        return "<p class='muted'>no metrics stored (run <code>python -m genlab eval</code>)</p>"
    cells = "".join(f"<tr><td>{html.escape(k)}</td><td>{_fmt(flat[k])}</td></tr>" for k in first + rest)
    return f"<table class='metrics'>{cells}</table>"


def card(entry: Entry, model=None, error: str | None = None) -> str:
    where = "shipped" if entry.shipped else "your run"
    head = f"<h3>{html.escape(entry.key)} <small>({where})</small></h3>"
    if error is not None:
        return (f"<div class='genlab-card broken'>{head}<p><b>cannot be loaded:</b> {html.escape(error)}</p>"
                f"<p><code>{html.escape(str(entry.path))}</code></p></div>")
    ck = getattr(model, "checkpoint", {})
    spec = model.data_spec
    secs = float(ck.get("train_seconds", 0) or 0)
    size_mb = entry.path.stat().st_size / 1e6
    rows = [
        ("family", " · ".join(filter(None, [model.family, model.paper]))),
        ("data", f"{spec.name} ({spec.describe()})"),
        ("steps", ck.get("step", "?")),
        ("training time", f"{secs / 60:.1f} min on {ck.get('device', '?')}" if secs else "?"),
        ("capabilities", ", ".join(sorted(model.capabilities))),
        ("parameters", f"{sum(p.numel() for p in model.parameters()):,}"),
        ("file", f"{entry.path} ({size_mb:.1f} MB)"),
        ("created", ck.get("created", "?")),
    ]
    table = "".join(f"<tr><th>{k}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    return (f"<div class='genlab-card' data-key='{html.escape(entry.key)}'>{head}<table>{table}</table>"
            f"<h4>metrics</h4>{_metrics(ck.get('metrics') or {})}</div>")


def cards(ctx: AppContext) -> str:
    """HTML with one card per checkpoint in the catalogue, unreadable ones included."""
    out = []
    for entry in ctx.catalog.entries():
        try:
            out.append(card(entry, ctx.catalog.model(entry.key)))
        except (GenlabError, OSError) as e:
            out.append(card(entry, error=str(e)))
    if not out:
        return "<p>No checkpoints yet: train one in the Train tab, or ship one into checkpoints/.</p>"
    return f"<div class='genlab-cards'>{''.join(out)}</div>"


def build(ctx: AppContext) -> None:
    refresh = gr.Button("Refresh", elem_id="models-refresh")
    view = gr.HTML(elem_id="models-cards")
    show = functools.partial(cards, ctx)
    refresh.click(show, None, view, api_name="models")
    ctx.demo.load(show, None, view, api_name="models_on_load")
    ctx.models_changed.append(refresh.click)
    ctx.views.append((view, show))  # redrawn whenever the catalogue changes
