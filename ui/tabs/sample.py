"""Sample: any model, a seed, a count, the family's own knobs; one sheet of samples (a PNG grid)."""
from __future__ import annotations

import functools

import gradio as gr
import torch

from ui.catalog import seeded
from ui.common import AppContext, on_open_and_change, user_errors, whole_in_range, work
from ui.controls import control_values, controls_panel, default_values, defaults_json, describe_values
from ui.images import display_scale, to_picture

TITLE = "Sample"
MAX_COUNT = 64
SHEET_COLUMNS = 8  # samples a row on the sheet: 64 make a square, 16 two rows
FIGURES = (("fid", min), ("kid", min), ("precision", max))  # how "best-looking" is judged, in order


def best_model(ctx: AppContext) -> str | None:
    """The model the Sample tab opens on: the one that samples with the best stored figures
    (lowest FID in its checkpoint's metrics; then KID, then precision where FID is missing for
    all), shipped checkpoints before the user's runs; None without any model."""
    entries = [(e, m) for e, m in ctx.catalog.loadable() if "sample" in m.capabilities]
    if not entries:
        return None
    for figure, better in FIGURES:
        for pool in ([em for em in entries if em[0].shipped], entries):
            scored = [(float(m.checkpoint.get("metrics", {})[figure]), e.key) for e, m in pool
                      if isinstance((m.checkpoint.get("metrics") or {}).get(figure), (int, float))]
            if scored:
                return better(scored)[1]
    return entries[0][0].key




def describe(model) -> str:
    caps = ", ".join(sorted(model.capabilities))
    spec = model.data_spec
    return (f"**{model.family}** · {model.paper or ''}  \n"
            f"data: {spec.name} {spec.describe()} · capabilities: {caps}")


@user_errors
def on_model(ctx: AppContext, key: str) -> list:
    """What the picked model is, and its sampling controls at their defaults ({name: value})."""
    if not key:
        return [{}, "No model yet: train one in the Train tab."]
    model = ctx.catalog.model(key, need="sample")
    return [default_values(model, "sample"), describe(model)]


@user_errors
def sample(ctx: AppContext, key: str, seed: float, count: float, controls: dict | None = None) -> tuple[str, str]:
    """-> (path of the sheet: every sample in one PNG grid, a line saying what was drawn).

    One file per answer, not one per sample: with 16 gallery pictures and a grid, a lone
    gradio_client call spent ~80% of its time fetching the 17 files, and twenty users at once
    made the server serve 340 (docs/app.md, "Under load").
    `controls`: {name: value} for the model's declared sampling controls (missing: defaults)."""
    model = ctx.catalog.model(key, need="sample")
    n = whole_in_range(count, MAX_COUNT)
    knobs = control_values(model, "sample", controls)
    with torch.inference_mode():
        images = model.sample(n, generator=seeded(seed), **knobs).float().cpu()
    # a file, not an array: written once, atomically (see AppContext.save_png); sharp pixels at 2x
    sheet = ctx.save_png(to_picture(images, scale=display_scale(model.data_spec.height, 64),
                                    nrow=min(n, SHEET_COLUMNS)), f"{key.replace(':', '_')}-samples")
    knob_text = describe_values(knobs) or "every control at the model's default"
    return (sheet, f"{n} sample{'s' if n > 1 else ''} from **{key}**, seed {int(seed or 0)}, numbered row by row from 0, "
                   f"{min(n, SHEET_COLUMNS)} a row ({knob_text})")


def build(ctx: AppContext) -> None:
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            picker = ctx.picker("sample", "Model", "sample-model", value=best_model(ctx))
            about = gr.Markdown(elem_id="sample-about")
            seed = gr.Number(0, label="Seed", precision=0, elem_id="sample-seed")
            count = gr.Slider(1, MAX_COUNT, value=16, step=1, label="How many", elem_id="sample-count")
            controls = controls_panel(ctx, picker, "sample", "sample")
            defaults = defaults_json("sample", "sample")
            go = gr.Button("Sample", variant="primary", elem_id="sample-button")
        with gr.Column(scale=3):
            # one sheet, scaled to the column with sharp pixels; download and full screen on it
            sheet = gr.Image(label="Samples", type="filepath", format="png", interactive=False,
                             buttons=["download", "fullscreen"], elem_id="sample-sheet",
                             elem_classes=["pixelated"])
            summary = gr.Markdown(elem_id="sample-summary")
    setup = functools.partial(on_model, ctx)
    on_open_and_change(ctx, [picker.change], setup, picker, [defaults, about], "sample_model", **work("fast"))
    # the page opens with samples of the model it opens on (the best-looking one) already shown;
    # a click cancels that first sheet if it is still on its way, or on a busy server it could land
    # after the user's own sheet and replace it (CI saw 16 samples for a request of 12)
    on_open_and_change(ctx, [go.click], functools.partial(sample, ctx), [picker, seed, count, controls],
                       [sheet, summary], "sample", **work("fast"))
