"""Translate: carry an image from one domain into another with any model that has `translate`.

The source is a test image of the chosen model's own data (its test split, picked by
domain and number) or the user's picture (drawn or uploaded, fitted to the model's data
spec; what was converted, e.g. grey to colour, is said in the page). The page shows the
source, the translation, the true counterpart where the data set knows it (a ``source``
extra pairs renderings of the same original), the cycle reconstruction (translated back
into the source domain) and a per-pixel error heatmap: translation against the truth
where there is one, else the cycle error. For data whose domains are combinations of
attributes (`DataSpec.attributes`), a grid of the source in every combination at once.

Nothing here names a family, a data set or an image size: the domains, attributes and
shapes come from the model's data spec, the pairing from the data set's extras.
"""
from __future__ import annotations

import functools

import gradio as gr
import numpy as np
import torch

from genlab.data import load_dataset, unit_to_uint8
from genlab.errors import GenlabError
from genlab.model import DataSpec
from ui.common import (PAD_SIZE, AppContext, a_label, as_files, drawing_pad, keep_pad_usable, on_open_and_change, tell,
                       upload_button, upload_for, user_errors, work)
from ui.images import display_scale, heatmap, to_model_input, to_picture

TITLE = "Translate"
SOURCES = ("test image", "my picture")


# ----- the test split, with its pairing ----------------------------------------------------------
@functools.lru_cache(maxsize=4)
def test_split(spec: DataSpec) -> dict:
    """The model's test split in memory: images, labels, and (where the data set has them) the
    `domain` and `source` extras. Raises GenlabError where there is none here."""
    try:
        ds = load_dataset(spec.name, "test")
    except (GenlabError, OSError, RuntimeError, ValueError) as e:
        raise GenlabError(f"no test images of {spec.name!r} here ({e}); use your own picture instead") from None
    if not ds.in_memory or tuple(ds.images.shape[1:]) != spec.image_shape:
        raise GenlabError(f"the test images of {spec.name!r} do not fit the model; use your own picture instead")
    return {"images": ds.images, "labels": ds.labels, "domain": ds.extras.get("domain"),
            "source": ds.extras.get("source")}


def rows_of(spec: DataSpec, domain: int) -> torch.Tensor:
    """Row numbers of the test split's images in `domain` (all rows where there is no domain extra)."""
    t = test_split(spec)
    if t["domain"] is None:
        return torch.arange(len(t["images"]))
    return (t["domain"] == domain).nonzero().flatten()


def test_source(spec: DataSpec, domain: int, index) -> tuple[torch.Tensor, int, str]:
    """(image (1, C, H, W), its row, what it is) for test image #index of `domain`."""
    t, rows = test_split(spec), rows_of(spec, domain)
    i = int(index or 0)
    if not 0 <= i < len(rows):
        raise GenlabError(f"test image number must be between 0 and {len(rows) - 1} for domain "
                          f"{spec.domains[domain]!r}, got {index}")
    row = int(rows[i])
    label = f": {a_label(int(t['labels'][row]), spec.name)}" if spec.num_classes else ""
    return t["images"][row:row + 1], row, f"test image #{i} of **{spec.domains[domain]}**{label}"


def counterpart(spec: DataSpec, row: int, domain: int) -> torch.Tensor | None:
    """The true rendering of the same original in `domain`, where the data set pairs them."""
    t = test_split(spec)
    if t["source"] is None or t["domain"] is None:
        return None
    hit = ((t["source"] == t["source"][row]) & (t["domain"] == domain)).nonzero().flatten()
    return t["images"][int(hit[0]):int(hit[0]) + 1] if len(hit) else None


# ----- handlers ----------------------------------------------------------------------------------
def _domain(spec: DataSpec, value, what: str) -> int:
    if value in spec.domains:
        return spec.domains.index(value)
    try:
        i = int(value)
    except (TypeError, ValueError):
        i = -1
    if not 0 <= i < spec.num_domains:
        raise ValueError(f"unknown {what} domain {value!r}; the model's domains are {', '.join(spec.domains)}")
    return i


