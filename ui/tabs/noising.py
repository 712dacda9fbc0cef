"""Noise and denoise: a picture noised to step t of a diffusion process and denoised back.

For any model with the `noise` capability (`T` noise levels, `add_noise(x, t)`, `denoise(x_t, t)`;
see genlab/model.py). The picture is the user's (drawn, or uploaded and converted at its own
size on the server) or a test image of the model's own data. The page shows the input as the
model sees it, x_t (seeded: the same seed, the same noise) and the image the reverse chain
brings back from t, with the controls the model declares for `denoise` (sampler, steps, ...).
A strip runs the same picture, with the same noise, through evenly spaced t from 0 to T-1: how
much of the input survives each level of noise.

Nothing here names a family, a data set or an image size: T, the controls and the image's
shape come from the model.
"""
from __future__ import annotations

import functools

import gradio as gr
import numpy as np
import torch

from genlab.errors import GenlabError
from ui.catalog import seeded
from ui.common import (AppContext, drawing_pad, keep_pad_usable, on_open_and_change, tell, upload_button, upload_for,
                       user_errors, work)
from ui.controls import control_values, controls_panel, default_values, defaults_json, describe_values
from ui.images import display_scale, to_model_input, to_picture
from ui.tabs.likelihood import test_image

TITLE = "Noise and denoise"
NEED = "noise"
STRIP_MIN, STRIP_MAX, STRIP_DEFAULT = 2, 12, 8


def _levels(model) -> int:
    return int(model.T)


def check_t(model, t) -> int:
    """t as the model takes it: a whole number in 0..T-1; anything else is refused by name."""
    T = _levels(model)
    given, value = t, t
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            pass
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < T:
        raise ValueError(f"t must be a whole number in 0..{T - 1} (this model has T = {T} noise levels), "
                         f"got {given!r}")
    return int(value)


def strip_levels(T: int, count) -> list[int]:
    """`count` noise levels evenly spaced over 0..T-1, both ends included."""
    k = int(count or 0)
    if not STRIP_MIN <= k <= STRIP_MAX:
        raise ValueError(f"the strip takes {STRIP_MIN} to {STRIP_MAX} noise levels, got {count}")
    return sorted({int(round(v)) for v in np.linspace(0, T - 1, min(k, T))})


def _input(model, pad) -> torch.Tensor:
    x, notes = to_model_input(pad, model.data_spec, "picture")
    tell(notes, "picture")
    return model.check_images(x)


