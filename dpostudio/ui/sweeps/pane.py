"""The Sweeps pane: define a sweep (or start from the published one), start, stop and resume it, and read it: a
live top-runs table sortable by either objective, the top runs' curves overlaid in Metrics, parameter importance,
CSV export, and a slice view (the objective against each field) and a contour view (two fields, coloured by the
objective) of the finished trials.

Reads of a sweep (SQLite through Optuna) run on a task thread (``run_task``); the trials run in a child process
(``SweepController``). The pane never blocks the GUI thread on Optuna or on training.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from dpostudio.core.errors import UserError
from dpostudio.ui.file_dialogs import save_file
from dpostudio.ui.sweeps.form import SweepForm
from dpostudio.ui.sweeps.table import ImportanceChart, TopRunsModel
from dpostudio.ui.sweeps.views import ContourView, SliceView, snapshot_views
from dpostudio.ui.sweeps.worker import SWEEP_DONE, SweepController
from dpostudio.ui.tasks import run_task

RANKS = (("value", "objective"), ("eval_loss", "eval loss (lowest first)"), ("eval_accuracy", "eval accuracy"))
REFRESH_MS = 800  # live refresh after a trial event, coalesced


# ---- reads, on a task thread ------------------------------------------------------------------------
def find_sweeps() -> list[str]:
    from dpostudio.core.sweeps import list_sweeps

    return list_sweeps()


def load_snapshot(name: str, by: str) -> dict[str, Any]:
    """Everything the pane shows of sweep ``name``, as plain data."""
    from dpostudio.core.sweeps import open_sweep, report, views

    sweep = open_sweep(name)
    shares, words = report.importance(sweep)
    return {
        "name": name,
        "by": by,
        "spec": sweep.spec.to_dict(),
        "columns": report.columns(sweep),
        "rows": report.top(sweep, by=by),
        "status": report.status(sweep).lines(),
        "importance": shares,
        "importance_words": words,
        "points": views.trial_points(sweep),
    }


def make_sweep(spec) -> str:
    from dpostudio.core.sweeps import create_sweep

    return create_sweep(spec).name


class SweepsPane(QWidget):
    message = Signal(str, str)  # level ("info" | "warning" | "error"), text
    overlayRequested = Signal(list)  # run ids, best first, for the Metrics pane to overlay
    snapshotShown = Signal(str)  # the sweep whose table was just shown (tests, screenshots)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.controller = SweepController(self)
        self.controller.started.connect(self._update_buttons)
        self.controller.event.connect(self._on_event)
        self.controller.finished.connect(self._on_finished)
        self.controller.crashed.connect(lambda text, _tb: self.message.emit("error", f"Sweep crashed: {text}"))
        self.snapshot: dict[str, Any] | None = None
        self._loading: str | None = None
        self._again = False
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(REFRESH_MS)
        self._refresh_timer.timeout.connect(self.reload)

        # ---- left: the sweeps, the form, the buttons -----------------------------------------------
        self.sweep_list = QListWidget()
        self.sweep_list.setMaximumHeight(110)
        self.sweep_list.currentItemChanged.connect(lambda *_: self.reload())
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        self.form = SweepForm()
        self.start_button = QPushButton("Start new sweep")
        self.start_button.setToolTip("Save the sweep the form describes and run its trials")
        self.start_button.clicked.connect(self.start)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Run the selected sweep's remaining trials (after a stop or a crash)")
        self.resume_button.clicked.connect(self.resume)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the running trial at its next step; Resume runs it again")
        self.stop_button.clicked.connect(self.stop)
        self.like_button = QPushButton("Copy to form")
        self.like_button.setToolTip("Fill the form with the selected sweep's settings")
        self.like_button.clicked.connect(self._copy_to_form)

        saved = QGroupBox("Sweeps")
        saved_layout = QVBoxLayout(saved)
        saved_layout.addWidget(self.sweep_list)
        saved_buttons = QHBoxLayout()
        saved_buttons.addWidget(self.resume_button)
        saved_buttons.addWidget(self.like_button)
        saved_buttons.addStretch(1)
        saved_buttons.addWidget(self.refresh_button)
        saved_layout.addLayout(saved_buttons)
        new = QGroupBox("New sweep")
        new_layout = QVBoxLayout(new)
        new_layout.addWidget(self.form)
        run_buttons = QHBoxLayout()
        run_buttons.addWidget(self.start_button)
        run_buttons.addWidget(self.stop_button)
        run_buttons.addStretch(1)
        new_layout.addLayout(run_buttons)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(saved)
        left_layout.addWidget(new)
        left_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(left)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

        # ---- right: status, table, importance --------------------------------------------------------
        self.status_label = QLabel("No sweep selected.")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.live_label = QLabel()
        self.live_label.setWordWrap(True)
        self.rank_combo = QComboBox()
        for key, words in RANKS:
            self.rank_combo.addItem(words, key)
        self.rank_combo.currentIndexChanged.connect(lambda _: self.reload())
        self.overlay_spin = QSpinBox()
        self.overlay_spin.setRange(1, 20)
        self.overlay_spin.setValue(5)
        self.overlay_spin.setPrefix("top ")
        self.overlay_button = QPushButton("Overlay in Metrics")
        self.overlay_button.setToolTip("Show the curves of the top runs of this table together in Metrics")
        self.overlay_button.clicked.connect(self.request_overlay)
        self.csv_button = QPushButton("Export CSV…")
        self.csv_button.clicked.connect(self.export_csv)
        tools = QHBoxLayout()
        tools.addWidget(QLabel("Rank by"))
        tools.addWidget(self.rank_combo)
        tools.addStretch(1)
        tools.addWidget(self.overlay_spin)
        tools.addWidget(self.overlay_button)
        tools.addWidget(self.csv_button)
        self.model = TopRunsModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSortingEnabled(True)
        self.table.horizontalHeader().setSortIndicatorShown(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.table.setAlternatingRowColors(True)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.importance_chart = ImportanceChart()
        self.importance_label = QLabel()
        self.importance_label.setWordWrap(True)
        importance = QGroupBox("Parameter importance")
        importance_layout = QVBoxLayout(importance)
        importance_layout.addWidget(self.importance_chart)
        importance_layout.addWidget(self.importance_label)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.addWidget(self.status_label)
        right_layout.addWidget(self.live_label)
        right_layout.addLayout(tools)
        self.slice_view = SliceView()
        self.contour_view = ContourView()
        self.view_tabs = QTabWidget()
        self.view_tabs.addTab(self.slice_view, "Slice")
        self.view_tabs.addTab(self.contour_view, "Contour")
        below = QSplitter(Qt.Orientation.Horizontal)
        below.addWidget(importance)
        below.addWidget(self.view_tabs)
        below.setStretchFactor(1, 1)
        below.setSizes([300, 700])
        table_and_views = QSplitter(Qt.Orientation.Vertical)
        table_and_views.addWidget(self.table)
        table_and_views.addWidget(below)
        table_and_views.setSizes([260, 440])
        right_layout.addWidget(table_and_views, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(scroll)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([480, 800])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)
        self._update_buttons()

    # ---- listing and reading --------------------------------------------------------------------------
    def is_running(self) -> bool:
        return self.controller.is_running()

    def selected_sweep(self) -> str | None:
        item = self.sweep_list.currentItem()
        return item.text() if item is not None else None

    def refresh(self, select: str | None = None) -> None:
        """List the sweeps again (keeping or making ``select`` the selection) and reload the selected one."""
        keep = select or self.selected_sweep()
        run_task(self, find_sweeps, on_result=lambda names: self._show_sweeps(names, keep), on_error=self._error)

    def _show_sweeps(self, names: list[str], keep: str | None) -> None:
        self.sweep_list.blockSignals(True)
        self.sweep_list.clear()
        for name in names:
            QListWidgetItem(name, self.sweep_list)
        matches = self.sweep_list.findItems(keep, Qt.MatchFlag.MatchExactly) if keep else []
        if matches:
            self.sweep_list.setCurrentItem(matches[0])
        elif names:
            self.sweep_list.setCurrentRow(0)
        self.sweep_list.blockSignals(False)
        self._update_buttons()
        self.reload()

    def reload(self) -> None:
        """Read the selected sweep again (one read at a time; a request meanwhile reads once more after)."""
        name = self.selected_sweep()
        if name is None:
            self.snapshot = None
            self.model.set_rows([], [])
            self.status_label.setText("No sweeps yet: define one on the left and press Start.")
            self._update_buttons()
            return
        if self._loading is not None:
            self._again = True
            return
        self._loading = name
        by = self.rank_combo.currentData()
        run_task(self, load_snapshot, name, by, on_result=self._show_snapshot, on_error=self._load_failed)

    def _show_snapshot(self, snap: dict[str, Any]) -> None:
        self._loading = None
        if self._again:
            self._again = False
            self.reload()
            return
        if snap["name"] != self.selected_sweep():
            return
        self.snapshot = snap
        self.model.set_rows(snap["rows"], snap["columns"])
        self.status_label.setText("\n".join(snap["status"]))
        self.importance_chart.set_shares(snap["importance"])
        self.importance_label.setText(snap["importance_words"])
        self.slice_view.set_data(*snapshot_views(snap))
        self.contour_view.set_data(*snapshot_views(snap))
        self._update_buttons()
        self.snapshotShown.emit(snap["name"])

    def _load_failed(self, text: str, _tb: str = "") -> None:
        self._loading = None
        self._again = False
        self.status_label.setText(text)
        self._error(text)

    def _error(self, text: str, _tb: str = "") -> None:
        self.message.emit("error", text)

    # ---- running ----------------------------------------------------------------------------------
    def start(self) -> None:
        """Save the sweep the form describes and run it."""
        if self.is_running():
            return
        try:
            spec = self.form.spec()
        except UserError as exc:
            self.message.emit("warning", f"Sweep not started: {exc}")
            return
        self.start_button.setEnabled(False)
        run_task(self, make_sweep, spec, on_result=self._run, on_error=self._not_created)

    def _not_created(self, text: str, _tb: str = "") -> None:
        self.form.show_error(text)
        self.message.emit("warning", f"Sweep not started: {text}")
        self._update_buttons()

    def resume(self) -> None:
        name = self.selected_sweep()
        if name is not None and not self.is_running():
            self._run(name)

    def _run(self, name: str) -> None:
        self.controller.start(name)
        self.live_label.setText(f"Sweep {name}: starting…")
        self.message.emit("info", f"Sweep {name} started")
        self.refresh(select=name)

    def stop(self) -> None:
        if self.controller.stop():
            self.live_label.setText("Stopping: the running trial ends at its next step and is queued again…")
            self._update_buttons()

    @Slot(object)
    def _on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        name = self.controller.name or "sweep"
        if kind == "trial":
            params = ", ".join(f"{k}={_short(v)}" for k, v in (event.get("params") or {}).items())
            text = f"Trial {event.get('trial')} {event.get('state')}"
            if event.get("value") is not None:
                text += f", value {event['value']:.4f}"
            if event.get("message"):
                text += f": {event['message']}"
            self.live_label.setText(f"{name}: {text} ({params})" if params else f"{name}: {text}")
            if event.get("state") == "failed":
                self.message.emit("warning", f"Sweep {name}: {text}")
            self._refresh_timer.start()
        elif kind == "note":
            self.message.emit("info", f"Sweep {name}: {event.get('message')}")
        elif kind == "log":
            self.live_label.setText(
                f"{name}: trial {event.get('trial')} at step {event.get('step')}/{event.get('max_steps') or '?'}"
            )
        elif kind in ("eval", "started"):
            self._refresh_timer.start()

    @Slot(object)
    def _on_finished(self, final: dict[str, Any]) -> None:
        name = self.controller.name or "sweep"
        if final.get("type") == SWEEP_DONE:
            self.live_label.setText(f"Sweep {name}: {final.get('message')}")
            self.message.emit("info", f"Sweep {name} ended: {final.get('message')}")
        else:
            self.live_label.setText(f"Sweep {name} failed: {final.get('message')}")
            self.message.emit("error", f"Sweep {name} failed: {final.get('message')}")
        self._update_buttons()
        self.reload()

    def _update_buttons(self) -> None:
        running = self.is_running()
        stopping = running and self.controller.stop_requested()
        self.start_button.setEnabled(not running)
        self.resume_button.setEnabled(not running and self.selected_sweep() is not None)
        self.stop_button.setEnabled(running and not stopping)
        has_rows = bool(self.model.table)
        self.csv_button.setEnabled(has_rows)
        self.overlay_button.setEnabled(bool(self.model.run_ids()))
        self.like_button.setEnabled(self.snapshot is not None)

    # ---- reading out ------------------------------------------------------------------------------
    def request_overlay(self) -> None:
        ids = self.model.run_ids(self.overlay_spin.value())
        if ids:
            self.overlayRequested.emit(ids)

    def export_csv(self, path: str | None = None) -> str:
        """Write every row of the table (in its order) as CSV; returns the path ("" when cancelled)."""
        if self.snapshot is None:
            return ""
        if not path:
            path = save_file(self, "Export sweep as CSV", "sweeps", f"{self.snapshot['name']}.csv", "CSV (*.csv)")
        if not path:
            return ""
        from dpostudio.core.sweeps.report import to_csv

        try:
            to_csv(self.model.table, self.snapshot["columns"], path)
        except OSError as exc:
            self.message.emit("error", f"Could not write {path}: {exc}")
            return ""
        self.message.emit("info", f"Wrote {len(self.model.table)} trials to {path}")
        return path

    def _copy_to_form(self) -> None:
        if self.snapshot is not None:
            self.form.show_spec(self.snapshot["spec"])

    def set_base_provider(self, provider: Callable[[], dict[str, Any]] | None) -> None:
        """Where a new sweep's base configuration comes from (e.g. the Training form); defaults otherwise."""
        self.form.base_provider = provider

    def shutdown(self, msecs: int = 30_000) -> bool:
        """Stop a running sweep and wait for it (window close); True when nothing runs any more."""
        self.controller.stop()
        return self.controller.wait(msecs)


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