def describe(model) -> str:
    spec = model.data_spec
    attrs = f" · attributes: {', '.join(spec.attributes)}" if spec.attributes else ""
    return (f"**{model.family}** · {model.paper or ''}  \n"
            f"data: {spec.name} {spec.describe()} · domains: {', '.join(spec.domains)}{attrs}")


@user_errors
def on_model(ctx: AppContext, key: str) -> list:
    """The picked model's domains as source and target choices (target: the second), and what it is."""
    if not key:
        return [gr.update(choices=[], value=None), gr.update(choices=[], value=None),
                "No translation model yet: train one in the Train tab."]
    spec = ctx.catalog.model(key, need="translate").data_spec
    names = list(spec.domains)
    return [gr.update(choices=names, value=names[0] if names else None),
            gr.update(choices=names, value=names[min(1, len(names) - 1)] if names else None),
            describe(ctx.catalog.model(key))]


def _pictures(images: torch.Tensor, scale: int) -> list[np.ndarray]:
    return [to_picture(im[None], scale=scale) for im in images]


@user_errors
def translate(ctx: AppContext, key: str, source_kind: str, index, source_domain, target_domain, pad=None
              ) -> tuple[list, np.ndarray | None, str]:
    """-> (gallery of (picture, caption): source, translation, truth, cycle, error heatmap(s);
    for attribute data a grid of the source in every combination of attributes (else None);
    a summary with the errors in [-1, 1] pixel units)."""
    model = ctx.catalog.model(key, need="translate")
    spec = model.data_spec
    src, dst = _domain(spec, source_domain, "source"), _domain(spec, target_domain, "target")
    truth = None
    if source_kind == SOURCES[0]:
        x, row, what = test_source(spec, src, index)
        truth = counterpart(spec, row, dst)
    elif source_kind == SOURCES[1]:
        x, notes = to_model_input(pad, spec, "picture")
        tell(notes, "picture")
        what = f"your picture, taken as **{spec.domains[src]}**" + (f" ({'; '.join(notes)})" if notes else "")
    else:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {source_kind!r}")
    x = model.check_images(x)
    with torch.inference_mode():
        fake = model.translate(x, dst).float().cpu()
        back = model.translate(fake, src).float().cpu()
        grid = None
        if spec.attributes:
            every = torch.cat([model.translate(x, d).float().cpu() for d in range(spec.num_domains)])
            grid = to_picture(every, scale=display_scale(spec.height, 84), nrow=len(every))
    scale = display_scale(spec.height, 168)
    x = x.cpu()
    items = [(_pictures(x, scale)[0], f"source: {spec.domains[src]}"),
             (_pictures(fake, scale)[0], f"translation: {spec.domains[dst]}")]
    cycle_err = (back - x).abs().mean().item()
    lines = [f"{what} → **{spec.domains[dst]}** with **{key}**."]
    if truth is not None:
        err = (fake - truth).abs().mean(1)[0].numpy()
        items.append((_pictures(truth, scale)[0], "true counterpart"))
        lines.append(f"L1 to the truth {float(err.mean()):.3f} (no translation: "
                     f"{(x - truth).abs().mean().item():.3f}); pixel values in [-1, 1].")
    items.append((_pictures(back, scale)[0], f"cycle: back to {spec.domains[src]}"))
    if truth is not None:
        items.append((heatmap(err, scale=scale), f"|translation − truth|, max {err.max():.2f}"))
    cmap = (back - x).abs().mean(1)[0].numpy()
    items.append((heatmap(cmap, scale=scale), f"|cycle − source|, max {cmap.max():.2f}"))
    lines.append(f"Cycle L1 {cycle_err:.3f}." + ("" if truth is not None else
                                                  " No true counterpart for this source: the heatmap is the cycle error."))
    if grid is not None:
        lines.append("Grid, left to right: " + ", ".join(spec.domains) + ".")
    return items, grid, "  \n".join(lines)


