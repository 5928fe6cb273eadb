"""Overlaid runs in the Metrics pane: one colour per run, one line style per series, a legend row outside the plots,
short editable run names, a tidy CSV of every selected run, print-resolution chart exports, live step counts."""

from __future__ import annotations

import csv
import os
import time

from metric_streams import run_stream
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage

from dpostudio.core.training.run_config import RunConfig
from dpostudio.core.training.runs import create_run, get_run
from dpostudio.ui.app import create_application
from dpostudio.ui.metrics import pane as pane_module
from dpostudio.ui.metrics.pane import MetricsPane


def _run(name: str, steps: int = 40, seed: int = 0, **shape):
    run = create_run(RunConfig(name=name, max_steps=steps))
    for record in run_stream(steps, seed=seed, eval_every=10, **shape):
        metrics = {k: v for k, v in record.items() if k not in ("step", "epoch")}
        kind = "eval" if any(k.startswith("eval_") for k in metrics) else "log"
        run.append_event({"type": kind, "step": record["step"], "epoch": record["epoch"], "max_steps": steps,
                          "metrics": metrics})
    run.update_info(status="finished", step=steps, final_eval={"eval_loss": 0.55, "eval_rewards/accuracies": 0.7})
    time.sleep(0.01)  # distinct creation times: a stable order in the run list
    return run


def _pane_with_two_runs(qtbot):
    create_application()
    first = _run("ultrafeedback-beta0.1", seed=1)
    second = _run("ultrafeedback-beta0.5", seed=2, margin=lambda q: 2 * q)
    pane = MetricsPane()
    qtbot.addWidget(pane)
    pane.resize(1400, 900)
    pane.show()
    qtbot.waitExposed(pane)
    qtbot.waitUntil(lambda: len(pane.rows) == 2, timeout=10_000)
    pane.select_runs([first.id, second.id])
    qtbot.waitUntil(lambda: pane.charts.drawn_points(first.id, "loss") == 40
                    and pane.charts.drawn_points(second.id, "loss") == 40, timeout=10_000)
    return pane, first, second


def _pen(pane, run_id, metric):
    return pane.charts.items[(run_id, metric)].opts["pen"]


def test_two_runs_get_two_colours_each_series_its_line_style_and_a_legend_row_outside_the_plots(qtbot):
    pane, first, second = _pane_with_two_runs(qtbot)
    charts = pane.charts
    colour = {run.id: _pen(pane, run.id, "loss").color().name() for run in (first, second)}
    assert colour[first.id] != colour[second.id]
    for run in (first, second):  # one colour per run: chosen and rejected, train and eval, every chart
        for metric in ("rewards/chosen", "rewards/rejected", "eval_loss", "rewards/margins", "grad_norm"):
            assert _pen(pane, run.id, metric).color().name() == colour[run.id], metric
    styles = {m: _pen(pane, first.id, m).style() for m in ("rewards/chosen", "rewards/rejected", "eval_loss")}
    assert styles == {"rewards/chosen": Qt.PenStyle.SolidLine, "rewards/rejected": Qt.PenStyle.DashLine,
                      "eval_loss": Qt.PenStyle.DotLine}
    assert _pen(pane, second.id, "rewards/rejected").style() == Qt.PenStyle.DashLine  # the same for every run
    # one legend row: the runs by their short names (no timestamped ids), then the key of the line styles
    labels = charts.legend.labels()
    assert set(labels[:2]) == {"ultrafeedback-beta0.1", "ultrafeedback-beta0.5"}
    assert {"value · chosen", "rejected", "eval"} <= set(labels[2:])
    assert not any(first.id in label or second.id in label for label in labels)
    legend_rect = charts.legend.legend.sceneBoundingRect()
    assert legend_rect.width() > 0
    for title, plot in charts.plots.items():
        assert not legend_rect.intersects(plot.vb.sceneBoundingRect()), title  # never over the data
        assert not plot.legend  # and no legend inside any plot
    assert legend_rect.right() <= charts.layout_widget.width()  # not clipped


