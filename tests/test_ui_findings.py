"""Diagnostics findings in the Metrics pane: the strip above the charts and the markers on them (no training)."""

from __future__ import annotations

import pyqtgraph as pg
import pytest

from dpostudio.core.diagnostics.findings import (
    COLLAPSE,
    LIKELIHOOD_DISPLACEMENT,
    SATURATED,
    Finding,
    save_findings,
)
from dpostudio.core.training.event_types import FINDING
from dpostudio.core.training.run_config import RunConfig
from dpostudio.core.training.runs import create_run
from dpostudio.ui.app import create_application
from dpostudio.ui.metrics.charts import SEVERITY_COLORS, ChartPanel, distinct_run_labels
from dpostudio.ui.metrics.findings_strip import MIN_STEPS_TO_JUDGE, FindingEntry, FindingsStrip
from dpostudio.ui.metrics.pane import MetricsPane, load_run_findings


def displacement(step: int = 12, evidence: str = "logps/chosen fell from -41.2 to -55.8", **kw) -> Finding:
    return Finding(
        LIKELIHOOD_DISPLACEMENT,
        step,
        "Likelihood displacement: both answers are being pushed down",
        evidence,
        "The preferred answer is becoming less likely too.",
        "Lower the learning rate.",
        **kw,
    )


def saturated(step: int = 20) -> Finding:
    return Finding(
        SATURATED,
        step,
        "Reward accuracy saturated at 1.0",
        "accuracy 1.0 since step 20",
        "Every training pair is already separated.",
        "Stop earlier or use harder pairs.",
        severity="info",
    )


def record(step: int, steps: int = 30) -> dict:
    return {
        "step": step,
        "epoch": step / steps,
        "loss": 0.7 - step / 100,
        "rewards/margins": step / 50,
        "rewards/accuracies": min(1.0, 0.5 + step / 40),
        "logps/chosen": -40 - step,
        "logps/rejected": -42 - step,
    }


def marker_lines(charts: ChartPanel, title: str) -> list[pg.InfiniteLine]:
    return [item for item in charts.plots[title].items if isinstance(item, pg.InfiniteLine)]


def test_markers_go_on_the_charts_of_the_finding_and_follow_updates(qtbot):
    create_application()
    charts = ChartPanel()
    qtbot.addWidget(charts)
    charts._timer.stop()  # redraws by hand here, to see what the timer would do
    for step in range(1, 31):
        charts.add_record("run-a", record(step))
    charts.set_finding("run-a", displacement().to_dict())  # as a live event carries it
    charts.set_finding("run-a", saturated())
    assert marker_lines(charts, "Log-probabilities") == []  # nothing drawn per event: the redraw builds them
    charts.flush()
    assert charts.markers_on("Log-probabilities") == [("run-a", LIKELIHOOD_DISPLACEMENT, 12.0)]
    assert charts.markers_on("Reward margin") == [("run-a", LIKELIHOOD_DISPLACEMENT, 12.0)]
    assert charts.markers_on("Reward accuracy") == [("run-a", SATURATED, 20.0)]
    assert charts.markers_on("Loss") == [] and marker_lines(charts, "Loss") == []
    warning_line, info_line = marker_lines(charts, "Log-probabilities")[0], marker_lines(charts, "Reward accuracy")[0]
    assert warning_line.pen.color().name() == SEVERITY_COLORS["warning"]
    assert info_line.pen.color().name() == SEVERITY_COLORS["info"]
    assert warning_line.pen.style() == info_line.pen.style() == pg.QtCore.Qt.PenStyle.DashLine
    assert warning_line.label is not None and "displacement" in warning_line.label.toPlainText()
    # the same kind again, with fresher evidence: replaced, not duplicated
    charts.set_finding("run-a", displacement(evidence="logps/chosen fell from -41.2 to -70.0", last_step=30))
    charts.flush()
    assert len(marker_lines(charts, "Log-probabilities")) == 1
    assert "-70.0" in marker_lines(charts, "Log-probabilities")[0].toolTip()
    assert [f.kind for f in charts.findings_of("run-a")] == [LIKELIHOOD_DISPLACEMENT, SATURATED]
    # a marker never stretches the y axis (log-probabilities are far from 0, where a line's bounds would sit)
    charts.plots["Log-probabilities"].vb.autoRange()
    assert charts.plots["Log-probabilities"].vb.viewRange()[1][1] < -30
    # the epoch axis: the marker moves with the curves
    charts.set_x_axis("epoch")
    charts.flush()
    assert charts.markers_on("Log-probabilities")[0][2] == pytest.approx(12 / 30)
    # highlighting one finding thickens its markers only
    charts.highlight_finding("run-a", SATURATED)
    thick, thin = marker_lines(charts, "Reward accuracy")[0], marker_lines(charts, "Reward margin")[0]
    assert thick.pen.widthF() > thin.pen.widthF()
    # a collapse shows on the loss and gradient norm charts
    charts.set_finding("run-a", Finding(COLLAPSE, 25, "Collapse", "loss is nan", "", ""))
    charts.flush()
    assert charts.markers_on("Gradient norm")[0][:2] == ("run-a", COLLAPSE) and len(marker_lines(charts, "Loss")) == 1
    # removing the run removes its markers from every chart
    charts.remove_run("run-a")
    charts.flush()
    assert all(marker_lines(charts, title) == [] for title in charts.plots)
    assert charts.markers == {} and charts.findings == {}


