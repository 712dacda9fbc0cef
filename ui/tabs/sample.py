"""Sample: any model, a seed, a count, the family's own knobs; a gallery and a PNG grid."""
from __future__ import annotations

import functools

import gradio as gr
import torch

from ui.catalog import seeded
from ui.common import AppContext, control_values, controls_panel, default_values, describe_values, user_errors
from ui.images import display_scale, to_picture, to_pictures

TITLE = "Sample"
MAX_COUNT = 64


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
    model = ctx.catalog.model(key)
    return [default_values(model, "sample"), describe(model)]


@user_errors
def sample(ctx: AppContext, key: str, seed: float, count: float, controls: dict | None = None) -> tuple[list, str, str]:
    """-> (gallery of (picture, caption), path of the PNG grid, a line saying what was drawn).

    `controls`: {name: value} for the model's declared sampling controls (missing: defaults)."""
    model = ctx.catalog.model(key)
    n = int(count or 0)
    if not 1 <= n <= MAX_COUNT:
        raise ValueError(f"count must be between 1 and {MAX_COUNT}, got {count}")
    knobs = control_values(model, "sample", controls)
    with torch.inference_mode():
        images = model.sample(n, generator=seeded(seed), **knobs).float().cpu()
    scale = display_scale(model.data_spec.height, 112)
    gallery = [(pic, f"#{i} · seed {int(seed or 0)}") for i, pic in enumerate(to_pictures(images, scale))]
    grid = ctx.save_png(to_picture(images, scale=2), f"{key.replace(':', '_')}-samples")
    knob_text = describe_values(knobs)
    return gallery, grid, f"{n} samples from **{key}**, seed {int(seed or 0)}" + (f" ({knob_text})" if knob_text else "")


def build(ctx: AppContext) -> None:
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            picker = ctx.picker(None, "Model", "sample-model", prefer="latent")  # decoders sample fastest
            about = gr.Markdown(elem_id="sample-about")
            seed = gr.Number(0, label="Seed", precision=0, elem_id="sample-seed")
            count = gr.Slider(1, MAX_COUNT, value=16, step=1, label="How many", elem_id="sample-count")
            controls = controls_panel(ctx, picker, "sample", "sample")
            go = gr.Button("Sample", variant="primary", elem_id="sample-button")
        with gr.Column(scale=3):
            gallery = gr.Gallery(label="Samples", columns=8, height="auto", format="png", elem_id="sample-gallery",
                                 elem_classes=["pixelated"])
            summary = gr.Markdown(elem_id="sample-summary")
            grid = gr.File(label="PNG grid (download)", elem_id="sample-grid")
    setup = functools.partial(on_model, ctx)
    picker.change(setup, picker, [controls, about], api_name="sample_model")
    ctx.demo.load(setup, picker, [controls, about], api_name="sample_model_on_load")
    go.click(functools.partial(sample, ctx), [picker, seed, count, controls], [gallery, grid, summary],
             api_name="sample")
