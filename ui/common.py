"""Pieces every tab uses: error translation, model pickers, drawing pad (declared controls: ui.controls)."""
from __future__ import annotations

import atexit
import contextvars
import functools
import hashlib
import inspect
import logging
import shutil
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import gradio as gr
import numpy as np
from PIL import Image

from genlab.atomic import write_atomically
from genlab.errors import GenlabError
from ui.catalog import Catalog
from ui.images import ImageInputError, open_image

PAD_SIZE = 280  # drawing canvas side in screen pixels (images are fitted to each model's own size)


log = logging.getLogger("genlab.ui")
if not log.handlers:  # one line per user error in the server console (never a traceback)
    _h = logging.StreamHandler()
    _h.setFormatter(logging.Formatter("genlab-ui: %(message)s"))
    log.addHandler(_h)
    log.setLevel(logging.INFO)
    log.propagate = False

_notes: contextvars.ContextVar[list | None] = contextvars.ContextVar("genlab_ui_notes", default=None)


def _user_error(fn, e: Exception) -> gr.Error:
    """A user's mistake: one line in the server console, the message in the page, no traceback.
    The message stays until the user closes it (Gradio's default lets it go after 10 s, often
    before the user has looked up from what they were doing)."""
    log.info("%s refused: %s", fn.__name__, e)
    return gr.Error(str(e), duration=None, print_exception=False)


def _flush_notes(notes: list) -> None:
    """One toast: notes grouped by what they are about ("drawing: a; b")."""
    if not notes:
        return
    groups: dict[str, list[str]] = {}
    for what, note in notes:
        if note not in groups.setdefault(what, []):
            groups[what].append(note)
    gr.Info(" · ".join(f"{what}: " + "; ".join(items) for what, items in groups.items()))


def user_errors(fn):
    """Turn user-caused errors (GenlabError, ValueError) into a message in the page (gr.Error),
    logged as one line; anything else is a real fault and keeps its traceback.

    Notes that inputs were converted (`tell`) are gathered over the whole call and shown as one
    toast at its end, however many models or images the call went through.
    Generators stay generators, so Gradio still streams their frames."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except (GenlabError, ValueError) as e:
                raise _user_error(fn, e) from None
        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        notes: list[str] = []
        token = _notes.set(notes)
        try:
            out = fn(*args, **kwargs)
        except (GenlabError, ValueError) as e:
            raise _user_error(fn, e) from None
        finally:
            _notes.reset(token)
        _flush_notes(notes)
        return out
    return wrapper


def whole_in_range(value, most: int, what: str = "count") -> int:
    """A control's whole number in 1..most, or one line naming the range and what was given."""
    n = int(value or 0)
    if not 1 <= n <= most:
        raise ValueError(f"{what} must be between 1 and {most}, got {value}")
    return n


def a_label(label: int, data: str = "") -> str:
    """'a **7**', 'an **8**', 'an **11**': the article a class number takes when read aloud; a named
    class by its name ('a **torus**', 'a **combination** of two objects' for shapes3d)."""
    from genlab.data import class_name

    name = class_name(data, label) if data else None
    if name is not None:
        text = f"{'an' if name[0] in 'aeiou' else 'a'} **{name}**"
        return text + " of two objects" if name == "combination" else text
    spoken_vowel = str(label).startswith("8") or label in (11, 18)  # "eight", "eleven", "eighteen"
    return f"{'an' if spoken_vowel else 'a'} **{label}**"


def tell(notes: list[str], what: str = "input") -> None:
    """Say in the page how an input was converted. Inside a handler wrapped by user_errors the
    notes are gathered and shown as one toast when the call ends (the same note from several
    models once); elsewhere, a toast now."""
    if not notes:
        return
    gathered = _notes.get()
    if gathered is None:
        _flush_notes([(what, n) for n in notes])
        return
    # the same conversion for several models ("drawing for a", "drawing for b"): said once
    gathered.extend((what.split(" for ")[0], n) for n in notes)