def test_the_strip_lists_findings_and_says_when_nothing_was_found(qtbot):
    create_application()
    strip = FindingsStrip()
    qtbot.addWidget(strip)
    assert "select a run" in strip.summary.text().lower() and strip.rows() == [] and not strip.is_open()
    strip.set_findings([], {"run-a": 2})
    assert "too few" in strip.summary.text() and "alarming" not in strip.summary.text()
    strip.set_findings([], {"run-a": MIN_STEPS_TO_JUDGE + 5})
    assert "nothing alarming" in strip.summary.text() and "healthy" not in strip.summary.text().lower()
    entries = [FindingEntry("run-a", "run a", displacement()), FindingEntry("run-a", "run a", saturated())]
    strip.set_findings(entries, {"run-a": 30})
    assert strip.rows() == [
        "step 12 · Likelihood displacement: both answers are being pushed down",
        "step 20 · Reward accuracy saturated at 1.0",
    ]
    assert strip.is_open() and "1 warning, 1 note" in strip.summary.text()
    detail = strip.detail.toPlainText()  # the first finding until one is picked
    assert "Evidence:" in detail and "-55.8" in detail and "What to try:" in detail and "Lower the" in detail
    assert "Every training pair" in strip.list.item(1).toolTip()
    picked = []
    strip.findingSelected.connect(lambda run_id, kind: picked.append((run_id, kind)))
    strip.select("run-a", SATURATED)
    assert picked == [("run-a", SATURATED)] and "harder pairs" in strip.detail.toPlainText()
    # several runs: each row is prefixed with its run's short label (the folder's timestamp dropped)
    strip.set_findings(
        [FindingEntry("20260101-120000-sweep-b", "20260101-120000-sweep-b", saturated())],
        {"run-a": 30, "20260101-120000-sweep-b": 30},
    )
    assert strip.rows() == ["sweep-b · step 20 · Reward accuracy saturated at 1.0"]
    # folded by the user, it stays folded and its one line names the findings
    strip.toggle.click()
    assert not strip.is_open() and "Reward accuracy saturated" in strip.summary.text()
    strip.set_findings(entries, {"run-a": 30})
    assert not strip.is_open()
    # a very long title never widens the window
    long = Finding(SATURATED, 3, "x" * 2000, "y" * 2000, "z" * 2000, "w" * 2000)
    strip.set_findings([FindingEntry("run-a", "run a", long)], {"run-a": 30})
    strip.toggle.click()
    assert strip.minimumSizeHint().width() < 300 and strip.sizeHint().height() < 200


def test_overlaid_runs_are_told_apart_by_short_labels(qtbot):
    assert distinct_run_labels(["20260101-120000-ultrafeedback-b0.1", "ultrafeedback-b0.5"]) == ["b0.1", "b0.5"]
    assert distinct_run_labels(["sweep", "sweep-long"]) == ["sweep", "sweep-long"]  # nothing left to cut
    assert distinct_run_labels(["a-very-long-run-name-indeed"]) == ["a-very-long-r…"]
    create_application()
    charts = ChartPanel()
    qtbot.addWidget(charts)
    charts.set_records("run-1", [record(s) for s in range(1, 31)], "ultrafeedback-b0.1")
    charts.set_records("run-2", [record(s) for s in range(1, 31)], "ultrafeedback-b0.5")
    charts.set_findings("run-2", [saturated()])
    charts.flush()
    label = marker_lines(charts, "Reward accuracy")[0].label
    assert label is not None and label.toPlainText() == "b0.5 · saturated"


def _run_with_records(name: str, steps: int):
    run = create_run(RunConfig(name=name, max_steps=steps))
    for step in range(1, steps + 1):
        run.append_event(
            {
                "type": "log",
                "step": step,
                "epoch": step / steps,
                "max_steps": steps,
                "metrics": {k: v for k, v in record(step, steps).items() if k not in ("step", "epoch")},
            }
        )
    run.update_info(status="finished", step=steps)
    return run


