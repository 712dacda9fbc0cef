"""Train: pick a family, a data set and a budget; watch the losses and samples; stop any time.

Training runs in a background thread through `genlab.training.train` (the
same engine as the CLI), talking to this tab through its `on_event` callback
and `stop` event. The tab's handler is a generator that turns those events
into a live loss plot, the latest sample grid and a progress bar. The run is
written to runs/ui-<family>-<data>-<time>/ and appears in the other tabs'
pickers as soon as it finishes (or is stopped: the trainer saves on stop).
One training at a time for the whole app (this is a shared CPU).
"""
from __future__ import annotations

import datetime as _dt
import functools
import queue
import threading
import time

import gradio as gr
from matplotlib.figure import Figure
from PIL import Image

from genlab.data import EMBEDDED
from genlab.errors import GenlabError
from genlab.registry import get_family, list_families
from ui.catalog import RUN_PREFIX
from ui.common import AppContext, user_errors

TITLE = "Train"
MAX_STEPS = 20000
UPDATE_EVERY_S = 0.5  # page updates while training


def loss_figure(history: list[dict]) -> Figure:
    """Every '<phase>/loss' series against the step."""
    fig = Figure(figsize=(6, 3), dpi=90)
    ax = fig.add_subplot()
    keys = sorted({k for row in history for k in row if k.endswith("/loss")})
    for k in keys:
        pts = [(row["step"], row[k]) for row in history if k in row]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], label=k.split("/")[0])
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if keys:
        ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def progress_html(step: int, total: int, note: str = "") -> str:
    return (f'<div id="train-progress-bar"><progress value="{step}" max="{total}" style="width:100%"></progress>'
            f"<div>step {step} / {total} {note}</div></div>")


def _worker(family: str, data: str, steps: int, out, overrides: dict, events: queue.Queue,
            stop: threading.Event) -> None:
    from genlab.training import train

    try:
        train(family, data=data, steps=steps, out=out, overrides=overrides, progress=False,
              on_event=events.put, stop=stop)
    except Exception as e:  # the tab shows it; the app keeps running
        events.put({"kind": "error", "message": f"{type(e).__name__}: {e}" if not isinstance(e, GenlabError)
                    else str(e)})
    finally:
        events.put({"kind": "done"})


