"""Links that open the app on a tab and a model (ui/links.py): what a query string resolves to,
and a clear message for each value the app does not know."""
from __future__ import annotations

import gradio as gr
import pytest

from ui.links import LinkTab, link, opener, resolve


class FakeCatalog:
    """choices(capability) over three models: two samplers, one of which also has views."""

    MODELS = {"dcgan-mnist": {"sample", "latent"}, "graf-shapes": {"sample", "latent", "views"},
              "nade-mnist": {"log_prob"}}

    def choices(self, capability):
        return [(k, k) for k, caps in self.MODELS.items() if capability is None or capability in caps]


@pytest.fixture(scope="module")
def tabs():
    with gr.Blocks():
        return [LinkTab("sample", "Sample", gr.Dropdown(), "sample"),
                LinkTab("view3d", "3-D view", gr.Dropdown(), "views"),
                LinkTab("interpolate", "Interpolation", gr.Dropdown(multiselect=True), "latent"),
                LinkTab("models", "Models")]


def test_a_tab_by_id_or_title_and_a_model_it_offers(tabs):
    for name in ("view3d", "3-D view", " 3-d VIEW "):
        tab, model, messages = resolve({"tab": name, "model": "graf-shapes"}, tabs, FakeCatalog())
        assert (tab.id, model, messages) == ("view3d", "graf-shapes", [])
    tab, model, messages = resolve({"tab": "models"}, tabs, FakeCatalog())
    assert (tab.id, model, messages) == ("models", None, [])


def test_a_tab_whose_picker_takes_several_models_takes_the_linked_one(tabs):
    tab, model, messages = resolve({"tab": "interpolate", "model": "dcgan-mnist"}, tabs, FakeCatalog())
    assert (tab.id, model, messages) == ("interpolate", "dcgan-mnist", [])


def test_a_model_alone_opens_the_first_tab_that_offers_it(tabs):
    tab, model, messages = resolve({"model": "graf-shapes"}, tabs, FakeCatalog())
    assert (tab.id, model, messages) == ("sample", "graf-shapes", [])


def test_no_link_changes_nothing(tabs):
    assert resolve({}, tabs, FakeCatalog()) == (None, None, [])


@pytest.mark.parametrize("query, opens, message", [
    ({"tab": "nosuch"}, None, "the link names no tab 'nosuch'; tabs: sample, view3d, interpolate, models"),
    ({"model": "nosuch"}, None,
     "the link's model 'nosuch' is not in this app's catalogue; models: dcgan-mnist, graf-shapes, nade-mnist"),
    ({"model": "nade-mnist"}, None, "the link's model 'nade-mnist' is offered by no tab with a model picker"),
    ({"tab": "view3d", "model": "dcgan-mnist"}, "view3d",
     "the 3-D view tab has no model 'dcgan-mnist'; models there: graf-shapes"),
    ({"tab": "models", "model": "dcgan-mnist"}, "models", "the Models tab does not take a model from a link"),
])
def test_what_a_link_cannot_have_is_said_and_the_rest_opens(tabs, query, opens, message):
    tab, model, messages = resolve(query, tabs, FakeCatalog())
    assert (tab.id if tab else None, model) == (opens, None)
    assert len(messages) == 1 and messages[0].startswith(message)


def test_link_writes_the_query_string():
    assert link("view3d", "graf-shapes") == "?tab=view3d&model=graf-shapes"
    assert link(model="a b&c") == "?model=a+b%26c"


def test_the_page_load_handler_selects_the_tab_and_sets_only_its_picker(tabs):
    """What the page gets: the Tabs' selection, the linked model on the tab's picker (alone, in a
    list, for a picker of several models) and a skip for every other picker."""
    class Request:
        def __init__(self, **query):
            self.query_params = query

    pickers = [t.picker for t in tabs if t.picker is not None]
    handler = opener(tabs, FakeCatalog(), pickers)
    selected, *updates = handler(Request(tab="interpolate", model="dcgan-mnist"))
    assert selected.selected == "interpolate"
    assert updates[2] == {"__type__": "update", "value": ["dcgan-mnist"]}
    assert all(u == gr.skip() for u in updates[:2])
    selected, *updates = handler(Request(model="graf-shapes"))
    assert selected.selected == "sample" and updates[0] == {"__type__": "update", "value": "graf-shapes"}
    assert handler(Request()) == [gr.skip()] * 4
