"""Latent explorer: sliders over a decoder's latent space.

The sliders are coordinates of z along an orthonormal basis: the leading
latent dimensions, or principal directions found from decoded samples
(genlab.explore). z = the session's base latent with those coordinates
replaced, so the rest of z stays put. The base comes from a seed or from
encoding a drawn/uploaded digit (then the sliders start at the posterior mean
and their labels show its spread).

Dragging fires a light preview (one decode, native resolution); releasing
renders the full-size image and the diagnostics.
"""
from __future__ import annotations

import functools

import gradio as gr
import numpy as np
import torch

from genlab import explore, plots
from genlab.errors import GenlabError
from ui.catalog import seeded
from ui.common import (AppContext, drawing_pad, keep_pad_usable, on_open_and_change, tell, upload_button, upload_for,
                       user_errors, work)
from ui.controls import control_values, controls_panel, default_values, defaults_json
from ui.images import display_scale, to_model_input, to_picture

TITLE = "Latent explorer"
N_AXES = 8
BASES = ("leading dimensions", "principal directions")
AXIS_RANGE = 4.0
CLEAR_PAD_JS = ("() => { const b = document.querySelector('#latent-pad button[aria-label=\"Clear canvas\"]');"
                " if (b) b.click(); return null; }")


def _pca(model):
    return explore.principal_directions(model, k=N_AXES, n=256, seed=0)


def _norm(model):
    return explore.typical_norm(model)


MANIFOLD_N = 20


def _manifold(model) -> np.ndarray:
    """The decoded manifold of a 2-D latent space (genlab.plots.manifold_grid, as `genlab plots`
    draws it): MANIFOLD_N x MANIFOLD_N decodes, z1 left to right, z2 bottom to top."""
    with torch.inference_mode():
        images, _ = plots.manifold_grid(model, MANIFOLD_N)
    return to_picture(images, nrow=MANIFOLD_N)


def manifold_update(ctx: AppContext, key: str, model) -> dict:
    """The manifold map where the model's latent space is 2-D; hidden otherwise."""
    if "manifold" not in plots.available_plots(model):
        return gr.update(visible=False, value=None)
    pic = ctx.catalog.derived(key, _manifold)
    return gr.update(visible=True, value=ctx.save_png(pic, f"manifold-{key.replace(':', '_')}"))


def basis(ctx: AppContext, key: str, model, name: str) -> tuple[torch.Tensor, list[str]]:
    """(rows of an orthonormal basis (k, D), a label per row)."""
    if name not in BASES:
        raise GenlabError(f"basis must be one of {', '.join(BASES)}, got {name!r}")
    d = model.latent_dim
    if name == BASES[0]:
        k = min(N_AXES, d)
        return torch.eye(d)[:k], [f"z[{i}]" for i in range(k)]
    dirs, ratio = ctx.catalog.derived(key, _pca)
    return dirs, [f"direction {i + 1} ({float(r):.1%} of image variance)" for i, r in enumerate(ratio)]


def _fresh_state(model, key: str, seed, basis_name: str) -> dict:
    z = model.prior(1, generator=seeded(seed)).float().cpu()[0]
    return {"key": key, "z": z.tolist(), "std": None, "basis": basis_name, "source": f"seed {int(seed or 0)}"}


def _state_for(ctx, key, model, seed, basis_name, state) -> dict:
    """The session's state if it belongs to this model, else a fresh one from the seed (API callers)."""
    if state and state.get("key") == key and len(state.get("z", ())) == model.latent_dim:
        return state
    return _fresh_state(model, key, seed, basis_name)


def _axis_updates(coords: torch.Tensor, labels: list[str], spread: torch.Tensor | None) -> list:
    ups = []
    for i in range(N_AXES):
        if i >= len(labels):
            ups.append(gr.update(visible=False, value=0))
            continue
        c = float(coords[i])
        label = labels[i] if spread is None else f"{labels[i]}: posterior {c:.2f} ± {float(spread[i]):.2f}"
        ups.append(gr.update(visible=True, label=label, value=round(c, 3),
                             minimum=min(-AXIS_RANGE, np.floor(c)), maximum=max(AXIS_RANGE, np.ceil(c))))
    return ups


