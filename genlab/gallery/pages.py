"""The gallery's HTML: a checkpoint's page (its facts, then its sections) and the index of cards.

Pages use no scripts, fonts or styles from the web, only the style sheet written into each and
pictures beside them, so the folder opens from disk.
"""
from __future__ import annotations

import html
from pathlib import Path

from genlab.checkpoint import trained_seconds, trained_steps

KEY_FIGURES = (("fid", "FID"), ("fid_floor", "FID floor"), ("kid", "KID"), ("precision", "precision"),
               ("recall", "recall"), ("nll_nats", "NLL nats"), ("nll_bits_per_dim", "NLL bits/dim"))
CSS = ("body{font-family:sans-serif;margin:1.5em;max-width:1200px;color:#222}"
       "img{image-rendering:pixelated;max-width:100%}figure{display:inline-block;margin:.6em;vertical-align:top}"
       "figcaption{font-size:.85em;max-width:520px;color:#444}section{border-top:1px solid #ccc;margin-top:1em}"
       "table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ddd;padding:2px 6px;text-align:left}"
       "pre{background:#f4f4f4;padding:.6em;overflow-x:auto;font-size:.85em}.note{color:#855}"
       ".cards{display:flex;flex-wrap:wrap;gap:1em}.card{border:1px solid #ccc;border-radius:6px;padding:.6em;"
       "width:260px}.card img{width:100%}.caps{font-size:.8em;color:#666}")


def key_figures(model, limit: int | None = None, family_limit: int = 6) -> list[tuple[str, str]]:
    """(label, value) of the evaluation figures stored in the checkpoint: the common ones, then up
    to `family_limit` of the family's own numbers (its `family_metrics`; the card has them all)."""
    metrics = model.checkpoint.get("metrics") or {}
    out = [(label, f"{metrics[k]:.4g}") for k, label in KEY_FIGURES
           if isinstance(metrics.get(k), (int, float)) and not isinstance(metrics.get(k), bool)]
    own = [(k, metrics.get(k)) for k in metrics.get("family_metrics") or []]
    out += [(k, f"{v:.4g}") for k, v in own if isinstance(v, (int, float)) and not isinstance(v, bool)][:family_limit]
    return out[:limit] if limit else out


def _head(title: str) -> str:
    return f"<!doctype html>\n<html lang='en'><meta charset='utf-8'><title>{html.escape(title)}</title>" \
           f"<style>{CSS}</style>\n<body>\n"


def html_page(title: str, body: str) -> str:
    """A whole page in the gallery's style around `body` (HTML), e.g. a model card the app serves."""
    return f"{_head(title)}{body}\n</body></html>\n"


def _facts(model, name: str) -> str:
    ck = model.checkpoint
    minutes = trained_seconds(ck) if ck.get("train_seconds") is not None else None
    paper = type(model).paper
    rows = [("checkpoint", name), ("family", f"{model.family}: {paper}" if paper else model.family),
            ("data", f"{model.data_spec.name} ({model.data_spec.describe()})"), ("step", trained_steps(ck) if ck.get("step") is not None else None),
            ("training", f"{minutes / 60:.1f} minutes" + (f" on {ck['device']}" if ck.get("device") else "")
             if minutes else None),
            ("capabilities", ", ".join(sorted(model.capabilities)))]
    rows += key_figures(model)
    return "<table>" + "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                               for k, v in rows if v is not None) + "</table>"


def write_page(path: Path, model, name: str, sections: list) -> Path:
    """A checkpoint's page: its facts, links to its sections, then each section (genlab.gallery.sections)."""
    parts = [_head(f"{path.stem}: genlab gallery"), "<p><a href='index.html'>&larr; all checkpoints</a></p>",
             f"<h1>{html.escape(path.stem)}</h1>", _facts(model, name),
             "<p>Sections: " + " &middot; ".join(f"<a href='#{s.key}'>{html.escape(s.title)}</a>" for s in sections)
             + "</p>"]
    for s in sections:
        parts.append(f"<section id='{s.key}'><h2>{html.escape(s.title)}</h2>")
        for pic in s.pictures:
            parts.append(f"<figure><img src='{html.escape(pic.src)}' alt='{html.escape(s.title)}'>"
                         f"<figcaption>{html.escape(pic.caption)}</figcaption></figure>")
        if s.note:
            parts.append(f"<p class='note'>{html.escape(s.note)}</p>")
        parts.append(s.body)
        parts.append("</section>")
    path.write_text("\n".join(parts) + "\n</body></html>\n")
    return path


def write_index(path: Path, cards: list[dict]) -> Path:
    """The index: a card per checkpoint, {"stem", "name"} and either "error" or "model", "thumb"
    (a path relative to the index, or None) and "sections" (the titles of those with content)."""
    parts = [_head("genlab gallery"), "<h1>genlab gallery</h1>",
             f"<p>{len(cards)} checkpoint(s). Each page shows what its model can do, chosen by its capabilities."
             "</p><div class='cards'>"]
    for c in cards:
        link = f"{c['stem']}.html"
        if "error" in c:
            parts.append(f"<div class='card'><h3>{html.escape(c['stem'])}</h3>"
                         f"<p class='note'>could not be loaded: {html.escape(c['error'])}</p></div>")
            continue
        m = c["model"]
        figs = "".join(f"<br>{html.escape(k)} {html.escape(v)}" for k, v in key_figures(m, limit=3))
        thumb = (f"<a href='{html.escape(link)}'><img src='{html.escape(c['thumb'])}' "
                 f"alt='{html.escape(c['stem'])}'></a>"
                 if c["thumb"] else "")
        parts.append(f"<div class='card'>{thumb}<h3><a href='{html.escape(link)}'>{html.escape(c['stem'])}</a></h3>"
                     f"{html.escape(m.family)}, {html.escape(m.data_spec.name)}, step {m.checkpoint.get('step')}{figs}"
                     f"<div class='caps'>{html.escape(' · '.join(c['sections']))}</div></div>")
    path.write_text("\n".join(parts) + "\n</div></body></html>\n")
    return path
