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

from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
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
    FINDING,
    LOG,
    RUNNING,
    STARTED,
)
from dpostudio.core.training.metrics_export import CsvExport, write_runs_csv
from dpostudio.ui.file_dialogs import save_file
from dpostudio.ui.metrics.chart_export import FORMATS
from dpostudio.ui.metrics.chart_export_dialog import ChartExportDialog
from dpostudio.ui.metrics.charts import CHARTS, ChartPanel
from dpostudio.ui.metrics.findings_strip import FindingEntry, FindingsStrip
from dpostudio.ui.metrics.readout import ElidedLabel
from dpostudio.ui.metrics.run_rows import (
    COLUMNS,
    _file_name,
    _fmt,
    _steps_text,
    load_run_findings,
    load_run_records,
    load_run_rows,
    load_run_view,
    write_metrics_csv,
)
from dpostudio.ui.tasks import Task, run_task

__all__ = [  # the pane, and the loaders it uses (tests and benches import them from here)
    "COLUMNS",
    "MetricsPane",
    "load_run_findings",
    "load_run_records",
    "load_run_rows",
    "load_run_view",
    "write_metrics_csv",
]


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
        self.table.setToolTip(
            "Select a run to see its curves; select several (Ctrl/Cmd or Shift) to overlay them.\n"
            "Double-click a run's name (or F2) to give it a short name for the legend."
        )
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.EditKeyPressed)  # only the name column is editable
        self.table.itemDoubleClicked.connect(self._on_double_click)
        self.table.itemChanged.connect(self._on_item_changed)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        header = self.table.header()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setMaximumSectionSize(320)  # a long model path is elided rather than pushing the table sideways
        header.setStretchLastSection(False)
        self.table.itemSelectionChanged.connect(self._on_selection)

        refresh = QPushButton("Refresh", self)
        refresh.clicked.connect(self.refresh_runs)
        self.export_csv_button = QPushButton("Export CSV…", self)
        self.export_csv_button.setToolTip(
            "Save the metrics of the selected runs as one CSV file, a row per logged step with a run column."
        )
        self.export_csv_button.clicked.connect(self._export_csv_clicked)
        self.export_png_button = QPushButton("Export charts…", self)
        self.export_png_button.setToolTip("Save the charts you pick as PNG at print resolution or as SVG.")
        self.export_png_button.clicked.connect(self._export_png_clicked)
        self.export_titles: list[str] | None = None  # the charts picked in the last export (None: all)
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
        self.readout = ElidedLabel("Hover over a chart to read its values.", self)  # never widens the window
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
        # Tab reads the pane top to bottom: the buttons above the run list, the list, the chart controls
        chain = [refresh, self.export_csv_button, self.export_png_button, self.table, self.smoothing]
        chain += [self.x_axis, self.log_scale, self.findings_strip, self.charts]
        for first, second in zip(chain, chain[1:]):
            QWidget.setTabOrder(first, second)
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
            item = QTreeWidgetItem(
                [
                    row["name"],
                    row["status"],
                    row["model"],
                    row["dataset"],
                    _fmt(row["beta"], "g"),
                    _fmt(row["learning_rate"], ".2g"),
                    f"{row['batch']}×{row['accum']}" if row.get("batch") else "",
                    _steps_text(row),
                    _fmt(row["eval_loss"]),
                    _fmt(row["eval_acc"], ".3f"),
                ]
            )
            item.setData(0, Qt.ItemDataRole.UserRole, row["id"])
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            item.setToolTip(
                0, row["id"] + (f"\n{row['message']}" if row.get("message") else "") + "\nDouble-click to rename."
            )
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
        for run_id in self.charts.runs():  # a run shown before its row was read (the live one) takes its name
            if any(row["id"] == run_id for row in rows):
                self.charts.add_run(run_id, self.row(run_id)["name"])
        self.runsChanged.emit(rows)
        if self._refresh_again:
            self._refresh_again = False
            self.refresh_runs()
        else:
            self._sync_charts()

    def row(self, run_id: str) -> dict[str, Any]:
        return next((row for row in self.rows if row["id"] == run_id), {})

    def item_of(self, run_id: str) -> QTreeWidgetItem | None:
        for i in range(self.table.topLevelItemCount()):
            item = self.table.topLevelItem(i)
            if item is not None and item.data(0, Qt.ItemDataRole.UserRole) == run_id:
                return item
        return None

    def _show_steps(self, run_id: str) -> None:
        """Write a run's step count ("5/12") from its row (kept current by live events) into the run list."""
        row, item = self.row(run_id), self.item_of(run_id)
        if not row or item is None:
            return
        self.table.blockSignals(True)
        item.setText(7, _steps_text(row))
        item.setText(1, row["status"])
        self.table.blockSignals(False)

    # ---- renaming ---------------------------------------------------------------------------------
    def _on_double_click(self, item: QTreeWidgetItem, column: int) -> None:
        if column == 0:
            self.table.editItem(item, 0)

    def _context_menu(self, pos) -> None:
        item = self.table.itemAt(pos)
        if item is None:
            return
        menu = QMenu(self.table)
        menu.addAction("Rename…", lambda: self.table.editItem(item, 0))
        menu.exec(self.table.viewport().mapToGlobal(pos))

    def _on_item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        if column == 0:
            self.rename_run(item.data(0, Qt.ItemDataRole.UserRole), item.text(0))

    def rename_run(self, run_id: str, name: str) -> str:
        """Give a run a short name: saved in its folder (``Run.rename``), shown in the run list and the legend."""
        from dpostudio.core.training.runs import get_run

        old = self.row(run_id).get("name", run_id)
        try:
            shown = get_run(run_id).rename(name)
        except Exception as exc:
            self.message.emit("error", f"could not rename run {run_id}: {exc}")
            shown = old
        row, item = self.row(run_id), self.item_of(run_id)
        if row:
            row["name"] = shown
        if item is not None:
            self.table.blockSignals(True)
            item.setText(0, shown)
            self.table.blockSignals(False)
        if run_id in self.charts.runs():
            self.charts.add_run(run_id, shown)
        if shown != old:
            self.message.emit("info", f"renamed run {run_id} to “{shown}”")
            self.runsChanged.emit(self.rows)
        return shown

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
            self._live_progress(event)
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

    def _live_progress(self, event: dict) -> None:
        """A live log/eval event moves the live run's row on: its step (and length) in the run list, now."""
        row = self.row(self.live_run_id or "")
        step = event.get("step")
        if not row or not isinstance(step, int):
            return
        row["step"] = max(step, row["step"]) if isinstance(row.get("step"), int) else step
        if isinstance(event.get("max_steps"), int) and event["max_steps"] > 0:
            row["max_steps"] = event["max_steps"]
        if row.get("status") not in END_STATES:
            row["status"] = RUNNING
        self._show_steps(row["id"])

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
    def export_csv(self, run_ids: str | list[str], path: str) -> int:
        """Write the runs' metrics to ``path`` as one tidy CSV (a ``run`` column); says what was written.
        Returns the number of rows."""
        from dpostudio.core.training.runs import get_run

        ids = [run_ids] if isinstance(run_ids, str) else list(run_ids)
        done: CsvExport = write_runs_csv([get_run(run_id) for run_id in ids], path)
        self.message.emit("info", done.summary())
        return done.rows

    def _export_csv_clicked(self) -> None:
        ids = self.selected_run_ids() or ([self.live_run_id] if self.live_run_id else [])
        if not ids:
            self.message.emit("warning", "select one or more runs to export their metrics")
            return
        name = (
            f"{self.row(ids[0]).get('name') or ids[0]}-metrics.csv" if len(ids) == 1 else f"{len(ids)}-runs-metrics.csv"
        )
        path = save_file(self, "Export metrics as CSV", "metrics", _file_name(name), "CSV (*.csv)")
        if path:
            try:
                self.export_csv(ids, path)
            except Exception as exc:
                self.message.emit("error", f"could not export the metrics: {exc}")

    def export_charts(self, path: str, titles: list[str] | None = None) -> bool:
        """Save the charts ``titles`` (None: all) as PNG at print resolution, or SVG for a .svg path."""
        if self.charts.export_image(path, titles):
            self.message.emit("info", f"saved {len(titles) if titles else len(CHARTS)} charts to {path}")
            return True
        self.message.emit("error", f"could not save the charts to {path}")
        return False

    def _export_png_clicked(self) -> None:
        dialog = ChartExportDialog([title for title, _ in CHARTS], self.export_titles, self)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        titles, fmt = dialog.chosen(), dialog.file_format()
        self.export_titles = titles
        path = save_file(self, "Export charts", "charts", f"dpostudio-charts.{fmt}", FORMATS[fmt])
        if path:
            self.export_charts(path, titles)

    def _on_smoothing(self, value: int) -> None:
        weight = value / 100
        self.smoothing_label.setText(f"Smoothing {weight:.2f}")
        self.charts.set_smoothing(weight)
