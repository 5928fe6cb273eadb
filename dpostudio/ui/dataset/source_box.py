"""The Dataset pane's "Source" box: the built-in sources, dataset-source plugins and their options.

``DatasetSourceBoxMixin`` is mixed into ``DatasetPane``; it builds the source chooser (file, Hub id, plugin
option form, Load button and progress) and lists community dataset sources in the background. The Qt-free
helpers at the top run in background tasks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import shiboken6
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from dpostudio.ui.dataset.config_form import _BUILTIN_SOURCES, _HELP, DEMO, HUB, LOCAL_FILE
from dpostudio.ui.file_dialogs import open_file
from dpostudio.ui.tasks import Task, run_task

if TYPE_CHECKING:
    _MixinBase = QWidget  # only ever mixed into a QWidget (``DatasetPane``)
else:
    _MixinBase = object

_FILE_FILTER = "Preference data (*.jsonl *.json *.csv *.parquet *.jsonl.gz *.json.gz);;All files (*)"


# ---- background work (no Qt in here) -------------------------------------------------------------------------


def _list_plugin_sources():
    from dpostudio.plugins.manager import get_manager

    return [s for s in get_manager().dataset_sources() if s.id not in _BUILTIN_SOURCES]


class DatasetSourceBoxMixin(_MixinBase):
    """The "Source" box of ``DatasetPane``: which source is chosen, its inputs, and the plugin sources."""

    if TYPE_CHECKING:  # provided by DatasetPane and the other mixins
        message = Signal(str, str)
        _plugin_sources: dict[str, Any]
        _listing_task: Task | None
        eval_split_edit: QLineEdit

        def load(self) -> None: ...
        def _on_field_changed(self, *_args: object) -> None: ...
        def _update_split_note(self) -> None: ...

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
                self.source_combo.setItemData(
                    self.source_combo.count() - 1, src.description, Qt.ItemDataRole.ToolTipRole
                )

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
            "file": sid == LOCAL_FILE,
            "hub": sid == HUB,
            "config": sid == HUB,
            "split": sid == HUB,
        }
        for widget, key in (
            (self.file_row_widget, "file"),
            (self.hub_edit, "hub"),
            (self.config_edit, "config"),
            (self.split_edit, "split"),
        ):
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
            w: QWidget
            line_edit: QLineEdit | None = None
            if opt.kind == "choice":
                combo = QComboBox()
                combo.addItems(list(opt.choices))
                if opt.default in opt.choices:
                    combo.setCurrentText(str(opt.default))
                w = combo
            elif opt.kind == "bool":
                check = QCheckBox()
                check.setChecked(bool(opt.default))
                w = check
            elif opt.kind == "int":
                spin = QSpinBox()
                spin.setRange(-1_000_000_000, 1_000_000_000)
                spin.setValue(int(opt.default or 0))
                w = spin
            elif opt.kind == "float":
                dspin = QDoubleSpinBox()
                dspin.setRange(-1e12, 1e12)
                dspin.setDecimals(4)
                dspin.setValue(float(opt.default or 0))
                w = dspin
            else:
                w = line_edit = QLineEdit("" if opt.default is None else str(opt.default))
                if opt.kind == "secret":
                    line_edit.setEchoMode(QLineEdit.EchoMode.Password)
                line_edit.setPlaceholderText(opt.help)
            w.setToolTip(opt.help)
            self._plugin_inputs[opt.name] = w
            label = (opt.label or opt.name) + (" *" if opt.required else "")
            if opt.kind == "path" and line_edit is not None:
                row = QHBoxLayout()
                row.setContentsMargins(0, 0, 0, 0)
                row.addWidget(w, 1)
                browse = QPushButton("Browse…")
                browse.clicked.connect(lambda _=False, edit=line_edit: self._browse_into(edit))
                row.addWidget(browse)
                holder = QWidget()
                holder.setLayout(row)
                self.plugin_form.addRow(label, holder)
            else:
                self.plugin_form.addRow(label, w)
            if w.focusPolicy() == Qt.FocusPolicy.WheelFocus:  # the wheel scrolls the column, not the value
                w.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def _plugin_options(self) -> dict:
        out: dict[str, Any] = {}
        for name, w in self._plugin_inputs.items():
            if isinstance(w, QComboBox):
                out[name] = w.currentText()
            elif isinstance(w, QCheckBox):
                out[name] = w.isChecked()
            elif isinstance(w, (QSpinBox, QDoubleSpinBox)):
                out[name] = w.value()
            elif isinstance(w, QLineEdit):  # the other kinds (text, secret, path)
                text = w.text().strip()
                if text:
                    out[name] = text
        return out

    def _browse_into(self, edit: QLineEdit) -> None:
        path = open_file(self, "Choose a file", "plugin-files")
        if path:
            edit.setText(path)

    def _browse_file(self) -> None:
        path = open_file(self, "Choose preference data", "data", _FILE_FILTER)
        if path:
            self.file_edit.setText(path)
            self.load()
