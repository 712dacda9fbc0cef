"""Pieces every tab uses: error translation, model pickers, the control bank, drawing pad."""
from __future__ import annotations

import functools
import hashlib
import inspect
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
import numpy as np
from PIL import Image

from genlab.errors import GenlabError
from genlab.model import Control, GenerativeModel
from ui.catalog import Catalog
from ui.images import ImageInputError, open_image

PAD_SIZE = 280  # drawing canvas side: 10x MNIST


def user_errors(fn):
    """Turn user-caused errors (GenlabError, ValueError) into a message in the page (gr.Error).

    Generators stay generators, so Gradio still streams their frames.
    """
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except (GenlabError, ValueError) as e:
                raise gr.Error(str(e)) from None
        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (GenlabError, ValueError) as e:
            raise gr.Error(str(e)) from None
    return wrapper


def tell(notes: list[str], what: str = "input") -> None:
    """Say in the page how an input was converted (a toast per call; printed outside a request)."""
    if notes:
        gr.Info(f"{what}: " + "; ".join(notes))


@dataclass
class AppContext:
    """What tabs share: the catalogue, where runs go, and the model pickers to refresh."""

    catalog: Catalog
    scratch: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="genlab-ui-")))
    pickers: list[tuple[gr.Dropdown, str | None]] = field(default_factory=list)
    models_changed: list = field(default_factory=list)  # event triggers after which pickers refresh
    views: list = field(default_factory=list)  # (component, fn() -> new value) also redrawn then
    demo: gr.Blocks | None = None

    def picker(self, capability, label: str, elem_id: str, multiselect: bool = False,
               info: str | None = None, prefer=None) -> gr.Dropdown:
        """A model dropdown over the catalogue entries with `capability`; selected first: the
        first entry with `prefer` (e.g. fast decoders for sampling), else the first entry."""
        choices = self.catalog.choices(capability)
        preferred = [k for _, k in self.catalog.choices(prefer)] if prefer else []
        first = next((k for _, k in choices if k in preferred), choices[0][1] if choices else None)
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

    def save_png(self, picture: np.ndarray, stem: str) -> str:
        """Write a picture to the scratch folder under a content hash (same picture, same file)."""
        digest = hashlib.sha1(picture.tobytes() + str(picture.shape).encode()).hexdigest()[:16]
        path = self.scratch / f"{stem}-{digest}.png"
        if not path.exists():
            Image.fromarray(picture).save(path)
        return str(path)

    def scratch_path(self, stem: str, payload: bytes, suffix: str) -> Path:
        return self.scratch / f"{stem}-{hashlib.sha1(payload).hexdigest()[:16]}{suffix}"


# ----- the control bank: a fixed set of widgets relabelled for each model's controls() ------------
MAX_SLIDERS, MAX_CHOICES = 4, 2


@dataclass
class ControlBank:
    sliders: list[gr.Slider]
    choices: list[gr.Dropdown]

    @property
    def components(self) -> list:
        return [*self.sliders, *self.choices]


def control_bank(prefix: str) -> ControlBank:
    sliders = [gr.Slider(-1, 1, value=0, step=0.01, visible=False, label=f"control {i}",
                         elem_id=f"{prefix}-control-{i}") for i in range(MAX_SLIDERS)]
    # value "" (not None) so API callers may leave hidden choices out: "" means the control's default
    choices = [gr.Dropdown(choices=[], value="", allow_custom_value=True, visible=False, label=f"choice {i}",
                           elem_id=f"{prefix}-choice-{i}") for i in range(MAX_CHOICES)]
    return ControlBank(sliders, choices)


def _named_params(fn, skip: tuple[str, ...]) -> tuple[set[str], bool]:
    """(named parameters of fn minus `skip`, whether it takes **kwargs)."""
    params = inspect.signature(fn).parameters.values()
    named = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} - set(skip)
    return named, any(p.kind == p.VAR_KEYWORD for p in params)


