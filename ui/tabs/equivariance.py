"""Equivariance: one latent drawn by two generators side by side while the user moves it.

Lists the models with the `transform` capability (`decode` controls in the group
genlab.model.TRANSFORM_GROUP: shift_x, shift_y, rotate). Both render the same z (one seed)
with the same transform; "undo the transform" brings each render back with
genlab.metrics.equivariance.undo_transform, so a perfectly equivariant generator shows a still
image while the sliders move. Beside each image: its power spectrum (2-D, and radially averaged
against the model's own mean and the real data's). The summary says how still each one holds
(PSNR of the undone render against the untransformed one).

Nothing here names a family, a data set or an image size: the sliders' ranges are the two
models' declared ranges, the images come at the models' own size.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import gradio as gr
import numpy as np
import torch
from matplotlib.figure import Figure

from genlab.errors import GenlabError
from genlab.metrics import equivariance as eq
from genlab.model import TRANSFORM_CONTROLS, seeded
from ui.common import AppContext, on_open_and_change, user_errors, work
from ui.images import display_scale, to_picture

TITLE = "Equivariance"
NEED = "transform"
NAMES = tuple(TRANSFORM_CONTROLS)  # shift_x, shift_y, rotate: one slider each
INFO = {"shift_x": "pixels right (sub-pixel steps)", "shift_y": "pixels down (sub-pixel steps)",
        "rotate": "degrees; only a generator built for rotation (radially symmetric filters) should hold still"}
MEAN_SAMPLES = 100  # samples behind a model's mean spectrum (computed once per checkpoint)
REAL_IMAGES = 256  # test images behind the real data's mean spectrum


# ----- spectra -----------------------------------------------------------------------------------
def _model_profile(model) -> np.ndarray:
    """The radially averaged power spectrum of MEAN_SAMPLES untransformed decodes (seed 0)."""
    with torch.inference_mode():
        z = model.prior(MEAN_SAMPLES, generator=seeded(0))
        return eq.radial_profile(eq.power_spectrum(model.decode(z).float().cpu()))


def _real_profile(model) -> np.ndarray | None:
    """The same for the model's real test data; None where that data is not here."""
    from genlab.metrics.likelihood import test_images

    try:
        real, _ = test_images(model.data_spec, limit=REAL_IMAGES)
    except (GenlabError, OSError, RuntimeError, ValueError):
        return None
    return eq.radial_profile(eq.power_spectrum(real[:REAL_IMAGES]))


