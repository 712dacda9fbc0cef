"""The app's per-model controls: one widget per declared `Control` (genlab.model), laid out by
group and built per model with gr.render, and the {name: value} dict a tab's events (and API
callers) pass, checked by the model.

A model declares its controls (kind, range, group, and the calls it applies_to); nothing here
reads signatures or names a family. A tab keeps the values of the controls it shows in one
hidden gr.JSON ({name: value}), which is also what API callers pass: its events take that dict,
and model.check_controls validates it (unknown names, values out of range) with one message
naming what is accepted.
"""
from __future__ import annotations

import contextlib
import json
import re
from typing import TYPE_CHECKING, Callable

import gradio as gr

from genlab.errors import GenlabError
from genlab.model import Control, GenerativeModel
from ui.common import work

if TYPE_CHECKING:  # only for annotations: ui.common's AppContext holds the catalogue the panel reads
    from ui.common import AppContext

def widget_value(control: Control, value):
    """A control's value as its widget (and the JSON) holds it: a number, or a choice's text."""
    if control.kind == "slider":
        return int(value) if control.step == 1 else float(value)
    return str(value)


def default_values(model: GenerativeModel | None, use: str) -> dict:
    """{name: default} for the controls `model` declares for `use` (empty without a model)."""
    if model is None:
        return {}
    return {c.name: widget_value(c, c.default) for c in model.controls_for(use)}


def control_values(model: GenerativeModel, use: str, values) -> dict:
    """The keyword arguments for a `use` call (sample, decode, steps, complete) from a
    {name: value} dict sent by the page or an API caller; names left out keep the model's defaults."""
    if values is None or values == "":
        values = {}
    if isinstance(values, str):
        try:
            values = json.loads(values)
        except json.JSONDecodeError as e:
            raise ValueError(f"controls must be a JSON object of name -> value; could not read {values!r}: {e}")
    if not isinstance(values, dict):
        raise ValueError(f"controls must be a JSON object of name -> value, e.g. "
                         f"{json.dumps(default_values(model, use))}; got {values!r}")
    return model.check_controls(use, {k: v for k, v in values.items() if k != OWNER})


def describe_values(values: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "x"


def groups_of(controls: list[Control]) -> list[tuple[str, list[Control]]]:
    """The controls gathered by `group`, groups in order of first appearance ("" = ungrouped)."""
    out: dict[str, list[Control]] = {}
    for c in controls:
        out.setdefault(c.group, []).append(c)
    return list(out.items())


def control_widget(control: Control, prefix: str, value=None):
    """A slider or a dropdown for one declared control."""
    c = control
    value = widget_value(c, c.default if value is None else value)
    elem_id = f"{prefix}-control-{_slug(c.name)}"
    if c.kind == "slider":
        step = c.step if c.step is not None else (c.high - c.low) / 100
        return gr.Slider(c.low, c.high, value=value, step=step, label=c.name, info=c.help or None,
                         elem_id=elem_id, elem_classes=["genlab-control"], interactive=True)
    # (label, value): the page shows the model's label for a choice and sends the choice itself
    return gr.Dropdown(choices=[(c.choice_label(v), str(v)) for v in c.choices], value=value, label=c.name,
                       info=c.help or None, elem_id=elem_id, elem_classes=["genlab-control"], interactive=True)


def control_widgets(controls: list[Control], prefix: str) -> list:
    """Widgets for every control, laid out by group: ungrouped ones as they come, each named
    group in its own titled box. Call inside a gr.render function (the set depends on the model)."""
    widgets = []
    for group, members in groups_of(controls):
        box = (gr.Accordion(group, open=True, elem_id=f"{prefix}-group-{_slug(group)}",
                            elem_classes=["genlab-control-group"]) if group else contextlib.nullcontext())
        with box:
            widgets.extend(control_widget(c, prefix) for c in members)
    return widgets


OWNER = "__model__"  # the tab's {name: value} also names the model its values were set for (page side)


def set_control_js(name: str, key: str) -> str:
    """Page-side handler of one control widget of model `key`: write its value into the tab's
    {name: value}, stamped with the model it belongs to."""
    return (f"(v, cur) => Object.assign({{}}, (cur && typeof cur === 'object') ? cur : {{}}, "
            f"{{{json.dumps(OWNER)}: {json.dumps(key)}, {json.dumps(name)}: v}})")


# A picker's change: keep the values set for the model now picked, forget any other model's. The
# change also fires when the page-load refresh updates the picker's choices, which can come back
# after the user has picked a model and moved a control (a loaded machine): resetting then dropped
# the user's value (the run used the default: 113 steps instead of 29 in tests/test_ui_browser.py).
KEEP_OWN_VALUES_JS = f"(key, cur) => (cur && cur[{json.dumps(OWNER)}] === key) ? cur : {{{json.dumps(OWNER)}: key}}"


def controls_panel(ctx: "AppContext", picker: gr.Dropdown, use: str, prefix: str, need: str | None = None,
                   wire: Callable | None = None) -> gr.JSON:
    """The per-model controls of one tab: a hidden gr.JSON holding {name: value} (the tab's
    events take it; API callers pass the same dict), and a gr.render, placed here, that builds
    the picked model's widgets for `use` (any number, by group).

    The JSON holds only the controls the user has moved (and, in the page, the model they were
    moved for, which `control_values` drops): no control means every control at the model's own
    default, which is what the CLI does when a control is not given (InfoGAN then draws its
    continuous codes, as `genlab sample` does; a code the user moves is fixed). A
    widget writes itself into the JSON in the page (no server round trip) on the user's own
    input only, never while it is being drawn, so a value is never read before the widget has
    one (a half-built slider used to send 0 and fail Gradio's range check). `wire(model, key,
    widgets, names)`, called inside the render, may add events of the tab's own on those
    widgets (the latent explorer redraws as a control moves)."""
    values = gr.JSON({}, visible=False, label=f"controls ({use})", elem_id=f"{prefix}-controls-json")
    # Another model: forget the last one's values at once, in the page (no values = the new model's
    # defaults); the same model again (a refresh of the choices) keeps them.
    picker.change(None, [picker, values], values, js=KEEP_OWN_VALUES_JS, queue=False)

    @gr.render(inputs=[picker], **work("render"))
    def panel(key):
        if not key:
            return
        try:
            model = ctx.catalog.model(key, need=need)
        except (GenlabError, OSError) as e:
            gr.Markdown(f"_{e}_", elem_id=f"{prefix}-controls-note")
            return
        controls = model.controls_for(use)
        if not controls:
            return
        with gr.Column(elem_id=f"{prefix}-controls", elem_classes=["genlab-controls"]):
            widgets = control_widgets(controls, prefix)
        names = [c.name for c in controls]
        for w, name in zip(widgets, names):
            triggers = [w.input] + ([w.release] if isinstance(w, gr.Slider) else [])
            gr.on(triggers, None, [w, values], values, js=set_control_js(name, key), show_progress="hidden",
                  queue=False, trigger_mode="always_last")
        if wire is not None:
            wire(model, key, widgets, names)

    return values


def defaults_json(prefix: str, use: str) -> gr.JSON:
    """Where a tab's `<tab>_model` event puts the picked model's controls at their defaults: what
    API callers get to edit and send back (the page's own dict stays as the user left it)."""
    return gr.JSON({}, visible=False, label=f"default controls ({use})", elem_id=f"{prefix}-controls-defaults")
