"""The per-pair reward explorer: score a run's pairs, read them in a table, fix the data, save a new version.

Pick a run (its final adapter or a checkpoint) and which pairs (evaluation, training or both); "Score pairs" runs
``core.diagnostics.pair_rewards.score_pairs`` in a child process (``ScoreWorker``) with a progress bar and Cancel
(a cancelled scoring shows the pairs scored so far). The table sorts by any column and filters to the pairs that
tell something (the model disagrees with the label, learned nothing, or made the chosen answer less likely) and by
a search text; the selected pair is shown in full below. Swap, Drop and Mark change nothing on disk: they are
pending edits shown in the table, until "Save as new dataset version…" writes them next to the run
(``core.data.versions``, in the app's background process). The saved file can be trained on: ``trainRequested``
carries its path.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, QThread, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from dpostudio.core.data.versions import SPLITS, PairKey
from dpostudio.ui.explorer.detail import PairDetail
from dpostudio.ui.explorer.model import COLUMN, KEY_ROLE, VIEW_SORT, VIEWS, PairFilterProxy, PairTableModel
from dpostudio.ui.explorer.runs import RunPickerMixin, fill_splits
from dpostudio.ui.explorer.saving import VersionSavingMixin
from dpostudio.ui.explorer.worker import PROGRESS, STAGE, ScoreWorker
from dpostudio.ui.tasks import Task, keep_until_finished

if TYPE_CHECKING:
    from dpostudio.core.data.versions import DatasetVersion
    from dpostudio.core.diagnostics.pair_scores import PairScores


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


class ExplorerView(VersionSavingMixin, RunPickerMixin, QWidget):
    """Score a run's pairs, explore them, and save edits as a new dataset version."""

    trainRequested = Signal(str)  # noqa: N815 - Qt naming: the path of a saved dataset version to train on
    message = Signal(str, str)  # level ("info", "warning", "error"), text in words
    scoringFinished = Signal(object)  # noqa: N815 - the PairScores (partial when cancelled), or None on failure
    versionSaved = Signal(object)  # noqa: N815 - the DatasetVersion written

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: ScoreWorker | None = None
        self._save_task: Task | None = None
        self._scores: PairScores | None = None
        self._scores_run: str | None = None
        self._scored_path: str | None = None
        self._last_version: DatasetVersion | None = None
        self.batch_size = 8  # pairs per forward pass in the scoring process
        self._build()
        self.refresh_runs()

    # ---- layout -----------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.run_combo = QComboBox()
        self.run_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.run_combo.setMinimumContentsLength(28)
        self.run_combo.setToolTip("A run with an adapter (finished, or with checkpoints)")
        self.run_combo.currentIndexChanged.connect(self._on_run_changed)
        self.checkpoint_combo = QComboBox()
        self.checkpoint_combo.setToolTip("Score with the final adapter or the adapter saved at a checkpoint")
        self.split_combo = QComboBox()
        self.split_combo.setToolTip("The run's training or evaluation pairs, or one of its extra held-out eval sets")
        fill_splits(self.split_combo, None)
        self.limit_spin = QSpinBox()
        self.limit_spin.setRange(0, 1_000_000)
        self.limit_spin.setSpecialValueText("all")
        self.limit_spin.setSuffix(" pairs")
        self.limit_spin.setToolTip("Score at most this many pairs of each split, from the start (all: every pair)")
        self.score_button = QPushButton("Score pairs")
        self.score_button.setToolTip("Score every pair with the adapter and the base model (in a background process)")
        self.score_button.clicked.connect(self.start_scoring)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("%v/%m pairs")
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        top = QHBoxLayout()
        for label, widget, stretch in (
            ("Run", self.run_combo, 3),
            ("Adapter", self.checkpoint_combo, 1),
            ("Pairs", self.split_combo, 1),
            ("At most", self.limit_spin, 0),
        ):
            top.addWidget(QLabel(label))
            top.addWidget(widget, stretch)
        top.addWidget(self.score_button)
        top.addWidget(self.cancel_button)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.status_label, 3)

        self.view_combo = QComboBox()
        for key, text in VIEWS.items():
            self.view_combo.addItem(text, key)
        self.view_combo.currentIndexChanged.connect(lambda _i: self.set_view(self.view_combo.currentData()))
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("Search prompts, answers and notes")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.textChanged.connect(self._on_search)
        self.count_label = QLabel()
        filters = QHBoxLayout()
        filters.addWidget(QLabel("Show"))
        filters.addWidget(self.view_combo)
        filters.addWidget(self.search_edit, 1)
        filters.addWidget(self.count_label)

        self.model = PairTableModel(self)
        self.proxy = PairFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(COLUMN["row"], Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        header.setStretchLastSection(False)
        for name, column in COLUMN.items():
            mode = QHeaderView.ResizeMode.Stretch if name == "prompt" else QHeaderView.ResizeMode.ResizeToContents
            header.setSectionResizeMode(column, mode)
        self.table.selectionModel().selectionChanged.connect(self._on_selection)
        self.proxy.rowsInserted.connect(self._update_count)
        self.proxy.rowsRemoved.connect(self._update_count)
        self.proxy.modelReset.connect(self._update_count)
        self.proxy.layoutChanged.connect(self._update_count)
        self.model.dataChanged.connect(self._on_edits_changed)

        self.detail = PairDetail()
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.detail)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setChildrenCollapsible(False)
        splitter.setSizes([440, 300])  # the table gets the larger share
        self.splitter = splitter

        self.swap_button = QPushButton("Swap chosen/rejected")
        self.swap_button.setToolTip("The new version will have these pairs' answers the other way round")
        self.swap_button.clicked.connect(self.swap_selected)
        self.drop_button = QPushButton("Drop")
        self.drop_button.setToolTip("Leave these pairs out of the new version (again: keep them)")
        self.drop_button.clicked.connect(self.drop_selected)
        self.mark_button = QPushButton("Mark…")
        self.mark_button.setToolTip("Keep these pairs, with a note (saved in the new version's file)")
        self.mark_button.clicked.connect(lambda: self.mark_selected())
        self.clear_button = QPushButton("Undo edits")
        self.clear_button.setToolTip("Forget the pending edits of the selected pairs")
        self.clear_button.clicked.connect(self.clear_selected)
        self.edits_label = QLabel()
        self.save_button = QPushButton("Save as new dataset version…")
        self.save_button.setToolTip("Write the run's pairs with these edits next to the run; the source is unchanged")
        self.save_button.clicked.connect(lambda: self.save_version())
        self.train_button = QPushButton("Train on it")
        self.train_button.setToolTip("Open the Training pane with the saved version as the dataset")
        self.train_button.clicked.connect(self._on_train)
        self.saved_label = QLabel()
        self.saved_label.setWordWrap(True)
        self.saved_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        actions = QHBoxLayout()
        for button in (self.swap_button, self.drop_button, self.mark_button, self.clear_button):
            actions.addWidget(button)
        actions.addWidget(self.edits_label, 1)
        actions.addWidget(self.save_button)
        actions.addWidget(self.train_button)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(progress_row)
        layout.addLayout(filters)
        layout.addWidget(splitter, 1)
        layout.addLayout(actions)
        layout.addWidget(self.saved_label)
        self._set_running(False)
        self._update_count()
        self._on_edits_changed()
        self._set_status("Pick a run and press Score pairs.")

    # ---- scoring ----------------------------------------------------------------------------------------
    def is_running(self) -> bool:
        return self._worker is not None

    @Slot()
    def start_scoring(self) -> bool:
        """Score the chosen run's pairs in a child process; False (with the reason shown) if it cannot start."""
        if self.is_running():
            return False
        run = self._run()
        if run is None:
            self._set_status("Pick a run with an adapter first.", error=True)
            return False
        limit = self.limit_spin.value() or None
        kwargs = {
            "run_id": run,
            "split": self.split_combo.currentData(),
            "checkpoint": self.checkpoint_combo.currentData(),
            "limit": limit,
            "batch_size": self.batch_size,
        }
        self._worker = worker = ScoreWorker(kwargs)
        thread = QThread()
        thread.setObjectName("pair-scores")
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.event.connect(self._on_event)
        worker.failed.connect(self._on_failed)
        worker.done.connect(self._on_done)
        keep_until_finished(thread, worker)  # held until the thread has ended, even if this view is closed
        self._thread = thread
        self.progress.setRange(0, 0)
        self._set_status(f"Scoring the {self.split_combo.currentText().lower()} of {run.display_name}…")
        self._set_running(True)
        thread.start()
        return True

    @Slot()
    def cancel(self) -> None:
        if self._worker is not None:
            self._worker.cancel.set()
            self.cancel_button.setEnabled(False)
            self._set_status("Stopping after the current batch…")

    def wait(self, msecs: int = 60_000) -> bool:
        """Wait for the scoring thread to end (tests)."""
        return self._thread.wait(msecs) if self._thread is not None else True

    def _set_running(self, running: bool) -> None:
        self.score_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        for widget in (self.run_combo, self.checkpoint_combo, self.split_combo, self.limit_spin):
            widget.setEnabled(not running)

    @Slot(object)
    def _on_event(self, event: dict) -> None:
        kind = event.get("type")
        if kind == STAGE:
            self._set_status(f"{_sentence(str(event.get('message', '')))}…")
        elif kind == PROGRESS:
            total = max(int(event["total"]), 1)
            self.progress.setRange(0, total)
            self.progress.setValue(int(event["done"]))
            if self.cancel_button.isEnabled():
                self._set_status(f"Scoring pairs: {event['done']} of {event['total']}")

    @Slot(str)
    def _on_failed(self, text: str) -> None:
        self._set_status(f"Scoring failed: {text}", error=True)
        self.message.emit("error", f"Pair scoring failed: {text}")

    @Slot(object)
    def _on_done(self, scores) -> None:
        self._worker = None
        self._set_running(False)
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
        if scores is not None:
            self.set_scores(scores)
        self.scoringFinished.emit(scores)

    def set_scores(self, scores: PairScores) -> None:
        """Show ``scores`` (from the worker, or given directly); edits of pairs still shown are kept when they
        belong to the same run."""
        from dpostudio.core.diagnostics.pair_reports import summarize

        if scores.run_id != self._scores_run:
            self.model.clear_edits()
            self._last_version = None
        self._scores, self._scores_run = scores, scores.run_id
        run = self._run()
        self._scored_path = str(run.path) if run is not None and run.id == scores.run_id else self._scored_path
        self.model.set_scores(scores)
        self.table.resizeColumnsToContents()
        n = len(scores)
        head = f"Run {scores.run_id}, {scores.adapter}, beta {scores.beta:g}: {n} {'pair' if n == 1 else 'pairs'}."
        if scores.cancelled:
            head = f"Stopped early: {head} are the pairs scored before Cancel."
        skipped = (
            f" {scores.skipped} left out: the prompt alone fills max_length (not trained on either)."
            if scores.skipped
            else ""
        )
        held_out = (
            ""
            if self._editable()
            else " These pairs are an extra held-out set: edits make versions of the run's own training and "
            "evaluation pairs, so they are here to look at."
        )
        self._set_status(f"{head} {_sentence(summarize(scores).line())}.{skipped}{held_out}")
        if self.progress.maximum() <= 1:
            self.progress.setRange(0, max(n, 1))
        self.progress.setValue(n)
        self._update_count()
        self._on_edits_changed()

    # ---- filters ----------------------------------------------------------------------------------------
    def set_view(self, view: str) -> None:
        """Show only the pairs of ``view`` (a key of ``model.VIEWS``), sorted to put the telling ones first."""
        self.proxy.set_view(view)
        i = self.view_combo.findData(view)
        if i >= 0 and i != self.view_combo.currentIndex():
            self.view_combo.blockSignals(True)
            self.view_combo.setCurrentIndex(i)
            self.view_combo.blockSignals(False)
        order = VIEW_SORT.get(view)
        if order is not None:
            name, ascending = order
            self.table.sortByColumn(
                COLUMN[name], Qt.SortOrder.AscendingOrder if ascending else Qt.SortOrder.DescendingOrder
            )
        self._update_count()

    @Slot(str)
    def _on_search(self, text: str) -> None:
        self.proxy.set_text(text)
        self._update_count()

    def shown_keys(self) -> list[PairKey]:
        """The pairs the table shows now, top to bottom."""
        return [self.proxy.index(r, 0).data(KEY_ROLE) for r in range(self.proxy.rowCount())]

    @Slot()
    def _update_count(self, *_args) -> None:
        total = self.model.rowCount()
        shown = self.proxy.rowCount()
        self.count_label.setText(f"{shown} of {total} pairs" if total else "no pairs scored")

    # ---- selection and edits ----------------------------------------------------------------------------
    def selected_keys(self) -> list[PairKey]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [self.proxy.index(r, 0).data(KEY_ROLE) for r in rows]

    def select_keys(self, keys: list[PairKey]) -> None:
        """Select the rows of these pairs (those the filter shows)."""
        selection = self.table.selectionModel()
        selection.clearSelection()
        flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
        first: QModelIndex | None = None
        for key in keys:
            row = self.model.row_of(key)
            if row is None:
                continue
            index = self.proxy.mapFromSource(self.model.index(row, 0))
            if index.isValid():
                selection.select(index, flags)
                first = first or index
        if first is not None:
            selection.setCurrentIndex(first, QItemSelectionModel.SelectionFlag.NoUpdate)
            self.table.scrollTo(first)

    def _need_selection(self) -> list[PairKey]:
        keys = self.selected_keys()
        if not keys:
            self._set_status("Select one or more pairs in the table first.", error=True)
        return keys

    @Slot()
    def swap_selected(self) -> None:
        keys = self._need_selection()
        self.model.swap(keys)

    @Slot()
    def drop_selected(self) -> None:
        keys = self._need_selection()
        if keys:
            self.model.drop(keys, not all(self.model.edit_of(k).drop for k in keys))

    def mark_selected(self, note: str | None = None) -> bool:
        """Mark the selected pairs with ``note`` (asked for when None); False when cancelled or nothing selected."""
        keys = self._need_selection()
        if not keys:
            return False
        if note is None:
            current = self.model.edit_of(keys[0]).note or ""
            text, ok = QInputDialog.getText(
                self, "Mark pairs", f"Note for {len(keys)} {'pair' if len(keys) == 1 else 'pairs'}:", text=current
            )
            if not ok:
                return False
            note = text
        self.model.mark(keys, note.strip())
        return True

    @Slot()
    def clear_selected(self) -> None:
        keys = self._need_selection()
        self.model.clear_edits(keys)

    @Slot()
    def _on_selection(self, *_args) -> None:
        keys = self.selected_keys()
        index = self.table.selectionModel().currentIndex()
        key = index.data(KEY_ROLE) if index.isValid() else None
        if key not in keys:
            key = keys[0] if keys else None
        row = self.model.row_of(key) if key is not None else None
        if key is None or row is None:
            self.detail.show_pair(None)
        else:
            self.detail.show_pair(self.model.score_at(row), self.model.edit_of(key))
        has = bool(keys) and self._editable()
        for button in (self.swap_button, self.drop_button, self.mark_button, self.clear_button):
            button.setEnabled(has)

    def _editable(self) -> bool:
        """Whether the pairs shown are the run's own (an extra held-out set's pairs are only looked at)."""
        return self._scores is None or all(score.split in SPLITS for score in self._scores)

    @Slot()
    def _on_edits_changed(self, *_args) -> None:
        edits = self.model.edits()
        counts = [
            (sum(1 for e in edits.values() if e.swap and not e.drop), "swapped"),
            (sum(1 for e in edits.values() if e.drop), "dropped"),
            (sum(1 for e in edits.values() if e.marked and not e.drop), "marked"),
        ]
        parts = [f"{n} {what}" for n, what in counts if n]
        self.edits_label.setText(f"Pending: {', '.join(parts)}" if parts else "No pending edits")
        self.save_button.setEnabled(self._scores is not None and self._save_task is None)
        self.train_button.setEnabled(self._last_version is not None)
        self._on_selection()

    # ---- words ------------------------------------------------------------------------------------------
    def _set_status(self, text: str, error: bool = False) -> None:
        self.status_label.setText(f"<span style='color:#b03a2e'>{escape(text)}</span>" if error else escape(text))
        self.status_label.setToolTip(text)

    def status_text(self) -> str:
        return self.status_label.toolTip()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.cancel()  # the scoring process stops after its current batch; its thread is kept until it ends
        super().closeEvent(event)