def current_z(ctx: AppContext, key: str, seed, basis_name: str, state: dict | None, axes) -> tuple[torch.Tensor, dict]:
    model = ctx.catalog.model(key, need="latent")
    st = _state_for(ctx, key, model, seed, basis_name, state)
    B, labels = basis(ctx, key, model, st["basis"])
    z = torch.tensor(st["z"])
    coords = torch.tensor([float(a) for a in axes[:len(labels)]])
    if len(coords) == len(labels):
        z = explore.with_coordinates(z, B, coords)
    return z, st


def _decode(model, z: torch.Tensor, controls: dict) -> torch.Tensor:
    with torch.inference_mode():
        return model.decode(z.unsqueeze(0).to(model.device), **controls).float().cpu().clamp(-1, 1)


def _split(values) -> tuple[list, dict | None]:
    """(the axis slider values, the {name: value} of the decode controls) from an event's inputs."""
    values = list(values)
    return values[:N_AXES], (values[N_AXES] if len(values) > N_AXES else None)


def _request(key, seed, basis_name, values) -> list:
    axes, controls = _split(values)
    return [key, seed, basis_name, *[round(float(v), 6) if isinstance(v, (int, float)) else v for v in axes],
            dict(controls or {})]


@user_errors
def preview(ctx: AppContext, key: str, seed, basis_name: str, state: dict | None, *values):
    """While dragging: one decode at the model's own resolution (the page scales it up).

    The page may send the drag's last preview after the release (it holds back all but the
    newest pending input); when the full image for these very values is already shown, keep it."""
    if state and state.get("rendered") == _request(key, seed, basis_name, values):
        return gr.update()
    axes, controls = _split(values)
    z, _ = current_z(ctx, key, seed, basis_name, state, axes)
    model = ctx.catalog.model(key)
    image = _decode(model, z, control_values(model, "decode", controls))
    return ctx.save_png(to_picture(image, scale=1), f"latent-{key.replace(':', '_')}")


@user_errors
def render(ctx: AppContext, key: str, seed, basis_name: str, state: dict | None, *values) -> tuple[np.ndarray, str]:
    """On release: the full-size image and where z sits relative to the prior.

    values: the 8 axis sliders, then {name: value} of the model's decode controls."""
    axes, controls = _split(values)
    z, st = current_z(ctx, key, seed, basis_name, state, axes)
    model = ctx.catalog.model(key)
    image = _decode(model, z, control_values(model, "decode", controls))
    st["rendered"] = _request(key, seed, basis_name, values)  # the session's own dict (see preview)
    pic = to_picture(image, scale=display_scale(model.data_spec.height, 280))
    return ctx.save_png(pic, f"latent-{key.replace(':', '_')}"), info(ctx, key, model, z, st)


def info(ctx: AppContext, key: str, model, z: torch.Tensor, st: dict) -> str:
    mean, std = ctx.catalog.derived(key, _norm)
    norm = float(z.norm())
    text = (f"z from **{st['source']}** · {model.latent_dim} dimensions · |z| = {norm:.2f} "
            f"(prior samples: {mean:.2f} ± {std:.2f})")
    if norm > mean + 3 * std:  # inside the shell is fine (posterior means sit there); far outside is not
        text += "  \n**|z| is far outside the prior's typical shell: expect off-distribution images.**"
    return text


def _with_widgets(fn, names: list[str], defaults: dict | None = None):
    """An event on the rendered control widgets: their values (after the axes) become the dict.
    Widgets at their default are left out, as the tab's JSON leaves out untouched controls, so
    both ways of redrawing mean the same ({} = the model's defaults: InfoGAN keeps z's codes)."""
    defaults = defaults or {}

    def handler(ctx, key, seed, basis_name, state, *values):
        axes, widgets = list(values[:N_AXES]), values[N_AXES:]
        chosen = {n: v for n, v in zip(names, widgets) if n not in defaults or v != defaults[n]}
        return fn(ctx, key, seed, basis_name, state, *axes, chosen)
    return handler


