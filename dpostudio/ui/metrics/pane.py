"""Metrics pane: live curves of the running training and the curves of any past run read back from disk.

The run history lists every run in the data folder with its status, base model, dataset, key hyperparameters
and final eval metrics. Select one run to view it, or several to overlay their curves (how sweeps are compared:
lowest eval loss, highest eval reward accuracy). Live events from the training worker arrive on the GUI thread
and only append to the chart buffers; the charts redraw on their own ~20 Hz timer.

Above the charts, the findings strip lists what the diagnostics found in the runs shown (live ``finding`` events,
or a past run's ``findings.json``, or a replay of its records when it has none), and the charts mark the step
where each finding began.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSlider,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from dpostudio.core.diagnostics.findings import Finding
from dpostudio.core.training.event_types import (
    END_STATES,
    EVAL,
    EVAL_LOSS,
    EVAL_REWARDS_ACCURACIES,
    FINDING,
    INTERRUPTED,
    LOG,
    LOSS,
    REWARDS_ACCURACIES,
    STARTED,
    extra_eval_sets_in,
    is_eval_metric,
)
from dpostudio.core.training.runs import Run
from dpostudio.ui.metrics.charts import ChartPanel
from dpostudio.ui.metrics.findings_strip import FindingEntry, FindingsStrip
from dpostudio.ui.tasks import Task, run_task

COLUMNS = ("Run", "Status", "Model", "Dataset", "β", "LR", "Batch", "Steps", "Eval loss", "Eval acc")


def load_run_rows() -> list[dict[str, Any]]:
    """Summaries of every run for the history table (reads run.json and config.toml; runs off the GUI thread)."""
    from dpostudio.core.training.runs import list_runs

    rows = []
    for run in list_runs():
        info = run.info()
        try:
            config = run.config().to_dict()
        except Exception:  # a run folder whose config cannot be read is still listed
            config = {}
        final_eval = info.get("final_eval") or {}
        status = run.status(info)  # not run.json's word: a run whose process died reads "interrupted"
        resumable = run.resumable(status)
        message, step = info.get("message", ""), info.get("step")
        if status == INTERRUPTED:
            step = next((record["step"] for record in reversed(run.metrics(LOG))), step)  # how far it got
            message = "its training process ended without finishing (killed, crashed or the computer restarted); " + (
                "Resume continues it from its last checkpoint" if resumable else "it saved no checkpoint to resume from"
            )
        rows.append(
            {
                "id": run.id,
                "name": info.get("name") or run.id,
                "status": status,
                "resumable": resumable,
                "model": config.get("model", info.get("model", "")),
                "dataset": config.get("dataset", info.get("dataset", "")),
                "beta": config.get("beta"),
                "learning_rate": config.get("learning_rate"),
                "batch": config.get("per_device_batch_size"),
                "accum": config.get("gradient_accumulation_steps"),
                "step": step,
                "max_steps": config.get("max_steps"),
                "eval_loss": final_eval.get(EVAL_LOSS),
                "eval_acc": final_eval.get(EVAL_REWARDS_ACCURACIES),
                "extra_evals": {  # each extra eval set's final (loss, accuracy)
                    name: (final_eval.get(f"eval_{name}_{LOSS}"), final_eval.get(f"eval_{name}_{REWARDS_ACCURACIES}"))
                    for name in extra_eval_sets_in(final_eval)
                },
                "message": message,
            }
        )
    return rows


def load_run_records(run_id: str) -> list[dict[str, Any]]:
    """A run's log and eval records merged in step order (a crashed run yields up to its last logged step)."""
    from dpostudio.core.training.runs import get_run

    run = get_run(run_id)
    records = run.metrics(LOG) + run.metrics(EVAL)
    return sorted(records, key=lambda r: (r.get("step", 0), any(is_eval_metric(k) for k in r)))


def load_run_findings(run: Run) -> list[Finding]:
    """A run's findings (``Run.findings()``: its ``findings.json``, or a replay of its records); [] on any error, so
    a run whose findings cannot be read still shows its curves."""
    try:
        return run.findings()
    except Exception:
        return []


