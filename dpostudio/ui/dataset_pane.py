"""The Dataset pane: pick preference data, see how DPO Studio reads it, and choose what training will use.

Left: the source (built-in demo, a local file, a Hub id, or any dataset-source plugin), the detected format
and the column mapping (editable), row filters, the train/eval split and the prompt template. Right: the rows
(a lazy table), the selected row's chosen-vs-rejected answers side by side and exactly what the model will see,
the validation report (drop/keep per problem kind) and the length statistics.

All loading (files, the Hub, plugins, tokenizers) runs in background tasks (``ui.tasks.run_task``); the pane
only ever shows the result of the newest request, and a failed load leaves the previous data on screen.
The Qt-free work is done by ``dpostudio.core.preference_data`` (the same code as ``dpostudio data inspect``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QFrame, QGridLayout,
    QGroupBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QListWidget, QListWidgetItem, QPlainTextEdit,
    QProgressBar, QPushButton, QScrollArea, QSizePolicy, QSpinBox, QSplitter, QTableView, QTableWidget,
    QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget,
)

from ..core.pair_formats import FORMATS
from ..core.pair_problems import PROBLEM_KINDS, UNUSABLE
from ..core.pair_sources import BUILTIN_DEMO
from ..core.pair_stats import PERCENTILES
from ..core.pair_templates import flatten_prompt
from ..core.run_config import DEFAULT_MODEL, RunConfig
from .tasks import run_task

#: The RunConfig fields this pane owns (the "Data" group), in declaration order.
DATA_FIELDS = [f.name for f in RunConfig.field_specs() if f.metadata.get("group") == "Data"]
_HELP = {f.name: f.metadata.get("help", "") for f in RunConfig.field_specs()}
_SOURCE_FIELDS = ("dataset", "dataset_config", "dataset_split")  # changing these needs "Load"

DEMO, LOCAL_FILE, HUB = "demo", "local-file", "hub"
_BUILTIN_SOURCES = {
    DEMO: ("Demo pairs (built in)", "A few hundred preference pairs shipped with DPO Studio, for trying things out."),
    LOCAL_FILE: ("Local file", "A JSONL, JSON, CSV or Parquet file with prompt, chosen and rejected columns "
                               "(or any of the recognised layouts)."),
    HUB: ("Hugging Face Hub", "A dataset id such as Anthropic/hh-rlhf or Intel/orca_dpo_pairs, read through the "
                              "datasets cache (works offline once downloaded)."),
}
_TEMPLATES = [("chat", "Model's chat template"), ("alpaca", "Alpaca (### Instruction / ### Response)"),
              ("none", "None (raw text)")]
_ROLES = ("prompt", "chosen", "rejected", "system")
_DETECT = "(detect)"
_FILE_FILTER = "Preference data (*.jsonl *.json *.csv *.parquet *.jsonl.gz *.json.gz);;All files (*)"


def _default_data_config() -> dict:
    defaults = RunConfig().to_dict()
    return {k: defaults[k] for k in DATA_FIELDS}


def _one_line(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mono() -> QFont:
    return QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)


# ---- background work (no Qt in here) -------------------------------------------------------------------------

def _materialize_plugin_source(source_id: str, options: dict) -> tuple[str, bool]:
    """Load a community dataset source through the plugin manager and keep its rows as JSONL files in the data
    folder, so the run config can name them (and a run can be repeated). Returns (folder, has_heldout)."""
    from ..core.paths import data_dir
    from ..plugins.manager import get_manager

    loaded = get_manager().load_dataset(source_id, options)
    key = hashlib.sha1(json.dumps([source_id, options], sort_keys=True, default=str).encode()).hexdigest()[:10]
    folder = data_dir() / "datasets" / f"{source_id}-{key}"
    folder.mkdir(parents=True, exist_ok=True)

    def write(rows, name: str) -> None:
        with (folder / name).open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(dict(row), ensure_ascii=False, default=str) + "\n")

    write(loaded.train, "train.jsonl")
    heldout = loaded.heldout is not None and len(loaded.heldout) > 0
    if heldout:
        write(loaded.heldout, "test.jsonl")
    else:
        (folder / "test.jsonl").unlink(missing_ok=True)
    return str(folder), heldout


def _inspect(config_dict: dict, tokenizer, plugin_source: tuple[str, dict] | None = None):
    """Build the RunConfig and run ``inspect_data``; returns (report, config dict actually used)."""
    from ..core.preference_data import inspect_data

    try:
        from datasets.utils.logging import disable_progress_bar

        disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass
    config_dict = dict(config_dict)
    if plugin_source is not None:
        folder, heldout = _materialize_plugin_source(*plugin_source)
        config_dict.update(dataset=folder, dataset_config=None, dataset_split="train",
                           eval_split="test" if heldout else None)
    config = RunConfig.from_dict(config_dict)
    return inspect_data(config, tokenizer), config_dict


def _load_tokenizer(spec: str):
    from ..core.model_store import load_tokenizer, resolve_model

    return load_tokenizer(resolve_model(spec))


def _list_plugin_sources():
    from ..plugins.manager import get_manager

    return [s for s in get_manager().dataset_sources() if s.id not in _BUILTIN_SOURCES]


# ---- table models ---------------------------------------------------------------------------------------------

class PairTableModel(QAbstractTableModel):
    """The usable pairs (train then eval) as rows; text is shortened only when it is displayed."""

    HEADERS = ("Split", "Row", "Prompt", "Chosen", "Rejected", "Problems kept")

    def __init__(self, parent=None):
        super().__init__(parent)
        self._rows: list[tuple[str, dict, str]] = []

    def set_report(self, report) -> None:
        self.beginResetModel()
        kept: dict[tuple[str, int], list[str]] = {}
        for p in report.problems:
            kept.setdefault((p.split, p.row), []).append(p.kind)
        prepared = report.pairs
        rows = [("train", pair) for pair in prepared.train] + [("eval", pair) for pair in prepared.eval or []]
        self._rows = [(split, pair, ", ".join(kept.get((split, pair["row"]), []))) for split, pair in rows]
        self.endResetModel()

    def pair(self, row: int) -> tuple[str, dict] | None:
        if 0 <= row < len(self._rows):
            split, pair, _ = self._rows[row]
            return split, pair
        return None

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 (Qt API)
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.HEADERS[section]
        return None

    def _full(self, row: int, col: int) -> str:
        split, pair, kept = self._rows[row]
        if col == 0:
            return split
        if col == 1:
            return str(pair["row"])
        if col == 2:
            return flatten_prompt(pair["prompt"])
        if col == 3:
            return pair["chosen"]
        if col == 4:
            return pair["rejected"]
        return kept

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return _one_line(self._full(index.row(), index.column()))
        if role == Qt.ItemDataRole.ToolTipRole and index.column() in (2, 3, 4):
            text = self._full(index.row(), index.column())
            return text if len(text) < 1500 else text[:1500] + "…"
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() == 1:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and index.column() == 5:
            return QColor("#b26a00")
        return None


class ProblemTableModel(QAbstractTableModel):
    HEADERS = ("Split", "Row", "Column", "Problem", "Reason", "Training")

    def __init__(self, parent=None):
        super().__init__(parent)
        self._problems: list = []
        self._dropped: set[str] = set()

    def set_report(self, report) -> None:
        self.beginResetModel()
        self._problems = list(report.problems)
        self._dropped = set(report.drop_kinds) | {UNUSABLE}
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self._problems)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.HEADERS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        p = self._problems[index.row()]
        dropped = p.kind in self._dropped
        if role == Qt.ItemDataRole.DisplayRole:
            return (p.split, str(p.row), p.column or "", p.kind.replace("_", " "), p.reason,
                    "left out" if dropped else "kept")[index.column()]
        if role == Qt.ItemDataRole.ToolTipRole:
            return p.message()
        if role == Qt.ItemDataRole.ForegroundRole and index.column() == 5:
            return QColor("#a33") if dropped else QColor("#2e7d32")
        return None


# ---- the pane ---------------------------------------------------------------------------------------------

class DatasetPane(QWidget):
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
        self._tokenizer = None
        self._tokenizer_spec: str | None = None
        self._generation = 0
        self._pending = 0  # running load tasks
        self._tokenizer_task = None
        self._listing_task = None
        self._plugin_sources: dict[str, Any] = {}  # id -> DatasetSource (community plugins)
        self._plugin_dataset: dict[str, tuple[str, str | None]] = {}  # id -> (materialised folder, eval split)
        self._max_length = RunConfig().max_length
        self._config = _default_data_config()
        self._refresh_timer = QTimer(self, singleShot=True, interval=400)
        self._refresh_timer.timeout.connect(self._auto_refresh)
        self._build()
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
        return self._pending > 0 or any(t is not None and t.is_running()
                                        for t in (self._tokenizer_task, self._listing_task))

    def load(self) -> None:
        """Load (or reload) the data with the current settings, in the background."""
        self._refresh_timer.stop()
        config = self.data_config()
        plugin_source = None
        source_id = self._source_id()
        if source_id not in _BUILTIN_SOURCES:
            plugin_source = (source_id, self._plugin_options())
        elif source_id == LOCAL_FILE and not config["dataset"]:
            self._show_error("Choose a file first (JSONL, JSON, CSV or Parquet).")
            return
        elif source_id == HUB and not config["dataset"]:
            self._show_error("Enter a Hugging Face dataset id such as Anthropic/hh-rlhf.")
            return
        config["max_length"] = self._max_length
        self._start_inspect(config, plugin_source)

    def load_tokenizer(self) -> None:
        """Load the tokenizer of the model named in the preview box (background task)."""
        spec = self.model_edit.text().strip() or DEFAULT_MODEL
        self.tokenizer_status.setText(f"Loading the tokenizer of {spec}…")
        self.tokenizer_button.setEnabled(False)
        self._set_busy(True, "Loading tokenizer…")

        def done(tokenizer):

            if not shiboken6.isValid(self):

                return
            self._tokenizer, self._tokenizer_spec = tokenizer, spec
            self.tokenizer_button.setEnabled(True)
            self.tokenizer_status.setText(f"Tokenizer: {spec} (lengths in tokens)")
            self._set_busy(False)
            self.message.emit("info", f"Loaded the tokenizer of {spec}")
            if self._report is not None:
                self._start_inspect(dict(self._loaded_config, max_length=self._max_length), None, quiet=True)
            self._update_preview()

        def failed(text, _tb):

            if not shiboken6.isValid(self):

                return
            self.tokenizer_button.setEnabled(True)
            self.tokenizer_status.setText(f"Could not load the tokenizer: {text}")
            self._set_busy(False)
            self.message.emit("error", f"Could not load the tokenizer of {spec}: {text}")

        self._tokenizer_task = run_task(None, _load_tokenizer, spec, on_result=done, on_error=failed)

    def set_tokenizer(self, tokenizer, spec: str = "") -> None:
        """Use an already loaded tokenizer (e.g. shared by the training pane)."""
        self._tokenizer, self._tokenizer_spec = tokenizer, spec or None
        if spec:
            self.model_edit.setText(spec)
        self.tokenizer_status.setText(f"Tokenizer: {spec or 'given'} (lengths in tokens)" if tokenizer is not None
                                      else "No tokenizer: lengths in characters")
        if self._report is not None:
            self._start_inspect(dict(self._loaded_config, max_length=self._max_length), None, quiet=True)
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
        left_layout.addWidget(self._build_format_group())
        left_layout.addWidget(self._build_filter_group())
        left_layout.addWidget(self._build_split_group())
        left_layout.addWidget(self._build_template_group())
        left_layout.addStretch(1)
        scroll.setWidget(left)
        # wide enough for the controls' minimum (the horizontal scroll bar is off, so nothing may be clipped)
        scroll.setMinimumWidth(max(360, left.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width()
                                   + 4))
        splitter.addWidget(scroll)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(6, 0, 0, 0)
        self.summary_label = QLabel("No data loaded yet. Choose a source and press Load.")
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        right_layout.addWidget(self.summary_label)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setStyleSheet("QLabel { color: #b00020; background: #fdecea; border: 1px solid #f5c2c0;"
                                       " border-radius: 4px; padding: 6px; }")
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

    def _build_source_group(self) -> QGroupBox:
        box = QGroupBox("Source")
        layout = QVBoxLayout(box)
        self.source_combo = QComboBox()
        for sid, (title, desc) in _BUILTIN_SOURCES.items():
            self.source_combo.addItem(title, sid)
            self.source_combo.setItemData(self.source_combo.count() - 1, desc, Qt.ItemDataRole.ToolTipRole)
        self.source_combo.currentIndexChanged.connect(self._on_source_changed)
        layout.addWidget(self.source_combo)
        self.source_description = QLabel()
        self.source_description.setWordWrap(True)
        self.source_description.setStyleSheet("color: palette(mid);")
        layout.addWidget(self.source_description)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.file_edit = QLineEdit()
        self.file_edit.setPlaceholderText("path to a .jsonl, .json, .csv or .parquet file")
        self.file_edit.setToolTip(_HELP["dataset"])
        self.browse_button = QPushButton("Browse…")
        self.browse_button.clicked.connect(self._browse_file)
        file_row = QHBoxLayout()
        file_row.addWidget(self.file_edit, 1)
        file_row.addWidget(self.browse_button)
        self.file_row_widget = QWidget()
        self.file_row_widget.setLayout(file_row)
        file_row.setContentsMargins(0, 0, 0, 0)
        form.addRow("File", self.file_row_widget)
        self.hub_edit = QLineEdit()
        self.hub_edit.setPlaceholderText("owner/name, e.g. Anthropic/hh-rlhf")
        self.hub_edit.setToolTip(_HELP["dataset"])
        form.addRow("Dataset id", self.hub_edit)
        self.config_edit = QLineEdit()
        self.config_edit.setPlaceholderText("optional, e.g. harmless-base")
        self.config_edit.setToolTip(_HELP["dataset_config"])
        form.addRow("Configuration", self.config_edit)
        self.split_edit = QLineEdit("train")
        self.split_edit.setToolTip(_HELP["dataset_split"])
        form.addRow("Split", self.split_edit)
        self.first_n_spin = QSpinBox()
        self.first_n_spin.setRange(0, 100_000_000)
        self.first_n_spin.setSingleStep(100)
        self.first_n_spin.setSpecialValueText("all rows")
        self.first_n_spin.setToolTip(_HELP["first_n"])
        form.addRow("First N rows", self.first_n_spin)
        self._source_form = form
        layout.addLayout(form)
        self.plugin_form_widget = QWidget()
        self.plugin_form = QFormLayout(self.plugin_form_widget)
        self.plugin_form.setContentsMargins(0, 0, 0, 0)
        self._plugin_inputs: dict[str, QWidget] = {}
        layout.addWidget(self.plugin_form_widget)

        row = QHBoxLayout()
        self.load_button = QPushButton("Load")
        self.load_button.setDefault(True)
        self.load_button.setToolTip("Read the data and check it (the file is never changed)")
        self.load_button.clicked.connect(self.load)
        row.addWidget(self.load_button)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(14)
        self.progress.hide()
        row.addWidget(self.progress, 1)
        layout.addLayout(row)
        self.busy_label = QLabel()
        self.busy_label.setStyleSheet("color: palette(mid);")
        self.busy_label.hide()
        layout.addWidget(self.busy_label)

        for edit in (self.file_edit, self.hub_edit, self.config_edit, self.split_edit):
            edit.textChanged.connect(self._on_field_changed)
            edit.returnPressed.connect(self.load)
        self.first_n_spin.valueChanged.connect(self._on_field_changed)
        return box

    def _build_format_group(self) -> QGroupBox:
        box = QGroupBox("Format and columns")
        layout = QVBoxLayout(box)
        self.detected_label = QLabel("Format: not loaded yet")
        self.detected_label.setWordWrap(True)
        self.detected_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.detected_label)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.format_combo = QComboBox()
        self.format_combo.addItem("Detect automatically", "auto")
        for name, desc in FORMATS.items():
            self.format_combo.addItem(desc.split(":")[0], name)
            self.format_combo.setItemData(self.format_combo.count() - 1, desc, Qt.ItemDataRole.ToolTipRole)
        self.format_combo.setToolTip(_HELP["data_format"])
        self.format_combo.currentIndexChanged.connect(self._on_field_changed)
        form.addRow("Format", self.format_combo)
        self.column_combos: dict[str, QComboBox] = {}
        for role in _ROLES:
            combo = QComboBox()
            combo.addItem(_DETECT, None)
            combo.setToolTip(_HELP[f"column_{role}"])
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(12)
            combo.currentIndexChanged.connect(self._on_field_changed)
            self.column_combos[role] = combo
            form.addRow(f"{role.capitalize()} column", combo)
        layout.addLayout(form)
        return box

    def _build_filter_group(self) -> QGroupBox:
        box = QGroupBox("Row filters")
        box.setToolTip(_HELP["data_filters"])
        layout = QVBoxLayout(box)
        hint = QLabel("Checked filters keep only the rows that match all of them. Suggestions for the loaded "
                      "columns appear unchecked.")
        hint.setWordWrap(True)
        hint.setStyleSheet("color: palette(mid);")
        layout.addWidget(hint)
        self.filter_list = QListWidget()
        self.filter_list.setMaximumHeight(90)
        self.filter_list.itemChanged.connect(self._on_field_changed)
        layout.addWidget(self.filter_list)
        row = QHBoxLayout()
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("e.g. status != tie")
        self.filter_edit.returnPressed.connect(self._add_filter_from_edit)
        row.addWidget(self.filter_edit, 1)
        add = QPushButton("Add")
        add.clicked.connect(self._add_filter_from_edit)
        row.addWidget(add)
        remove = QPushButton("Remove")
        remove.clicked.connect(self._remove_selected_filter)
        row.addWidget(remove)
        layout.addLayout(row)
        return box

    def _build_split_group(self) -> QGroupBox:
        box = QGroupBox("Train / eval split")
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.eval_ratio_spin = QDoubleSpinBox()
        self.eval_ratio_spin.setRange(0.0, 0.5)
        self.eval_ratio_spin.setSingleStep(0.05)
        self.eval_ratio_spin.setDecimals(2)
        self.eval_ratio_spin.setSpecialValueText("no evaluation rows")
        self.eval_ratio_spin.setToolTip(_HELP["eval_ratio"])
        form.addRow("Eval share", self.eval_ratio_spin)
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2_147_483_647)
        self.seed_spin.setToolTip(_HELP["split_seed"])
        form.addRow("Split seed", self.seed_spin)
        self.eval_split_edit = QLineEdit()
        self.eval_split_edit.setPlaceholderText("none: split off by share")
        self.eval_split_edit.setToolTip(_HELP["eval_split"])
        form.addRow("Source eval split", self.eval_split_edit)
        self.split_note = QLabel()
        self.split_note.setWordWrap(True)
        self.split_note.setStyleSheet("color: palette(mid);")
        form.addRow(self.split_note)
        self.eval_ratio_spin.valueChanged.connect(self._on_field_changed)
        self.seed_spin.valueChanged.connect(self._on_field_changed)
        self.eval_split_edit.textChanged.connect(self._on_field_changed)
        return box

    def _build_template_group(self) -> QGroupBox:
        box = QGroupBox("What the model sees")
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.template_combo = QComboBox()
        for key, label in _TEMPLATES:
            self.template_combo.addItem(label, key)
        self.template_combo.setToolTip(_HELP["prompt_template"])
        self.template_combo.currentIndexChanged.connect(self._on_field_changed)
        form.addRow("Prompt template", self.template_combo)
        self.system_edit = QLineEdit()
        self.system_edit.setPlaceholderText("optional system message")
        self.system_edit.setToolTip(_HELP["system_prompt"])
        self.system_edit.textChanged.connect(self._on_field_changed)
        form.addRow("System prompt", self.system_edit)
        model_row = QHBoxLayout()
        model_row.setContentsMargins(0, 0, 0, 0)
        self.model_edit = QLineEdit(DEFAULT_MODEL)
        self.model_edit.setCursorPosition(0)
        self.model_edit.setToolTip("The model whose tokenizer counts tokens and renders its chat template")
        model_row.addWidget(self.model_edit, 1)
        self.tokenizer_button = QPushButton("Use tokenizer")
        self.tokenizer_button.setToolTip("Load this model's tokenizer (in the background) to count tokens, check "
                                         "truncation and preview the chat template")
        self.tokenizer_button.clicked.connect(self.load_tokenizer)
        model_row.addWidget(self.tokenizer_button)
        holder = QWidget()
        holder.setLayout(model_row)
        form.addRow("Model", holder)
        self.tokenizer_status = QLabel("No tokenizer: lengths in characters")
        self.tokenizer_status.setWordWrap(True)
        self.tokenizer_status.setStyleSheet("color: palette(mid);")
        form.addRow(self.tokenizer_status)
        return box

    def _build_rows_tab(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        splitter = QSplitter(Qt.Orientation.Vertical)
        self.pair_model = PairTableModel(self)
        self.table = QTableView()
        self.table.setModel(self.pair_model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(22)
        header = self.table.horizontalHeader()
        for col, mode in enumerate((QHeaderView.ResizeMode.ResizeToContents, QHeaderView.ResizeMode.ResizeToContents,
                                    QHeaderView.ResizeMode.Stretch, QHeaderView.ResizeMode.Stretch,
                                    QHeaderView.ResizeMode.Stretch, QHeaderView.ResizeMode.Interactive)):
            header.setSectionResizeMode(col, mode)
        self.table.selectionModel().currentRowChanged.connect(lambda *_: self._update_preview())
        splitter.addWidget(self.table)

        detail = QTabWidget()
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(4, 4, 4, 4)
        self.prompt_view = QPlainTextEdit(readOnly=True)
        self.prompt_view.setPlaceholderText("Select a row to see its prompt")
        self.prompt_view.setMaximumHeight(90)
        side_layout.addWidget(QLabel("<b>Prompt</b>"))
        side_layout.addWidget(self.prompt_view)
        answers = QGridLayout()
        self.chosen_title = QLabel("<b style='color:#2e7d32'>Chosen</b>")
        self.rejected_title = QLabel("<b style='color:#a33'>Rejected</b>")
        answers.addWidget(self.chosen_title, 0, 0)
        answers.addWidget(self.rejected_title, 0, 1)
        self.chosen_view = QPlainTextEdit(readOnly=True)
        self.rejected_view = QPlainTextEdit(readOnly=True)
        self.chosen_view.setStyleSheet("QPlainTextEdit { border: 1px solid #8bc34a; }")
        self.rejected_view.setStyleSheet("QPlainTextEdit { border: 1px solid #e57373; }")
        answers.addWidget(self.chosen_view, 1, 0)
        answers.addWidget(self.rejected_view, 1, 1)
        side_layout.addLayout(answers, 1)
        detail.addTab(side, "Chosen vs rejected")

        seen = QWidget()
        seen_layout = QVBoxLayout(seen)
        seen_layout.setContentsMargins(4, 4, 4, 4)
        self.templated_label = QLabel("Select a row to see exactly what the model is trained on.")
        self.templated_label.setWordWrap(True)
        seen_layout.addWidget(self.templated_label)
        self.templated_view = QPlainTextEdit(readOnly=True)
        self.templated_view.setFont(_mono())
        self.templated_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        seen_layout.addWidget(self.templated_view, 1)
        detail.addTab(seen, "What the model sees")
        self.detail_tabs = detail
        splitter.addWidget(detail)
        splitter.setSizes([300, 320])
        layout.addWidget(splitter)
        return page

    def _build_problems_tab(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        box = QGroupBox("Leave these rows out of training (the file is never changed)")
        grid = QGridLayout(box)
        self.drop_checks: dict[str, QCheckBox] = {}
        for i, (kind, desc) in enumerate(PROBLEM_KINDS.items()):
            check = QCheckBox()
            check.setToolTip(desc)
            check.toggled.connect(self._on_field_changed)
            self.drop_checks[kind] = check
            grid.addWidget(check, i, 0)
        self._update_drop_labels(None)
        note = QLabel("Rows that cannot form a pair at all are always left out and listed below.")
        note.setWordWrap(True)
        note.setStyleSheet("color: palette(mid);")
        grid.addWidget(note, len(PROBLEM_KINDS), 0)
        layout.addWidget(box)
        self.problem_summary = QLabel("No data loaded yet.")
        self.problem_summary.setWordWrap(True)
        layout.addWidget(self.problem_summary)
        self.problem_model = ProblemTableModel(self)
        self.problem_table = QTableView()
        self.problem_table.setModel(self.problem_model)
        self.problem_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.problem_table.setAlternatingRowColors(True)
        self.problem_table.verticalHeader().hide()
        self.problem_table.verticalHeader().setDefaultSectionSize(22)
        header = self.problem_table.horizontalHeader()
        for col in range(len(ProblemTableModel.HEADERS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Stretch if col == 4
                                        else QHeaderView.ResizeMode.ResizeToContents)
        layout.addWidget(self.problem_table, 1)
        return page

    def _build_stats_tab(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        self.counts_label = QLabel("No data loaded yet.")
        self.counts_label.setWordWrap(True)
        self.counts_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.counts_label)
        self.lengths_title = QLabel("<b>Lengths</b>")
        layout.addWidget(self.lengths_title)
        headers = ["mean", *(f"p{p}" for p in PERCENTILES), "max"]
        self.lengths_table = QTableWidget(3, len(headers))
        self.lengths_table.setHorizontalHeaderLabels(headers)
        self.lengths_table.setVerticalHeaderLabels(["prompt", "chosen", "rejected"])
        self.lengths_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.lengths_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.lengths_table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.lengths_table.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self._fit_lengths_table()
        layout.addWidget(self.lengths_table)
        self.bias_label = QLabel()
        self.bias_label.setWordWrap(True)
        layout.addWidget(self.bias_label)
        self.warnings_label = QLabel()
        self.warnings_label.setWordWrap(True)
        self.warnings_label.setStyleSheet("color: #b26a00;")
        layout.addWidget(self.warnings_label)
        self.notes_label = QLabel()
        self.notes_label.setWordWrap(True)
        self.notes_label.setStyleSheet("color: palette(mid);")
        self.notes_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.notes_label)
        layout.addStretch(1)
        return page

    def _fit_lengths_table(self) -> None:
        t = self.lengths_table
        t.resizeRowsToContents()
        rows = sum(t.rowHeight(r) for r in range(t.rowCount()))
        t.setFixedHeight(t.horizontalHeader().sizeHint().height() + rows + 2 * t.frameWidth())

    # ---- sources ------------------------------------------------------------------------------------------

    def _source_id(self) -> str:
        return self.source_combo.currentData() or DEMO

    def _discover_plugin_sources(self) -> None:
        def got(sources):
            if not shiboken6.isValid(self):
                return
            for src in sources:
                if src.id in self._plugin_sources:
                    continue
                self._plugin_sources[src.id] = src
                self.source_combo.addItem(f"{src.title} (plugin)", src.id)
                self.source_combo.setItemData(self.source_combo.count() - 1, src.description,
                                              Qt.ItemDataRole.ToolTipRole)

        def failed(text, _tb):

            if not shiboken6.isValid(self):

                return
            self.message.emit("warning", f"Dataset-source plugins could not be listed: {text}")

        self._listing_task = run_task(None, _list_plugin_sources, on_result=got, on_error=failed)

    def _on_source_changed(self, *_args) -> None:
        sid = self._source_id()
        builtin = _BUILTIN_SOURCES.get(sid)
        plugin = self._plugin_sources.get(sid)
        self.source_description.setText(builtin[1] if builtin else (plugin.description if plugin else ""))
        visible = {
            "file": sid == LOCAL_FILE, "hub": sid == HUB, "config": sid == HUB, "split": sid == HUB,
        }
        for widget, key in ((self.file_row_widget, "file"), (self.hub_edit, "hub"), (self.config_edit, "config"),
                            (self.split_edit, "split")):
            self._source_form.setRowVisible(widget, visible[key])
        self._build_plugin_form(plugin)
        self.eval_split_edit.setEnabled(sid == HUB)
        self._update_split_note()
        self._on_field_changed()

    def _build_plugin_form(self, plugin) -> None:
        while self.plugin_form.rowCount():
            self.plugin_form.removeRow(0)
        self._plugin_inputs = {}
        self.plugin_form_widget.setVisible(plugin is not None)
        if plugin is None:
            return
        for opt in plugin.options:
            if opt.kind == "choice":
                w = QComboBox()
                w.addItems(list(opt.choices))
                if opt.default in opt.choices:
                    w.setCurrentText(str(opt.default))
            elif opt.kind == "bool":
                w = QCheckBox()
                w.setChecked(bool(opt.default))
            elif opt.kind == "int":
                w = QSpinBox()
                w.setRange(-1_000_000_000, 1_000_000_000)
                w.setValue(int(opt.default or 0))
            elif opt.kind == "float":
                w = QDoubleSpinBox()
                w.setRange(-1e12, 1e12)
                w.setDecimals(4)
                w.setValue(float(opt.default or 0))
            else:
                w = QLineEdit("" if opt.default is None else str(opt.default))
                if opt.kind == "secret":
                    w.setEchoMode(QLineEdit.EchoMode.Password)
                w.setPlaceholderText(opt.help)
            w.setToolTip(opt.help)
            self._plugin_inputs[opt.name] = w
            label = (opt.label or opt.name) + (" *" if opt.required else "")
            if opt.kind == "path":
                row = QHBoxLayout()
                row.setContentsMargins(0, 0, 0, 0)
                row.addWidget(w, 1)
                browse = QPushButton("Browse…")
                browse.clicked.connect(lambda _=False, edit=w: self._browse_into(edit))
                row.addWidget(browse)
                holder = QWidget()
                holder.setLayout(row)
                self.plugin_form.addRow(label, holder)
            else:
                self.plugin_form.addRow(label, w)

    def _plugin_options(self) -> dict:
        out = {}
        for name, w in self._plugin_inputs.items():
            if isinstance(w, QComboBox):
                out[name] = w.currentText()
            elif isinstance(w, QCheckBox):
                out[name] = w.isChecked()
            elif isinstance(w, (QSpinBox, QDoubleSpinBox)):
                out[name] = w.value()
            else:
                text = w.text().strip()
                if text:
                    out[name] = text
        return out

    def _browse_into(self, edit: QLineEdit) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a file", edit.text() or str(Path.home()))
        if path:
            edit.setText(path)

    def _browse_file(self) -> None:
        start = self.file_edit.text().strip() or str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Choose preference data", start, _FILE_FILTER)
        if path:
            self.file_edit.setText(path)
            self.load()

    # ---- filters ------------------------------------------------------------------------------------------

    def _filter_items(self) -> list[QListWidgetItem]:
        return [self.filter_list.item(i) for i in range(self.filter_list.count())]

    def _add_filter(self, text: str, checked: bool, suggested: bool = False) -> None:
        text = text.strip()
        if not text:
            return
        for item in self._filter_items():
            if item.text() == text:
                if checked:
                    item.setCheckState(Qt.CheckState.Checked)
                return
        item = QListWidgetItem(text)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
        if suggested:
            item.setToolTip("Suggested for these columns by published recipes; check it to apply it")
        self.filter_list.addItem(item)

    def _add_filter_from_edit(self) -> None:
        text = self.filter_edit.text().strip()
        if not text:
            return
        from ..core.pair_filters import parse_filter
        from ..core.pair_problems import DataError

        try:
            parse_filter(text)
        except DataError as exc:
            self._show_error(str(exc), inline_only=True)
            return
        self.filter_edit.clear()
        self._add_filter(text, True)
        self._on_field_changed()

    def _remove_selected_filter(self) -> None:
        for item in self.filter_list.selectedItems():
            self.filter_list.takeItem(self.filter_list.row(item))
        self._on_field_changed()

    # ---- config <-> widgets -------------------------------------------------------------------------------

    def _read_widgets(self) -> dict:
        sid = self._source_id()
        cfg = dict(self._config)
        if sid == DEMO:
            cfg.update(dataset=BUILTIN_DEMO, dataset_config=None, dataset_split="train")
        elif sid == LOCAL_FILE:
            cfg.update(dataset=self.file_edit.text().strip(), dataset_config=None, dataset_split="train")
        elif sid == HUB:
            cfg.update(dataset=self.hub_edit.text().strip(), dataset_config=self.config_edit.text().strip() or None,
                       dataset_split=self.split_edit.text().strip() or "train")
        else:
            folder, eval_split = self._plugin_dataset.get(sid, ("", None))
            cfg.update(dataset=folder, dataset_config=None, dataset_split="train", eval_split=eval_split)
        cfg["first_n"] = self.first_n_spin.value() or None
        cfg["eval_ratio"] = round(self.eval_ratio_spin.value(), 4)
        cfg["split_seed"] = self.seed_spin.value()
        cfg["prompt_template"] = self.template_combo.currentData() or "chat"
        cfg["system_prompt"] = self.system_edit.text().strip() or None
        cfg["data_format"] = self.format_combo.currentData() or "auto"
        for role, combo in self.column_combos.items():
            cfg[f"column_{role}"] = combo.currentData()
        cfg["data_filters"] = [i.text() for i in self._filter_items() if i.checkState() == Qt.CheckState.Checked]
        cfg["drop_problems"] = [k for k, c in self.drop_checks.items() if c.isChecked()]
        if sid in (DEMO, LOCAL_FILE):
            cfg["eval_split"] = None
        elif sid == HUB:
            cfg["eval_split"] = self.eval_split_edit.text().strip() or None
        return cfg

    def _apply_config_to_widgets(self, cfg: dict) -> None:
        self._updating = True
        try:
            self._config = dict(cfg)
            dataset = cfg.get("dataset") or ""
            if dataset == BUILTIN_DEMO:
                sid = DEMO
            elif dataset and (Path(dataset).expanduser().is_file()
                              or Path(dataset).suffix.lower() in (".jsonl", ".json", ".csv", ".parquet", ".gz")):
                sid = LOCAL_FILE
                self.file_edit.setText(dataset)
            elif dataset:
                sid = HUB
                self.hub_edit.setText(dataset)
            else:
                sid = self._source_id()
            self.config_edit.setText(cfg.get("dataset_config") or "")
            self.split_edit.setText(cfg.get("dataset_split") or "train")
            self.source_combo.setCurrentIndex(max(0, self.source_combo.findData(sid)))
            self.first_n_spin.setValue(int(cfg.get("first_n") or 0))
            self.eval_ratio_spin.setValue(float(cfg.get("eval_ratio") or 0.0))
            self.seed_spin.setValue(int(cfg.get("split_seed") or 0))
            self.eval_split_edit.setText(cfg.get("eval_split") or "")
            self.template_combo.setCurrentIndex(max(0, self.template_combo.findData(cfg.get("prompt_template") or "chat")))
            self.system_edit.setText(cfg.get("system_prompt") or "")
            self.format_combo.setCurrentIndex(max(0, self.format_combo.findData(cfg.get("data_format") or "auto")))
            for role, combo in self.column_combos.items():
                col = cfg.get(f"column_{role}")
                if col and combo.findData(col) < 0:
                    combo.addItem(col, col)
                combo.setCurrentIndex(max(0, combo.findData(col)) if col else 0)
            wanted = list(cfg.get("data_filters") or [])
            for item in self._filter_items():
                item.setCheckState(Qt.CheckState.Checked if item.text() in wanted else Qt.CheckState.Unchecked)
            for f in wanted:
                self._add_filter(f, True)
            drop = set(cfg.get("drop_problems") or [])
            for kind, check in self.drop_checks.items():
                check.setChecked(kind in drop)
            self._on_source_changed()
        finally:
            self._updating = False
        self._config = self._read_widgets()

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
            same_source = sid == self._loaded_source and (
                sid not in _BUILTIN_SOURCES or all(new[k] == self._loaded_config.get(k) for k in _SOURCE_FIELDS))
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
        self._start_inspect(config, None, quiet=True)

    def _update_split_note(self) -> None:
        sid = self._source_id()
        if sid == DEMO:
            text = "The demo ships its own evaluation rows, so the share and seed are not used."
        elif sid not in _BUILTIN_SOURCES and self._plugin_dataset.get(sid, ("", None))[1]:
            text = "This source has its own held-out rows; they are the evaluation rows."
        elif self.eval_split_edit.isEnabled() and self.eval_split_edit.text().strip():
            text = f"Evaluation rows come from the source's '{self.eval_split_edit.text().strip()}' split."
        elif self.eval_ratio_spin.value() > 0:
            pct = round(self.eval_ratio_spin.value() * 100)
            text = f"{100 - pct}/{pct} split of the usable rows, reproducible with seed {self.seed_spin.value()}."
        else:
            text = "All usable rows are used for training; no evaluation loss will be reported."
        self.split_note.setText(text)

    def _update_drop_labels(self, counts: dict | None) -> None:
        for kind, check in self.drop_checks.items():
            text = PROBLEM_KINDS[kind][0].upper() + PROBLEM_KINDS[kind][1:]
            check.setText(f"{text} ({counts.get(kind, 0)} rows)" if counts is not None else text)

    # ---- loading ------------------------------------------------------------------------------------------

    _loaded_source: str | None = None

    def _set_busy(self, busy: bool, text: str = "") -> None:
        self.progress.setVisible(busy or self._pending > 0)
        if busy:
            self.busy_label.setText(text)
            self.busy_label.show()
        elif not self._pending:
            self.busy_label.hide()

    def _start_inspect(self, config: dict, plugin_source, quiet: bool = False) -> None:
        self._generation += 1
        generation = self._generation
        self._pending += 1
        what = plugin_source[0] if plugin_source else (config.get("dataset") or "data")
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
            if plugin_source is not None:
                self._plugin_dataset[plugin_source[0]] = (used["dataset"], used.get("eval_split"))
            self._loaded_source = source_id
            self._show_report(report, used)
            if plugin_source is not None:  # the data now has a folder the run config can name
                self._config = self._read_widgets()
                self._emit_changed()
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

        run_task(None, _inspect, config, self._tokenizer, plugin_source, on_result=done, on_error=failed)

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
        self.detected_label.setText(f"<b>{FORMATS[d.format].split(':')[0]}</b> ({how}: {d.reason})")
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
            f"<b>{report.source}</b> — {FORMATS[d.format].split(':')[0]}; {read} rows read, "
            f"{used_rows['train']} for training, {used_rows['eval']} for evaluation"
            + (f", {len(report.problems)} problems found" if report.problems else ", no problems found"))
        self.pair_model.set_report(report)
        self.problem_model.set_report(report)
        self._show_problems(report)
        self._show_stats(report)
        if self.pair_model.rowCount() and not self.table.selectionModel().hasSelection():
            self.table.selectRow(0)
        self._update_preview()

    def _show_problems(self, report) -> None:
        if not report.problems:
            self.problem_summary.setText("No problems found.")
            return
        parts = [f"{n} {k.replace('_', ' ')}" for k, n in report.problem_counts.items()]
        left = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in report.dropped.items()) or "none"
        self.problem_summary.setText(f"{len(report.problems)} problems: {', '.join(parts)}. Left out of training: "
                                     f"{left}.")
        self.tabs.setTabText(1, f"Problems ({len(report.problems)})")

    def _show_stats(self, report) -> None:
        if not report.problems:
            self.tabs.setTabText(1, "Problems")
        s = report.stats
        read = ", ".join(f"{k} {v}" for k, v in report.rows_read.items())
        used = ", ".join(f"{k} {v}" for k, v in report.rows_used.items())
        lines = [f"<b>Rows read</b>: {read}. <b>Rows used</b>: {used}.",
                 f"Columns: {', '.join(report.columns)}."]
        if s.max_length:
            lines.append(f"Rows over the max length of {s.max_length} tokens: <b>{s.over_max_length}</b>"
                         + (f" (on those, {s.chosen_survival:.0%} of the chosen and {s.rejected_survival:.0%} of the "
                            f"rejected tokens survive)" if s.over_max_length else "") + ".")
        self.counts_label.setText("<br>".join(lines))
        sample = f", measured on {s.measured_rows} of {s.rows} rows" if s.measured_rows < s.rows else ""
        unit_note = "" if s.unit == "tokens" else " — load a tokenizer to count tokens and check truncation"
        self.lengths_title.setText(f"<b>Lengths in {s.unit}</b>{sample}{unit_note}")
        for r, part in enumerate(("prompt", "chosen", "rejected")):
            ls = getattr(s, part)
            values = [] if ls is None else [ls.mean, *(ls.percentiles[p] for p in PERCENTILES), ls.max]
            for c in range(self.lengths_table.columnCount()):
                text = f"{values[c]:.0f}" if values else "—"
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.lengths_table.setItem(r, c, item)
        if s.chosen_longer_share is not None:
            ratio = f" (mean length ratio chosen/rejected {s.length_ratio:.2f})" if s.length_ratio else ""
            self.bias_label.setText(f"The chosen answer is longer than the rejected one in "
                                    f"<b>{s.chosen_longer_share:.0%}</b> of rows{ratio}.")
        else:
            self.bias_label.setText("")
        self._fit_lengths_table()
        self.warnings_label.setText("<br>".join(f"⚠ {w}" for w in s.warnings))
        self.notes_label.setText("<br>".join(report.notes))

    def _update_preview(self) -> None:
        index = self.table.currentIndex()
        item = self.pair_model.pair(index.row()) if index.isValid() else None
        if item is None:
            for view in (self.prompt_view, self.chosen_view, self.rejected_view, self.templated_view):
                view.clear()
            self.templated_label.setText("Select a row to see exactly what the model is trained on.")
            return
        split, pair = item
        self.prompt_view.setPlainText(flatten_prompt(pair["prompt"]))
        self.chosen_view.setPlainText(pair["chosen"])
        self.rejected_view.setPlainText(pair["rejected"])
        self.chosen_title.setText(f"<b style='color:#2e7d32'>Chosen</b> ({len(pair['chosen'])} characters)")
        self.rejected_title.setText(f"<b style='color:#a33'>Rejected</b> ({len(pair['rejected'])} characters)")
        self._render_templated(split, pair)

    def _render_templated(self, split: str, pair: dict) -> None:
        from ..core.pair_problems import DataError
        from ..core.pair_templates import preview_pair

        cfg = self.data_config()
        template = cfg["prompt_template"]
        try:
            preview = preview_pair(pair, self._tokenizer, template, cfg["system_prompt"])
        except DataError as exc:
            self.templated_label.setText(f"{exc}. Press “Use tokenizer” in “What the model sees”, or pick the "
                                         "Alpaca or raw template.")
            self.templated_view.clear()
            return
        except Exception as exc:  # a tokenizer whose template raises: show it in words
            self.templated_label.setText(f"The template could not be applied to this row: {exc}")
            self.templated_view.clear()
            return
        name = dict(_TEMPLATES)[template]
        counts = ""
        if preview.prompt_tokens is not None:
            counts = (f" — {preview.prompt_tokens} prompt tokens, {preview.chosen_tokens} chosen, "
                      f"{preview.rejected_tokens} rejected (max length {self._max_length})")
        tok = f", tokenizer of {self._tokenizer_spec}" if self._tokenizer is not None and self._tokenizer_spec else ""
        self.templated_label.setText(f"{split} row {pair['row']}, {name}{tok}{counts}. Special tokens are shown "
                                     "as the model receives them.")
        self.templated_view.setPlainText(
            "━━━ prompt ━━━\n" + preview.prompt_text + "\n━━━ chosen (continues the prompt) ━━━\n"
            + preview.chosen_text + "\n━━━ rejected (continues the prompt) ━━━\n" + preview.rejected_text)
