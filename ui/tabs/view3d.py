"""3-D view: move a camera around what a radiance-field model draws, for models with `views`.

The latent z is a shape code and an appearance code (`model.split`): each comes from its own
seed (the shape, or the appearance, part of the prior draw for that seed) times its own scale,
so the shape can change while the appearance stays, and back. The camera sliders (azimuth,
elevation, distance) take their ranges and defaults from the model's declared `decode`
controls of those names; a move re-renders colour, depth (a colour map, near = bright) and
opacity (grey) side by side. Also: an orbit GIF at the current elevation and distance, two
samples A and B with their shapes and appearances swapped, and, for models with `ray_profile`,
a ray probe: click a pixel of the colour picture to see the density, weight and colour of the
samples along its ray, i.e. where in depth that pixel's colour comes from.

Nothing here names a family, a data set or an image size: all of it comes from the model's
`views` contract (genlab.model) and its data spec.
"""
from __future__ import annotations

import functools
import time

import gradio as gr
import torch

from genlab import plots
from genlab.errors import GenlabError
from genlab.grids import save_gif
from genlab.model import seeded
from ui.common import AppContext, on_open_and_change, user_errors, work
from ui.images import display_scale, heatmap, to_picture

TITLE = "3-D view"
CAMERA = {"azimuth": "azimuth (degrees)", "elevation": "elevation (degrees)", "radius": "distance"}
WIDEST = {"azimuth": (0, 360), "elevation": (-90, 90), "radius": (0, 100)}  # before a model sets its own
MAX_SEED = 999
MAX_SCALE = 1.5  # a code's scale (1 = as drawn from the prior; 0 = the mean code)
ORBIT_FRAMES = 24
SHOWN = 256  # about this many screen pixels per picture (nearest-neighbour enlargement)


class CameraSlider(gr.Slider):
    """A camera slider whose value reaches the handler as it was sent, so that a camera out of
    range (typed into the slider's box, or sent by an API caller) is refused by the model's own
    check, which names its trained range, rather than by Gradio's bare bounds check."""

    is_template = True  # drawn by the Slider front end

    def preprocess(self, payload):
        return payload


# ----- codes and pictures --------------------------------------------------------------------------
def camera_controls(model) -> dict:
    """{name: Control} of the camera's declared decode controls (the `views` contract)."""
    declared = {c.name: c for c in model.controls_for("decode")}
    missing = [n for n in CAMERA if n not in declared]
    if missing:
        raise GenlabError(f"this {model.family} model declares no decode control {', '.join(missing)}; "
                          "the 3-D view needs its camera's ranges")
    return {n: declared[n] for n in CAMERA}


