"""genlab.loss_curves: a run's metrics.jsonl read back, and the one loss figure of the gallery and the Train tab."""
from __future__ import annotations

import json

from genlab.loss_curves import loss_figure, read_log

ROWS = [{"step": s, "discriminator/loss": 1.0 / s, "discriminator/D(x)": 0.6, "generator/loss": 0.5 + s / 100,
         "images_per_s": 9.0, "data_seconds": 0.1, "finite": True} for s in (10, 20, 30)]


def test_read_log_keeps_rows_with_a_step_and_skips_a_torn_line(tmp_path):
    log = tmp_path / "metrics.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in ROWS) + '["no step"]\n{"event": "resume"}\n{"step": 40, "gen')
    assert read_log(log) == ROWS


def series(fig) -> dict[str, dict[str, list]]:
    """{panel title: {line label: y values}}."""
    return {ax.get_title(): {line.get_label(): list(line.get_ydata()) for line in ax.get_lines()} for ax in fig.axes}


def test_a_panel_per_phase_with_every_figure_but_rates_and_timings():
    fig = loss_figure(ROWS, title="run")
    assert series(fig) == {"discriminator": {"loss": [0.1, 0.05, 1 / 30], "D(x)": [0.6] * 3},
                           "generator": {"loss": [0.6, 0.7, 0.8]}}
    assert fig.axes[0].get_xlabel() == "step" and list(fig.axes[0].get_lines()[0].get_xdata()) == [10, 20, 30]
    assert fig._suptitle.get_text() == "run"


def test_the_train_tabs_live_rows_and_an_empty_log_draw_too():
    """The Train tab sends the trainer's events ({"kind": "log", "step", ...}); a key without a phase
    goes to "training"; before the first row there is nothing to draw, and no error."""
    live = [{"kind": "log", "step": 1, "loss": 2.0, "lr": 0.1}, {"kind": "log", "step": 2, "loss": 1.5}]
    assert series(loss_figure(live)) == {"training": {"loss": [2.0, 1.5], "lr": [0.1]}}
    assert loss_figure([]).axes == []


def test_the_train_tab_draws_with_the_same_function():
    import ui.tabs.train as train

    assert train.loss_figure is loss_figure