@user_errors
def start(ctx: AppContext, family: str, data: str, steps, batch, job: dict):
    """Generator: (loss plot, sample grid, progress, status, finished run key) while training runs."""
    if family not in list_families():
        raise GenlabError(f"unknown family {family!r}; choose one of {', '.join(list_families())}")
    if data not in EMBEDDED:
        raise GenlabError(f"data set must be one of {', '.join(EMBEDDED)} (bundled, no download); got {data!r}")
    total, bs = int(steps or 0), int(batch or 0)
    if not 1 <= total <= MAX_STEPS:
        raise ValueError(f"steps must be between 1 and {MAX_STEPS}, got {steps}")
    if not 1 <= bs <= 512:
        raise ValueError(f"batch size must be between 1 and 512, got {batch}")
    name = f"ui-{family}-{data}-{_dt.datetime.now().strftime('%Y%m%d-%H%M%S-%f')}"
    out = ctx.catalog.runs_dir / name
    overrides = {"batch_size": bs, "log_every": max(1, total // 60), "sample_every": max(5, total // 8),
                 "checkpoint_every": total, "grid_size": 16,
                 "threads": ctx.catalog.threads}  # set in the training thread itself (see use_threads)
    events: queue.Queue = queue.Queue()
    stop = threading.Event()
    job["stop"] = stop  # the Stop button reads it from this session's state
    thread = threading.Thread(target=_worker, args=(family, data, total, out, overrides, events, stop),
                              daemon=True, name=f"genlab-ui-train-{name}")
    history, grid, error, step, t0 = [], None, None, 0, time.perf_counter()
    thread.start()
    yield None, None, progress_html(0, total, "(starting)"), f"training **{family}** on {data} into `{out}`", gr.update()
    last = 0.0
    try:
        while True:
            try:
                ev = events.get(timeout=UPDATE_EVERY_S)
            except queue.Empty:
                ev = None
            if ev is not None and ev["kind"] == "done":
                break
            if ev is not None and ev["kind"] == "log":
                history.append(ev)
                step = ev["step"]
            elif ev is not None and ev["kind"] == "samples":
                grid = Image.open(ev["path"]).convert("RGB")
            elif ev is not None and ev["kind"] == "error":
                error = ev["message"]
            if time.perf_counter() - last >= UPDATE_EVERY_S:
                last = time.perf_counter()
                rate = step / max(last - t0, 1e-9)
                yield (loss_figure(history), grid, progress_html(step, total, f"· {rate:.1f} steps/s"),
                       f"training **{family}** on {data} · step {step}", gr.update())
    finally:
        stop.set()  # also when the page goes away mid-run
        job.pop("stop", None)
    thread.join()
    if error:
        raise GenlabError(f"training stopped: {error}")
    stopped = step < total
    key = RUN_PREFIX + name
    yield (loss_figure(history), grid, progress_html(step, total, "(stopped)" if stopped else "(done)"),
           f"{'stopped' if stopped else 'finished'} after {step} steps in {time.perf_counter() - t0:.0f} s: "
           f"**{key}** is now in every tab's model picker", key)


def stop_training(job: dict) -> str:
    """Ask this session's training to stop; the trainer saves a checkpoint at the step it is on."""
    ev = (job or {}).get("stop")
    if ev is None:
        return "nothing is training in this session"
    ev.set()
    return "stopping: the checkpoint is written at the current step"


def default_family(ctx: AppContext) -> str:
    """The family of the first shipped checkpoint that loads (a family known to train well here),
    else the first registered family."""
    families = list_families()
    for entry, model in ctx.catalog.loadable():
        if entry.shipped and model.family in families:
            return model.family
    return families[0]


def default_data(family: str) -> str:
    """The bundled data set the family trains on unless told otherwise (its `default_data`)."""
    try:
        wanted = get_family(family).default_data
    except GenlabError:
        return EMBEDDED[0]
    return wanted if wanted in EMBEDDED else EMBEDDED[0]


def on_family(family: str) -> str:
    """A family picked: its own bundled data set (e.g. binarised digits for Bernoulli models)."""
    return default_data(family)


def build(ctx: AppContext) -> None:
    families = list_families()
    first = default_family(ctx)
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            family = gr.Dropdown(families, value=first, label="Family", elem_id="train-family")
            data = gr.Dropdown(list(EMBEDDED), value=default_data(first), label="Data set (bundled)",
                               elem_id="train-data")
            steps = gr.Slider(10, 5000, value=300, step=10, label="Budget (steps)", elem_id="train-steps")
            batch = gr.Slider(8, 256, value=64, step=8, label="Batch size", elem_id="train-batch")
            with gr.Row():
                go = gr.Button("Train", variant="primary", elem_id="train-button")
                halt = gr.Button("Stop", variant="stop", elem_id="train-stop")
            status = gr.Markdown(elem_id="train-status")
            progress = gr.HTML(progress_html(0, 300, "(not started)"), elem_id="train-progress")
        with gr.Column(scale=2):
            plot = gr.Plot(label="Losses", elem_id="train-plot")
            grid = gr.Image(label="Samples (fixed noise)", format="png", interactive=False,
                            elem_id="train-samples", elem_classes=["pixelated"])
    job = gr.State({})
    finished = gr.Textbox(visible=False, elem_id="train-finished")
    family.input(on_family, family, data, api_name="train_family")
    go.click(functools.partial(start, ctx), [family, data, steps, batch, job],
             [plot, grid, progress, status, finished], api_name="train")
    halt.click(stop_training, job, status, api_name="train_stop")
    ctx.models_changed.append(finished.change)