def load_run_view(run_id: str) -> tuple[list[dict[str, Any]], list[Finding]]:
    """What the charts show of a past run: its records and its findings (runs off the GUI thread)."""
    from dpostudio.core.training.runs import get_run

    records = load_run_records(run_id)
    return records, load_run_findings(get_run(run_id))


def write_metrics_csv(records: list[dict[str, Any]], path: str | Path) -> int:
    """Write records as CSV (step, epoch, then every metric column). Returns the number of rows."""
    keys: list[str] = []
    for record in records:
        keys += [k for k in record if k not in keys and k not in ("step", "epoch")]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["step", "epoch", *keys])
        for record in records:
            writer.writerow([record.get("step"), record.get("epoch"), *(record.get(k, "") for k in keys)])
    return len(records)


def _fmt(value: Any, spec: str = ".4g") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    try:
        return format(value, spec)
    except (TypeError, ValueError):
        return str(value)


class MetricsPane(QWidget):
    message = Signal(str, str)
    runsChanged = Signal(list)  # rows of the run history (for the Comparison pane)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.live_run_id: str | None = None
        self.rows: list[dict[str, Any]] = []
        self._loading: set[str] = set()
        self._refresh_task: Task | None = None
        self._refresh_again = False
        self._select_live = False

        # run history
        self.table = QTreeWidget(self)
        self.table.setObjectName("RunHistory")
        self.table.setHeaderLabels(list(COLUMNS))
        self.table.setRootIsDecorated(False)
        self.table.setAlternatingRowColors(True)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setSortingEnabled(True)
        self.table.setToolTip("Select a run to see its curves; select several (Ctrl/Cmd or Shift) to overlay them.")
        header = self.table.header()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(False)
        self.table.itemSelectionChanged.connect(self._on_selection)

        refresh = QPushButton("Refresh", self)
        refresh.clicked.connect(self.refresh_runs)
        self.export_csv_button = QPushButton("Export CSV…", self)
        self.export_csv_button.setToolTip("Save the selected run's metrics as a CSV file.")
        self.export_csv_button.clicked.connect(self._export_csv_clicked)
        self.export_png_button = QPushButton("Export charts as PNG…", self)
        self.export_png_button.clicked.connect(self._export_png_clicked)
        history_bar = QHBoxLayout()
        self.history_label = QLabel("Runs", self)
        history_bar.addWidget(self.history_label, 1)
        history_bar.addWidget(refresh)
        history_bar.addWidget(self.export_csv_button)
        history_bar.addWidget(self.export_png_button)

        # chart controls
        self.charts = ChartPanel(self)
        self.findings_strip = FindingsStrip(self)
        self.findings_strip.findingSelected.connect(self.charts.highlight_finding)
        self.charts.updated.connect(self._update_findings_strip)
        self.smoothing = QSlider(Qt.Orientation.Horizontal, self)
        self.smoothing.setRange(0, 95)
        self.smoothing.setValue(0)
        self.smoothing.setFixedWidth(140)
        self.smoothing.setToolTip(
            "Exponential moving average of the training curves (evaluation points are not smoothed)."
        )
        self.smoothing_label = QLabel("Smoothing 0.00", self)
        self.smoothing.valueChanged.connect(self._on_smoothing)
        self.x_axis = QComboBox(self)
        self.x_axis.addItems(["step", "epoch"])
        self.x_axis.setToolTip("Horizontal axis of all charts.")
        self.x_axis.currentTextChanged.connect(self.charts.set_x_axis)
        self.log_scale = QCheckBox("Log scale (loss, grad norm)", self)
        self.log_scale.toggled.connect(self.charts.set_log_scale)
        self.readout = QLabel("Hover over a chart to read its values.", self)
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.charts.readout.connect(self.readout.setText)
        controls = QHBoxLayout()
        controls.addWidget(self.smoothing_label)
        controls.addWidget(self.smoothing)
        controls.addSpacing(12)
        controls.addWidget(QLabel("X axis", self))
        controls.addWidget(self.x_axis)
        controls.addSpacing(12)
        controls.addWidget(self.log_scale)
        controls.addStretch(1)

        top = QWidget(self)
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addLayout(history_bar)
        top_layout.addWidget(self.table)
        bottom = QWidget(self)
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        bottom_layout.addLayout(controls)
        bottom_layout.addWidget(self.findings_strip)
        bottom_layout.addWidget(self.charts, 1)
        bottom_layout.addWidget(self.readout)
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(top)
        splitter.addWidget(bottom)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 4)
        splitter.setSizes([170, 600])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)
        QTimer.singleShot(0, self.refresh_runs)

    # ---- run history ------------------------------------------------------------------------------
    @Slot()
    def refresh_runs(self) -> None:
        if self._refresh_task is not None and self._refresh_task.is_running():
            self._refresh_again = True
            return
        self._refresh_task = run_task(
            self,
            load_run_rows,
            on_result=self._fill_table,
            on_error=lambda text, _tb: self.message.emit("error", f"could not list runs: {text}"),
        )

    def _fill_table(self, rows: list[dict[str, Any]]) -> None:
        selected = set(self.selected_run_ids())
        if self._select_live and self.live_run_id:
            selected = {self.live_run_id}
            self._select_live = False
        self.rows = rows
        self.table.blockSignals(True)
        self.table.setSortingEnabled(False)
        self.table.clear()
        for row in rows:
            steps = _fmt(row["step"], "d") if isinstance(row["step"], int) else ""
            if row.get("max_steps"):
                steps = f"{steps or 0}/{row['max_steps']}"
            item = QTreeWidgetItem(
                [
                    row["name"],
                    row["status"],
                    row["model"],
                    row["dataset"],
                    _fmt(row["beta"], "g"),
                    _fmt(row["learning_rate"], ".2g"),
                    f"{row['batch']}×{row['accum']}" if row.get("batch") else "",
                    steps,
                    _fmt(row["eval_loss"]),
                    _fmt(row["eval_acc"], ".3f"),
                ]
            )
            item.setData(0, Qt.ItemDataRole.UserRole, row["id"])
            item.setToolTip(0, row["id"] + (f"\n{row['message']}" if row.get("message") else ""))
            item.setToolTip(1, row.get("message") or row["status"])
            if row.get("extra_evals"):  # the extra eval sets, beside the main split's columns
                tip = "\n".join(
                    [f"eval: loss {_fmt(row['eval_loss'])} · accuracy {_fmt(row['eval_acc'], '.3f')}"]
                    + [
                        f"{name}: loss {_fmt(loss)} · accuracy {_fmt(acc, '.3f')}"
                        for name, (loss, acc) in row["extra_evals"].items()
                    ]
                )
                item.setToolTip(8, tip)
                item.setToolTip(9, tip)
            self.table.addTopLevelItem(item)
            if row["id"] in selected:
                item.setSelected(True)
        self.table.setSortingEnabled(True)
        self.table.blockSignals(False)
        self.history_label.setText(f"Runs ({len(rows)})" if rows else "Runs: none yet. Train one in the Training pane.")
        self.runsChanged.emit(rows)
        if self._refresh_again:
            self._refresh_again = False
            self.refresh_runs()
        else:
            self._sync_charts()

    def selected_run_ids(self) -> list[str]:
        return [item.data(0, Qt.ItemDataRole.UserRole) for item in self.table.selectedItems()]

    def select_runs(self, run_ids: list[str]) -> None:
        wanted = set(run_ids)
        self.table.blockSignals(True)
        for i in range(self.table.topLevelItemCount()):
            item = self.table.topLevelItem(i)
            if item is not None:
                item.setSelected(item.data(0, Qt.ItemDataRole.UserRole) in wanted)
        self.table.blockSignals(False)
        self._sync_charts(extra=run_ids)

    @Slot()
    def _on_selection(self) -> None:
        self._sync_charts()

    def _sync_charts(self, extra: list[str] | None = None) -> None:
        wanted = list(dict.fromkeys(self.selected_run_ids() + list(extra or [])))
        if self.live_run_id and self.live_run_id not in wanted and not self.table.selectedItems():
            wanted.append(self.live_run_id)
        for run_id in self.charts.runs():
            if run_id not in wanted:
                self.charts.remove_run(run_id)
        labels = {row["id"]: row["name"] for row in self.rows}
        for run_id in wanted:
            if run_id not in self.charts.runs() and run_id not in self._loading:
                if run_id == self.live_run_id:
                    self.charts.add_run(run_id, labels.get(run_id))
                    self._load(run_id, labels.get(run_id))  # catch up with what was logged before
                else:
                    self._load(run_id, labels.get(run_id))

    def _load(self, run_id: str, label: str | None) -> None:
        self._loading.add(run_id)

        def done(result):
            records, findings = result
            self._loading.discard(run_id)
            if run_id == self.live_run_id and run_id in self.charts.runs():
                for record in records:  # merge: live points may already be there
                    self.charts.add_record(run_id, record, merge=True)
                self.charts.set_findings(run_id, findings, merge=True)  # live finding events are fresher
                return
            self.charts.set_records(run_id, records, label)
            self.charts.set_findings(run_id, findings)

        def failed(text, _tb):
            self._loading.discard(run_id)
            self.message.emit("error", f"could not read the metrics of run {run_id}: {text}")

        run_task(self, load_run_view, run_id, on_result=done, on_error=failed)

    # ---- live events ------------------------------------------------------------------------------
    @Slot(object)
    def on_training_event(self, event: dict) -> None:
        """Receives the training worker's events (queued to the GUI thread)."""
        kind = event.get("type")
        if kind == STARTED:
            self.live_run_id = run_id = event["run_id"]  # always set on a started event (StartedEvent)
            self.charts.clear()
            self.charts.add_run(run_id)
            if event.get("resumed_from_step"):
                self._load(run_id, None)
            self._select_live = True
            self.refresh_runs()
        elif kind in (LOG, EVAL) and self.live_run_id:
            self.charts.add_record(
                self.live_run_id,
                {"step": event.get("step"), "epoch": event.get("epoch"), **(event.get("metrics") or {})},
            )
        elif kind == FINDING and self.live_run_id:
            data = event.get("finding")
            if isinstance(data, dict):
                try:
                    finding = Finding.from_dict(data)
                except (TypeError, ValueError):
                    return
                self.charts.set_finding(self.live_run_id, finding)  # drawn by the charts' timer, like the points
        elif kind in END_STATES:
            self.refresh_runs()

    # ---- findings ---------------------------------------------------------------------------------
    @Slot()
    def _update_findings_strip(self) -> None:
        """After a chart redraw: the strip lists the findings of the runs now on the charts."""
        charts = self.charts
        short = charts.short_labels()
        entries = [
            FindingEntry(run_id, charts.run_labels.get(run_id, run_id), finding, short[run_id])
            for run_id in charts.runs()
            for finding in charts.findings_of(run_id)
        ]
        self.findings_strip.set_findings(entries, {run_id: charts.logged_steps(run_id) for run_id in charts.runs()})

    # ---- export -----------------------------------------------------------------------------------
    def export_csv(self, run_id: str, path: str) -> int:
        count = write_metrics_csv(load_run_records(run_id), path)
        self.message.emit("info", f"saved {count} metric rows of run {run_id} to {path}")
        return count

    def _export_csv_clicked(self) -> None:
        ids = self.selected_run_ids() or ([self.live_run_id] if self.live_run_id else [])
        if not ids:
            self.message.emit("warning", "select a run to export its metrics")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export metrics as CSV", f"{ids[0]}-metrics.csv", "CSV (*.csv)")
        if path:
            try:
                self.export_csv(ids[0], path)
            except Exception as exc:
                self.message.emit("error", f"could not export the metrics: {exc}")

    def _export_png_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export charts as PNG", "dpostudio-charts.png", "PNG (*.png)")
        if path:
            if self.charts.export_png(path):
                self.message.emit("info", f"saved the charts to {path}")
            else:
                self.message.emit("error", f"could not save the charts to {path}")

    def _on_smoothing(self, value: int) -> None:
        weight = value / 100
        self.smoothing_label.setText(f"Smoothing {weight:.2f}")
        self.charts.set_smoothing(weight)