# ----- concurrency: one limit per kind of work ---------------------------------------------------
# Gradio runs each event under a concurrency group; events in different groups never wait for
# each other. Cheap work (sampling a decoder, decoding a latent, a model's setup) must not queue
# behind expensive work (training, a step-by-step run, likelihoods and completions).
WORK_LIMITS = {
    "fast": 4,      # sampling, decoding, setup after picking a model, the Models tab
    "steps": 2,     # step-by-step runs (autoregressive sampling, one pixel at a time)
    "score": 2,     # likelihoods, completions, interpolation through every model
    "train": 8,     # training: one at a time for the app (TrainQueue); others wait inside, told their place
    # what a page fills in as it opens (each tab's setup, the first sheet of samples): a group of its
    # own, so a user's click never queues behind the page-opens of a whole class (twenty sessions
    # opening at once queue ~380 of them; in one group with the clicks, a click waited 34-41 s)
    "open": 2,
    # gr.render (the per-model control panels): one at a time for the app. Gradio's render of a
    # session rewrites that session's block table while another render of the same session may be
    # walking it ("dictionary changed size during iteration": a tab's controls then never appear);
    # a render only builds widgets, so queueing them costs milliseconds
    "render": 1,
}


def work(kind: str) -> dict:
    """Keyword arguments for an event doing `kind` of work (see WORK_LIMITS)."""
    return {"concurrency_id": kind, "concurrency_limit": WORK_LIMITS[kind]}


class _TriggeredSessions:
    """The browser sessions in which a user has already fired one of a pair's triggers. For them
    the page-open run's result is stale: it must not land over what the user asked for. Bounded
    (oldest sessions forgotten first), so a long-running server does not grow with its visitors."""

    def __init__(self, most: int = 10_000):
        self._sessions: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._most = most

    def mark(self, request: gr.Request | None) -> None:
        session = getattr(request, "session_hash", None)
        if session is None:
            return
        with self._lock:
            self._sessions[session] = None
            self._sessions.move_to_end(session)
            while len(self._sessions) > self._most:
                self._sessions.popitem(last=False)

    def has(self, request: gr.Request | None) -> bool:
        session = getattr(request, "session_hash", None)
        with self._lock:
            return session is not None and session in self._sessions


def _with_request(fn, n_inputs: int, call):
    """A handler taking `n_inputs` values and Gradio's request (injected by its annotation), which
    runs call(request, *values); a generator when `fn` is one, so Gradio still streams its frames."""
    if inspect.isgeneratorfunction(fn):  # also sees through functools.partial
        def handler(*args):
            yield from call(args[-1], *args[:-1])
    else:
        def handler(*args):
            return call(args[-1], *args[:-1])
    params = [inspect.Parameter(f"value_{i}", inspect.Parameter.POSITIONAL_OR_KEYWORD) for i in range(n_inputs)]
    params.append(inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=gr.Request))
    handler.__signature__ = inspect.Signature(params)
    handler.__annotations__ = {"request": gr.Request}
    handler.__name__ = getattr(inspect.unwrap(getattr(fn, "func", fn)), "__name__", "handler")
    return handler