def decode_controls(model: GenerativeModel) -> tuple[str, ...]:
    """Names of the controls that act on `decode(z, ...)`, not only on `sample` (e.g. truncation
    and temperature scale the prior draw, so they mean nothing for a chosen z). Read from the
    signatures: a control decode names, or one that sample does not name while decode takes
    **controls (InfoGAN's codes)."""
    dec, dec_kwargs = _named_params(model.decode, ("z", "generator"))
    smp, _ = _named_params(model.sample, ("n", "generator"))
    return tuple(c.name for c in model.controls() if c.name in dec or (dec_kwargs and c.name not in smp))


def not_for_decode(model: GenerativeModel) -> tuple[str, ...]:
    """Controls to leave off the bank where a chosen z is decoded."""
    keep = decode_controls(model)
    return tuple(c.name for c in model.controls() if c.name not in keep)


def shown_controls(model: GenerativeModel, exclude=()) -> tuple[list[Control], list[Control]]:
    """(slider controls, choice controls) as they are laid on the bank, in the model's order."""
    ctrls = [c for c in model.controls() if c.name not in exclude]
    return ([c for c in ctrls if c.kind == "slider"][:MAX_SLIDERS],
            [c for c in ctrls if c.kind == "choice"][:MAX_CHOICES])


def bank_updates(model: GenerativeModel | None, exclude=()) -> list:
    """gr.update()s that show the model's controls on the bank and hide the rest."""
    sliders, choices = shown_controls(model, exclude) if model is not None else ([], [])
    ups = []
    for i in range(MAX_SLIDERS):
        if i < len(sliders):
            c = sliders[i]
            ups.append(gr.update(visible=True, label=c.name, info=c.help or None, minimum=c.low, maximum=c.high,
                                 value=c.default, step=(c.high - c.low) / 100))
        else:
            ups.append(gr.update(visible=False))
    for i in range(MAX_CHOICES):
        if i < len(choices):
            c = choices[i]
            ups.append(gr.update(visible=True, label=c.name, info=c.help or None,
                                 choices=[str(v) for v in c.choices], value=str(c.default)))
        else:
            ups.append(gr.update(visible=False, choices=[], value=""))
    return ups


def bank_values(model: GenerativeModel, values, exclude=()) -> dict:
    """Map the bank's widget values back to {control name: value} for sample()/decode().

    Missing or None values fall back to the control's default, so API callers may leave them out.
    """
    sliders, choices = shown_controls(model, exclude)
    values = list(values) + [None] * (MAX_SLIDERS + MAX_CHOICES - len(values))
    out = {}
    for c, v in zip(sliders, values[:MAX_SLIDERS]):
        v = c.default if v is None else float(v)
        if not c.low <= v <= c.high:
            raise GenlabError(f"{c.name} must lie in [{c.low}, {c.high}], got {v}")
        out[c.name] = v
    for c, v in zip(choices, values[MAX_SLIDERS:]):
        by_text = {str(x): x for x in c.choices}
        if v is None or v == "":
            out[c.name] = c.default
        elif str(v) in by_text:
            out[c.name] = by_text[str(v)]
        else:
            raise GenlabError(f"{c.name} must be one of {', '.join(by_text)}, got {v!r}")
    return out


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
                        raise gr.Error(str(e)) from None
        try:
            return super().preprocess(payload)
        except (OSError, Image.DecompressionBombError, ValueError) as e:
            raise gr.Error(f"could not read the upload as an image: {e}") from None


def drawing_pad(label: str, elem_id: str) -> DrawingPad:
    """A canvas to draw a digit on (dark ink on a light canvas, turned into MNIST's white on
    black by ui.images) that also takes uploads and pasted images."""
    return DrawingPad(
        label=label, elem_id=elem_id, type="numpy", image_mode="RGBA", sources=("upload", "clipboard"),
        brush=gr.Brush(colors=["#000000"], default_color="#000000", default_size=24, color_mode="fixed"),
        eraser=gr.Eraser(default_size=24), layers=False, transforms=(), canvas_size=(PAD_SIZE, PAD_SIZE),
        fixed_canvas=True, height=PAD_SIZE + 120, width=PAD_SIZE + 40, format="png",
    )
