"""Training curves: a run's log (metrics.jsonl) read back, and drawn as one figure of its losses.

The same figure serves the gallery's "training" section (`genlab gallery`) and the app's
Train tab, which draws the rows the trainer sends it while it runs.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from matplotlib.figure import Figure

LOG_NAME = "metrics.jsonl"  # what genlab.training.loggers.MetricsLog writes into a run folder


def read_log(path: str | Path) -> list[dict]:
    """The rows of a metrics.jsonl that carry a step; a torn line (a run killed mid-write, or
    one still writing) is skipped."""
    rows = []
    for line in Path(path).read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and "step" in row:
            rows.append(row)
    return rows


def _is_figure(key: str, value) -> bool:
    """A number to plot: not the step or the event kind, not a rate or a timing, not a flag."""
    if key in ("step", "kind") or "per_s" in key or "seconds" in key or isinstance(value, bool):
        return False
    return isinstance(value, (int, float))


def loss_figure(rows: list[dict], title: str = "") -> Figure:
    """A figure of a training log: one panel per phase ("discriminator/loss" goes to
    "discriminator", a key without a phase to "training"), every numeric series over the step.
    Built without pyplot, so concurrent callers (the app) share no global figure state."""
    groups: dict[str, list[str]] = {}
    for row in rows:
        for k, v in row.items():
            if _is_figure(k, v):
                keys = groups.setdefault(k.split("/", 1)[0] if "/" in k else "training", [])
                if k not in keys:
                    keys.append(k)
    n = max(1, len(groups))
    cols, lines = min(n, 3), math.ceil(n / 3)
    fig = Figure(figsize=(5 * cols, 3.2 * lines), dpi=80)
    for i, (group, keys) in enumerate(groups.items()):
        ax = fig.add_subplot(lines, cols, i + 1)
        for k in keys:
            pts = [(r["step"], r[k]) for r in rows if _is_figure(k, r.get(k))]
            ax.plot([s for s, _ in pts], [v for _, v in pts], label=k.split("/", 1)[-1],
                    marker="." if len(pts) < 30 else None)  # a few points: show each
        ax.set_title(group)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
