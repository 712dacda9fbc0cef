"""Labelled choices (issue 15): a model labels a choice control's values for display
(`Control.choice_labels`), and InfoGAN labels its categorical code with the digit genlab's
classifier reads on the code's samples, measured and stored with the checkpoint."""
from __future__ import annotations

import re

import gradio as gr
import numpy as np
import pytest
import torch

from genlab.checkpoint import load_checkpoint, save_checkpoint
from genlab.metrics.classifier import classify
from genlab.metrics.codes import code_digits, format_code_digits, parse_code_digits
from genlab.model import Control, GenerativeModel
from genlab.registry import build, load, resolve_checkpoint

LABEL = re.compile(r"^(\d) → draws (\d) \((\d+)%\)$")


@pytest.fixture(scope="module")
def infogan():
    return load("infogan-mnist")


def digit_code(model) -> Control:
    return next(c for c in model.controls_for("sample") if c.name == "digit_code")


def stored_as(tmp_path, metrics_change) -> GenerativeModel:
    """The shipped InfoGAN saved outside checkpoints/ (no manifest there) with its metrics changed."""
    state = load_checkpoint(resolve_checkpoint("infogan-mnist"))
    state["metrics"] = metrics_change(dict(state["metrics"]))
    return load(save_checkpoint(state, tmp_path / "infogan.pt"))


# ----- the generic part: Control.choice_labels ---------------------------------------------------
def test_choice_labels_are_for_display_only():
    c = Control("pick", "choice", "a", choices=("a", 1, 2), choice_labels={1: "one"})
    assert [c.choice_label(v) for v in c.choices] == ["a", "one", "2"]  # unlabelled: the value itself
    assert c.check("1") == 1 and c.check(2) == 2  # the values the model takes are unchanged
    with pytest.raises(ValueError, match=r"choice_labels name \[3\], which are not among its choices"):
        Control("pick", "choice", "a", choices=("a", 1, 2), choice_labels={3: "three"})


def test_stored_form_round_trips():
    counts = np.array([[0, 8, 2], [5, 0, 5], [0, 0, 4]])
    pairs = code_digits(counts, np.array([1, 0, 2]))
    assert pairs == [(1, 0.8), (0, 0.5), (2, 1.0)]
    assert format_code_digits(pairs) == "1:0.800 0:0.500 2:1.000"
    assert parse_code_digits(format_code_digits(pairs)) == pairs


# ----- InfoGAN: the shipped checkpoint's labels ----------------------------------------------------
def test_shipped_infogan_labels_its_codes(infogan):
    c = digit_code(infogan)
    labels = [c.choice_label(v) for v in c.choices]
    assert labels[0] == "random" and len(labels) == 11
    parsed = [LABEL.match(text).groups() for text in labels[1:]]
    assert [int(code) for code, _, _ in parsed] == list(range(10))
    drawn = [int(d) for _, d, _ in parsed]
    assert drawn == infogan.checkpoint["metrics"]["code_to_digit"]  # the one-to-one match, stored with it
    assert sorted(drawn) == list(range(10))
    assert "labelled with the digit" in c.help
    assert infogan.check_controls("sample", {"digit_code": "3"}) == {"digit_code": 3}  # still the code


def test_labels_match_what_the_classifier_reads(infogan):
    """Fresh samples (another seed than the stored measurement's) of each code are read as its
    labelled digit in about the labelled share, and the clearly labelled codes mostly so."""
    n = 200
    for code, (digit, share) in enumerate(infogan.code_digits()):
        images = infogan.sample(n, generator=torch.Generator().manual_seed(100 + code), digit_code=code)
        read = classify(images.float())[1].argmax(1)
        measured = (read == digit).float().mean().item()
        assert abs(measured - share) < 0.12, (code, digit, share, measured)
        if share >= 0.6:  # a code that mostly draws one digit: that digit is the classifier's usual reading
            assert torch.bincount(read, minlength=10).argmax().item() == digit, (code, digit)


def test_no_stored_mapping_shows_plain_numbers(tmp_path):
    # Neither name the labels are stored under (tools/infogan_codes.py --store, or genlab eval's).
    old = stored_as(tmp_path, lambda m: {k: v for k, v in m.items() if k not in ("code_digits", "infogan_code_digits")})
    assert "code_to_digit" in old.checkpoint["metrics"]  # the bare match alone is not a label
    c = digit_code(old)
    assert old.code_digits() is None and c.choice_labels == {}
    assert [c.choice_label(v) for v in c.choices] == ["random", *map(str, range(10))]
    assert "need not be digit i" in c.help
    fresh = build("infogan", {"noise_dim": 8, "width": 8, "hidden": 32, "q_hidden": 16})  # never loaded
    assert fresh.code_digits() is None and digit_code(fresh).choice_labels == {}


def test_eval_figures_carry_the_labels(infogan, tmp_path):
    """`genlab eval` and the release tool store extra_metrics as infogan_code_digits: the model
    reads that name too."""
    figures = infogan.extra_metrics(100)
    pairs = parse_code_digits(figures["infogan_code_digits"])
    assert len(pairs) == 10 and all(0 <= s <= 1 for _, s in pairs)
    evaluated = stored_as(tmp_path, lambda m: {**{k: v for k, v in m.items() if k != "code_digits"},
                                               "infogan_code_digits": figures["infogan_code_digits"]})
    assert evaluated.code_digits() == pairs


# ----- the app shows the labels and sends the codes --------------------------------------------------
def test_the_dropdown_shows_labels_and_sends_codes(infogan):
    from ui.controls import control_values, control_widgets

    with gr.Blocks():
        widgets = control_widgets(infogan.controls_for("sample"), "t")
    dropdown = next(w for w in widgets if isinstance(w, gr.Dropdown))
    shown, sent = zip(*dropdown.choices)
    assert sent == ("random", *map(str, range(10))) and dropdown.value == "random"
    assert shown[0] == "random" and all(LABEL.match(s) for s in shown[1:])
    assert control_values(infogan, "sample", {"digit_code": sent[4]}) == {"digit_code": 3}
