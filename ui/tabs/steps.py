"""Step by step: watch a sample being made, for any model with `sample_steps`.

Denoising (DDPM), pixels filled in one by one (NADE, PixelRNN, PixelCNN),
resolutions growing (progressive GAN): the model yields intermediate images,
this tab streams them (at most STREAM_FPS a second; the last frame always
shows; the model runs in its own thread, never waiting for the page) and keeps up to MAX_KEPT of
them, evenly spaced and the last one always, so the user can scrub back through. The controls are
the ones the model declares for "steps" (autoregressive families: temperature, and `every`, the
pixels filled in between two frames).
"""
from __future__ import annotations

import functools
import queue
import threading
import time

import gradio as gr
import numpy as np
import torch

from genlab.explore import even_frames
from ui.catalog import seeded, use_threads
from ui.common import AppContext, on_open_and_change, user_errors, whole_in_range, work
from ui.controls import control_values, controls_panel, default_values, defaults_json
from ui.images import to_picture

TITLE = "Step by step"
MAX_COUNT = 16
STREAM_FPS = 10
MAX_KEPT = 240


def _picture(images: torch.Tensor) -> np.ndarray:
    """Native resolution (the page scales it up, pixelated): small PNGs keep the stream fluid."""
    return to_picture(images.float().cpu().clamp(-1, 1))


def _keep(frames: list) -> list:
    """At most MAX_KEPT frames, evenly spaced, first and last included (the gallery's rule)."""
    return even_frames(frames, MAX_KEPT)


@user_errors
def on_model(ctx: AppContext, key: str) -> list:
    """The picked model's step-by-step controls at their defaults ({name: value})."""
    model = ctx.catalog.model(key, need="sample_steps") if key else None
    return default_values(model, "steps")


def _produce(steps, frames: queue.Queue, stop: threading.Event, threads: int) -> None:
    """Run the model's step iterator in its own thread, so the page's frame rate never slows
    the model down: the streaming side shows the newest frame whenever it is ready for one."""
    use_threads(threads)
    try:
        with torch.inference_mode():
            for images in steps:
                if stop.is_set():
                    return
                frames.put(_picture(images))
    except Exception as e:  # handed to the streaming side, which shows it in the page
        frames.put(e)
    finally:
        frames.put(None)


def _run(key: str, seed, frames: list, finished: bool = False) -> dict:
    """The session's kept frames, with the run (model and seed) that made them and whether it finished."""
    return {"key": key, "seed": int(seed or 0), "frames": _keep(frames), "finished": finished}


@user_errors
def run(ctx: AppContext, key: str, seed, count, controls: dict | None = None):
    """Generator: yields (picture, status, this run's kept frames, scrub slider) as the model works.

    The first thing it does is forget the frames of any earlier run (theirs or another model's)
    and hide the scrubber; while it runs, the session's frames are this run's frames so far, so
    a Stop leaves exactly them to scrub through (see `stopped`).
    `controls`: {name: value} for the model's declared "steps" controls (missing: defaults)."""
    model = ctx.catalog.model(key, need="sample_steps")
    n = whole_in_range(count, MAX_COUNT)
    knobs = control_values(model, "steps", controls)
    inbox: queue.Queue = queue.Queue()
    stop = threading.Event()
    producer = threading.Thread(target=_produce, args=(model.sample_steps(n, generator=seeded(seed), **knobs),
                                                       inbox, stop, ctx.catalog.threads),
                                daemon=True, name="genlab-ui-steps")
    frames, t0, done = [], time.perf_counter(), False
    caption = f" · {model.steps_caption}" if model.steps_caption else ""  # what a frame shows
    stem = f"steps-{key.replace(':', '_')}"
    yield None, f"starting **{key}**, seed {int(seed or 0)}", _run(key, seed, []), gr.update(visible=False, value=0)
    producer.start()
    try:
        while not done:
            new = [inbox.get()]  # wait for at least one frame, then take all that are ready
            while not inbox.empty():
                new.append(inbox.get())
            for item in new:
                if isinstance(item, Exception):
                    raise item
                if item is None:
                    done = True
                else:
                    frames.append(item)
            if frames and not done:
                yield (ctx.save_png(frames[-1], stem),
                       f"step {len(frames)} · {time.perf_counter() - t0:.1f} s{caption}",
                       _run(key, seed, frames), gr.update())
                time.sleep(1 / STREAM_FPS)  # no more frames a second than the page can show
    finally:
        stop.set()  # Stop pressed or page closed: the model stops at its next step
    if not frames:
        raise ValueError(f"{key} produced no steps")
    kept = _run(key, seed, frames, finished=True)
    yield (ctx.save_png(frames[-1], stem), f"done: {len(frames)} steps in {time.perf_counter() - t0:.1f} s{caption}",
           kept,
           gr.update(visible=True, maximum=len(kept["frames"]) - 1, value=len(kept["frames"]) - 1))


