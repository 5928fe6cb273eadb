"""Sweeps pane (pytest-qt, offscreen): the form builds a sweep from the published preset and says what is wrong
with a dimension next to it; a sweep's trials (added through Optuna, no training) fill the top table, which ranks
by either objective, exports CSV and shows parameter importance; Start/Stop follow the sweep's child process (a
stand-in child, no model); the slice and contour views draw every finished trial where it belongs."""

from __future__ import annotations

import csv
import math
import os
import time

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor

from dpostudio.ui.sweeps import worker as sweeps_worker
from dpostudio.ui.sweeps.pane import SweepsPane

LOSSES = [0.62, 0.48, 0.55, 0.41, 0.69, 0.52]
ACCURACIES = [0.55, 0.74, 0.70, 0.71, 0.50, 0.80]  # best accuracy (trial 5) is not the best loss (trial 3)


def synthetic_sweep(name: str = "demo", n: int = 6):
    """A sweep over the published space whose ``n`` trials (and one pruned) are added directly, as ``run_trial``
    leaves them: user attributes run_id, eval_loss, eval_accuracy, outcome, message."""
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution
    from optuna.trial import TrialState

    from dpostudio.core.sweeps import SweepSpec, create_sweep, preset_space

    space = preset_space("published-dpo")
    sweep = create_sweep(SweepSpec(name, space=space, n_trials=12))
    dists = {
        p.name: FloatDistribution(p.low, p.high, log=True)
        if p.kind == "loguniform"
        else CategoricalDistribution(p.choices)
        for p in space
    }
    for i in range(n):
        params = {p.name: (1e-5 * (i + 1) if p.kind == "loguniform" else p.choices[i % len(p.choices)]) for p in space}
        attrs = {
            "run_id": f"run-{name}-t{i}",
            "eval_loss": LOSSES[i % len(LOSSES)],
            "eval_accuracy": ACCURACIES[i % len(ACCURACIES)],
            "outcome": "finished",
            "message": "",
        }
        sweep.study.add_trial(
            optuna.trial.create_trial(
                params=params, distributions=dists, value=LOSSES[i % len(LOSSES)], user_attrs=attrs
            )
        )
    params = {p.name: p.values()[0] if p.discrete else p.low for p in space}
    sweep.study.add_trial(
        optuna.trial.create_trial(
            state=TrialState.PRUNED,
            params=params,
            distributions=dists,
            user_attrs={"run_id": f"run-{name}-t{n}", "eval_loss": 0.9, "outcome": "pruned", "message": "pruned"},
        )
    )
    return sweep


def shown_pane(qtbot, name: str | None = None) -> SweepsPane:
    pane = SweepsPane()
    qtbot.addWidget(pane)
    if name is None:
        pane.refresh()
        return pane
    with qtbot.waitSignal(pane.snapshotShown, timeout=30_000):
        pane.refresh(select=name)
    return pane


def column(pane: SweepsPane, field: str) -> list:
    return [row[field] for row in pane.model.table]


def test_the_form_builds_the_published_sweep_and_says_what_is_wrong_next_to_a_field(qtbot):
    pane = shown_pane(qtbot)
    form = pane.form
    assert form.space_texts()[0] == "learning_rate=loguniform:1e-6:1e-3"  # the published sweep is the preset
    form.name_edit.setText("published")
    form.base_edit.setPlainText("max_steps=100\neval_steps=20")
    spec = form.spec()
    assert [p.name for p in spec.space] == [
        "learning_rate",
        "per_device_batch_size",
        "gradient_accumulation_steps",
        "max_steps",
        "beta",
    ]
    assert spec.n_trials == 20 and spec.metric == "eval_loss" and spec.direction == "minimize"
    assert spec.base["eval_steps"] == 20
    form.objective_combo.setCurrentText("eval_accuracy")
    assert form.spec().direction == "maximize"

    row = form.add_row("beta=choise:0.1,0.2")
    assert not row.error.isHidden() and "unknown kind 'choise'" in row.error.text()
    row.edit.setText("lr=loguniform:0:1e-3")
    assert "loguniform needs a low above 0" in row.error.text()
    messages = []
    pane.message.connect(lambda level, text: messages.append((level, text)))
    pane.start()
    assert messages and messages[0][0] == "warning" and "loguniform needs a low above 0" in messages[0][1]
    assert "loguniform needs a low above 0" in form.error_label.text()
    row.edit.setText("lora_dropout=uniform:0:0.2")
    assert row.error.isHidden() and row.error.text() == ""
    assert form.spec().space[-1].name == "lora_dropout"
    form.base_edit.setPlainText("max_steps")
    assert "field=value" in _error_of(form.spec) and not form.base_error.isHidden()