def _setup_outputs(ctx, key, model, st, controls: dict | None = None) -> list:
    B, labels = basis(ctx, key, model, st["basis"])
    z = torch.tensor(st["z"])
    spread = explore.spread_along(torch.tensor(st["std"]), B) if st.get("std") else None
    image = _decode(model, z, control_values(model, "decode", controls))
    pic = ctx.save_png(to_picture(image, scale=display_scale(model.data_spec.height, 280)),
                       f"latent-{key.replace(':', '_')}")
    return [st, *_axis_updates(explore.coordinates(z, B), labels, spread), pic, info(ctx, key, model, z, st)]


@user_errors
def setup(ctx: AppContext, key: str, seed, basis_name: str) -> list:
    """New model: z from the seed, sliders at its coordinates, the model's decode controls at
    their defaults ({name: value}, for API callers; the page shows them through a gr.render), and
    the manifold map where the latent space is 2-D. (The page empties the drawing pad and "As the
    model sees it" itself, at once: see CLEAR_PAD_JS; done here, it would wipe a drawing begun
    while this ran.)"""
    if not key:
        return [{}, *[gr.update(visible=False)] * N_AXES, {}, None,
                "No model with a latent space yet.", gr.update(visible=False), gr.update(visible=False)]
    model = ctx.catalog.model(key, need="latent")
    st = _fresh_state(model, key, seed, basis_name)
    out = _setup_outputs(ctx, key, model, st)
    return [*out[:1 + N_AXES], default_values(model, "decode"), *out[1 + N_AXES:],
            gr.update(visible="encode" in model.capabilities), manifold_update(ctx, key, model)]


@user_errors
def reseed(ctx: AppContext, key: str, seed, basis_name: str, controls: dict | None = None) -> list:
    """A new seed for the same model: z from it, sliders at its coordinates, the controls as they are."""
    if not key:
        return [{}, *[gr.update(visible=False)] * N_AXES, None, "No model with a latent space yet.",
                gr.update(visible=False)]
    model = ctx.catalog.model(key, need="latent")
    st = _fresh_state(model, key, seed, basis_name)
    return [*_setup_outputs(ctx, key, model, st, controls), gr.update(visible="encode" in model.capabilities)]


@user_errors
def change_basis(ctx: AppContext, key: str, seed, basis_name: str, state: dict | None, *values) -> list:
    """Same z (sliders included), seen along another basis. values: the axes, then the controls."""
    axes, controls = _split(values)
    z, st = current_z(ctx, key, seed, basis_name, state, axes)
    model = ctx.catalog.model(key)
    st = {**st, "z": z.tolist(), "basis": basis_name}
    return _setup_outputs(ctx, key, model, st, controls)


@user_errors
def encode(ctx: AppContext, key: str, basis_name: str, pad, state: dict | None, controls: dict | None = None) -> list:
    """Encode a drawn/uploaded digit: sliders start at the posterior mean, labels show its spread."""
    model = ctx.catalog.model(key, need="encode")
    x, notes = to_model_input(pad, model.data_spec, "drawing")
    tell(notes, "drawing")
    with torch.inference_mode():
        mean, std = model.encode(model.check_images(x).to(model.device))
    st = {"key": key, "z": mean.float().cpu()[0].tolist(), "std": std.float().cpu()[0].tolist(),
          "basis": basis_name, "source": "the encoded drawing (posterior mean)"}
    seen = ctx.save_png(to_picture(x, scale=display_scale(model.data_spec.height, 140)), "seen")
    return [*_setup_outputs(ctx, key, model, st, controls), seen]


@user_errors
def upload(ctx: AppContext, key: str, path) -> tuple[dict, str]:
    """An uploaded file, checked and converted at its own size for the model's data."""
    return upload_for(ctx, "encode")(key, path)


