"""Links that open the app on a tab and a model: `?tab=view3d&model=graf-shapes`.

A teacher can hand a class one address that opens every student's page on the same view; the
Models tab's cards link each model to the tabs that can show it. `tab` is a tab's id (the module
name in ui/tabs/, e.g. `view3d`) or its title (`3-D view`, any case); `model` a catalogue key.
Either may come alone: a model without a tab opens the first tab that offers it; a tab whose
picker takes several models (Likelihood) opens with the linked one alone. A value the app
does not know is said in a message naming what it accepts, and the page opens as it would
without it.
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import gradio as gr


@dataclass
class LinkTab:
    """One tab a link may open: its id and title, and its model picker (None: it has none)."""

    id: str
    title: str
    picker: gr.Dropdown | None = None
    capability: object = None


def link(tab: str | None = None, model: str | None = None) -> str:
    """The query string of a link, e.g. '?tab=sample&model=dcgan-mnist' (relative to the app's page)."""
    return "?" + urlencode({k: v for k, v in (("tab", tab), ("model", model)) if v})


def _find_tab(tabs: list[LinkTab], name: str) -> LinkTab:
    wanted = name.strip().lower()
    for t in tabs:
        if wanted in (t.id.lower(), t.title.lower()):
            return t
    raise ValueError(f"the link names no tab {name!r}; tabs: {', '.join(t.id for t in tabs)}")


def resolve(query: dict, tabs: list[LinkTab], catalog) -> tuple[LinkTab | None, str | None, list[str]]:
    """(the tab to open, the model to pick in it, messages for what the link asked and could not
    have) from a page's query parameters."""
    name, model = (query.get(k) or None for k in ("tab", "model"))
    messages: list[str] = []
    tab = None
    if name:
        try:
            tab = _find_tab(tabs, name)
        except ValueError as e:
            messages.append(str(e))
    if not model:
        return tab, None, messages
    offering = [t for t in tabs if t.picker is not None and model in (k for _, k in catalog.choices(t.capability))]
    if tab is None and not messages:
        if offering:
            return offering[0], model, messages
        known = [k for _, k in catalog.choices(None)]
        what = "is not in this app's catalogue" if model not in known else "is offered by no tab with a model picker"
        messages.append(f"the link's model {model!r} {what}; models: {', '.join(known) or 'none yet'}")
        return None, None, messages
    if tab is not None and tab not in offering:
        if tab.picker is None:
            messages.append(f"the {tab.title} tab does not take a model from a link; it opens as it is")
        else:
            there = [k for _, k in catalog.choices(tab.capability)]
            messages.append(f"the {tab.title} tab has no model {model!r}; models there: {', '.join(there) or 'none yet'}")
        return tab, None, messages
    return tab, (model if tab is not None else None), messages


def opener(tabs: list[LinkTab], catalog, pickers: list[gr.Dropdown]):
    """A page-load handler: -> [the Tabs' selection, one update per picker in `pickers`]."""

    def open_link(request: gr.Request) -> list:
        query = dict(request.query_params) if request is not None else {}
        tab, model, messages = resolve(query, tabs, catalog)
        for m in messages:
            gr.Warning(m)
        # a picker of several models (the Likelihood tab's) gets the linked one alone
        updates = [gr.update(value=[model] if p.multiselect else model) if tab is not None and model and p is tab.picker
                   else gr.skip() for p in pickers]
        return [gr.Tabs(selected=tab.id) if tab is not None else gr.skip(), *updates]

    return open_link