def _error_of(fn) -> str:
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - the test reads its words
        return str(exc)
    raise AssertionError("no error")


def test_the_top_table_ranks_by_either_objective_exports_csv_and_shows_importance(qtbot, tmp_path):
    synthetic_sweep("demo")
    pane = shown_pane(qtbot, "demo")
    assert pane.sweep_list.count() == 1 and pane.selected_sweep() == "demo"
    assert column(pane, "trial") == [3, 1, 5, 2, 0, 4, 6]  # by the objective (eval loss, lowest first)
    assert column(pane, "state")[-1] == "pruned"
    assert pane.model.data(pane.model.index(0, pane.model.fields.index("eval_loss"))) == "0.4100"
    assert "best: trial 3" in pane.status_label.text()

    with qtbot.waitSignal(pane.snapshotShown, timeout=30_000):
        pane.rank_combo.setCurrentIndex(pane.rank_combo.findData("eval_accuracy"))
    assert column(pane, "trial")[:3] == [5, 1, 3] and column(pane, "trial")[-1] == 6  # no accuracy: last

    pane.table.sortByColumn(pane.model.fields.index("eval_loss"), Qt.SortOrder.AscendingOrder)  # a header click
    assert column(pane, "trial") == [3, 1, 5, 2, 0, 4, 6]
    pane.table.sortByColumn(pane.model.fields.index("eval_accuracy"), Qt.SortOrder.DescendingOrder)
    assert column(pane, "trial")[0] == 5 and column(pane, "eval_accuracy")[-1] is None

    path = pane.export_csv(str(tmp_path / "demo.csv"))
    with open(path, encoding="utf-8") as handle:
        written = list(csv.DictReader(handle))
    assert len(written) == 7 and written[0]["trial"] == "5" and written[0]["run_id"] == "run-demo-t5"
    assert set(pane.snapshot["columns"]) == set(written[0])

    assert pane.importance_chart.shares and abs(sum(pane.importance_chart.shares.values()) - 1) < 1e-6
    assert "over 6 trials" in pane.importance_label.text()

    overlays = []
    pane.overlayRequested.connect(overlays.append)
    pane.overlay_spin.setValue(3)
    pane.overlay_button.click()
    assert overlays == [["run-demo-t5", "run-demo-t1", "run-demo-t3"]]

    shot = os.environ.get("DPOSTUDIO_SCREENSHOT_DIR")
    if shot:  # docs/screenshots/sweeps.png is made with this
        from PySide6.QtWidgets import QApplication

        QApplication.setStyle("Fusion")
        pane.resize(1280, 760)
        pane.form.name_edit.setText("published-gpt2")
        pane.live_label.setText("demo: Trial 7 running (learning_rate=0.000231, per_device_batch_size=4, beta=0.1)")
        pane.show()
        qtbot.wait(200)
        pane.grab().save(os.path.join(shot, "sweeps-synthetic.png"))  # sweeps.png shows a real sweep


def test_importance_waits_for_two_finished_trials(qtbot):
    synthetic_sweep("one", n=1)
    pane = shown_pane(qtbot, "one")
    assert not pane.importance_chart.shares
    assert "at least 2 finished trials; 1 so far" in pane.importance_label.text()


def fake_sweep_child(name, url, events, cancel):
    """Child process: says a trial runs, waits for Stop, then ends as ``run_sweep`` does when stopped."""
    trial = {"type": "trial", "trial": 0, "params": {"beta": 0.1}, "run_id": None, "value": None, "message": ""}
    events.put(trial | {"state": "running"})
    events.put({"type": "log", "trial": 0, "step": 1, "max_steps": 10})
    deadline = time.monotonic() + 60
    while not cancel.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)
    events.put(trial | {"state": "stopped", "message": "stopped by a person"})
    events.put({"type": "_exit", "trials": [0], "message": f"1 trial ran in {name}; stopped"})


