"""Likelihood: how probable does each model find your image?

NLL in nats and bits per dimension from every model with `log_prob` (exact
for autoregressive models, a lower bound on log p for VAEs and diffusion; a
seeded estimate where `log_prob_is_sampled`), a per-pixel -log2 p heatmap
from those with `pixel_log_prob`, and completion of the top rows of an image
by the models with the `complete` capability, with the controls they declare
for it. Test images come from the test split of the chosen model's own data
(only data that is bundled or already on disk: nothing is downloaded), at the
model's size; the rows-kept range is the model's height.
"""
from __future__ import annotations

import functools
import math

import gradio as gr
import numpy as np
import torch

from genlab.data import load_dataset, unit_to_uint8
from genlab.errors import GenlabError
from genlab.metrics.likelihood import is_mnist_like, log_prob_options
from genlab.model import DataSpec
from ui.catalog import seeded
from ui.common import (PAD_SIZE, AppContext, a_label, drawing_pad, keep_pad_usable, on_open_and_change, tell,
                       upload_button, upload_to_pad, user_errors, whole_in_range, work)
from ui.controls import control_values, controls_panel, default_values, defaults_json
from ui.images import display_scale, heatmap, to_model_input, to_picture

TITLE = "Likelihood"
HEADERS = ["model", "family", "NLL (nats)", "bits/dim", "kind", "data"]
MAX_COMPLETIONS = 8
MAX_TEST_IMAGES = 1000  # of a test split that is not held in memory


# ----- test images -----------------------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def test_set(spec: DataSpec) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The test split of the data a model of `spec` was trained on, at the model's size:
    ((N, C, H, W) in [-1, 1], labels or None). MNIST-like data is bundled; other data sets
    only where they are already on disk (never downloaded here)."""
    try:
        ds = load_dataset(spec.name, "test", image_size=None if is_mnist_like(spec) else spec.height)
        if ds.in_memory:
            images, labels = ds.images, ds.labels
        else:
            items = [ds.stream[i] for i in range(min(MAX_TEST_IMAGES, len(ds.stream)))]
            images = torch.stack([it[0] for it in items])
            labels = torch.tensor([int(it[1]) for it in items]) if len(items[0]) > 1 else None
    except (GenlabError, OSError, RuntimeError, ValueError) as e:
        raise GenlabError(f"no test images of {spec.name!r} are available here ({e}); "
                          "draw or upload an image instead") from None
    c, h, w = spec.image_shape
    if images.shape[1] == c and images.shape[2] <= h and images.shape[3] <= w:  # padded data: pad as the model saw it
        top, left = (h - images.shape[2]) // 2, (w - images.shape[3]) // 2
        images = torch.nn.functional.pad(images, (left, w - images.shape[3] - left, top, h - images.shape[2] - top),
                                         value=-1.0)
    if tuple(images.shape[1:]) != spec.image_shape:
        raise GenlabError(f"the test images of {spec.name!r} are {tuple(images.shape[1:])}, "
                          f"the model takes {spec.image_shape}")
    return images, labels


def _spec_for(ctx: AppContext, keys, complete_key) -> DataSpec:
    """The data spec of the chosen model: the first one scored, else the one completing."""
    keys = [k for k in (keys or []) if k] + ([complete_key] if complete_key else [])
    if not keys:
        raise GenlabError("pick a model first: test images come from the data it was trained on")
    return ctx.catalog.model(keys[0]).data_spec


def test_image(spec: DataSpec, index) -> tuple[dict, str]:
    """A test image of `spec` as a drawing-pad value (enlarged to the canvas), and what it is."""
    images, labels = test_set(spec)
    i = int(index or 0)
    if not 0 <= i < len(images):
        raise GenlabError(f"test image index must be between 0 and {len(images) - 1}, got {index}")
    pic = unit_to_uint8(images[i:i + 1])[0]  # (H, W) or (H, W, C)
    k = max(1, PAD_SIZE // max(spec.height, spec.width))
    big = pic.repeat(k, 0).repeat(k, 1)
    rgb = np.stack([big] * 3, axis=-1) if big.ndim == 2 else big
    what = f"{spec.name} test image #{i}" + (f": {a_label(int(labels[i]), spec.name)}" if labels is not None else "")
    return {"background": rgb, "layers": [], "composite": rgb}, what


@user_errors
def upload(ctx: AppContext, path, keys=None, complete_key=None) -> tuple[dict, str]:
    """An uploaded file, checked and converted at its own size for the chosen model's data."""
    return upload_to_pad(ctx, _spec_for(ctx, keys, complete_key), path)


