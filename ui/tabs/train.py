"""Train: pick a family, a data set and a budget; watch the losses and samples; stop any time.

Training runs in a background thread through `genlab.training.train` (the
same engine as the CLI), talking to this tab through its `on_event` callback
and `stop` event. The tab's handler is a generator that turns those events
into a live loss plot, the latest sample grid and a progress bar. The run is
written to runs/ui-<family>-<data>-<time>/ and appears in the other tabs'
pickers as soon as it finishes (or is stopped: the trainer saves on stop).
One training at a time for the whole app (this is a shared CPU): a second session's training
waits in the app's TrainQueue and is told that another training is running and its place in line.

Data: the bundled and rendered sets, or the user's own pictures: a folder on the server, or a zip
uploaded here and unpacked into the app's scratch folder (`unpack_pictures`), read by the same
loader as `--data folder:PATH` and resized to the chosen side.
"""
from __future__ import annotations

import datetime as _dt
import functools
import queue
import shutil
import threading
import time
import zipfile
from pathlib import Path, PurePosixPath

import gradio as gr

from genlab.checkpoint import CHECKPOINT_NAME, load_checkpoint
from genlab.data import EMBEDDED, local_dataset_names
from genlab.data.folder import EXTENSIONS
from genlab.errors import GenlabError
from genlab.loss_curves import loss_figure
from genlab.registry import get_family, list_families
from ui.catalog import RUN_PREFIX
from ui.common import AppContext, log, user_errors, whole_in_range, work

TITLE = "Train"
MAX_STEPS = 20000
UPDATE_EVERY_S = 0.5  # page updates while training
PICTURE_SIZES = (32, 64)  # sides a run on the user's own pictures can take
MAX_ZIP_MB, MAX_ZIP_FILES = 500, 50_000