def test_the_hover_readout_is_compact_and_never_widens_the_window(qtbot):
    pane, first, _second = _pane_with_two_runs(qtbot)
    before = pane.minimumSizeHint().width()
    pane.readout.setText("Loss · step 12 │ " + " │ ".join(f"run-{i}: loss 0.5, eval loss 0.5" for i in range(60)))
    assert pane.minimumSizeHint().width() == before
    assert pane.readout.elided().endswith("…") and len(pane.readout.elided()) < len(pane.readout.text())
    # what the charts say under the mouse: the chart, the step, each run by its short name
    plot = pane.charts.plots["Loss"]
    pane.charts._on_mouse((plot.vb.mapViewToScene(plot.vb.viewRect().center()),))
    text = pane.readout.text()
    assert text.startswith("Loss · step ") and "ultrafeedback-beta0.1: loss " in text and first.id not in text


def test_csv_export_writes_every_selected_run_with_a_run_column_and_says_so(qtbot, tmp_path, monkeypatch):
    pane, first, second = _pane_with_two_runs(qtbot)
    messages = []
    pane.message.connect(lambda level, text: messages.append((level, text)))
    target = tmp_path / "sweep.csv"
    asked = []

    def fake_save_file(parent, title, kind, name, name_filter=""):
        asked.append((kind, name))
        return str(target)

    monkeypatch.setattr(pane_module, "save_file", fake_save_file)  # the dialog of file_dialogs (Documents, last folder)
    pane._export_csv_clicked()
    assert asked == [("metrics", "2-runs-metrics.csv")]
    with open(target, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[:4] == ["run", "run_name", "step", "epoch"] and "loss" in rows[0] and "eval_loss" in rows[0]
    per_run = {run.id: [r for r in rows if r["run"] == run.id] for run in (first, second)}
    assert len(per_run[first.id]) == len(per_run[second.id]) == 44  # 40 logs and 4 evals each
    assert {r["run_name"] for r in per_run[second.id]} == {"ultrafeedback-beta0.5"}
    assert messages[-1] == ("info", f"saved 88 rows from 2 runs to {target}")


def test_renaming_a_run_persists_and_shows_in_the_list_and_the_legend(qtbot):
    pane, first, second = _pane_with_two_runs(qtbot)
    item = pane.item_of(first.id)
    item.setText(0, "  β 0.1  ")  # as the editor started by a double-click on the name writes it
    assert get_run(first.id).display_name == "β 0.1"  # kept in the run folder
    assert pane.item_of(first.id).text(0) == "β 0.1" and pane.row(first.id)["name"] == "β 0.1"
    qtbot.waitUntil(lambda: "β 0.1" in pane.charts.legend.labels()[:2], timeout=5_000)
    pane.refresh_runs()  # read back from disk
    qtbot.waitUntil(lambda: pane.row(first.id).get("name") == "β 0.1" and pane.item_of(first.id) is not None,
                    timeout=10_000)
    assert pane.item_of(first.id).text(0) == "β 0.1"
    assert set(pane.charts.legend.labels()[:2]) == {"β 0.1", "ultrafeedback-beta0.5"}


def test_the_run_list_step_count_follows_live_events(qtbot):
    create_application()
    run = create_run(RunConfig(name="live", max_steps=12))
    pane = MetricsPane()
    qtbot.addWidget(pane)
    pane.on_training_event({"type": "started", "run_id": run.id})
    qtbot.waitUntil(lambda: pane.item_of(run.id) is not None, timeout=10_000)
    assert pane.item_of(run.id).text(7) == "0/12"
    for step in range(1, 6):
        pane.on_training_event({"type": "log", "step": step, "epoch": step / 12, "max_steps": 12,
                                "metrics": {"loss": 0.7 - step / 100}})
    assert pane.item_of(run.id).text(7) == "5/12" and pane.item_of(run.id).text(1) == "running"
    qtbot.waitUntil(lambda: pane.charts.drawn_points(run.id, "loss") == 5, timeout=5_000)
    pane.on_training_event({"type": "eval", "step": 5, "metrics": {"eval_loss": 0.6}})
    assert pane.item_of(run.id).text(7) == "5/12"
    assert pane.charts.legend.labels()[0] == "live"  # the live run is named as in the list, not by its folder


def test_chart_export_is_print_resolution_png_and_svg_without_the_screen_clutter(qtbot, tmp_path):
    pane, first, _second = _pane_with_two_runs(qtbot)
    screen = pane.charts.layout_widget.grab().toImage()
    png, svg = tmp_path / "charts.png", tmp_path / "charts.svg"
    assert pane.export_charts(str(png))
    image = QImage(str(png))
    assert image.width() > 2 * screen.width() and image.height() > 2 * screen.height()
    assert image.pixelColor(5, 5) == QColor("#ffffff")  # a light page whatever the app's theme
    two = tmp_path / "two.png"
    assert pane.export_charts(str(two), ["Loss", "Reward margin"])
    assert QImage(str(two)).width() < image.width()  # only the charts picked
    assert pane.export_charts(str(svg), ["Loss", "Rewards: chosen vs rejected"])
    text = svg.read_text(encoding="utf-8")
    assert text.lstrip().startswith("<?xml") and "<svg" in text and "ultrafeedback-beta0.1" in text
    shots = os.environ.get("DPOSTUDIO_SCREENSHOT_DIR")
    if shots:  # docs/screenshots/metrics.png and metrics-dark.png are made with this
        _screenshots(pane, qtbot, shots)


def _screenshots(pane, qtbot, folder):
    from PySide6.QtWidgets import QApplication

    from dpostudio.ui.app import apply_color_scheme

    app = QApplication.instance()
    pane.resize(1400, 900)
    pane.select_runs(pane.selected_run_ids())
    pane.charts.flush()
    qtbot.wait(200)
    pane.grab().save(os.path.join(folder, "metrics.png"))
    old = os.environ.get("DPOSTUDIO_THEME")
    os.environ["DPOSTUDIO_THEME"] = "dark"
    try:
        apply_color_scheme(app)
        qtbot.wait(300)
        pane.charts.flush()
        pane.grab().save(os.path.join(folder, "metrics-dark.png"))
    finally:
        os.environ.pop("DPOSTUDIO_THEME") if old is None else os.environ.__setitem__("DPOSTUDIO_THEME", old)
        apply_color_scheme(app)


def test_a_stopped_run_reads_in_words_not_as_a_command(fake_run):
    from dpostudio.core.training.event_types import CANCELLED
    from dpostudio.ui.metrics.run_rows import load_run_rows

    fake_run.update_info(status=CANCELLED, step=2, message=f"stopped at step 2; resume with: dpostudio train --resume {fake_run.id}")
    row = next(r for r in load_run_rows() if r["id"] == fake_run.id)
    expected = ("Stopped at step 2 — Resume continues from the checkpoint" if row["resumable"]
                else "Stopped at step 2, before a checkpoint was saved; Train starts a new run")
    assert row["message"] == expected and "--resume" not in row["message"]


def test_a_stopped_run_shows_its_latest_evaluation(fake_run):
    from dpostudio.core.training.event_types import CANCELLED
    from dpostudio.ui.metrics.run_rows import load_run_rows

    fake_run.update_info(status=CANCELLED, step=20, final_eval=None, message="stopped at step 20")
    for step, loss, acc in ((10, 0.65, 0.6), (20, 0.61, 0.75)):
        metrics = {"eval_loss": loss, "eval_rewards/accuracies": acc, "eval_styled_loss": loss + 0.1}
        fake_run.append_event({"type": "eval", "step": step, "epoch": 0.1, "metrics": metrics})
    row = next(r for r in load_run_rows() if r["id"] == fake_run.id)
    assert (row["eval_loss"], row["eval_acc"]) == (0.61, 0.75)
    assert row["extra_evals"]["styled"][0] == 0.71