def spectrum_figure(image: torch.Tensor, profiles: dict[str, np.ndarray | None]) -> Figure:
    """log10 power of one image (zero frequency at the centre) beside radial averages (dB)."""
    spectrum = eq.power_spectrum(image)
    fig = Figure(figsize=(4.8, 2.4), dpi=100)
    ax2d, ax = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    ax2d.imshow(np.log10(spectrum + 1e-8), cmap="magma", vmin=-4)
    ax2d.set_xticks([]), ax2d.set_yticks([])
    ax2d.set_title("log10 power", fontsize=8)
    curves = {"this render": eq.radial_profile(spectrum), **profiles}
    for (name, p), style in zip(curves.items(), ("-", "--", ":")):
        if p is not None:
            ax.plot(10 * np.log10(p + 1e-12), style, label=name, lw=1.2)
    ax.set_xlabel("cycles per image", fontsize=7)
    ax.set_ylabel("dB", fontsize=7)
    ax.tick_params(labelsize=6)
    ax.legend(fontsize=6, loc="lower left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# ----- rendering ---------------------------------------------------------------------------------
@dataclass
class View:
    """One side of the page: a model's render of the shared z."""

    key: str
    shown: torch.Tensor     # (1, C, H, W): the render, or the render brought back with undo
    render: torch.Tensor    # the transformed render itself
    still_db: float | None  # PSNR of the undone render against the untransformed one (None: no transform)
    ceiling_db: float | None = None  # what an exactly equivariant generator would score there (sub-pixel shifts)


def shared_controls(left, right) -> dict:
    """{name: (low, high, step)} of the transform controls both models declare: the overlap of
    their ranges, the finer of their steps."""
    a, b = left.transform_controls(), right.transform_controls()
    out = {}
    for name in NAMES:
        if name in a and name in b:
            steps = [s for s in (a[name].step, b[name].step) if s is not None]
            out[name] = (max(a[name].low, b[name].low), min(a[name].high, b[name].high), min(steps, default=None))
    return out


def _transform(key: str, model, shared: dict, values: dict) -> dict:
    """The transform as `model.decode` takes it; values outside its declared ranges are refused."""
    for name, v in values.items():
        if name not in shared and v not in (None, 0, 0.0):
            raise GenlabError(f"{name} is not a control both models declare; they share "
                              f"{', '.join(shared) or 'none'}")
    try:
        return model.check_controls("decode", {n: v for n, v in values.items() if n in shared})
    except ValueError as e:
        raise ValueError(f"{key}: {e}") from None


def _decode(model, z: torch.Tensor, transform: dict) -> torch.Tensor:
    with torch.inference_mode():
        return model.decode(z.to(model.device), **transform).float().cpu()


def render_view(key: str, model, z: torch.Tensor, transform: dict, undo: bool) -> View:
    """One model's render of z under `transform`, shown as it is or brought back."""
    image = _decode(model, z, transform)
    shift = (transform.get("shift_x", 0.0), transform.get("shift_y", 0.0))
    angle = transform.get("rotate", 0.0)
    if not (shift[0] or shift[1] or angle):
        return View(key, image, image, None)
    undone, mask = eq.undo_transform(image, shift, angle, with_mask=True)
    still = _decode(model, z, {})
    db = eq.masked_psnr(undone, still, mask)
    return View(key, undone if undo else image, image, db, undo_ceiling(still, shift) if not angle else None)


def undo_ceiling(still: torch.Tensor, shift) -> float | None:
    """The PSNR a perfectly equivariant generator would get for a sub-pixel shift: its render would
    be the exact (Fourier) shift of `still`, and the Lanczos undo brings that back only up to
    its own error, large near Nyquist where thin strokes live. None for whole-pixel shifts (exact)."""
    if float(shift[0]).is_integer() and float(shift[1]).is_integer():
        return None
    h, w = still.shape[-2:]
    perfect = eq.fourier_translation(still, shift[0] / w, shift[1] / h)
    back, mask = eq.undo_transform(perfect, shift, 0.0, with_mask=True)
    return eq.masked_psnr(back, still, mask)


def latents(left, right, seed) -> tuple[torch.Tensor, torch.Tensor, str]:
    """One z for both from the seed; where the latent sizes differ, each its own draw (and why)."""
    z = left.prior(1, generator=seeded(seed)).float().cpu()
    if left.latent_dim == right.latent_dim:
        return z, z, f"both render the same z (seed {int(seed)}, {left.latent_dim} dimensions)"
    return z, right.prior(1, generator=seeded(seed)).float().cpu(), (
        f"**the latent sizes differ ({left.latent_dim} vs {right.latent_dim}): each draws its own z from seed "
        f"{int(seed)}, so they do not show the same image**")


def views(ctx: AppContext, left_key: str, right_key: str, seed, shift_x=0.0, shift_y=0.0, rotate=0.0,
          undo: bool = False) -> tuple[list[View], str]:
    """Both models' views of one latent under one transform, and what the latent is."""
    if not left_key or not right_key:
        raise GenlabError("pick two models that can move their output (train one in the Train tab)")
    left, right = ctx.catalog.model(left_key, need=NEED), ctx.catalog.model(right_key, need=NEED)
    shared = shared_controls(left, right)
    values = dict(zip(NAMES, (shift_x, shift_y, rotate)))
    transforms = [_transform(k, m, shared, values) for k, m in ((left_key, left), (right_key, right))]
    zl, zr, about = latents(left, right, seed)
    return [render_view(left_key, left, zl, transforms[0], bool(undo)),
            render_view(right_key, right, zr, transforms[1], bool(undo))], about


def summary(vs: list[View], about: str, undo: bool) -> str:
    """What z is, how still each render holds when brought back, and what is shown."""
    lines = [about + "."]
    if all(v.still_db is None for v in vs):
        lines.append("No transform yet: move a slider.")
    else:
        held = " · ".join(f"**{v.key}** {v.still_db:.1f} dB" + (f" (at most {v.ceiling_db:.1f})" if v.ceiling_db is not None else "")
                          for v in vs)
        lines.append(f"Brought back vs untransformed (PSNR over the pixels the undo defines; higher = stiller, "
                     f"an exactly equivariant generator does not change at all): {held}.")
        if any(v.ceiling_db is not None for v in vs):
            lines.append("At a sub-pixel shift the undo (a Lanczos-3 filter, as the paper's EQ-T metric) is not exact "
                         "for detail near the pixel grid's limit, so even a perfectly equivariant generator would "
                         "score only the 'at most' figure.")
    lines.append("Shown: the renders **brought back** (an equivariant generator's image holds still)."
                 if undo else "Shown: the renders as drawn, transformed.")
    return "  \n".join(lines)


def _outputs(ctx: AppContext, vs: list[View], about: str, undo: bool) -> list:
    out = []
    for v in vs:
        h = v.shown.shape[-2]
        picture = ctx.save_png(to_picture(v.shown.clamp(-1, 1), scale=display_scale(h, 256)),
                               f"equivariance-{v.key.replace(':', '_')}")
        profiles = {"model mean": ctx.catalog.derived(v.key, _model_profile),
                    "real data": ctx.catalog.derived(v.key, _real_profile)}
        out += [gr.update(value=picture, label=v.key), spectrum_figure(v.render, profiles)]
    return out + [summary(vs, about, undo)]


@user_errors
def render(ctx: AppContext, left_key: str, right_key: str, seed, shift_x=0.0, shift_y=0.0, rotate=0.0,
           undo: bool = False) -> list:
    """-> [left image, left spectra, right image, right spectra, summary]."""
    vs, about = views(ctx, left_key, right_key, seed, shift_x, shift_y, rotate, undo)
    return _outputs(ctx, vs, about, bool(undo))


@user_errors
def on_models(ctx: AppContext, left_key: str, right_key: str, seed, undo: bool = False) -> list:
    """New models: one slider per transform control both declare (their shared range, back at 0,
    the others hidden), then both renders untransformed."""
    if not left_key or not right_key:
        hidden = [gr.update(visible=False, value=0)] * len(NAMES)
        return [*hidden, None, None, None, None, "No two models that can move their output yet."]
    shared = shared_controls(ctx.catalog.model(left_key, need=NEED), ctx.catalog.model(right_key, need=NEED))
    sliders = []
    for name in NAMES:
        if name not in shared:
            sliders.append(gr.update(visible=False, value=0))
            continue
        low, high, step = shared[name]
        sliders.append(gr.update(visible=True, minimum=low, maximum=high, step=step or (high - low) / 100, value=0))
    vs, about = views(ctx, left_key, right_key, seed, undo=undo)
    return [*sliders, *_outputs(ctx, vs, about, bool(undo))]


def build(ctx: AppContext) -> None:
    keys = [k for _, k in ctx.catalog.choices(NEED)]
    gr.Markdown("One latent, two generators, the same sub-pixel move. Tick **undo the transform** to bring each "
                "render back: a generator that is equivariant to the move shows a still image; one whose details "
                "stick to the pixel grid swims.")
    with gr.Row():
        left = ctx.picker(NEED, "Left model", "eq-left")
        right = ctx.picker(NEED, "Right model", "eq-right", value=keys[1] if len(keys) > 1 else None)
        seed = gr.Number(0, label="Seed (one z for both)", precision=0, elem_id="eq-seed")
    with gr.Row():
        sliders = [gr.Slider(-1, 1, value=0, step=0.05, label=name, info=INFO[name],
                             elem_id=f"eq-{name.replace('_', '-')}") for name in NAMES]
        undo = gr.Checkbox(False, label="undo the transform", elem_id="eq-undo",
                           info="bring each render back: still = equivariant")
    with gr.Row():
        outputs = []
        for side in ("left", "right"):
            with gr.Column(min_width=400):
                with gr.Row():
                    outputs.append(gr.Image(label=side, format="png", interactive=False, elem_id=f"eq-{side}-image",
                                            elem_classes=["pixelated"], height=260, min_width=200, scale=2))
                    outputs.append(gr.Plot(label="power spectrum", elem_id=f"eq-{side}-spectrum", min_width=300,
                                           scale=3))
    about = gr.Markdown(elem_id="eq-about")
    outputs.append(about)
    setup = functools.partial(on_models, ctx)
    on_open_and_change(ctx, [left.change, right.change], setup, [left, right, seed, undo], [*sliders, *outputs],
                       "equivariance_models", trigger_mode="always_last", **work("fast"))
    # a slider re-renders both on release (a render is ~20 ms a model; the undo of a rotation ~0.2 s)
    gr.on([seed.change, undo.change, *[s.release for s in sliders]], functools.partial(render, ctx),
          [left, right, seed, *sliders, undo], outputs, api_name="equivariance", trigger_mode="always_last",
          show_progress="hidden", **work("fast"))