def test_start_and_stop_follow_the_sweep_process(qtbot, monkeypatch):
    monkeypatch.setattr(sweeps_worker, "sweep_in_child", fake_sweep_child)
    pane = shown_pane(qtbot)
    assert pane.start_button.isEnabled() and not pane.stop_button.isEnabled()
    pane.form.name_edit.setText("live")
    events = []
    pane.controller.event.connect(events.append)
    with qtbot.waitSignal(pane.snapshotShown, timeout=30_000):
        pane.start_button.click()  # saves the sweep (a task), then starts its process
    qtbot.waitUntil(lambda: pane.is_running(), timeout=10_000)
    assert pane.selected_sweep() == "live"
    assert not pane.start_button.isEnabled() and not pane.resume_button.isEnabled() and pane.stop_button.isEnabled()
    qtbot.waitUntil(lambda: any(e.get("type") == "log" for e in events), timeout=60_000)
    assert "step 1/10" in pane.live_label.text()
    with qtbot.waitSignal(pane.controller.finished, timeout=30_000) as finished:
        pane.stop_button.click()
        assert not pane.stop_button.isEnabled()  # asked; the trial ends at its next step
    assert finished.args[0]["message"] == "1 trial ran in live; stopped"
    assert pane.start_button.isEnabled() and pane.resume_button.isEnabled() and not pane.stop_button.isEnabled()
    assert "stopped" in pane.live_label.text()


def drawn_colour(graphics, plot, x: float, y: float) -> QColor:
    """The colour on screen at data point (x, y) of ``plot`` (in the plot's own, possibly log10, scale)."""
    scene = plot.vb.mapViewToScene(QPointF(x, y))
    pixel = graphics.mapFromScene(scene)
    image = graphics.grab().toImage()
    ratio = image.devicePixelRatio()
    return image.pixelColor(round(pixel.x() * ratio), round(pixel.y() * ratio))


def test_the_slice_and_contour_views_draw_every_finished_trial(qtbot):
    synthetic_sweep("demo")  # six finished trials over the published space, and one pruned (not drawn)
    pane = shown_pane(qtbot, "demo")
    pane.resize(1400, 950)
    pane.show()
    qtbot.waitExposed(pane)
    slice_view = pane.slice_view
    assert list(slice_view.plots) == [
        "learning_rate",
        "per_device_batch_size",
        "gradient_accumulation_steps",
        "max_steps",
        "beta",
    ]
    lrs = [1e-5 * (i + 1) for i in range(6)]
    x, y = slice_view.scatters["learning_rate"].getData()
    assert list(y) == LOSSES
    assert list(x) == [math.log10(v) for v in lrs]  # a log-uniform field is drawn on a log axis
    assert slice_view.plots["learning_rate"].getAxis("bottom").logMode
    beta_x, _ = slice_view.scatters["beta"].getData()
    assert list(beta_x) == [[0.01, 0.1, 0.2, 0.5][i % 4] for i in range(6)]
    assert not slice_view.plots["beta"].getAxis("bottom").logMode
    qtbot.wait(100)
    for i in (2, 5):  # the points are on screen, in their colour (lr 1e-5 would sit on a grid line)
        colour = drawn_colour(slice_view.graphics, slice_view.plots["learning_rate"], math.log10(lrs[i]), LOSSES[i])
        # the points' blue (#4a7bd0, blended a little by antialiasing and the grid), not the white background
        assert colour.blue() - colour.red() > 80 and colour.blue() > 150, (i, colour.name())

    contour = pane.contour_view
    pane.view_tabs.setCurrentWidget(contour)
    contour.choose("learning_rate", "beta")
    qtbot.wait(100)
    spots = contour.scatter.points()
    assert len(spots) == 6 and contour.view is not None and contour.view.trials == [0, 1, 2, 3, 4, 5]
    assert [s.pos().x() for s in spots] == [math.log10(v) for v in lrs]
    assert [s.pos().y() for s in spots] == [[0.01, 0.1, 0.2, 0.5][i % 4] for i in range(6)]
    colours = [c.name() for c in contour.point_colours()]
    assert colours[3] == "#fde725" and colours[4] == "#440154"  # viridis: the lowest loss bright, the highest dark
    assert len(set(colours)) == 6
    assert contour.image.image is not None and contour.image.image.shape == (48, 48)
    best = drawn_colour(contour.graphics, contour.plot, spots[3].pos().x(), spots[3].pos().y())
    assert best.red() > 180 and best.green() > 180 and best.blue() < 120, best.name()  # viridis' bright end
    assert "interpolated" in contour.note.text()
    contour.choose("beta", "beta")
    assert "two different fields" in contour.note.text() and len(contour.scatter.points()) == 0
