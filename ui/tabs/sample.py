"""Sample: any model, a seed, a count, the family's own knobs; a gallery and a PNG grid."""
from __future__ import annotations

import functools

import gradio as gr
import torch

from ui.catalog import seeded
from ui.common import AppContext, bank_updates, bank_values, control_bank, user_errors
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
    """Show the picked model's own knobs (truncation, temperature, codes) and what it is."""
    if not key:
        return [*bank_updates(None), "No model yet: train one in the Train tab."]
    model = ctx.catalog.model(key)
    return [*bank_updates(model), describe(model)]


@user_errors
def sample(ctx: AppContext, key: str, seed: float, count: float, *controls) -> tuple[list, str, str]:
    """-> (gallery of (picture, caption), path of the PNG grid, a line saying what was drawn)."""
    model = ctx.catalog.model(key)
    n = int(count or 0)
    if not 1 <= n <= MAX_COUNT:
        raise ValueError(f"count must be between 1 and {MAX_COUNT}, got {count}")
    knobs = bank_values(model, controls)
    with torch.inference_mode():
        images = model.sample(n, generator=seeded(seed), **knobs).float().cpu()
    scale = display_scale(model.data_spec.height, 112)
    gallery = [(pic, f"#{i} · seed {int(seed or 0)}") for i, pic in enumerate(to_pictures(images, scale))]
    grid = ctx.save_png(to_picture(images, scale=2), f"{key.replace(':', '_')}-samples")
    knob_text = ", ".join(f"{k}={v}" for k, v in knobs.items())
    return gallery, grid, f"{n} samples from **{key}**, seed {int(seed or 0)}" + (f" ({knob_text})" if knob_text else "")


def build(ctx: AppContext) -> None:
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            picker = ctx.picker(None, "Model", "sample-model", prefer="latent")  # decoders sample fastest
            about = gr.Markdown(elem_id="sample-about")
            seed = gr.Number(0, label="Seed", precision=0, elem_id="sample-seed")
            count = gr.Slider(1, MAX_COUNT, value=16, step=1, label="How many", elem_id="sample-count")
            bank = control_bank("sample")
            go = gr.Button("Sample", variant="primary", elem_id="sample-button")
        with gr.Column(scale=3):
            gallery = gr.Gallery(label="Samples", columns=8, height="auto", format="png", elem_id="sample-gallery",
                                 elem_classes=["pixelated"])
            summary = gr.Markdown(elem_id="sample-summary")
            grid = gr.File(label="PNG grid (download)", elem_id="sample-grid")
    setup = functools.partial(on_model, ctx)
    picker.change(setup, picker, [*bank.components, about], api_name="sample_model")
    ctx.demo.load(setup, picker, [*bank.components, about], api_name="sample_model_on_load")
    go.click(functools.partial(sample, ctx), [picker, seed, count, *bank.components], [gallery, grid, summary],
             api_name="sample")