def _scale(value, what: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if not 0.0 <= v <= MAX_SCALE:
        raise ValueError(f"{what} scale must lie in [0, {MAX_SCALE}], got {value}")
    return v


def codes(model, shape_seed, shape_scale, appearance_seed, appearance_scale) -> torch.Tensor:
    """z (1, D): the shape part of the prior draw for shape_seed and the appearance part of the
    draw for appearance_seed, each times its scale."""
    z_s, _ = model.split(model.prior(1, generator=seeded(shape_seed)).float())
    _, z_a = model.split(model.prior(1, generator=seeded(appearance_seed)).float())
    return torch.cat([z_s * _scale(shape_scale, "shape"), z_a * _scale(appearance_scale, "appearance")], 1)


def depth_picture(depth: torch.Tensor, opacity: torch.Tensor, scale: int):
    """(picture, (near, far)) of one depth map (H, W): the object's own depth range as a colour
    map, near bright; where the opacity is below 1/2 (empty space), black."""
    fg = opacity > 0.5
    near, far = (depth[fg].min().item(), depth[fg].max().item()) if fg.any() else (0.0, 0.0)
    v = torch.where(fg, 0.15 + 0.85 * (far - depth) / max(far - near, 1e-6), torch.zeros_like(depth))
    return heatmap(v.cpu().numpy(), scale=scale), (near, far)


def camera_values(azimuth, elevation, radius) -> tuple[float, float, float]:
    """The camera as numbers; the model checks their ranges (render_views)."""
    out = []
    for (name, label), value in zip(CAMERA.items(), (azimuth, elevation, radius)):
        try:
            out.append(float(value))
        except (TypeError, ValueError):
            raise ValueError(f"camera {name} ({label}) must be a number, got {value!r}") from None
    return tuple(out)


def _render(model, z: torch.Tensor, azimuth, elevation, radius) -> dict:
    with torch.inference_mode():
        out = model.render_views(z.to(model.device), azimuth, elevation, radius)
    return {k: v.float().cpu() for k, v in out.items()}


def _stem(key: str, what: str) -> str:
    return f"view3d-{what}-{key.replace(':', '_')}"


# ----- handlers ------------------------------------------------------------------------------------
@user_errors
def view(ctx: AppContext, key: str, shape_seed, shape_scale, appearance_seed, appearance_scale,
         azimuth, elevation, radius) -> list:
    """-> [colour, depth, opacity (files), a caption]. A camera the model cannot render (an
    elevation outside its trained range, a zero distance) is refused with the accepted range."""
    model = ctx.catalog.model(key, need="views")
    z = codes(model, shape_seed, shape_scale, appearance_seed, appearance_scale)
    azimuth, elevation, radius = camera_values(azimuth, elevation, radius)
    t0 = time.perf_counter()
    out = _render(model, z, azimuth, elevation, radius)
    ms = (time.perf_counter() - t0) * 1000
    scale = display_scale(model.data_spec.height, SHOWN)
    depth, (near, far) = depth_picture(out["depth"][0, 0], out["opacity"][0, 0], scale)
    caption = (f"azimuth {azimuth:g}°, elevation {elevation:g}°, distance {radius:g} · "
               f"shape seed {int(shape_seed)} ×{float(shape_scale):g}, appearance seed {int(appearance_seed)} "
               f"×{float(appearance_scale):g} · depth {near:.2f}–{far:.2f} (near = bright) · "
               f"rendered in {ms:.0f} ms")
    return [ctx.save_png(to_picture(out["colour"], scale=scale), _stem(key, "colour")),
            ctx.save_png(depth, _stem(key, "depth")),
            ctx.save_png(to_picture(out["opacity"] * 2 - 1, scale=scale), _stem(key, "opacity")),
            caption]


@user_errors
def setup(ctx: AppContext, key: str, shape_seed, shape_scale, appearance_seed, appearance_scale) -> list:
    """A model is picked: the camera sliders get its ranges and default view, and it is drawn.
    -> [azimuth, elevation, distance slider updates, about, colour, depth, opacity, caption]."""
    if not key:
        return [gr.update()] * 3 + ["No model with 3-D views yet: train one in the Train tab.", None, None, None, ""]
    model = ctx.catalog.model(key, need="views")
    cams = camera_controls(model)
    sliders = [gr.update(minimum=c.low, maximum=c.high, step=c.step or (c.high - c.low) / 100, value=c.default,
                         label=CAMERA[name], info=c.help or None) for name, c in cams.items()]
    z_s, z_a = model.split(torch.zeros(1, model.latent_dim))
    about = (f"**{key}** · {model.family} · {model.paper}  \n"
             f"shape code {z_s.shape[1]} numbers, appearance code {z_a.shape[1]}; elevation "
             f"{cams['elevation'].low:g}–{cams['elevation'].high:g}°, distance "
             f"{cams['radius'].low:g}–{cams['radius'].high:g}")
    shown = view(ctx, key, shape_seed, shape_scale, appearance_seed, appearance_scale,
                 *[c.default for c in cams.values()])
    return [*sliders, about, *shown]


@user_errors
def orbit(ctx: AppContext, key: str, shape_seed, shape_scale, appearance_seed, appearance_scale,
          azimuth, elevation, radius) -> tuple[str, str]:
    """-> (a GIF of ORBIT_FRAMES views once around, from the current azimuth, at the current
    elevation and distance; a caption)."""
    model = ctx.catalog.model(key, need="views")
    z = codes(model, shape_seed, shape_scale, appearance_seed, appearance_scale)
    azimuth, elevation, radius = camera_values(azimuth, elevation, radius)
    turn = azimuth + 360.0 * torch.arange(ORBIT_FRAMES) / ORBIT_FRAMES
    colour = _render(model, z.expand(ORBIT_FRAMES, -1), turn % 360.0, elevation, radius)["colour"]
    gif = ctx.scratch_path(_stem(key, "orbit"), colour.numpy().tobytes(), ".gif")
    if not gif.exists():  # written once, under a temporary name first (see AppContext.save_png)
        ctx.write_atomically(gif, lambda tmp: save_gif([c[None] for c in colour], tmp, bounce=False,
                                                       scale=display_scale(model.data_spec.height, SHOWN)))
    return str(gif), (f"{ORBIT_FRAMES} views, {360 / ORBIT_FRAMES:g}° apart, at elevation {elevation:g}° "
                      f"and distance {radius:g}")


@user_errors
def swap(ctx: AppContext, key: str, shape_seed, shape_scale, appearance_seed, appearance_scale,
         azimuth, elevation, radius, seed_b) -> tuple[str, str]:
    """Sample A (the sliders' codes) and sample B (the prior draw for seed_b), each one's shape
    with the other's appearance, from the current camera: one 2 x 2 picture, rows shape A and B,
    columns appearance A and B (A and B themselves on the diagonal). -> (picture, caption saying
    how much the other appearance moved each shape's depth)."""
    model = ctx.catalog.model(key, need="views")
    a = codes(model, shape_seed, shape_scale, appearance_seed, appearance_scale)
    b = model.prior(1, generator=seeded(seed_b)).float()
    (s_a, a_a), (s_b, a_b) = model.split(a), model.split(b)
    z = torch.cat([a, torch.cat([s_a, a_b], 1), torch.cat([s_b, a_a], 1), b])
    out = _render(model, z, *camera_values(azimuth, elevation, radius))
    grid = to_picture(out["colour"], scale=display_scale(model.data_spec.height, SHOWN // 2), nrow=2)
    moved = max((out["depth"][1] - out["depth"][0]).abs().max().item(),
                (out["depth"][2] - out["depth"][3]).abs().max().item())
    return ctx.save_png(grid, _stem(key, "swap")), (
        f"Rows: shape A, shape B (seed {int(seed_b)}); columns: appearance A, appearance B. A and B on the "
        f"diagonal, swapped off it. Each shape keeps its depth under the other's appearance: largest "
        f"depth change {moved:.2g}.")


def _whole(value):
    """A pixel index from a number box (a float): as an int where it is whole; anything else goes to
    the model as it came, whose `ray_profile` refuses it naming the accepted range."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


@user_errors
def probe(ctx: AppContext, key: str, shape_seed, shape_scale, appearance_seed, appearance_scale,
          azimuth, elevation, radius, row, col) -> tuple[str, str]:
    """-> (a PNG of the ray of the pixel (row, col) of the current view, drawn by genlab.plots, a
    caption). The picture is drawn once per ray and shared: a class opening the tab at once asks
    for the same default ray (see AppContext.save_png)."""
    model = ctx.catalog.model(key, need="ray_profile")
    row, col = _whole(row), _whole(col)
    z = codes(model, shape_seed, shape_scale, appearance_seed, appearance_scale)
    azimuth, elevation, radius = camera_values(azimuth, elevation, radius)
    with torch.inference_mode():
        p = {k: v.float().cpu() for k, v in model.ray_profile(z, row, col, azimuth, elevation, radius).items()}
    t, near_far = p["distance"], plots.ray_span(p)
    r, g, b = (int(round(255 * float(c))) for c in p["pixel"].clamp(0, 1))
    opacity = float(p["opacity"])
    head = (f"Pixel row {row}, column {col} (azimuth {azimuth:g}°, elevation {elevation:g}°, distance {radius:g}): "
            f"colour ({r}, {g}, {b}), opacity {opacity:.2f}, ")
    if near_far[1] - near_far[0] < 1e-6:
        caption = head + "a ray that misses the volume the model draws in: nothing lies along it, the background shows."
    else:
        hit = (f"the surface at distance {float(p['depth']):.2f} (dashed line)" if opacity > 0.5
               else "mostly empty space: the white background shows through")
        caption = (head + f"{hit}. {len(t)} samples between distance {near_far[0]:.2f} and {near_far[1]:.2f}; "
                   f"the weights (w = T·(1 − e^(−σδ)), the light that reaches the camera from each sample) sum "
                   f"to the opacity.")
    png = ctx.scratch_path(_stem(key, "ray"), b"".join(v.numpy().tobytes() for v in p.values()), ".png")
    if not png.exists():
        ctx.write_atomically(png, lambda tmp: plots.ray_profile_figure(p).savefig(tmp))
    return str(png), caption


@user_errors
def open_probe(ctx: AppContext, key: str, shape_seed, shape_scale, appearance_seed, appearance_scale) -> list:
    """A model is picked: the probe is offered if it has `ray_profile`, showing the centre pixel's
    ray from the model's default camera (the one `setup` puts on the sliders).
    -> [probe group visibility, row, column, figure, caption]."""
    model = ctx.catalog.model(key, need="views") if key else None
    if model is None or "ray_profile" not in model.capabilities:
        return [gr.update(visible=False), 0, 0, None, ""]
    centre = model.data_spec.height // 2
    camera = [c.default for c in camera_controls(model).values()]
    return [gr.update(visible=True), centre, centre,
            *probe(ctx, key, shape_seed, shape_scale, appearance_seed, appearance_scale, *camera, centre, centre)]


@user_errors
def probe_click(ctx: AppContext, key: str, index, *values) -> list:
    """A click at (x, y) of the shown colour picture: the model's pixel under it, then `probe`.
    -> [row, column, figure, caption]."""
    model = ctx.catalog.model(key, need="ray_profile")
    scale = display_scale(model.data_spec.height, SHOWN)
    x, y = (int(v) // scale for v in index)
    return [y, x, *probe(ctx, key, *values, y, x)]


def build(ctx: AppContext) -> None:
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            picker = ctx.picker("views", "Model (with 3-D views)", "view3d-model")
            about = gr.Markdown(elem_id="view3d-about")
            gr.Markdown("**Camera**")
            with gr.Group(elem_id="view3d-camera"):
                # physical bounds until a model is picked; then the model's own ranges (see setup)
                camera = [CameraSlider(*WIDEST[name], value=0, label=label, elem_id=f"view3d-{name}")
                          for name, label in CAMERA.items()]
            gr.Markdown("**Shape code**")
            with gr.Group(elem_id="view3d-shape"):
                shape_seed = gr.Slider(0, MAX_SEED, value=0, step=1, label="shape seed", elem_id="view3d-shape-seed")
                shape_scale = gr.Slider(0, MAX_SCALE, value=1.0, step=0.05, label="shape scale",
                                        info="1: as drawn from the prior; 0: the mean shape code",
                                        elem_id="view3d-shape-scale")
            gr.Markdown("**Appearance code**")
            with gr.Group(elem_id="view3d-appearance"):
                app_seed = gr.Slider(0, MAX_SEED, value=0, step=1, label="appearance seed",
                                     elem_id="view3d-appearance-seed")
                app_scale = gr.Slider(0, MAX_SCALE, value=1.0, step=0.05, label="appearance scale",
                                      elem_id="view3d-appearance-scale")
        with gr.Column(scale=2):
            with gr.Row():
                pictures = [gr.Image(label=label, format="png", interactive=False, elem_id=f"view3d-{name}",
                                     elem_classes=["pixelated"], height=280)
                            for name, label in (("colour", "colour"), ("depth", "depth (near = bright)"),
                                                ("opacity", "opacity"))]
            caption = gr.Markdown(elem_id="view3d-caption")
            with gr.Group(visible=False, elem_id="view3d-probe") as probe_group:
                gr.Markdown("**Ray probe**: click a pixel of the colour picture, or give its row and column, to see "
                            "what its ray meets: the density of the field at each sample along it, and how much "
                            "of the pixel's colour each sample gives.")
                with gr.Row():
                    probe_row = gr.Number(0, label="row", precision=0, minimum=0, elem_id="view3d-probe-row")
                    probe_col = gr.Number(0, label="column", precision=0, minimum=0, elem_id="view3d-probe-col")
                    go_probe = gr.Button("Probe this pixel's ray", elem_id="view3d-probe-button")
                probe_plot = gr.Image(label="along the ray", format="png", interactive=False,
                                      elem_id="view3d-probe-plot", show_label=True)
                probe_caption = gr.Markdown(elem_id="view3d-probe-caption")
            with gr.Row():
                with gr.Column():
                    go_orbit = gr.Button("Orbit", elem_id="view3d-orbit-button")
                    gif = gr.Image(label="Orbit", type="filepath", interactive=False, elem_id="view3d-orbit",
                                   height=280)
                    orbit_caption = gr.Markdown(elem_id="view3d-orbit-caption")
                with gr.Column():
                    with gr.Row():
                        seed_b = gr.Number(1, label="Sample B: seed", precision=0, minimum=0, elem_id="view3d-seed-b")
                        go_swap = gr.Button("Swap shape and appearance with B", elem_id="view3d-swap-button")
                    swapped = gr.Image(label="shape (rows) x appearance (columns)", format="png",
                                       interactive=False, elem_id="view3d-swap", elem_classes=["pixelated"],
                                       height=280)
                    swap_caption = gr.Markdown(elem_id="view3d-swap-caption")
    code_sliders = [shape_seed, shape_scale, app_seed, app_scale]
    inputs = [picker, *code_sliders, *camera]
    shown = [*pictures, caption]
    setup_fn = functools.partial(setup, ctx)
    on_open_and_change(ctx, [picker.change], setup_fn, [picker, *code_sliders], [*camera, about, *shown],
                       "view3d_model", **work("fast"))
    # Any slider moved: one render at the model's own size (~0.2 s on a busy CPU core), the newest
    # value only, no spinner. Through the queue, so that a refused camera shows its message.
    gr.on([s.input for s in code_sliders + camera], functools.partial(view, ctx), inputs, shown,
          trigger_mode="always_last", show_progress="hidden", api_name="view3d", **work("fast"))
    go_orbit.click(functools.partial(orbit, ctx), inputs, [gif, orbit_caption], api_name="view3d_orbit",
                   **work("fast"))
    go_swap.click(functools.partial(swap, ctx), [*inputs, seed_b], [swapped, swap_caption], api_name="view3d_swap",
                  **work("fast"))

    def clicked(key, shape_seed, shape_scale, appearance_seed, appearance_scale, azimuth, elevation, radius,
                evt: gr.SelectData):  # a plain function: Gradio reads the annotation to pass the click
        return probe_click(ctx, key, evt.index, shape_seed, shape_scale, appearance_seed, appearance_scale,
                           azimuth, elevation, radius)

    probed = [probe_plot, probe_caption]
    on_open_and_change(ctx, [picker.change], functools.partial(open_probe, ctx), [picker, *code_sliders],
                       [probe_group, probe_row, probe_col, *probed], "view3d_probe_model", **work("fast"))
    pictures[0].select(clicked, inputs, [probe_row, probe_col, *probed], api_name=False, **work("fast"))
    go_probe.click(functools.partial(probe, ctx), [*inputs, probe_row, probe_col], probed,
                   api_name="view3d_probe", **work("fast"))
