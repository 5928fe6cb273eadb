"""The Loop tab: iterative (self-rewarding) DPO. Set once: the rounds, prompts per round, held-out prompts, K, the
ranker, the judge of the win rates, the starting model; every round trains with the Training form's settings
(as a sweep takes its base settings from there). Start, Stop (at the next step boundary; training keeps a
checkpoint) and Resume (after a Stop or a crash, mid-round). The table is read from the loop folder: round, pairs
made, ties dropped, eval metrics, win rates against the previous round and the base; a round's run opens in
Metrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from dpostudio.core.errors import UserError
from dpostudio.core.loop import LoopSpec, Sampling, loop_table
from dpostudio.core.loop.table import COLUMNS
from dpostudio.ui.generate.pickers import FormError, PromptPicker, RankerPicker, side_by_side
from dpostudio.ui.tasks import describe_error

PERCENT = ("eval_accuracy", "win_vs_previous", "win_vs_base")


def cell_text(key: str, value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.0%}" if key in PERCENT else f"{value:.4g}"
    return str(value)


def read_loop(name: str) -> dict[str, Any]:
    """What the tab shows of one loop, as plain data (off the GUI thread)."""
    from dpostudio.core.loop import open_loop

    loop = open_loop(name)
    data = loop.data()
    spec = data.get("spec") or {}
    done = sum(1 for r in loop.rounds() if r.get("step") == "done")
    status = loop.status()
    words = f"Loop {loop.name}: {status}, {done} of {spec.get('rounds', '?')} rounds done"
    if data.get("message"):
        words += f" ({data['message']})"
    return {"name": loop.name, "path": str(loop.path), "rows": loop_table(loop), "words": words, "status": status}


def loop_names() -> list[str]:
    from dpostudio.core.loop import list_loops

    return [loop.name for loop in list_loops()]


def _spin(low: int, high: int, value: int, special: str | None = None) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setValue(value)
    if special:
        spin.setSpecialValueText(special)
    return spin


class LoopForm(QWidget):
    """A new loop's settings; ``spec(base)`` gives the core's ``LoopSpec`` or raises ``FormError`` in words."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("e.g. self-reward-1")
        self.rounds_spin = _spin(1, 100, 2)
        self.per_round_spin = _spin(1, 100_000, 12)
        self.heldout_spin = _spin(0, 10_000, 10)
        self.k_spin = _spin(2, 64, 4)
        self.max_tokens_spin = _spin(1, 32768, 128)
        self.steps_spin = _spin(0, 1_000_000, 0, "Training form's")
        self.steps_spin.setToolTip("Training steps per round (default: the Training form's max steps)")
        self.eval_combo = QComboBox()
        self.eval_combo.addItem("No win rates", None)
        self.prompts = PromptPicker()
        self.ranker = RankerPicker()
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b3261e;")
        self.error_label.hide()
        try:
            from dpostudio.plugins.manager import get_manager

            for judge in get_manager().judges():
                if "pairwise" in judge.modes:
                    self.eval_combo.addItem(f"Judge: {judge.title}", judge.id)
        except Exception as exc:
            self.ranker.warnings.append(f"Judges could not be listed: {describe_error(exc)}")
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Loop name", self.name_edit)
        form.addRow("Rounds", self.rounds_spin)
        form.addRow("Prompts per round", self.per_round_spin)
        form.addRow("Held-out prompts", self.heldout_spin)
        form.addRow("Answers per prompt (K)", self.k_spin)
        form.addRow("Max new tokens", self.max_tokens_spin)
        form.addRow("Steps per round", self.steps_spin)
        form.addRow("Win rates judged by", self.eval_combo)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addWidget(self.prompts)
        layout.addWidget(self.ranker)
        layout.addWidget(self.error_label)

    def spec(self, base: dict[str, Any]) -> LoopSpec:
        try:
            spec = self._spec(base)
        except UserError as exc:
            self.show_error(str(exc))
            raise FormError(str(exc)) from None
        self.show_error("")
        return spec

    def _spec(self, base: dict[str, Any]) -> LoopSpec:
        from dpostudio.core.loop.loop_spec import NAME

        name = self.name_edit.text().strip()
        if not NAME.match(name):
            raise FormError(
                "Loop name: "
                + ("give the loop a name" if not name else f"{name!r} is not usable")
                + " (letters, digits, '-', '_' or '.', up to 64 characters)"
            )
        run_config = {k: v for k, v in base.items() if k not in ("dataset", "init_adapter", "name")}
        if self.steps_spin.value():
            run_config["max_steps"] = self.steps_spin.value()
        sampling = Sampling(k=self.k_spin.value(), max_new_tokens=self.max_tokens_spin.value())
        return LoopSpec(
            name=name,
            rounds=self.rounds_spin.value(),
            prompts=self.prompts.source(),
            prompts_per_round=self.per_round_spin.value(),
            heldout=self.heldout_spin.value(),
            sampling=sampling,
            ranker=self.ranker.settings(),
            run_config=run_config,
            eval_judge=self.eval_combo.currentData(),
            eval_max_new_tokens=self.max_tokens_spin.value(),
        )

    def show_error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.setVisible(bool(text))


