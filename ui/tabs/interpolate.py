"""Interpolation: a walk between two seeds or two encoded digits, lerp or slerp.

One model gives a strip and a GIF; "every family" renders the same walk
(same seeds, or the same two digits encoded by each model) with every latent
model, one strip each, to compare how smooth their latent spaces are.
"""
from __future__ import annotations

import functools

import gradio as gr
import torch

from genlab import explore
from genlab.errors import GenlabError
from genlab.grids import save_gif
from ui.catalog import seeded
from ui.common import (PAD_SIZE, AppContext, drawing_pad, keep_pad_usable, tell, upload_button, upload_for,
                       user_errors, work)
from ui.images import display_scale, to_model_input, to_picture

TITLE = "Interpolation"
SOURCES = ("two seeds", "two drawings")
MAX_STEPS = 32


def endpoints(model, source: str, seed_a, seed_b, pad_a, pad_b) -> tuple[torch.Tensor, torch.Tensor]:
    """The two latents (D,) the walk joins."""
    if source == SOURCES[0]:
        return (model.prior(1, generator=seeded(seed_a)).float().cpu()[0],
                model.prior(1, generator=seeded(seed_b)).float().cpu()[0])
    if source != SOURCES[1]:
        raise GenlabError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    if "encode" not in model.capabilities:
        raise GenlabError(f"{model.family} cannot encode images; walk between two seeds instead")
    ends = []
    for pad, name in ((pad_a, "first drawing"), (pad_b, "second drawing")):
        x, notes = to_model_input(pad, model.data_spec, name)
        tell(notes, name)
        with torch.inference_mode():
            mean, _ = model.encode(model.check_images(x).to(model.device))
        ends.append(mean.float().cpu()[0])
    return ends[0], ends[1]


def walk_images(model, source, seed_a, seed_b, pad_a, pad_b, method: str, steps) -> torch.Tensor:
    n = int(steps or 0)
    if not 2 <= n <= MAX_STEPS:
        raise ValueError(f"steps must be between 2 and {MAX_STEPS}, got {steps}")
    a, b = endpoints(model, source, seed_a, seed_b, pad_a, pad_b)
    z = explore.walk(a, b, n, method)  # (n, D)
    with torch.inference_mode():  # no controls: every latent slot (InfoGAN's codes too) comes from z
        return model.decode(z.to(model.device)).float().cpu().clamp(-1, 1)


@user_errors
def interpolate(ctx: AppContext, key: str, source: str, seed_a, seed_b, pad_a, pad_b, method: str,
                steps) -> tuple:
    """-> (strip picture, GIF path, caption)."""
    model = ctx.catalog.model(key, need="latent")
    images = walk_images(model, source, seed_a, seed_b, pad_a, pad_b, method, steps)
    scale = display_scale(model.data_spec.height, 84)
    strip = to_picture(images, scale=scale, nrow=len(images))
    gif = ctx.scratch_path(f"walk-{key.replace(':', '_')}", strip.tobytes(), ".gif")
    if not gif.exists():  # written once, under a temporary name first (see AppContext.save_png)
        ctx.write_atomically(gif, lambda tmp: save_gif([im[None] for im in images], tmp,
                                                       scale=display_scale(model.data_spec.height, 224),
                                                       ms_per_frame=90))
    return ctx.save_png(strip, f"walk-{key.replace(':', '_')}"), str(gif), f"{method} walk, {len(images)} steps, {key}"


@user_errors
def interpolate_all(ctx: AppContext, source: str, seed_a, seed_b, pad_a, pad_b, method: str, steps) -> list:
    """The same walk by every latent model (every encoding model for drawings): one strip each."""
    need = "encode" if source == SOURCES[1] else "latent"
    models = [(e, m) for e, m in ctx.catalog.loadable() if need in m.capabilities and "latent" in m.capabilities]
    if not models:
        raise GenlabError(f"no model can do this walk yet (it needs '{need}')")
    out = []
    for entry, model in models:
        images = walk_images(model, source, seed_a, seed_b, pad_a, pad_b, method, steps)
        out.append((ctx.save_png(to_picture(images, scale=display_scale(model.data_spec.height, 56), nrow=len(images)),
                                 f"walk-{entry.key.replace(':', '_')}"),
                    f"{entry.key} ({model.family})"))
    return out


def show_pads(source: str) -> dict:
    return gr.update(visible=source == SOURCES[1])


def build(ctx: AppContext) -> None:
    with gr.Row():
        with gr.Column(scale=1, min_width=300):
            picker = ctx.picker("latent", "Model (with a latent space)", "interp-model")
            source = gr.Radio(list(SOURCES), value=SOURCES[0], label="Walk between", elem_id="interp-source")
            with gr.Row():
                seed_a = gr.Number(0, label="Seed A", precision=0, elem_id="interp-seed-a")
                seed_b = gr.Number(1, label="Seed B", precision=0, elem_id="interp-seed-b")
            method = gr.Radio(list(explore.INTERPOLATIONS), value="slerp", label="Interpolation",
                              info="slerp keeps |z| on the prior's shell; lerp cuts through the middle",
                              elem_id="interp-method")
            steps = gr.Slider(2, MAX_STEPS, value=8, step=1, label="Steps", elem_id="interp-steps")
            with gr.Row():
                go = gr.Button("Interpolate", variant="primary", elem_id="interp-button")
                go_all = gr.Button("Same walk, every family", elem_id="interp-all-button")
        with gr.Column(scale=2):
            with gr.Column(visible=False) as pads:
                with gr.Row():
                    with gr.Column(min_width=PAD_SIZE + 40):
                        pad_a = drawing_pad("Drawing A", "interp-pad-a", uploads=False)
                        up_a = upload_button("interp-a")
                    with gr.Column(min_width=PAD_SIZE + 40):
                        pad_b = drawing_pad("Drawing B", "interp-pad-b", uploads=False)
                        up_b = upload_button("interp-b")
                uploaded = gr.Markdown(elem_id="interp-uploaded")
            strip = gr.Image(label="Walk", format="png", interactive=False, elem_id="interp-strip",
                             elem_classes=["pixelated"])
            caption = gr.Markdown(elem_id="interp-caption")
            gif = gr.Image(label="Animated", type="filepath", interactive=False, elem_id="interp-gif", height=240)
            every = gr.Gallery(label="Every family", columns=1, height="auto", format="png", elem_id="interp-all",
                               elem_classes=["pixelated", "strips"], object_fit="contain", allow_preview=False)
    source.change(show_pads, source, pads, api_name="interp_source", queue=False)
    # the file itself goes to the server (the pad's own upload would shrink it in the browser first)
    keep_pad_usable(up_a.upload(upload_for(ctx, "encode"), [picker, up_a], [pad_a, uploaded],
                                api_name="interp_upload_a", **work("fast")), pad_a)
    keep_pad_usable(up_b.upload(upload_for(ctx, "encode"), [picker, up_b], [pad_b, uploaded],
                                api_name="interp_upload_b", **work("fast")), pad_b)
    inputs = [source, seed_a, seed_b, pad_a, pad_b, method, steps]
    go.click(functools.partial(interpolate, ctx), [picker, *inputs], [strip, gif, caption], api_name="interpolate",
             **work("fast"))
    go.click(lambda: None, None, every, queue=False, api_name=False)  # old strips belong to an old walk
    go_all.click(functools.partial(interpolate_all, ctx), inputs, every, api_name="interpolate_all", **work("score"))