def _frames(kept) -> list:
    if isinstance(kept, dict):
        return list(kept.get("frames") or [])
    return list(kept or [])


def stopped(kept) -> tuple[str, dict]:
    """After Stop: say so, and offer the frames this run made before it stopped (none: no scrubber).
    A run that had already finished keeps its "done" line and its scrubber."""
    if isinstance(kept, dict) and kept.get("finished"):
        return gr.update(), gr.update()
    frames = _frames(kept)
    if not frames:
        return "stopped before the first step", gr.update(visible=False, value=0)
    who = f" of **{kept['key']}**, seed {kept['seed']}" if isinstance(kept, dict) and kept.get("key") else ""
    return (f"stopped after {len(frames)} kept frames{who}: scrub through them below",
            gr.update(visible=True, maximum=max(len(frames) - 1, 1), value=len(frames) - 1))


def forget(_key=None) -> tuple[dict, dict, None, str]:
    """Another model picked: the frames, the scrubber and the picture belong to the old one."""
    return {"key": None, "seed": 0, "frames": []}, gr.update(visible=False, value=0), None, ""


@user_errors
def scrub(ctx: AppContext, kept, index) -> str:
    """Show one kept frame of this session's latest run again."""
    frames = _frames(kept)
    if not frames:
        raise ValueError("nothing to scrub yet: press Run first")
    i = int(index or 0)
    if not 0 <= i < len(frames):
        raise ValueError(f"frame must be between 0 and {len(frames) - 1}, got {index}")
    return ctx.save_png(frames[i], "steps-frame")


def build(ctx: AppContext) -> None:
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            picker = ctx.picker("sample_steps", "Model (that can show its steps)", "steps-model")
            seed = gr.Number(0, label="Seed", precision=0, elem_id="steps-seed")
            count = gr.Slider(1, MAX_COUNT, value=4, step=1, label="How many", elem_id="steps-count")
            controls = controls_panel(ctx, picker, "steps", "steps", need="sample_steps")
            with gr.Row():
                go = gr.Button("Run", variant="primary", elem_id="steps-button")
                stop = gr.Button("Stop", elem_id="steps-stop")
        with gr.Column(scale=2):
            image = gr.Image(label="Now", format="png", interactive=False, elem_id="steps-image",
                             elem_classes=["pixelated"], height=320)
            status = gr.Markdown(elem_id="steps-status")
            scrubber = gr.Slider(0, 1, value=0, step=1, label="Scrub through the kept frames", visible=False,
                                 elem_id="steps-scrub")
    frames = gr.State({"key": None, "seed": 0, "frames": []})
    defaults = defaults_json("steps", "steps")
    setup = functools.partial(on_model, ctx)
    on_open_and_change(ctx, [picker.change], setup, picker, defaults, "steps_model", **work("fast"))
    picker.change(forget, picker, [frames, scrubber, image, status], queue=False, show_progress="hidden")
    job = go.click(functools.partial(run, ctx), [picker, seed, count, controls],
                   [image, status, frames, scrubber], api_name="steps", **work("steps"))
    # cancel first, then say so: an answer given alongside the cancel was overwritten by the run's last frame
    stop.click(None, None, None, cancels=[job], api_name="steps_stop", queue=False).then(
        stopped, frames, [status, scrubber], queue=False, api_name=False)
    scrubber.input(functools.partial(scrub, ctx), [frames, scrubber], image, show_progress="hidden",
                   api_name="steps_scrub", **work("fast"))