# ----- handlers ----------------------------------------------------------------------------------
@user_errors
def on_model(ctx: AppContext, key: str) -> list:
    """The picked model's t range (0..T-1, starting halfway) and its denoising controls' defaults."""
    if not key:
        return [gr.update(), {}]
    model = ctx.catalog.model(key, need=NEED)
    T = _levels(model)
    return [gr.update(minimum=0, maximum=T - 1, step=1, value=T // 2), default_values(model, "denoise")]


@user_errors
def load_test_image(ctx: AppContext, key: str, index) -> tuple[dict, str]:
    """Put test image #index of the picked model's own data on the pad and say which it is."""
    value, what = test_image(ctx.catalog.model(key, need=NEED).data_spec, index)
    path = ctx.save_png(value["background"], "noise-test-image")
    return {"background": path, "layers": [], "composite": path}, what


@user_errors
def noise_and_denoise(ctx: AppContext, key: str, pad, t, seed, controls: dict | None = None
                      ) -> tuple[str, str, str, str]:
    """-> (the input as the model sees it, x_t, the image denoised back from t, a summary).

    The noise comes from `seed` (the same seed, the same x_t); `controls`: {name: value} of
    the model's declared `denoise` controls (missing: the model's defaults)."""
    model = ctx.catalog.model(key, need=NEED)
    t = check_t(model, t)
    knobs = control_values(model, "denoise", controls)
    x = _input(model, pad)
    with torch.inference_mode():
        xt = model.add_noise(x, t, generator=seeded(seed)).float().cpu()
        back = model.denoise(xt.to(model.device), t, generator=seeded(seed), **knobs).float().cpu()
    scale = display_scale(model.data_spec.height, 168)
    stem = f"noise-{key.replace(':', '_')}"
    T = _levels(model)
    change = (xt - x).pow(2).mean().sqrt().item()
    lines = [f"**{key}**, t = {t} of 0..{T - 1}, seed {int(seed or 0)}: x_t is {change:.2f} (RMS) away from "
             f"the input; denoised back from t, {(back - x).abs().mean().item():.3f} mean |error| "
             f"(pixel values in [-1, 1]).",
             f"Denoising controls: {describe_values(knobs) or 'the model defaults'}."]
    if not xt.abs().le(1).all():
        lines.append("x_t is shown clipped to the picture range.")
    return (ctx.save_png(to_picture(x, scale=scale), f"{stem}-input"),
            ctx.save_png(to_picture(xt.clamp(-1, 1), scale=scale), f"{stem}-xt"),
            ctx.save_png(to_picture(back.clamp(-1, 1), scale=scale), f"{stem}-denoised"),
            "  \n".join(lines))


@user_errors
def strip(ctx: AppContext, key: str, pad, seed, count, controls: dict | None = None) -> tuple[str, str]:
    """-> (a two-row picture: x_t at `count` t evenly spaced over 0..T-1, and under each the
    image denoised back from it; a caption). The same seed, so the same noise, at every t."""
    model = ctx.catalog.model(key, need=NEED)
    ts = strip_levels(_levels(model), count)
    knobs = control_values(model, "denoise", controls)
    x = _input(model, pad)
    noisy, back = [], []
    with torch.inference_mode():
        for t in ts:
            xt = model.add_noise(x, t, generator=seeded(seed))
            noisy.append(xt.float().cpu().clamp(-1, 1))
            back.append(model.denoise(xt, t, generator=seeded(seed), **knobs).float().cpu().clamp(-1, 1))
    pic = to_picture(torch.cat(noisy + back), scale=display_scale(model.data_spec.height, 84), nrow=len(ts))
    caption = (f"top: x_t at t = {', '.join(map(str, ts))}; under each, denoised back from that t "
               f"(**{key}**, seed {int(seed or 0)})")
    return ctx.save_png(pic, f"noise-strip-{key.replace(':', '_')}"), caption


def build(ctx: AppContext) -> None:
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            picker = ctx.picker(NEED, "Model (that can noise and denoise)", "noise-model")
            pad = drawing_pad("Draw a digit", "noise-pad", uploads=False)
            up = upload_button("noise")
            with gr.Row():
                index = gr.Number(0, label="Test image # (the model's data)", precision=0, elem_id="noise-index")
                load = gr.Button("Use this test image", elem_id="noise-load")
            which = gr.Markdown(elem_id="noise-which")
        with gr.Column(scale=2):
            try:
                T = _levels(ctx.catalog.model(picker.value)) if picker.value else 1
            except (GenlabError, OSError, AttributeError):
                T = 1
            with gr.Row():
                t = gr.Slider(0, max(T - 1, 1), value=T // 2, step=1, label="t (noise level, 0..T-1)",
                              elem_id="noise-t")
                seed = gr.Number(0, label="Seed (of the noise)", precision=0, elem_id="noise-seed")
            with gr.Accordion("Denoising controls (declared by the model)", open=False):
                controls = controls_panel(ctx, picker, "denoise", "noise", need=NEED)
            go = gr.Button("Noise to t and denoise", variant="primary", elem_id="noise-button")
            with gr.Row():
                shown = dict(format="png", interactive=False, height=200, elem_classes=["pixelated"])
                seen = gr.Image(label="input (as the model sees it)", elem_id="noise-input", **shown)
                noisy = gr.Image(label="x_t: noised to t", elem_id="noise-xt", **shown)
                back = gr.Image(label="denoised back from t", elem_id="noise-denoised", **shown)
            summary = gr.Markdown(elem_id="noise-summary")
            with gr.Row():
                count = gr.Slider(STRIP_MIN, STRIP_MAX, value=STRIP_DEFAULT, step=1, label="t values in the strip",
                                  elem_id="noise-count")
                run_strip = gr.Button("Strip over t", elem_id="noise-strip-button")
            strip_pic = gr.Image(label="x_t over t (top), denoised (bottom)", format="png", interactive=False,
                                 elem_id="noise-strip", elem_classes=["pixelated"])
            caption = gr.Markdown(elem_id="noise-caption")
    defaults = defaults_json("noise", "denoise")
    setup = functools.partial(on_model, ctx)
    on_open_and_change(ctx, [picker.change], setup, picker, [t, defaults], "noise_model", **work("fast"))
    # the file itself goes to the server (the pad's own upload would shrink it in the browser first)
    keep_pad_usable(up.upload(upload_for(ctx, NEED), [picker, up], [pad, which], api_name="noise_upload",
                              **work("fast")), pad)
    keep_pad_usable(load.click(functools.partial(load_test_image, ctx), [picker, index], [pad, which],
                               api_name="noise_test_image", **work("fast")), pad)
    go.click(functools.partial(noise_and_denoise, ctx), [picker, pad, t, seed, controls],
             [seen, noisy, back, summary], api_name="noise", **work("score"))
    run_strip.click(functools.partial(strip, ctx), [picker, pad, seed, count, controls], [strip_pic, caption],
                    api_name="noise_strip", **work("score"))
