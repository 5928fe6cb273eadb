"""Chart buffers and redraw policy, and the metrics pane reading past runs from disk (no training needed)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from dpostudio.core.training.run_config import RunConfig
from dpostudio.core.training.runs import create_run
from dpostudio.ui.app import create_application
from dpostudio.ui.metrics.charts import ChartPanel, SeriesBuffer, ema
from dpostudio.ui.metrics.pane import MetricsPane, write_metrics_csv


def test_series_buffer_grows_merges_and_rewinds():
    buf = SeriesBuffer()
    for step in range(1, 201):
        buf.append(step, step / 100, float(step))
    assert buf.n == 200 and len(buf.step) >= 200
    buf.append(150, 1.5, -1.0)  # a resume from step 149 rewrote history
    assert buf.n == 150 and buf.y()[-1] == -1.0
    buf.merge(10.5, None, 7.0)
    assert buf.n == 151 and list(buf.x("step")[9:12]) == [10, 10.5, 11]
    buf.merge(10.5, None, 8.0)  # same step: replaced, not duplicated
    assert buf.n == 151 and buf.y()[10] == 8.0


def test_ema_smooths_and_keeps_length():
    values = np.array([1.0, 0.0, 1.0, 0.0, 1.0])
    smooth = ema(values, 0.6)
    assert len(smooth) == 5 and smooth[0] == pytest.approx(1.0)
    assert np.ptp(smooth[1:]) < np.ptp(values)
    assert ema(values, 0.0) is values


def test_charts_redraw_on_a_timer_not_per_point(qtbot):
    create_application()
    charts = ChartPanel()
    qtbot.addWidget(charts)
    for step in range(1, 501):
        charts.add_record("run-a", {"step": step, "epoch": step / 500, "loss": 1 / step, "rewards/margins": step / 100,
                                    "eval_loss": None, "not_a_chart_metric": 3})
    assert charts.drawn_points("run-a", "loss") == 0  # nothing drawn per point: the timer draws
    qtbot.waitUntil(lambda: charts.drawn_points("run-a", "loss") == 500, timeout=2_000)
    item = charts.items[("run-a", "loss")]
    redraws = []
    item.sigPlotChanged.connect(lambda *_: redraws.append(1))  # each setData redraws the item
    for step in range(501, 601):
        charts.add_record("run-a", {"step": step, "epoch": step / 600, "loss": 1 / step})
    qtbot.waitUntil(lambda: charts.drawn_points("run-a", "loss") == 600, timeout=2_000)
    assert 1 <= len(redraws) <= 2  # 100 new points, one or two timer redraws
    assert item.opts["downsampleMethod"] == "peak" and item.opts["clipToView"]
    # overlaying a second run gives each run its own colour
    charts.add_record("run-b", {"step": 1, "loss": 0.5})
    charts.flush()
    assert charts.items[("run-a", "loss")].opts["pen"].color() != charts.items[("run-b", "loss")].opts["pen"].color()
    charts.set_smoothing(0.9)
    charts.flush()
    assert charts.items[("run-a", "loss")].yData[-1] > 1 / 600  # smoothed curve lags the raw one
    charts.set_x_axis("epoch")
    charts.flush()
    assert charts.items[("run-a", "loss")].xData[-1] == pytest.approx(1.0)
    charts.remove_run("run-b")
    assert ("run-b", "loss") not in charts.items


def _fake_run(name: str, steps: int, crashed: bool = False):
    run = create_run(RunConfig(name=name, max_steps=steps))
    for step in range(1, steps + 1):
        run.append_event({"type": "log", "step": step, "max_steps": steps, "epoch": step / steps,
                          "metrics": {"loss": 0.7 - 0.01 * step, "rewards/accuracies": 0.5 + 0.05 * step}})
    run.append_event({"type": "eval", "step": steps, "epoch": 1.0, "metrics": {"eval_loss": 0.65,
                                                                               "eval_rewards/accuracies": 0.8}})
    if crashed:
        with open(run.metrics_path, "a") as fh:
            fh.write('{"type": "log", "step": 99, "metr')  # cut short by a crash
        run.update_info(status="failed", message="out of memory")
    else:
        run.update_info(status="finished", step=steps, final_eval={"eval_loss": 0.65, "eval_rewards/accuracies": 0.8})
    return run


def test_metrics_pane_lists_runs_and_overlays_their_curves(qtbot, tmp_path):
    create_application()
    good = _fake_run("sweep-a", 5)
    time.sleep(0.01)
    crashed = _fake_run("sweep-b", 3, crashed=True)
    pane = MetricsPane()
    qtbot.addWidget(pane)
    qtbot.waitUntil(lambda: len(pane.rows) == 2, timeout=10_000)
    row = next(r for r in pane.rows if r["id"] == good.id)
    assert row["status"] == "finished" and row["eval_loss"] == 0.65 and row["eval_acc"] == 0.8
    assert pane.table.topLevelItemCount() == 2
    pane.select_runs([good.id, crashed.id])
    qtbot.waitUntil(lambda: pane.charts.drawn_points(good.id, "loss") == 5
                    and pane.charts.drawn_points(crashed.id, "loss") == 3, timeout=10_000)
    assert pane.charts.drawn_points(good.id, "eval_loss") == 1
    out = tmp_path / "m.csv"
    assert write_metrics_csv(good.metrics("log") + good.metrics("eval"), out) == 6
    header = out.read_text().splitlines()[0].split(",")
    assert header[:3] == ["step", "epoch", "loss"] and "eval_loss" in header
    png = tmp_path / "charts.png"
    assert pane.charts.export_png(str(png)) and png.stat().st_size > 1000


def test_live_events_append_and_resume_merges(qtbot):
    create_application()
    run = _fake_run("live", 2)
    pane = MetricsPane()
    qtbot.addWidget(pane)
    pane.on_training_event({"type": "started", "run_id": run.id, "resumed_from_step": 2})
    pane.on_training_event({"type": "log", "step": 3, "epoch": 1.5, "metrics": {"loss": 0.1}})
    qtbot.waitUntil(lambda: pane.charts.drawn_points(run.id, "loss") == 3, timeout=10_000)
    steps, values = pane.charts.series(run.id, "loss")
    assert list(steps) == [1, 2, 3] and values[-1] == pytest.approx(0.1)
    assert json.loads(json.dumps(pane.rows, default=str))  # rows are plain data


def test_the_run_list_shows_a_killed_run_as_interrupted_not_running(qtbot):
    import subprocess
    import sys

    from dpostudio.core.training.event_types import INTERRUPTED, RUNNING

    create_application()
    run = _fake_run("killed", 4)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    run.update_info(status=RUNNING, pid=int(dead.stdout), step=None, started_at=time.time())  # as a kill leaves it
    pane = MetricsPane()
    qtbot.addWidget(pane)
    qtbot.waitUntil(lambda: len(pane.rows) == 1, timeout=10_000)
    row = pane.rows[0]
    assert row["status"] == INTERRUPTED and row["step"] == 4
    assert not row["resumable"] and "no checkpoint" in row["message"]  # it saved none
    item = pane.table.topLevelItem(0)
    assert item.text(1) == INTERRUPTED and item.text(7) == "4/4"
    assert "ended without finishing" in item.toolTip(1)


def test_chart_series_use_the_shared_metric_names():
    from dpostudio.core.training import event_types as names
    from dpostudio.ui.metrics.charts import METRIC_TO_CHART

    for metric in (names.LOSS, names.EVAL_LOSS, names.REWARDS_CHOSEN, names.REWARDS_MARGINS,
                   names.REWARDS_ACCURACIES, names.EVAL_REWARDS_ACCURACIES, names.LOGPS_CHOSEN, names.GRAD_NORM,
                   names.LEARNING_RATE):
        assert metric in METRIC_TO_CHART, metric
    assert names.EVAL_REWARDS_ACCURACIES == "eval_rewards/accuracies" == names.eval_name("rewards/accuracies")


def test_extra_eval_sets_share_the_main_eval_chart_as_their_own_series(qtbot):
    from PySide6.QtCore import Qt

    from dpostudio.ui.metrics.charts import chart_of

    create_application()
    charts = ChartPanel()
    qtbot.addWidget(charts)
    assert chart_of("eval_styled_loss") == chart_of("eval_loss") == "Loss"
    assert chart_of("eval_held_out_rewards/accuracies") == "Reward accuracy"
    assert chart_of("eval_aux_loss") is None and chart_of("eval_styled_runtime") is None  # not a set's charted metric
    charts.add_record("run-a", {"step": 4, "loss": 0.6, "eval_loss": 0.65, "eval_styled_loss": 0.7,
                                "eval_styled_rewards/accuracies": 0.5, "eval_styled_runtime": 1.0})
    charts.flush()
    main, styled = charts.items[("run-a", "eval_loss")], charts.items[("run-a", "eval_styled_loss")]
    assert styled is not main and styled in charts.plots["Loss"].listDataItems()
    assert charts.series("run-a", "eval_styled_loss")[1].tolist() == [0.7]
    assert styled.opts["name"] == "styled eval loss" and main.opts["name"] == "eval loss"
    # the main eval is dotted with dots, an extra set dash-dot-dot with its own symbol (the legend row's key says so)
    assert main.opts["pen"].style() == Qt.PenStyle.DotLine and main.opts["symbol"] == "o"
    assert styled.opts["pen"].style() == Qt.PenStyle.DashDotDotLine and styled.opts["symbol"] == "s"
    assert "styled eval" in charts.legend.labels()
    assert charts.items[("run-a", "eval_styled_rewards/accuracies")].opts["name"] == "styled eval accuracy"
    charts.remove_run("run-a")
    assert not charts.plots["Loss"].listDataItems()