def on_open_and_change(ctx: "AppContext", triggers: list, fn, inputs, outputs, api_name: str | bool, **kwargs):
    """Run `fn` when the page opens and on each of `triggers` (a model picked, a button). Returns the
    triggers' event.

    The page-open run goes in the "open" concurrency group (WORK_LIMITS), the trigger's in its own
    kind's, so a click starts without waiting for other sessions' page-opens.

    When a class opens the app at once, the page-open run waits behind the others' and could land
    after the user's own pick or click, showing the first model's controls beside the model now
    picked, or 16 samples where the user asked for 12. Two guards: a trigger cancels the
    page-open run while it is still queued, and a page-open run that finds, when it starts or
    finishes, that a trigger of the same browser session has started sends nothing (gr.skip()),
    since cancelling cannot stop a run already executing."""
    triggered = _TriggeredSessions()
    unchanged = tuple(gr.skip() for _ in outputs) if isinstance(outputs, (list, tuple)) else gr.skip()

    if inspect.isgeneratorfunction(fn):
        def on_open(request, *values):
            for frame in fn(*values):
                if triggered.has(request):  # the user's own run has taken over these outputs
                    return
                yield frame

        def on_trigger(request, *values):
            triggered.mark(request)
            yield from fn(*values)
    else:
        def on_open(request, *values):
            if triggered.has(request):
                return unchanged
            result = fn(*values)
            return unchanged if triggered.has(request) else result

        def on_trigger(request, *values):
            triggered.mark(request)
            return fn(*values)

    n_in = len(inputs) if isinstance(inputs, (list, tuple)) else int(inputs is not None)
    first = ctx.demo.load(_with_request(fn, n_in, on_open), inputs, outputs,
                          api_name=f"{api_name}_on_load" if api_name else False, **{**kwargs, **work("open")})
    return gr.on(triggers, _with_request(fn, n_in, on_trigger), inputs, outputs, api_name=api_name,
                 cancels=[first], **kwargs)


def keep_pad_usable(event, pad) -> None:
    """After `event` (an upload or a test image put on `pad`) is refused, clear Gradio's "Error"
    badge from the pad: it would cover the pad and block its brush and Clear until the next good
    upload. The refusal is said in a message that stays (`_user_error`); the pad keeps its picture."""
    event.failure(lambda: gr.skip(), None, pad, api_name=False, show_progress="hidden", queue=False)


