"""The Dataset pane's settings form: the RunConfig "Data" fields and the left-hand boxes that edit them.

Holds the field list and help texts, the built-in source kinds, the format/column, row-filter, train/eval split
and prompt-template boxes, and the mapping between those widgets and the Data config dict (``_read_widgets`` /
``_apply_config_to_widgets``). ``DataConfigFormMixin`` is mixed into ``DatasetPane``; its methods use the
pane's widgets and state (``_config``, ``_updating``, ``_on_field_changed``, the source box and the problem
checkboxes).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from dpostudio.core.data.formats import FORMATS
from dpostudio.core.data.sources import BUILTIN_DEMO, plugin_spec
from dpostudio.core.training.run_config import RunConfig

if TYPE_CHECKING:
    _MixinBase = QWidget  # only ever mixed into a QWidget (``DatasetPane``)
else:
    _MixinBase = object

#: The RunConfig fields this pane owns (the "Data" group), in declaration order.
DATA_FIELDS = [f.name for f in RunConfig.field_specs() if f.metadata.get("group") == "Data"]
_HELP = {f.name: f.metadata.get("help", "") for f in RunConfig.field_specs()}
_SOURCE_FIELDS = ("dataset", "dataset_config", "dataset_split")  # changing these needs "Load"

DEMO, LOCAL_FILE, HUB = "demo", "local-file", "hub"
_BUILTIN_SOURCES = {
    DEMO: ("Demo pairs (built in)", "A few hundred preference pairs shipped with DPO Studio, for trying things out."),
    LOCAL_FILE: (
        "Local file",
        "A JSONL, JSON, CSV or Parquet file with prompt, chosen and rejected columns "
        "(or any of the recognised layouts).",
    ),
    HUB: (
        "Hugging Face Hub",
        "A dataset id such as Anthropic/hh-rlhf or Intel/orca_dpo_pairs, read through the "
        "datasets cache (works offline once downloaded).",
    ),
}
_TEMPLATES = [
    ("chat", "Model's chat template"),
    ("alpaca", "Alpaca (### Instruction / ### Response)"),
    ("none", "None (raw text)"),
]
_ROLES = ("prompt", "chosen", "rejected", "system")
_DETECT = "(detect)"


def _default_data_config() -> dict:
    defaults = RunConfig().to_dict()
    return {k: defaults[k] for k in DATA_FIELDS}


class DataConfigFormMixin(_MixinBase):
    """The format, filter, split and template boxes of ``DatasetPane`` and the widgets <-> Data config mapping."""

    if TYPE_CHECKING:  # provided by DatasetPane and the other mixins
        _config: dict[str, Any]
        _updating: bool
        _plugin_heldout: dict[str, bool]
        source_combo: QComboBox
        file_edit: QLineEdit
        hub_edit: QLineEdit
        config_edit: QLineEdit
        split_edit: QLineEdit
        first_n_spin: QSpinBox
        drop_checks: dict[str, QCheckBox]

        def load_tokenizer(self) -> None: ...
        def _on_field_changed(self, *_args: object) -> None: ...
        def _on_source_changed(self, *_args: object) -> None: ...
        def _show_error(self, text: str, inline_only: bool = False) -> None: ...
        def _source_id(self) -> str: ...
        def _plugin_options(self) -> dict: ...

    def _build_format_group(self) -> QGroupBox:
        box = QGroupBox("Format and columns")
        layout = QVBoxLayout(box)
        self.detected_label = QLabel("Format: not loaded yet")
        self.detected_label.setWordWrap(True)
        self.detected_label.setTextFormat(Qt.TextFormat.RichText)
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
        hint = QLabel(
            "Checked filters keep only the rows that match all of them. Suggestions for the loaded "
            "columns appear unchecked."
        )
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
        box = QGroupBox("Prompt template")
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
        return box

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
        from dpostudio.core.data.filters import parse_filter
        from dpostudio.core.data.problems import DataError

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
            cfg.update(
                dataset=self.hub_edit.text().strip(),
                dataset_config=self.config_edit.text().strip() or None,
                dataset_split=self.split_edit.text().strip() or "train",
            )
        else:
            # recorded like the CLI records it: the plugin's own held-out rows (if any) come with the spec
            cfg.update(
                dataset=plugin_spec(sid, self._plugin_options()),
                dataset_config=None,
                dataset_split="train",
                eval_split=None,
            )
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
            elif dataset and (
                Path(dataset).expanduser().is_file()
                or Path(dataset).suffix.lower() in (".jsonl", ".json", ".csv", ".parquet", ".gz")
            ):
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
            template = cfg.get("prompt_template") or "chat"
            self.template_combo.setCurrentIndex(max(0, self.template_combo.findData(template)))
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

    def _update_split_note(self) -> None:
        sid = self._source_id()
        if sid == DEMO:
            text = "The demo ships its own evaluation rows, so the share and seed are not used."
        elif sid not in _BUILTIN_SOURCES and self._plugin_heldout.get(sid):
            text = "This source has its own held-out rows; they are the evaluation rows."
        elif self.eval_split_edit.isEnabled() and self.eval_split_edit.text().strip():
            text = f"Evaluation rows come from the source's '{self.eval_split_edit.text().strip()}' split."
        elif self.eval_ratio_spin.value() > 0:
            pct = round(self.eval_ratio_spin.value() * 100)
            text = f"{100 - pct}/{pct} split of the usable rows, reproducible with seed {self.seed_spin.value()}."
        else:
            text = "All usable rows are used for training; no evaluation loss will be reported."
        self.split_note.setText(text)