def grid_shown(ctx: AppContext, key: str) -> dict:
    """The attribute grid is shown only for models whose domains are combinations of attributes
    (an empty box under a two-domain model's results looked like a picture that failed to load)."""
    try:
        spec = ctx.catalog.model(key, need="translate").data_spec if key else None
    except GenlabError:
        spec = None
    return gr.update(visible=bool(spec and spec.attributes), value=None)


@user_errors
def show_source(ctx: AppContext, key: str, index, source_domain) -> tuple[dict, str]:
    """Put a test image on the pad (enlarged to the canvas), so it can be edited or kept."""
    spec = ctx.catalog.model(key, need="translate").data_spec
    x, _, what = test_source(spec, _domain(spec, source_domain, "source"), index)
    pic = unit_to_uint8(x)[0]
    k = max(1, PAD_SIZE // max(spec.height, spec.width))
    big = pic.repeat(k, 0).repeat(k, 1)
    rgb = np.stack([big] * 3, axis=-1) if big.ndim == 2 else big
    return {"background": rgb, "layers": [], "composite": rgb}, what


def build(ctx: AppContext) -> None:
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            picker = ctx.picker("translate", "Translation model", "translate-model")
            about = gr.Markdown(elem_id="translate-about")
            kind = gr.Radio(list(SOURCES), value=SOURCES[0], label="Source", elem_id="translate-source-kind")
            with gr.Row():
                source = gr.Dropdown([], label="Source domain", elem_id="translate-source", allow_custom_value=True)
                target = gr.Dropdown([], label="Target domain", elem_id="translate-target", allow_custom_value=True)
            with gr.Row():
                index = gr.Number(0, label="Test image #", precision=0, elem_id="translate-index")
                to_pad = gr.Button("Put it on the pad", elem_id="translate-to-pad")
            with gr.Accordion("My picture (draw or upload)", open=False):
                pad = drawing_pad("Draw a digit", "translate-pad", uploads=False)
                up = upload_button("translate")
                which = gr.Markdown(elem_id="translate-which")
            go = gr.Button("Translate", variant="primary", elem_id="translate-button")
        with gr.Column(scale=2):
            gallery = gr.Gallery(label="Source · translation · truth · cycle · error", columns=6, height="auto",
                                 format="png", elem_id="translate-gallery", elem_classes=["pixelated"])
            summary = gr.Markdown(elem_id="translate-summary")
            grid = gr.Image(label="Every combination of attributes", format="png", interactive=False,
                            elem_id="translate-grid", elem_classes=["pixelated"],
                            visible=grid_shown(ctx, picker.value)["visible"])
    setup = functools.partial(on_model, ctx)
    on_open_and_change(ctx, [picker.change], setup, picker, [source, target, about], "translate_model", **work("fast"))
    on_open_and_change(ctx, [picker.change], functools.partial(grid_shown, ctx), picker, grid, False,
                       show_progress="hidden", **work("fast"))
    # pictures reach Gradio as files written once (see ui.common.as_files / AppContext.save_png)
    keep_pad_usable(to_pad.click(as_files(ctx, functools.partial(show_source, ctx), "translate-source"),
                                 [picker, index, source], [pad, which], api_name="translate_test_image",
                                 **work("fast")), pad)
    # the file itself goes to the server (the pad's own upload would shrink it in the browser first)
    keep_pad_usable(up.upload(upload_for(ctx, "translate"), [picker, up], [pad, which], api_name="translate_upload",
                              **work("fast")), pad)
    go.click(as_files(ctx, functools.partial(translate, ctx), "translate"), [picker, kind, index, source, target, pad],
             [gallery, grid, summary], api_name="translate", **work("fast"))