@dataclass
class AppContext:
    """What tabs share: the catalogue, where runs go, and the model pickers to refresh."""

    catalog: Catalog
    scratch: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="genlab-ui-")))
    pickers: list[tuple[gr.Dropdown, str | None]] = field(default_factory=list)
    models_changed: list = field(default_factory=list)  # event triggers after which pickers refresh
    views: list = field(default_factory=list)  # (component, fn() -> new value) also redrawn then
    tab_selected: list = field(default_factory=list)  # (component(s), fn()) redrawn when its tab is opened
    link_tabs: list = field(default_factory=list)  # ui.links.LinkTab per tab: what links may open (ui.app)
    demo: gr.Blocks | None = None
    train_queue: object | None = None  # ui.tabs.train.TrainQueue: one training at a time for the app

    def picker(self, capability, label: str, elem_id: str, multiselect: bool = False,
               info: str | None = None, prefer=None, value: str | None = None) -> gr.Dropdown:
        """A model dropdown over the catalogue entries with `capability`; selected first: `value`
        if given and listed, else the first entry with `prefer`, else the first entry."""
        choices = self.catalog.choices(capability)
        preferred = [k for _, k in self.catalog.choices(prefer)] if prefer else []
        first = next((k for _, k in choices if k in preferred), choices[0][1] if choices else None)
        if value is not None and value in [k for _, k in choices]:
            first = value
        value = self.default_selection(choices) if multiselect else first
        # allow_custom_value: runs made after the page loaded are still accepted (the catalogue checks keys)
        dd = gr.Dropdown(choices=choices, value=value, label=label, elem_id=elem_id, multiselect=multiselect,
                         allow_custom_value=True,
                         info=info or (None if choices else "no model for this yet: train one in the Train tab"))
        self.pickers.append((dd, capability))
        return dd

    def default_selection(self, choices: list[tuple[str, str]]) -> list[str]:
        """For a multi-model picker: the shipped models (the user's runs can be added), else all."""
        shipped = {e.key for e in self.catalog.entries() if e.shipped}
        keys = [k for _, k in choices]
        return [k for k in keys if k in shipped] or keys

    def refresh(self, *current) -> list:
        """New choices for every picker, then every registered view redrawn. Inputs: the pickers'
        current values. A selection is only touched when it no longer exists: the page-load
        refresh may come back after the user has already picked something."""
        updates = []
        for (dd, cap), value in zip(self.pickers, current):
            choices = self.catalog.choices(cap)
            keys = [k for _, k in choices]
            if dd.multiselect:
                kept = [v for v in (value or []) if v in keys]
                valid = bool(kept) and len(kept) == len(value or [])
                new = kept or self.default_selection(choices)
            else:
                valid = value in keys
                new = value if valid else (keys[0] if keys else None)
            updates.append(gr.update(choices=choices) if valid else gr.update(choices=choices, value=new))
        return updates + [fn() for _, fn in self.views]

    def __post_init__(self):
        atexit.register(self.close)  # the scratch folder never outlives the process (app or tests)

    def save_png(self, picture: np.ndarray, stem: str) -> str:
        """Write a picture to the scratch folder under a content hash (same picture, same file).

        Concurrent sessions often ask for the very same picture (seed 0 is the default). A file
        that exists is never written again, and a new one is written under a temporary name and
        renamed into place, so nobody (Gradio copying it into its cache, a browser downloading
        it) ever sees a partly written file. Handlers return these paths rather than arrays:
        Gradio writes arrays into its cache by rewriting a content-named file in place, which
        truncated images that another session was downloading (issue 17)."""
        digest = hashlib.sha1(picture.tobytes() + str(picture.shape).encode()).hexdigest()[:16]
        path = self.scratch / f"{stem}-{digest}.png"
        if not path.exists():
            self.write_atomically(path, lambda tmp: Image.fromarray(picture).save(tmp, format="PNG"))
        return str(path)

    def pictures(self, pictures, stem: str) -> list[str]:
        return [self.save_png(p, stem) for p in pictures]

    def scratch_path(self, stem: str, payload: bytes, suffix: str) -> Path:
        return self.scratch / f"{stem}-{hashlib.sha1(payload).hexdigest()[:16]}{suffix}"

    def write_atomically(self, path: Path, write: Callable[[Path], object]) -> Path:
        """write(tmp) fills a temporary file beside `path`, which is then renamed onto `path`.

        Not synced to disk: a scratch file dies with the process anyway, and only readers
        (Gradio, browsers) must never see half of it. The temporary name keeps the extension,
        from which PIL picks the format."""
        return write_atomically(path, write, durable=False, keep_extension=True)

    def close(self) -> None:
        """Remove the scratch folder (the app calls it on exit, tests when they are done)."""
        shutil.rmtree(self.scratch, ignore_errors=True)


def as_files(ctx: "AppContext", fn, stem: str):
    """An event handler whose pictures (numpy arrays, also inside lists, (picture, caption)
    pairs and editor dicts) reach Gradio as files written once (AppContext.save_png), never as
    arrays Gradio would write into its cache in place. For handlers that return arrays."""
    def convert(v):
        if isinstance(v, np.ndarray) and v.dtype == np.uint8 and v.ndim in (2, 3):
            return ctx.save_png(v, stem)
        if isinstance(v, list):
            return [convert(x) for x in v]
        if isinstance(v, tuple):
            return tuple(convert(x) for x in v)
        if isinstance(v, dict) and "__type__" not in v:
            return {k: convert(x) for k, x in v.items()}
        return v

    @functools.wraps(fn)
    def handler(*args, **kwargs):
        out = fn(*args, **kwargs)
        return convert(out)
    return handler