def test_live_finding_events_update_the_strip_and_the_markers(qtbot):
    create_application()
    run = create_run(RunConfig(name="live", max_steps=30))
    pane = MetricsPane()
    qtbot.addWidget(pane)
    pane.on_training_event({"type": "started", "run_id": run.id})
    for step in range(1, 4):
        pane.on_training_event({"type": "log", "step": step, "epoch": step / 30, "metrics": {"loss": 0.7}})
    qtbot.waitUntil(lambda: "too few" in pane.findings_strip.summary.text(), timeout=5_000)
    for step in range(4, 16):
        pane.on_training_event({"type": "log", "step": step, "epoch": step / 30, "metrics": {"loss": 0.7}})
    qtbot.waitUntil(lambda: "nothing alarming" in pane.findings_strip.summary.text(), timeout=5_000)
    pane.on_training_event({"type": FINDING, "step": 12, "finding": displacement().to_dict()})
    qtbot.waitUntil(lambda: len(pane.findings_strip.rows()) == 1, timeout=5_000)
    assert pane.findings_strip.rows()[0].startswith("step 12 · Likelihood displacement")
    assert pane.charts.markers_on("Log-probabilities") == [(run.id, LIKELIHOOD_DISPLACEMENT, 12.0)]
    # the same kind again later: the row and the markers are updated, not duplicated
    update = displacement(step=10, evidence="fresher numbers", last_step=15)
    pane.on_training_event({"type": FINDING, "step": 15, "finding": update.to_dict()})
    qtbot.waitUntil(lambda: pane.findings_strip.rows()[0].startswith("step 10 ·"), timeout=5_000)
    assert len(pane.findings_strip.rows()) == 1 and "fresher numbers" in pane.findings_strip.detail.toPlainText()
    assert pane.charts.markers_on("Log-probabilities") == [(run.id, LIKELIHOOD_DISPLACEMENT, 10.0)]
    pane.on_training_event({"type": FINDING, "step": 20, "finding": saturated().to_dict()})
    qtbot.waitUntil(lambda: len(pane.findings_strip.rows()) == 2, timeout=5_000)
    pane.on_training_event({"type": FINDING, "step": 21, "finding": {"not": "a finding"}})  # ignored, no crash
    # clicking a row highlights its markers
    pane.findings_strip.select(run.id, SATURATED)
    assert pane.charts.highlighted == (run.id, SATURATED)


def test_a_past_run_shows_its_saved_findings_and_loses_them_when_deselected(qtbot):
    create_application()
    with_findings = _run_with_records("with-findings", 30)
    save_findings(with_findings.path, [displacement(), saturated()])
    plain = _run_with_records("plain", 30)
    pane = MetricsPane()
    qtbot.addWidget(pane)
    qtbot.waitUntil(lambda: len(pane.rows) == 2, timeout=10_000)
    pane.select_runs([with_findings.id])
    qtbot.waitUntil(lambda: len(pane.findings_strip.rows()) == 2, timeout=10_000)
    assert pane.findings_strip.rows()[0] == "step 12 · Likelihood displacement: both answers are being pushed down"
    assert pane.charts.drawn_points(with_findings.id, "loss") == 30
    assert pane.charts.markers_on("Reward accuracy") == [(with_findings.id, SATURATED, 20.0)]
    # overlaid with a run that has no findings.json (replayed, or none): rows are prefixed with the run's label
    pane.select_runs([with_findings.id, plain.id])
    qtbot.waitUntil(lambda: pane.charts.drawn_points(plain.id, "loss") == 30, timeout=10_000)
    qtbot.waitUntil(lambda: pane.findings_strip.rows()[0].startswith("with-findings · step 12"), timeout=5_000)
    # the run with findings leaves the charts: so do its markers and its rows
    pane.select_runs([plain.id])
    qtbot.waitUntil(lambda: with_findings.id not in pane.charts.runs(), timeout=5_000)
    qtbot.waitUntil(lambda: not any(r.startswith("with-findings") for r in pane.findings_strip.rows()), timeout=5_000)
    assert not any(
        run_id == with_findings.id for title in pane.charts.plots for run_id, _, _ in pane.charts.markers_on(title)
    )


def test_findings_of_a_past_run_fall_back_to_a_replay_and_never_break_loading(monkeypatch):
    from dpostudio.core.diagnostics import findings as diagnostics

    run = _run_with_records("replayed", 12)
    seen = []

    def fake_diagnose(recs, max_steps=None, **context):
        seen.append((len(recs), max_steps, context))
        return [saturated(step=5)]

    monkeypatch.setattr(diagnostics, "diagnose", fake_diagnose)
    assert [f.kind for f in load_run_findings(run)] == [SATURATED]
    assert seen == [(12, 12, {"reference_free": False, "length_bias": None})]  # a DPO run without length figures
    save_findings(run.path, [displacement()])  # a saved file wins over a replay
    assert [f.kind for f in load_run_findings(run)] == [LIKELIHOOD_DISPLACEMENT] and len(seen) == 1
    (run.path / diagnostics.FINDINGS_FILE).unlink()

    def broken(recs, max_steps=None, **context):
        raise RuntimeError("rules not written yet")

    monkeypatch.setattr(diagnostics, "diagnose", broken)
    assert load_run_findings(run) == []