def intervals(total: int) -> dict:
    """Logging and sample-grid intervals scaled to the budget: the loss plot gets its first
    points within the first 1% of the run (at most 10 steps in) and the first grid within the
    first 10% (at most 100 steps in), whatever the budget."""
    return {"log_every": max(1, min(10, total // 100)), "sample_every": max(5, min(100, total // 10))}


class TrainQueue:
    """One training at a time for the whole app; the others wait in line, in arrival order."""

    def __init__(self):
        self.cond = threading.Condition()
        self.running: object | None = None
        self.waiting: list[object] = []
        self.what: dict[object, str] = {}

    def join(self, ticket, what: str) -> None:
        with self.cond:
            self.waiting.append(ticket)
            self.what[ticket] = what

    def try_start(self, ticket) -> bool:
        with self.cond:
            if self.running is None and self.waiting and self.waiting[0] is ticket:
                self.running = self.waiting.pop(0)
                return True
            return False

    def position(self, ticket) -> int:
        """0 = running, k = k-th in line."""
        with self.cond:
            return 0 if self.running is ticket else self.waiting.index(ticket) + 1

    def running_what(self) -> str:
        with self.cond:
            return self.what.get(self.running, "another training")

    def wait(self, timeout: float) -> None:
        with self.cond:
            self.cond.wait(timeout)

    def leave(self, ticket) -> None:
        with self.cond:
            if self.running is ticket:
                self.running = None
            elif ticket in self.waiting:
                self.waiting.remove(ticket)
            self.what.pop(ticket, None)
            self.cond.notify_all()


def trained_step(out) -> int | None:
    """The step of the run's saved checkpoint (what Stop saved), None if there is none."""
    try:
        return int(load_checkpoint(out / CHECKPOINT_NAME)["step"])
    except Exception as e:  # noqa: BLE001 - reported as unknown; the error is the worker's to tell
        log.info("could not read the step of %s: %s", out, e)
        return None


def progress_html(step: int, total: int, note: str = "") -> str:
    return (f'<div id="train-progress-bar"><progress value="{step}" max="{total}" style="width:100%"></progress>'
            f"<div>step {step} / {total} {note}</div></div>")


def _worker(family: str, data: str, steps: int, out, overrides: dict, events: queue.Queue,
            stop: threading.Event, image_size: int | None = None) -> None:
    from genlab.training import train
    from genlab.training.memory import keep_freed_memory

    keep_freed_memory()  # as `genlab train`: the app then keeps its peak memory for later runs
    try:
        train(family, data=data, steps=steps, out=out, overrides=overrides, progress=False,
              on_event=events.put, stop=stop, image_size=image_size)
    except Exception as e:  # the tab shows it; the app keeps running
        events.put({"kind": "error", "message": f"{type(e).__name__}: {e}" if not isinstance(e, GenlabError)
                    else str(e)})
    finally:
        events.put({"kind": "done"})


def own_pictures(folder, size) -> tuple[str, int]:
    """(data name, side) for a run on the user's pictures in `folder` (a path on the server)."""
    path = Path(str(folder).strip()).expanduser()
    if not path.is_dir():
        raise GenlabError(f"folder of pictures {str(folder).strip()!r} does not exist on the server; give a folder "
                          "of pictures (or of one sub-folder per class), or upload a zip of them")
    try:
        side = int(size)
    except (TypeError, ValueError):
        side = -1
    if side not in PICTURE_SIZES:
        raise GenlabError(f"picture size must be one of {', '.join(map(str, PICTURE_SIZES))} px; got {size!r}")
    return f"folder:{path.resolve()}", side


@user_errors
def unpack_pictures(ctx: AppContext, path) -> tuple[str, str]:
    """An uploaded zip of pictures -> (the folder it was unpacked into, what was found).

    Only picture files are taken (PNG, JPEG, WebP, BMP, GIF, TIFF), with at most one level of
    sub-folders (classes); names that climb out of the folder ('..', absolute paths) are refused,
    and so are archives over MAX_ZIP_MB unpacked or MAX_ZIP_FILES files. A zip holding a single
    top folder is unpacked from inside it. The same zip is unpacked once."""
    if not path:
        raise GenlabError("no file was uploaded")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise GenlabError(f"the upload is not a zip archive ({e}); upload a .zip of pictures") from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) > MAX_ZIP_FILES or sum(m.file_size for m in members) > MAX_ZIP_MB * 2 ** 20:
            raise GenlabError(f"the zip holds {len(members)} files, {sum(m.file_size for m in members) / 2 ** 20:.0f} "
                              f"MB unpacked; at most {MAX_ZIP_FILES} files and {MAX_ZIP_MB} MB are taken")
        parts = [PurePosixPath(m.filename).parts for m in members]
        if any(PurePosixPath(m.filename).is_absolute() or ".." in p for m, p in zip(members, parts)):
            raise GenlabError("the zip has file names that point outside its folder ('..' or absolute); not unpacked")
        keep = [(m, p) for m, p in zip(members, parts)
                if PurePosixPath(p[-1]).suffix.lower() in EXTENSIONS and not any(q.startswith((".", "__MACOSX")) for q in p)]
        if not keep:
            raise GenlabError(f"the zip holds no pictures ({', '.join(EXTENSIONS)})")
        tops = {p[0] for _, p in keep}
        strip = 1 if len(tops) == 1 and all(len(p) > 1 for _, p in keep) else 0  # one top folder: go inside
        folder = ctx.scratch_path("pictures", Path(path).read_bytes(), "")  # named by content: unpacked once
        if not folder.is_dir():
            tmp = folder.with_name(f".{folder.name}-{threading.get_ident()}")
            for m, p in keep:
                rel = p[strip:]
                if len(rel) > 2:  # deeper than class/picture: flatten into the class folder
                    rel = (rel[0], "_".join(rel[1:]))
                target = tmp.joinpath(*rel)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.read(m))
            try:
                tmp.rename(folder)
            except OSError:  # another session unpacked the same zip first
                shutil.rmtree(tmp, ignore_errors=True)
    classes = sorted({p[strip] for _, p in keep if len(p) - strip > 1})
    what = f"{len(keep)} pictures" + (f" in {len(classes)} class folders" if classes else "")
    return str(folder), f"unpacked {what} into the app's scratch folder"


RANDOM_START = "random weights (a new model)"


def start_choices(ctx: AppContext, family: str) -> list[tuple[str, str]]:
    """What a run of `family` may start from: random weights (""), or a shipped model or earlier
    run of the same family, whose weights it then fine-tunes (`[train] init_from`)."""
    from ui.catalog import label

    return [(RANDOM_START, "")] + [(label(e, m), e.key) for e, m in ctx.catalog.loadable() if m.family == family]


def start_path(ctx: AppContext, family: str, key: str) -> str | None:
    """The checkpoint file a run starts from, None for random weights; another family's model is refused."""
    if not key:
        return None
    model = ctx.catalog.model(key)
    if model.family != family:
        raise GenlabError(f"{key} is a {model.family} model; a {family} run can start from random weights or "
                          f"from a {family} model: {', '.join(k for _, k in start_choices(ctx, family)[1:]) or 'none yet'}")
    return str(ctx.catalog.entry(key).path)


@user_errors
def start(ctx: AppContext, family: str, data: str, steps, batch, job: dict, own_folder: str = "",
          picture_size=32, start_from: str = ""):
    """Generator: (loss plot, sample grid, progress, status, finished run key) while training runs.
    A non-empty `own_folder` trains on the user's pictures there, at `picture_size` px; a
    `start_from` key begins from that model's weights instead of random ones."""
    if family not in list_families():
        raise GenlabError(f"unknown family {family!r}; choose one of {', '.join(list_families())}")
    init_from = start_path(ctx, family, start_from)
    image_size = None
    if own_folder and str(own_folder).strip():
        data, image_size = own_pictures(own_folder, picture_size)
    elif data not in local_dataset_names():
        raise GenlabError(f"data set must be one of {', '.join(local_dataset_names())} (bundled or rendered here, "
                          f"no download), or your own pictures; got {data!r}")
    total, bs = whole_in_range(steps, MAX_STEPS, "steps"), whole_in_range(batch, 512, "batch size")
    data_tag = "folder" if image_size else data
    name = f"ui-{family}-{data_tag}-{_dt.datetime.now().strftime('%Y%m%d-%H%M%S-%f')}"
    out = ctx.catalog.runs_dir / name
    overrides = {"batch_size": bs, **intervals(total), "checkpoint_every": total, "grid_size": 16,
                 "threads": ctx.catalog.threads}  # set in the training thread itself (see use_threads)
    if init_from:
        overrides["init_from"] = init_from
    events: queue.Queue = queue.Queue()
    stop = threading.Event()
    job["stop"] = stop  # the Stop button reads it from this session's state
    job.pop("finished", None)
    if ctx.train_queue is None:
        ctx.train_queue = TrainQueue()
    line = ctx.train_queue
    ticket = object()
    line.join(ticket, f"{family} on {data}")
    try:
        while not line.try_start(ticket):  # another session's training runs: say so, and our place
            if stop.is_set():
                job.pop("stop", None)
                yield (None, None, progress_html(0, total, "(cancelled)"),
                       "cancelled while waiting: nothing was trained", gr.update())
                return
            yield (None, None, progress_html(0, total, "(waiting)"),
                   f"another training is running ({line.running_what()}, started in another session); "
                   f"yours is number {line.position(ticket)} in the queue and starts when it ends. "
                   "Stop cancels it.", gr.update())
            line.wait(1.0)
        yield from _train(ctx, family, data, total, out, name, overrides, events, stop, job, image_size)
    finally:
        line.leave(ticket)


def _train(ctx: AppContext, family, data, total, out, name, overrides, events, stop, job, image_size=None):
    thread = threading.Thread(target=_worker, args=(family, data, total, out, overrides, events, stop, image_size),
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
                grid = ev["path"]  # a new file per step, written by the trainer: served as it is
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
    job["finished"] = True  # a Stop from now on leaves the line below alone
    saved = trained_step(out)  # the step the trainer stopped and saved at, not the last logged one
    step = saved if saved is not None else step
    stopped = step < total
    key = RUN_PREFIX + name
    yield (loss_figure(history), grid, progress_html(step, total, "(stopped)" if stopped else "(done)"),
           f"{'stopped at' if stopped else 'finished'} step {step} of {total} in {time.perf_counter() - t0:.0f} s "
           f"(checkpoint saved at step {step}): **{key}** is now in every tab's model picker", key)


def stop_training(job: dict) -> str:
    """Ask this session's training to stop; the trainer saves a checkpoint at the step it is on."""
    job = job or {}
    if job.get("finished"):  # Stop after the end: the "finished ..." line stays as it is
        return gr.update()
    ev = job.get("stop")
    if ev is None:
        return "nothing is training in this session"
    ev.set()
    return "stopping at the end of the current step; the checkpoint is saved there"


def default_family(ctx: AppContext) -> str:
    """The family of the first shipped checkpoint that loads (a family known to train well here),
    else the first registered family."""
    families = list_families()
    for entry, model in ctx.catalog.loadable():
        if entry.shipped and model.family in families:
            return model.family
    return families[0]


def default_data(family: str) -> str:
    """The bundled data set the family trains on unless told otherwise: its one-minute recipe's
    data where it has one (vae and pixelcnn's use binarised digits), else its `default_data`."""
    from genlab.recipes import quick_recipe
    from genlab.training.config import read_recipe

    try:
        quick = quick_recipe(family)
        wanted = (read_recipe(quick).data if quick else None) or get_family(family).default_data
    except GenlabError:
        return EMBEDDED[0]
    return wanted if wanted in local_dataset_names() else EMBEDDED[0]


def quick_budget(family: str) -> tuple[int, int]:
    """(steps, batch size) of the family's one-CPU-minute recipe (genlab/recipes/quick), which
    training without a recipe starts from; (300, 64) for a family without one."""
    from genlab.recipes import quick_recipe
    from genlab.training.config import read_recipe

    path = quick_recipe(family)
    if path is None:
        return 300, 64
    recipe = read_recipe(path)
    return recipe.train.steps, recipe.train.batch_size


def on_family(ctx: AppContext, family: str):
    """A family picked: its own bundled data set (e.g. binarised digits for Bernoulli models), the
    budget of its one-minute recipe on the sliders, and its models to start from."""
    from genlab.recipes import quick_recipe

    steps, batch = quick_budget(family)
    return (default_data(family), gr.update(value=steps, info=budget_info(quick_recipe(family) is not None)), batch,
            progress_html(0, steps, "(not started)"), gr.update(choices=start_choices(ctx, family), value=""))


def budget_info(has_quick_recipe: bool) -> str:
    return ("preset: the family's one-CPU-minute recipe" if has_quick_recipe
            else "this family has no one-minute recipe: a short default budget")


def build(ctx: AppContext) -> None:
    from genlab.recipes import quick_recipe

    families = list_families()
    first = default_family(ctx)
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            family = gr.Dropdown(families, value=first, label="Family", elem_id="train-family")
            data = gr.Dropdown(list(local_dataset_names()), value=default_data(first), label="Data set (bundled)",
                               elem_id="train-data")
            with gr.Accordion("Your own pictures", open=False, elem_id="train-own"):
                own_folder = gr.Textbox("", label="Folder on the server", elem_id="train-own-folder",
                                        placeholder="/path/to/pictures (empty: the data set above)",
                                        info="a folder of pictures, or of one sub-folder per class; "
                                             "used instead of the data set above when filled in")
                own_zip = gr.UploadButton("Upload a zip of pictures", file_types=[".zip"], type="filepath",
                                          elem_id="train-own-zip", size="sm")
                picture_size = gr.Radio(list(PICTURE_SIZES), value=PICTURE_SIZES[0], label="Picture size (px)",
                                        elem_id="train-own-size",
                                        info="each picture is resized and centre-cropped to this square")
                own_note = gr.Markdown(elem_id="train-own-note")
            start_from = gr.Dropdown(start_choices(ctx, first), value="", label="Start from", elem_id="train-start-from",
                                     info="random weights, or a trained model of this family to fine-tune on the "
                                          "data chosen here (its network and picture size are kept)")
            first_steps, first_batch = quick_budget(first)
            steps = gr.Slider(10, MAX_STEPS, value=first_steps, step=10, label="Budget (steps)", elem_id="train-steps",
                              info=budget_info(quick_recipe(first) is not None))
            batch = gr.Slider(8, 256, value=first_batch, step=4, label="Batch size", elem_id="train-batch")
            with gr.Row():
                go = gr.Button("Train", variant="primary", elem_id="train-button")
                halt = gr.Button("Stop", variant="stop", elem_id="train-stop")
            status = gr.Markdown(elem_id="train-status")
            progress = gr.HTML(progress_html(0, first_steps, "(not started)"), elem_id="train-progress")
        with gr.Column(scale=2):
            plot = gr.Plot(label="Losses", elem_id="train-plot")
            grid = gr.Image(label="Samples (fixed noise)", format="png", interactive=False,
                            elem_id="train-samples", elem_classes=["pixelated"])
    job = gr.State({})
    if ctx.train_queue is None:
        ctx.train_queue = TrainQueue()
    finished = gr.Textbox(visible=False, elem_id="train-finished")
    family.input(functools.partial(on_family, ctx), family, [data, steps, batch, progress, start_from],
                 api_name="train_family", queue=False)
    go.click(functools.partial(start, ctx), [family, data, steps, batch, job, own_folder, picture_size, start_from],
             [plot, grid, progress, status, finished], api_name="train", **work("train"))
    own_zip.upload(functools.partial(unpack_pictures, ctx), own_zip, [own_folder, own_note],
                   api_name="train_unpack", **work("fast"))
    halt.click(stop_training, job, status, api_name="train_stop", queue=False)
    ctx.models_changed.append(finished.change)