class DrawingPad(gr.ImageEditor):
    """An ImageEditor that refuses non-images and huge images with a message in the page
    (Gradio's own decoding would fail with a bare PIL error)."""

    is_template = True  # drawn by the ImageEditor front end, as gr.Sketchpad is

    def preprocess(self, payload):
        if payload is not None:
            for f in [payload.background, payload.composite, *(payload.layers or [])]:
                path = getattr(f, "path", None)
                if path:
                    try:
                        open_image(path, "upload")  # reads only the header
                    except ImageInputError as e:
                        log.info("upload refused: %s", e)
                        raise gr.Error(str(e), print_exception=False) from None
        try:
            return super().preprocess(payload)
        except (OSError, Image.DecompressionBombError, ValueError) as e:
            log.info("upload refused: %s", e)
            raise gr.Error(f"could not read the upload as an image: {e}", print_exception=False) from None


def drawing_pad(label: str, elem_id: str, uploads: bool = True) -> DrawingPad:
    """A canvas to draw a digit on (dark ink on a light canvas, turned into MNIST's white on
    black by ui.images) that also takes pasted images and, with `uploads`, uploads. The editor
    fits an upload into its canvas in the browser, so the server never sees the file itself:
    tabs that score or encode pass uploads=False and offer `upload_button` instead. Labels stay
    short: the editor's toolbar covers the right part of the label row."""
    return DrawingPad(
        label=label, elem_id=elem_id, type="numpy", image_mode="RGBA",
        sources=("upload", "clipboard") if uploads else ("clipboard",),
        brush=gr.Brush(colors=["#000000"], default_color="#000000", default_size=24, color_mode="fixed"),
        eraser=gr.Eraser(default_size=24), layers=False, transforms=(), canvas_size=(PAD_SIZE, PAD_SIZE),
        fixed_canvas=True, height=PAD_SIZE + 120, width=PAD_SIZE + 40, format="png",
        placeholder="Draw here",  # short: the editor's side toolbar covers the start of a long line
    )


def upload_button(prefix: str) -> gr.UploadButton:
    """Upload a picture file as it is (the server checks and converts the original, see
    `upload_to_pad`)."""
    return gr.UploadButton("Upload a picture (PNG, JPEG, ...)", file_types=["image"], type="filepath",
                           elem_id=f"{prefix}-upload", size="sm")


def upload_to_pad(ctx: "AppContext", spec, path) -> tuple[dict, str]:
    """An uploaded file -> (the pad showing it as the model will see it, what was done to it).

    The original file is checked (not an image, over MAX_SIDE px on a side: refused) and
    converted for `spec` here, on the server, so the notes speak of the file itself (its size,
    colour, background) rather than of the browser's canvas; the result goes on the pad as an
    exact enlargement, which the tabs reduce exactly again."""
    from genlab.data import unit_to_uint8
    from ui.images import open_image, to_model_input

    if not path:
        raise ImageInputError("no file uploaded")
    name = Path(str(path)).name
    img = open_image(path, f"upload {name}")
    size, mode = img.size, img.mode
    x, notes = to_model_input(path, spec, f"upload {name}")
    pic = unit_to_uint8(x)[0]
    k = max(1, PAD_SIZE // max(spec.height, spec.width))
    big = pic.repeat(k, 0).repeat(k, 1)
    rgb = np.stack([big] * 3, axis=-1) if big.ndim == 2 else big
    file = ctx.save_png(np.ascontiguousarray(rgb), "upload")
    text = (f"uploaded **{name}** ({size[0]}x{size[1]}, {mode}): " + ("; ".join(notes) or "used as it is")
            + f"; on the pad {k}x enlarged")
    tell(notes, f"upload {name} ({size[0]}x{size[1]})")
    return {"background": file, "layers": [], "composite": file}, text


def upload_for(ctx: "AppContext", need: str):
    """The handler of an `upload_button` beside a pad, in a tab whose picker chooses one model
    with `need`: (model key, file) -> `upload_to_pad` for that model's data (the pad's value,
    what was done to the file). Shared by the Latent explorer, Interpolation and Translate tabs."""
    @user_errors
    def upload(key: str, path) -> tuple[dict, str]:
        return upload_to_pad(ctx, ctx.catalog.model(key, need=need).data_spec, path)
    return upload