@user_errors
def load_test_image(ctx: AppContext, index, keys=None, complete_key=None) -> tuple[dict, str]:
    """Put test image #index of the chosen model's data on the pad and say which one it is."""
    value, what = test_image(_spec_for(ctx, keys, complete_key), index)
    path = ctx.save_png(value["background"], "test-image")  # a file written once (see save_png)
    return {"background": path, "layers": [], "composite": path}, what


# ----- scoring ---------------------------------------------------------------------------------
def _log_prob(model, x: torch.Tensor) -> float:
    """log p(x) in nats; where it is a Monte Carlo estimate (IWAE), seeded by genlab's one rule
    (seed 0, the model's own k): what `genlab eval` reports for this image as its first."""
    return float(model.log_prob(x, **log_prob_options(model, seeded(0)))[0])


def data_kind(spec: DataSpec) -> str:
    """What the likelihood is over: NLLs compare only between models of the same kind (a binary
    digit holds at most 1 bit per pixel, an 8-bit one up to 8)."""
    values = "binary" if spec.binary else "8-bit " + ("grey" if spec.channels == 1 else "colour")
    return f"{values} {spec.height}x{spec.width} ({spec.name})"


def _kind(model) -> str:
    if model.log_prob_is_exact:
        return "exact"
    return "bound (NLL ≤ shown)" + (", seeded estimate" if model.log_prob_is_sampled else "")


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
            seen = ctx.save_png(to_picture(x.cpu(), scale=display_scale(model.data_spec.height, 140)), "seen")
        with torch.inference_mode():
            nats = -_log_prob(model, x)
            dims = math.prod(model.data_spec.image_shape)
            rows.append([key, model.family, round(nats, 2), round(nats / (dims * math.log(2)), 4), _kind(model),
                         data_kind(model.data_spec)])
            if "pixel_log_prob" in model.capabilities:
                bits = (-model.pixel_log_prob(x)[0].float().cpu() / math.log(2)).numpy()  # (H, W)
                maps.append((ctx.save_png(heatmap(np.clip(bits, 0, None), scale=display_scale(bits.shape[0], 224)),
                                          f"heatmap-{key.replace(':', '_')}"),
                             f"{key}: -log2 p per pixel, max {bits.max():.1f} bits, total {bits.sum():.0f} bits"))
    rows.sort(key=lambda r: r[5].split(" (")[0])  # models of one kind of data together, in the order picked
    return rows, maps, seen