class LoopTable(QTableWidget):
    """The loop's rows (``core.loop.table``), round 0 first."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(0, len(COLUMNS), parent)
        self.setObjectName("LoopTable")
        self.setHorizontalHeaderLabels([title for _, title in COLUMNS])
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.verticalHeader().hide()
        self.setAlternatingRowColors(True)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.horizontalHeader().setStretchLastSection(True)
        self.rows: list[dict] = []

    def set_rows(self, rows: list[dict]) -> None:
        self.rows = list(rows)
        self.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, (key, _) in enumerate(COLUMNS):
                item = QTableWidgetItem(cell_text(key, row.get(key)))
                if not isinstance(row.get(key), str):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.setItem(r, c, item)

    def selected_run(self) -> str | None:
        row = self.currentRow()
        if not 0 <= row < len(self.rows):
            return None
        run = self.rows[row].get("run_id")
        return run if row > 0 and run else None


class LoopView(QWidget):
    """The Loop tab (see the module's doc); the pane gives it the shared job controller and the base provider."""

    message = Signal(str, str)
    runRequested = Signal(str)  # a round's run id, to open in Metrics
    startRequested = Signal(str, dict)  # loop folder, secrets: the pane starts the child
    stopRequested = Signal()
    tableShown = Signal(str)  # the loop whose table was just shown (tests, screenshots)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.base_provider: Callable[[], dict[str, Any]] | None = None
        self.running = False
        self.loop_list = QListWidget()
        self.loop_list.setMaximumHeight(110)
        self.loop_list.currentItemChanged.connect(lambda *_: self.reload())
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Go on with the selected loop where it stopped (also mid-round)")
        self.resume_button.clicked.connect(self.resume)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(lambda: self.refresh())
        self.form = LoopForm()
        self.start_button = QPushButton("Start new loop")
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop at the next step boundary (training keeps a checkpoint); Resume goes on")
        self.stop_button.clicked.connect(self.stopRequested)
        self.status_label = QLabel("No loop selected.")
        self.status_label.setWordWrap(True)
        self.table = LoopTable()
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.metrics_button = QPushButton("Open round's run in Metrics")
        self.metrics_button.clicked.connect(self._open_run)
        self.table.itemDoubleClicked.connect(lambda *_: self._open_run())

        saved = QGroupBox("Loops")
        saved_layout = QVBoxLayout(saved)
        saved_layout.addWidget(self.loop_list)
        row = QHBoxLayout()
        row.addWidget(self.resume_button)
        row.addStretch(1)
        row.addWidget(self.refresh_button)
        saved_layout.addLayout(row)
        new = QGroupBox("New loop (each round trains with the Training form's settings)")
        new_layout = QVBoxLayout(new)
        new_layout.addWidget(self.form)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        new_layout.addLayout(buttons)
        self.left = QWidget()
        left_layout = QVBoxLayout(self.left)
        left_layout.addWidget(saved)
        left_layout.addWidget(new)
        left_layout.addStretch(1)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.addWidget(self.status_label)
        right_layout.addWidget(self.table, 1)
        tools = QHBoxLayout()
        tools.addStretch(1)
        tools.addWidget(self.metrics_button)
        right_layout.addLayout(tools)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(side_by_side(self.left, right))
        self._update_buttons()

    # ---- listing -------------------------------------------------------------------------------------
    def selected_loop(self) -> str | None:
        item = self.loop_list.currentItem()
        return item.text() if item is not None else None

    def refresh(self, select: str | None = None) -> None:
        from dpostudio.ui.tasks import run_task

        keep = select or self.selected_loop()
        run_task(self, loop_names, on_result=lambda names: self._show_loops(names, keep), on_error=self._error)

    def _show_loops(self, names: list[str], keep: str | None) -> None:
        self.loop_list.blockSignals(True)
        self.loop_list.clear()
        for name in names:
            QListWidgetItem(name, self.loop_list)
        found = self.loop_list.findItems(keep, Qt.MatchFlag.MatchExactly) if keep else []
        if found:
            self.loop_list.setCurrentItem(found[0])
        elif names:
            self.loop_list.setCurrentRow(len(names) - 1)
        self.loop_list.blockSignals(False)
        self.reload()

    def reload(self) -> None:
        from dpostudio.ui.tasks import run_task

        name = self.selected_loop()
        if name is None:
            self.table.set_rows([])
            self.status_label.setText("No loops yet: set one up on the left and press Start.")
            self._update_buttons()
            return
        run_task(self, read_loop, name, on_result=self._show_loop, on_error=self._error)

    def _show_loop(self, snap: dict[str, Any]) -> None:
        if snap["name"] != self.selected_loop():
            return
        self.snapshot = snap
        self.table.set_rows(snap["rows"])
        if not self.running:
            self.status_label.setText(snap["words"])
        self._update_buttons()
        self.tableShown.emit(snap["name"])

    def _error(self, text: str, _tb: str = "") -> None:
        self.message.emit("error", text)

    # ---- running ---------------------------------------------------------------------------------------
    def start(self) -> None:
        from dpostudio.ui.tasks import run_task

        if self.running:
            return
        try:
            base = self.base_provider() if self.base_provider else {}
        except UserError as exc:
            self.form.show_error(f"The Training form has a problem: {exc}")
            self.message.emit("warning", f"Loop not started: the Training form has a problem: {exc}")
            return
        try:
            spec = self.form.spec(base)
        except FormError as exc:
            self.message.emit("warning", f"Loop not started: {exc}")
            return
        secrets = {"ranker": dict(spec.ranker.options)}
        self.start_button.setEnabled(False)
        self.status_label.setText(f"Loop {spec.name}: reading the prompts…")
        run_task(self, _create, spec, on_result=lambda path: self._created(path, secrets), on_error=self._not_created)

    def _created(self, path: str, secrets: dict) -> None:
        from pathlib import Path

        self.startRequested.emit(path, secrets)
        self.refresh(select=Path(path).name)

    def _not_created(self, text: str, _tb: str = "") -> None:
        self.form.show_error(text)
        self.message.emit("warning", f"Loop not started: {text}")
        self._update_buttons()

    def resume(self) -> None:
        name = self.selected_loop()
        snap = getattr(self, "snapshot", None)
        if name is not None and not self.running and snap and snap["name"] == name:
            self.startRequested.emit(snap["path"], {})

    def set_running(self, running: bool) -> None:
        self.running = running
        self._update_buttons()

    def _update_buttons(self) -> None:
        self.start_button.setEnabled(not self.running)
        self.stop_button.setEnabled(self.running)
        self.resume_button.setEnabled(not self.running and self.selected_loop() is not None)
        self.metrics_button.setEnabled(self.table.selected_run() is not None)

    def _open_run(self) -> None:
        run = self.table.selected_run()
        if run:
            self.runRequested.emit(run)


def _create(spec: LoopSpec) -> str:
    from dpostudio.core.loop import create_loop

    return str(create_loop(spec).path)
