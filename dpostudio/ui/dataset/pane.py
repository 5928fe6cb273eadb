"""The Dataset pane: pick preference data, see how DPO Studio reads it, and choose what training will use.

Left: the source (built-in demo, a local file, a Hub id, or any dataset-source plugin), the detected format
and the column mapping (editable), row filters, the train/eval split and the prompt template. Right: the rows
(a lazy table), the selected row's chosen-vs-rejected answers side by side and exactly what the model will see,
the validation report (drop/keep per problem kind) and the length statistics.

All loading (files, the Hub, plugins, tokenizers) runs in background tasks (``ui.tasks.run_task``); the pane
only ever shows the result of the newest request, and a failed load leaves the previous data on screen.
The Qt-free work is done by ``dpostudio.core.data.pipeline`` (the same code as ``dpostudio data inspect``).

This module holds the pane's public interface and wiring (loading, change tracking, showing a report); its
parts are mixins in ``dataset_source_box`` (the Source box), ``data_config_form`` (the other settings and the
widgets <-> config mapping), ``pair_views`` (rows, chosen vs rejected, what the model sees) and
``data_report_views`` (problems and statistics).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from dpostudio.core.data import tokenizer_cache
from dpostudio.core.data.formats import FORMATS
from dpostudio.core.training.run_config import DEFAULT_MODEL, RunConfig
from dpostudio.ui.comparison.judgements_source import MyJudgementsSource
from dpostudio.ui.comparison.widgets import no_wheel_without_focus
from dpostudio.ui.dataset.config_form import (
    _BUILTIN_SOURCES,
    _DETECT,
    _SOURCE_FIELDS,
    DATA_FIELDS,
    DEMO,
    HUB,
    LOCAL_FILE,
    DataConfigFormMixin,
    _default_data_config,
)
from dpostudio.ui.dataset.pair_table import PairTableModel
from dpostudio.ui.dataset.pair_views import PairViewsMixin
from dpostudio.ui.dataset.report_views import DataReportViewsMixin, ProblemTableModel, _esc
from dpostudio.ui.dataset.source_box import DatasetSourceBoxMixin
from dpostudio.ui.tasks import Task, run_task

# Also importable from here, as before the pane was split into modules.
__all__ = ["DATA_FIELDS", "DEMO", "HUB", "LOCAL_FILE", "DatasetPane", "PairTableModel", "ProblemTableModel"]


# ---- the pane ---------------------------------------------------------------------------------------------


class DatasetPane(DatasetSourceBoxMixin, DataConfigFormMixin, PairViewsMixin, DataReportViewsMixin, QWidget):
    """Choose and inspect preference data; owns the RunConfig "Data" group.

    Signals: ``dataConfigChanged(dict)`` whenever a Data field changes; ``message(level, text)`` with level
    "info" / "warning" / "error"; ``dataLoaded(object)`` with the ``DataReport`` after each successful load;
    ``loadFailed(str)`` with the error in words.
    """

    dataConfigChanged = Signal(dict)
    message = Signal(str, str)
    dataLoaded = Signal(object)
    loadFailed = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._updating = False
        self._report = None  # the DataReport on screen
        self._loaded_config: dict | None = None  # the data config that produced it
        self._tokenizer: str | None = None  # spec of the tokenizer the background process holds
        self._preview_request: tuple | None = None
        self._tokenizer_spec: str | None = None
        self._tokenizer_loading: str | None = None  # spec of the tokenizer being loaded
        self._generation = 0
        self._pending = 0  # running load tasks
        self._tokenizer_task: Task | None = None
        self._listing_task: Task | None = None
        self._plugin_sources: dict[str, Any] = {}  # id -> DatasetSource (community plugins)
        self._plugin_heldout: dict[str, bool] = {}  # plugin source id -> it brought its own held-out rows
        self._max_length = RunConfig().max_length
        self._config = _default_data_config()
        self._refresh_timer = QTimer(self, singleShot=True, interval=400)
        self._refresh_timer.timeout.connect(self._auto_refresh)
        self._build()
        no_wheel_without_focus(self)
        self._apply_config_to_widgets(self._config)
        self._on_source_changed()
        QTimer.singleShot(0, self._discover_plugin_sources)

    # ---- public interface ---------------------------------------------------------------------------------

    def data_config(self) -> dict:
        """The RunConfig "Data" fields as currently set in the pane."""
        return dict(self._read_widgets())

    def set_data_config(self, config: dict) -> None:
        """Show these Data fields (unknown keys are ignored; missing ones keep their current value).
        Nothing is loaded until the user presses Load (or ``load()`` is called)."""
        merged = self.data_config()
        merged.update({k: v for k, v in dict(config or {}).items() if k in DATA_FIELDS})
        self._apply_config_to_widgets(merged)
        self._emit_changed()

    def set_model(self, spec: str) -> None:
        """Use this model's tokenizer for token counts and the chat-template preview (loaded in the background
        if a tokenizer was already in use; otherwise when the user asks)."""
        spec = (spec or "").strip()
        if spec == self.model_edit.text().strip():
            return
        self.model_edit.setText(spec)
        if self._tokenizer is not None:
            self.load_tokenizer()

    def set_max_length(self, max_length: int) -> None:
        """The DPO max length (tokens) that truncation checks use."""
        if int(max_length) != self._max_length:
            self._max_length = int(max_length)
            if self._report is not None and self._tokenizer is not None:
                self._schedule_refresh()

    def report(self):
        """The DataReport currently shown (None before the first successful load)."""
        return self._report

    def is_busy(self) -> bool:
        return self._pending > 0 or any(
            t is not None and t.is_running() for t in (self._tokenizer_task, self._listing_task)
        )

    def load(self) -> None:
        """Load (or reload) the data with the current settings, in the background."""
        self._refresh_timer.stop()
        config = self.data_config()
        source_id = self._source_id()
        if source_id == LOCAL_FILE and not config["dataset"]:
            self._show_error("Choose a file first (JSONL, JSON, CSV or Parquet).")
            return
        elif source_id == HUB and not config["dataset"]:
            self._show_error("Enter a Hugging Face dataset id such as Anthropic/hh-rlhf.")
            return
        config["max_length"] = self._max_length
        self._start_inspect(config)

    def use_judgements(self, path: str) -> None:
        """Make a judgement set's pairs file (JSONL) the data, as a local file with mapping, filters and first-N
        reset, and load it."""
        reset = {f"column_{role}": None for role in ("prompt", "chosen", "rejected", "system")}
        self.set_data_config({**reset, "dataset": path, "data_format": "auto", "data_filters": [], "first_n": None})
        self.load()

    def load_tokenizer(self) -> None:
        """Load the tokenizer of the model named in the preview box (background task)."""
        spec = self.model_edit.text().strip() or DEFAULT_MODEL
        self._tokenizer_loading = spec
        self._update_tokenizer_hint()
        self._set_busy(True, "Loading tokenizer…")

        def done(loaded_spec):
            if not shiboken6.isValid(self):
                return
            self._tokenizer, self._tokenizer_spec = loaded_spec, spec
            self._tokenizer_loading = None
            self._update_tokenizer_hint()
            self._set_busy(False)
            self.message.emit("info", f"Loaded the tokenizer of {spec}")
            self._tokenizer_changed()

        def failed(text, _tb):
            if not shiboken6.isValid(self):
                return
            self._tokenizer_loading = None
            self._update_tokenizer_hint()
            self.tokenizer_status.setText(f"Could not load the tokenizer of {spec}: {text}")
            self._set_busy(False)
            self.message.emit("error", f"Could not load the tokenizer of {spec}: {text}")

        # the tokenizer lives in the app's background process; this pane keeps only its spec
        self._tokenizer_task = run_task(
            None, tokenizer_cache.load, spec, on_result=done, on_error=failed, in_child=True
        )

    def _tokenizer_changed(self) -> None:
        """Re-read the loaded data with the new tokenizer (token counts, truncation) and re-render the preview."""
        if self._report is not None:
            self._start_inspect(dict(self._loaded_config, max_length=self._max_length), quiet=True)
        self._update_preview()

    # ---- building the widgets ---------------------------------------------------------------------------

    def _build(self) -> None:
        outer = QHBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        outer.addWidget(splitter)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 6, 0)
        left_layout.addWidget(self._build_source_group())
        self.my_judgements = MyJudgementsSource()  # pairs from the person's verdicts in the Comparison pane
        self.my_judgements.useRequested.connect(self.use_judgements)
        left_layout.addWidget(self.my_judgements)
        left_layout.addWidget(self._build_format_group())
        left_layout.addWidget(self._build_filter_group())
        left_layout.addWidget(self._build_split_group())
        left_layout.addWidget(self._build_template_group())
        left_layout.addStretch(1)
        scroll.setWidget(left)
        # wide enough for the controls' minimum (the horizontal scroll bar is off, so nothing may be clipped)
        scroll.setMinimumWidth(
            max(360, left.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width() + 4)
        )
        splitter.addWidget(scroll)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(6, 0, 0, 0)
        self.summary_label = QLabel("No data loaded yet. Choose a source and press Load.")
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextFormat(Qt.TextFormat.RichText)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        right_layout.addWidget(self.summary_label)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setStyleSheet(
            "QLabel { color: #b00020; background: #fdecea; border: 1px solid #f5c2c0;"
            " border-radius: 4px; padding: 6px; }"
        )
        self.error_label.hide()
        right_layout.addWidget(self.error_label)
        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_rows_tab(), "Rows")
        self.tabs.addTab(self._build_problems_tab(), "Problems")
        self.tabs.addTab(self._build_stats_tab(), "Statistics")
        right_layout.addWidget(self.tabs, 1)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([scroll.minimumWidth(), 900])

    def _on_field_changed(self, *_args) -> None:
        if self._updating:
            return
        new = self._read_widgets()
        if new == self._config:
            return
        self._config = new
        self._update_split_note()
        self._emit_changed()
        if self._report is not None:
            self._update_preview()  # template and system prompt apply at once
        if self._report is not None and self._loaded_config is not None:
            sid = self._source_id()
            # a plugin source is recorded as its plugin: spec, so changed options are a changed source too
            same_source = sid == self._loaded_source and all(
                new[k] == self._loaded_config.get(k) for k in _SOURCE_FIELDS
            )
            if same_source:
                self._schedule_refresh()
            else:
                self.busy_label.setText("The source changed: press Load to read it.")
                self.busy_label.show()

    def _emit_changed(self) -> None:
        self.dataConfigChanged.emit(self.data_config())

    def _schedule_refresh(self) -> None:
        self._refresh_timer.start()

    def _auto_refresh(self) -> None:
        if self._report is None:
            return
        config = dict(self.data_config(), max_length=self._max_length)
        self._start_inspect(config, quiet=True)

    # ---- loading ------------------------------------------------------------------------------------------

    _loaded_source: str | None = None

    def _set_busy(self, busy: bool, text: str = "") -> None:
        self.progress.setVisible(busy or self._pending > 0)
        if busy:
            self.busy_label.setText(text)
            self.busy_label.show()
        elif not self._pending:
            self.busy_label.hide()

    def _start_inspect(self, config: dict, quiet: bool = False) -> None:
        self._generation += 1
        generation = self._generation
        self._pending += 1
        what = config.get("dataset") or "data"
        self._set_busy(True, f"Reading {Path(what).name if Path(what).is_file() else what}…")
        self.load_button.setEnabled(True)
        source_id = self._source_id()

        def done(result):
            if not shiboken6.isValid(self):
                return
            self._pending -= 1
            self._set_busy(False)
            if generation != self._generation:
                return
            report, used = result
            used.pop("max_length", None)
            if source_id not in _BUILTIN_SOURCES:
                self._plugin_heldout[source_id] = report.pairs.eval_from_source
                self._update_split_note()
            self._loaded_source = source_id
            self._show_report(report, used)
            if not quiet:
                self.message.emit("info", f"Loaded {report.source}: {sum(report.rows_used.values())} usable pairs")
            self.dataLoaded.emit(report)

        def failed(text, _tb):
            if not shiboken6.isValid(self):
                return
            self._pending -= 1
            self._set_busy(False)
            if generation != self._generation:
                return
            self._show_error(text)
            self.loadFailed.emit(text)

        # with a tokenizer the work runs where the tokenizer lives (the background process); without one it
        # needs no torch/transformers and runs on a thread here (plugins registered at run time are seen)
        run_task(
            None,
            tokenizer_cache.inspect,
            config,
            self._tokenizer,
            on_result=done,
            on_error=failed,
            in_child=self._tokenizer is not None,
        )

    def _show_error(self, text: str, inline_only: bool = False) -> None:
        kept = " The data shown below is still the previous one." if self._report is not None else ""
        self.error_label.setText(f"Could not use this data: {text}{kept}")
        self.error_label.show()
        if not inline_only:
            self.message.emit("error", text)

    # ---- showing a report ---------------------------------------------------------------------------------

    def _show_report(self, report, used: dict) -> None:
        self._report = report
        self._loaded_config = {k: used.get(k) for k in DATA_FIELDS}
        self.error_label.hide()
        self.busy_label.hide()
        d = report.detection
        how = "forced" if d.forced else "detected"
        self.detected_label.setText(f"<b>{_esc(FORMATS[d.format].split(':')[0])}</b> ({how}: {_esc(d.reason)})")
        self.detected_label.setToolTip(FORMATS[d.format])
        self._updating = True
        try:
            for role, combo in self.column_combos.items():
                current = combo.currentData()
                combo.clear()
                combo.addItem(f"{_DETECT[:-1]}: {d.mapping.get(role) or 'none'})", None)
                for col in report.columns:
                    combo.addItem(col, col)
                if current and combo.findData(current) < 0:
                    combo.addItem(current, current)
                combo.setCurrentIndex(max(0, combo.findData(current)) if current else 0)
            for text in report.suggested_filters:
                self._add_filter(text, False, suggested=True)
            self._update_drop_labels(report.problem_counts)
        finally:
            self._updating = False
        read = sum(report.rows_read.values())
        used_rows = report.rows_used
        self.summary_label.setText(
            f"<b>{_esc(report.source)}</b> — {_esc(FORMATS[d.format].split(':')[0])}; {read} rows read, "
            f"{used_rows['train']} for training, {used_rows['eval']} for evaluation"
            + (f", {len(report.problems)} problems found" if report.problems else ", no problems found")
        )
        self.pair_model.set_report(report)
        self.problem_model.set_report(report)
        self._show_problems(report)
        self._show_stats(report)
        if self.pair_model.rowCount() and not self.table.selectionModel().hasSelection():
            self.table.selectRow(0)
        self._update_preview()
