"""The static HTML gallery of checkpoints (`python -m genlab gallery`): builds its pages and index.

`build_gallery(names, out)` writes out/index.html, a card per checkpoint (thumbnail, family, key
figures, link), and out/<name>.html with the pictures in out/<name>/. Each page has every
section the model's capabilities allow, chosen by capability (genlab.model), never by family name
(genlab.gallery.sections draws them, genlab.gallery.pages writes the HTML):

==============  ===========================================  ===========================================
section         needs                                        shows
==============  ===========================================  ===========================================
samples         ``sample`` (else ``preview`` of test images)  a grid of samples (translations for a
                                                             family that only translates)
interpolation   ``latent``                                   slerp walks between prior draws, PNG + GIF
steps           ``sample_steps``                             the chain as a GIF and a strip: denoising,
                                                             pixel by pixel, resolution stages, ...
views           ``views``                                    an orbit GIF and strip; colour, depth and
                                                             opacity at the default camera
translation     ``translate``                                test digits, their translations, the truth
codes           ``decode`` controls in the group "codes"     one slider code swept per panel, a row per
                                                             categorical code, one fixed noise vector
equivariance    ``transform``                                outputs moved by the model's own transform
                                                             controls, and the same brought back by
                                                             `undo_transform`, with the PSNR
training        a ``metrics.jsonl`` beside the checkpoint    loss curves (genlab.loss_curves); shipped
                                                             checkpoints hold no log, and the page says so
model card      ``<checkpoint>.md`` beside the checkpoint    the card as HTML (genlab.gallery.markdown)
==============  ===========================================  ===========================================

Pages reference only files beside them (no scripts, fonts or styles from the web), so the
folder opens from disk. Cost per checkpoint stays bounded by `n`, `frames` and the controls
given (e.g. a sampler's `steps`).
"""
from __future__ import annotations

import re
import time
from pathlib import Path

import torch

from genlab.gallery import sections
from genlab.gallery.pages import write_index, write_page

GIF_FRAMES = 25  # frames of a step-by-step GIF, evenly spaced over the whole chain, the last included


def page_name(name: str | Path) -> str:
    """A file-safe page name: a shipped name as is; a path by its stem, or its folder for a run's latest.pt."""
    path = Path(name)
    if not path.suffix:
        stem = str(name)
    else:
        stem = path.parent.name if path.stem == "latest" and path.parent.name else path.stem
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip(".") or "checkpoint"


def build_gallery(names: list[str] | None, out: str | Path, n: int = 36, seed: int = 0, progress=None,
                  frames: int = GIF_FRAMES, controls: dict | None = None, log=None,
                  problems: list | None = None) -> Path:
    """For each checkpoint (default: every shipped one) a page out/<name>.html with its pictures in
    out/<name>/, and out/index.html linking them. `n` bounds the samples drawn per checkpoint,
    `frames` the frames of a step-by-step GIF; `controls` {name: value} go to every call whose
    model declares them (e.g. {"steps": 10} for a sampler's step count). `progress(i, total, name)`
    before each checkpoint, `log(line)` after each section. A section that fails is noted on its
    page and appended to `problems` (name, section, message); the rest goes on. Returns the index."""
    from genlab.registry import load, shipped_checkpoints

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = list(names or shipped_checkpoints())
    problems = problems if problems is not None else []
    log = log or (lambda line: None)
    cards, taken = [], set()
    for i, name in enumerate(names, 1):
        if progress is not None:
            progress(i, len(names), str(name))
        stem = page_name(name)
        while stem in taken:
            stem += "_"
        taken.add(stem)
        start = time.perf_counter()
        try:
            model = load(name)
        except Exception as e:  # noqa: BLE001 - a checkpoint that does not load gets a card saying so
            problems.append((str(name), "load", str(e)))
            log(f"  could not load: {e}")
            cards.append({"stem": stem, "name": str(name), "error": str(e)})
            continue
        page = sections.Page(model, out / stem, stem, n, seed, frames, dict(controls or {}))
        page.folder.mkdir(parents=True, exist_ok=True)
        drawn = []
        for make, needs in sections.SECTIONS:  # looked up here, so a test can swap them
            t0 = time.perf_counter()
            try:
                if not needs(model):
                    continue
                with torch.no_grad():
                    section = make(page)
            except Exception as e:  # noqa: BLE001 - one broken section must not lose the gallery
                key = make.__name__.strip("_")
                section = sections.Section(key, key.capitalize(), note=f"could not be drawn: {type(e).__name__}: {e}")
                problems.append((str(name), key, f"{type(e).__name__}: {e}"))
            drawn.append(section)
            note = f"  ({section.note})" if section.note else ""
            log(f"  {section.key:13s} {time.perf_counter() - t0:6.1f} s{note}")
        write_page(out / f"{stem}.html", model, str(name), drawn)
        cards.append({"stem": stem, "name": str(name), "model": model,
                      "thumb": f"{stem}/thumb.png" if (page.folder / "thumb.png").is_file() else None,
                      "sections": [s.title for s in drawn if s.pictures or s.body],
                      "seconds": time.perf_counter() - start})
    return write_index(out / "index.html", cards)
