"""Likelihood: how probable does each model find your digit?

NLL in nats and bits per dimension from every model with `log_prob` (exact
for autoregressive models, a lower bound on log p for VAEs and diffusion), a
per-pixel -log2 p heatmap from those with `pixel_log_prob`, and completion of
the top half of a digit by the models whose `sample` takes `given`/`given_rows`.
"""
from __future__ import annotations

import functools
import inspect
import math

import gradio as gr
import numpy as np
import torch

from genlab.data.mnist import load_mnist
from genlab.errors import GenlabError
from ui.catalog import seeded
from ui.common import PAD_SIZE, AppContext, drawing_pad, tell, user_errors
from ui.images import display_scale, heatmap, to_model_input, to_picture

TITLE = "Likelihood"
HEADERS = ["model", "family", "NLL (nats)", "bits/dim", "kind"]
MAX_COMPLETIONS = 8


def test_digit(index) -> dict:
    """A digit from the embedded MNIST test split, as a drawing-pad value (upscaled to the canvas)."""
    images, _ = load_mnist("test")
    i = int(index or 0)
    if not 0 <= i < len(images):
        raise gr.Error(f"test digit index must be between 0 and {len(images) - 1}, got {index}")
    big = np.asarray(images[i]).repeat(PAD_SIZE // 28, 0).repeat(PAD_SIZE // 28, 1)
    rgb = np.stack([big] * 3, axis=-1)
    return {"background": rgb, "layers": [], "composite": rgb}


def load_test_digit(index) -> tuple[dict, str]:
    """Put a test digit on the pad and say which one it is."""
    _, labels = load_mnist("test")
    pad = test_digit(index)
    return pad, f"MNIST test digit #{int(index or 0)}: a **{int(labels[int(index or 0)])}**"


def _takes(fn, name: str) -> bool:
    return name in inspect.signature(fn).parameters


def can_complete(model) -> bool:
    return _takes(model.sample, "given") and _takes(model.sample, "given_rows")


def _score(model, x: torch.Tensor) -> float:
    """log p(x) in nats; a fixed seed where the estimate is random (importance-weighted bounds)."""
    kw = {"generator": seeded(0)} if _takes(model.log_prob, "generator") else {}
    return float(model.log_prob(x, **kw)[0])


@user_errors
def score(ctx: AppContext, keys: list[str] | None, pad) -> tuple[list[list], list, np.ndarray | None]:
    """-> (table rows, heatmaps with captions, the input as the first model sees it)."""
    if not keys:
        raise GenlabError("pick at least one model with a likelihood")
    rows, maps, seen = [], [], None
    for key in keys:
        model = ctx.catalog.model(key, need="log_prob")
        x, notes = to_model_input(pad, model.data_spec, "drawing")
        tell(notes, f"drawing for {key}")
        x = model.check_images(x).to(model.device)
        if seen is None:
            seen = to_picture(x.cpu(), scale=display_scale(model.data_spec.height, 140))
        with torch.inference_mode():
            nats = -_score(model, x)
            dims = math.prod(model.data_spec.image_shape)
            kind = "exact" if model.log_prob_is_exact else "bound (NLL ≤ shown)"
            rows.append([key, model.family, round(nats, 2), round(nats / (dims * math.log(2)), 4), kind])
            if "pixel_log_prob" in model.capabilities:
                bits = (-model.pixel_log_prob(x)[0].float().cpu() / math.log(2)).numpy()  # (H, W)
                maps.append((heatmap(np.clip(bits, 0, None), scale=display_scale(bits.shape[0], 224)),
                             f"{key}: -log2 p per pixel, max {bits.max():.1f} bits, total {bits.sum():.0f} bits"))
    return rows, maps, seen


@user_errors
def complete(ctx: AppContext, key: str, pad, rows_kept, count, seed) -> tuple[np.ndarray, str]:
    """Keep the top rows of the digit and let the model draw the rest, `count` times."""
    model = ctx.catalog.model(key, need="log_prob")
    if not can_complete(model):
        raise GenlabError(f"{key} ({model.family}) cannot complete images; pick an autoregressive model")
    n = int(count or 0)
    if not 1 <= n <= MAX_COMPLETIONS:
        raise ValueError(f"count must be between 1 and {MAX_COMPLETIONS}, got {count}")
    x, notes = to_model_input(pad, model.data_spec, "drawing")
    tell(notes, "drawing")
    h = model.data_spec.height
    keep = int(rows_kept if rows_kept is not None else h // 2)
    if not 0 <= keep <= h:
        raise ValueError(f"rows kept must be between 0 and {h}, got {rows_kept}")
    with torch.inference_mode():
        out = model.sample(n, generator=seeded(seed), given=x.to(model.device), given_rows=keep).float().cpu()
    shown = x.clone()
    shown[:, :, keep:] = -1.0  # what the model was given: the rest blacked out
    pics = torch.cat([shown, out.clamp(-1, 1)])
    return (to_picture(pics, scale=display_scale(h, 84), nrow=len(pics)),
            f"first: the {keep} rows given to **{key}**; then {n} completions (seed {int(seed or 0)})")


def build(ctx: AppContext) -> None:
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            pad = drawing_pad("Draw or upload a digit", "lik-pad")
            with gr.Row():
                index = gr.Number(0, label="MNIST test digit #", precision=0, elem_id="lik-index")
                load = gr.Button("Use this test digit", elem_id="lik-load")
            which = gr.Markdown(elem_id="lik-digit")
        with gr.Column(scale=2):
            pickers = ctx.picker("log_prob", "Models with a likelihood", "lik-models", multiselect=True)
            go = gr.Button("Score", variant="primary", elem_id="lik-button")
            table = gr.Dataframe(headers=HEADERS, label="Negative log-likelihood (lower = more probable)",
                                 interactive=False, elem_id="lik-table")
            with gr.Row():
                seen = gr.Image(label="As the model sees it", format="png", interactive=False, height=160,
                                elem_id="lik-seen", elem_classes=["pixelated"])
                maps = gr.Gallery(label="Per-pixel cost (bright = surprising)", columns=3, height="auto",
                                  format="png", elem_id="lik-heatmaps", elem_classes=["pixelated"])
            with gr.Accordion("Complete the top of the digit", open=True):
                with gr.Row():
                    ar = ctx.picker(can_complete, "Model", "lik-complete-model")
                    rows_kept = gr.Slider(0, 28, value=14, step=1, label="rows kept", elem_id="lik-rows")
                    count = gr.Slider(1, MAX_COMPLETIONS, value=4, step=1, label="completions",
                                      elem_id="lik-count")
                    seed = gr.Number(0, label="Seed", precision=0, elem_id="lik-seed")
                fill = gr.Button("Complete", elem_id="lik-complete")
                done = gr.Image(label="Given rows, then completions", format="png", interactive=False,
                                elem_id="lik-completions", elem_classes=["pixelated"])
                caption = gr.Markdown(elem_id="lik-caption")
    load.click(load_test_digit, index, [pad, which], api_name="test_digit")
    go.click(functools.partial(score, ctx), [pickers, pad], [table, maps, seen], api_name="likelihood")
    fill.click(functools.partial(complete, ctx), [ar, pad, rows_kept, count, seed], [done, caption],
               api_name="complete")