# ----- completion ------------------------------------------------------------------------------
def _rows_update(model) -> dict:
    h = model.data_spec.height
    return gr.update(minimum=0, maximum=h, value=h // 2, step=1)


@user_errors
def on_complete_model(ctx: AppContext, key: str) -> list:
    """The rows-kept range of the picked model (its height) and its completion controls' defaults."""
    if not key:
        return [gr.update(), {}]
    model = ctx.catalog.model(key, need="complete")
    return [_rows_update(model), default_values(model, "complete")]


@user_errors
def complete(ctx: AppContext, key: str, pad, rows_kept, count, seed, controls: dict | None = None
             ) -> tuple[np.ndarray, str]:
    """Keep the top rows of the image and let the model draw the rest, `count` times.

    `controls`: {name: value} for the model's declared "complete" controls (missing: defaults)."""
    model = ctx.catalog.model(key, need="complete")
    n = whole_in_range(count, MAX_COMPLETIONS)
    knobs = control_values(model, "complete", controls)
    x, notes = to_model_input(pad, model.data_spec, "drawing")
    tell(notes, "drawing")
    h = model.data_spec.height
    keep = int(rows_kept if rows_kept is not None else h // 2)
    if not 0 <= keep <= h:
        raise ValueError(f"rows kept must be between 0 and {h} (the model's height), got {rows_kept}")
    x = model.check_images(x)
    with torch.inference_mode():
        out = model.complete(x.expand(n, -1, -1, -1).to(model.device), keep, generator=seeded(seed),
                             **knobs).float().cpu()
    shown = x.clone()
    shown[:, :, keep:] = -1.0  # what the model was given: the rest blacked out
    pics = torch.cat([shown, out.clamp(-1, 1)])
    return (ctx.save_png(to_picture(pics, scale=display_scale(h, 84), nrow=len(pics)), "completions"),
            f"first: the {keep} rows given to **{key}**; then {n} completions (seed {int(seed or 0)})")


def build(ctx: AppContext) -> None:
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            pad = drawing_pad("Draw a digit", "lik-pad", uploads=False)
            up = upload_button("lik")
            with gr.Row():
                index = gr.Number(0, label="Test image # (the chosen model's data)", precision=0,
                                  elem_id="lik-index")
                load = gr.Button("Use this test image", elem_id="lik-load")
            which = gr.Markdown(elem_id="lik-digit")
        with gr.Column(scale=2):
            pickers = ctx.picker("log_prob", "Models with a likelihood", "lik-models", multiselect=True)
            go = gr.Button("Score", variant="primary", elem_id="lik-button")
            table = gr.Dataframe(headers=HEADERS, interactive=False, elem_id="lik-table", wrap=True,
                                 label="Negative log-likelihood (lower = more probable; compare only rows "
                                       "of the same kind of data)",
                                 column_widths=["16%", "12%", "11%", "9%", "26%", "26%"])
            with gr.Row():
                seen = gr.Image(label="As the model sees it", format="png", interactive=False, height=160,
                                elem_id="lik-seen", elem_classes=["pixelated"])
                maps = gr.Gallery(label="Per-pixel cost (bright = surprising)", columns=2, height="auto",
                                  format="png", elem_id="lik-heatmaps", elem_classes=["pixelated"])
            with gr.Accordion("Complete the top of the image", open=False):  # opened on demand: the page stays short
                ar = ctx.picker("complete", "Model (that can complete images)", "lik-complete-model")
                try:
                    height = ctx.catalog.model(ar.value).data_spec.height if ar.value else 1
                except (GenlabError, OSError):
                    height = 1
                with gr.Row():
                    rows_kept = gr.Slider(0, height, value=height // 2, step=1, label="rows kept",
                                          elem_id="lik-rows")
                    count = gr.Slider(1, MAX_COMPLETIONS, value=4, step=1, label="completions",
                                      elem_id="lik-count")
                    seed = gr.Number(0, label="Seed", precision=0, elem_id="lik-seed")
                controls = controls_panel(ctx, ar, "complete", "lik-complete", need="complete")
                fill = gr.Button("Complete", elem_id="lik-complete")
                done = gr.Image(label="Given rows, then completions", format="png", interactive=False,
                                elem_id="lik-completions", elem_classes=["pixelated"])
                caption = gr.Markdown(elem_id="lik-caption")
    defaults = defaults_json("lik-complete", "complete")
    keep_pad_usable(up.upload(functools.partial(upload, ctx), [up, pickers, ar], [pad, which],
                              api_name="likelihood_upload", **work("fast")), pad)
    keep_pad_usable(load.click(functools.partial(load_test_image, ctx), [index, pickers, ar], [pad, which],
                               api_name="test_digit", **work("fast")), pad)
    go.click(functools.partial(score, ctx), [pickers, pad], [table, maps, seen], api_name="likelihood",
             **work("score"))
    setup = functools.partial(on_complete_model, ctx)
    on_open_and_change(ctx, [ar.change], setup, ar, [rows_kept, defaults], "complete_model", **work("fast"))
    fill.click(functools.partial(complete, ctx), [ar, pad, rows_kept, count, seed, controls], [done, caption],
               api_name="complete", **work("score"))