def build(ctx: AppContext) -> None:
    page: dict = {}  # components made further down, for the control widgets' own events

    def wire(model, key, widgets, names):
        """Inside the controls' render: moving a control previews, releasing it renders."""
        sliders = [w for w in widgets if isinstance(w, gr.Slider)]
        others = [w for w in widgets if not isinstance(w, gr.Slider)]
        inputs = [*page["common"], *page["axes"], *widgets]
        base = default_values(model, "decode")
        gr.on([w.input for w in sliders], functools.partial(_with_widgets(preview, names, base), ctx), inputs,
              page["image"], trigger_mode="always_last", show_progress="hidden", queue=False)
        gr.on([s.release for s in sliders] + [c.input for c in others],
              functools.partial(_with_widgets(render, names, base), ctx), inputs, [page["image"], page["about"]],
              trigger_mode="always_last", show_progress="hidden", **work("fast"))

    with gr.Row():
        with gr.Column(scale=1, min_width=300):
            picker = ctx.picker("latent", "Model (with a latent space)", "latent-model")
            with gr.Row():
                seed = gr.Number(0, label="Seed", precision=0, elem_id="latent-seed")
                basis_name = gr.Radio(list(BASES), value=BASES[0], label="Sliders move along",
                                      elem_id="latent-basis")
            axes = [gr.Slider(-AXIS_RANGE, AXIS_RANGE, value=0, step=0.05, label=f"z[{i}]",
                              elem_id=f"latent-axis-{i}") for i in range(N_AXES)]
            controls = controls_panel(ctx, picker, "decode", "latent", need="latent", wire=wire)
        with gr.Column(scale=1, min_width=300):
            image = gr.Image(label="Decoded", format="png", interactive=False, elem_id="latent-image",
                             elem_classes=["pixelated"], height=320)
            about = gr.Markdown(elem_id="latent-info")
            with gr.Column(visible=False, elem_id="latent-encode-group") as enc_group:
                pad = drawing_pad("Draw a digit", "latent-pad", uploads=False)
                up = upload_button("latent")
                uploaded = gr.Markdown(elem_id="latent-uploaded")
                enc = gr.Button("Encode", elem_id="latent-encode")
                seen = gr.Image(label="As the model sees it", format="png", interactive=False,
                                elem_id="latent-seen", elem_classes=["pixelated"], height=160)
            manifold = gr.Image(label="Manifold map: decodes over the 2-D latent space (z1 across, z2 up)",
                                format="png", interactive=False, visible=False, elem_id="latent-manifold",
                                elem_classes=["pixelated"], height=420)
    state = gr.State({})
    common = [picker, seed, basis_name, state]
    page.update(common=common, axes=axes, image=image, about=about)
    setup_fn = functools.partial(setup, ctx)
    defaults = defaults_json("latent", "decode")
    setup_out = [state, *axes, defaults, image, about, enc_group, manifold]
    on_open_and_change(ctx, [picker.change], setup_fn, [picker, seed, basis_name], setup_out, "latent_model",
                       **work("fast"))
    # the drawing and what the model saw belong to the last model: emptied in the page, at once
    picker.change(None, None, seen, queue=False, js=CLEAR_PAD_JS)
    # a new seed keeps the model, so its controls keep the values the user gave them
    seed.change(functools.partial(reseed, ctx), [picker, seed, basis_name, controls],
                [state, *axes, image, about, enc_group], api_name="latent_seed", **work("fast"))
    basis_name.input(functools.partial(change_basis, ctx), [*common, *axes, controls], [state, *axes, image, about],
                     api_name="latent_basis", **work("fast"))
    # Dragging: cheap preview, only the newest value, no spinner, and no queue (a plain HTTP call
    # is faster than joining the queue; a decode takes ~3 ms). Release: the full render. A preview
    # that arrives after the release is ignored (see preview()). The model's own controls get the
    # same two events inside their render (see wire above); here they come in as one dict.
    gr.on([s.input for s in axes], functools.partial(preview, ctx), [*common, *axes, controls], image,
          trigger_mode="always_last", show_progress="hidden", api_name="latent_preview", queue=False)
    gr.on([s.release for s in axes], functools.partial(render, ctx), [*common, *axes, controls], [image, about],
          trigger_mode="always_last", show_progress="hidden", api_name="latent_render", **work("fast"))
    keep_pad_usable(up.upload(functools.partial(upload, ctx), [picker, up], [pad, uploaded], api_name="latent_upload",
                              **work("fast")), pad)
    enc.click(functools.partial(encode, ctx), [picker, basis_name, pad, state, controls],
              [state, *axes, image, about, seen], api_name="latent_encode", **work("fast"))
