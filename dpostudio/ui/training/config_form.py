"""The run-config form of the Training pane, generated from ``RunConfig.field_specs()``.

Each field gets an editor chosen from its type and metadata (group, help text, choices, range), so a new config
field appears in the form without UI code. A field with ``suggestions`` gets an editable list (the loss: one name or
a '+'-joined combination), ``choice_help`` gives each entry its tooltip, and a field is checked together with its
``related`` fields (the loss weights against the loss). Data-group fields belong to the Dataset pane and are taken
from its ``data_config()``. Each field is validated as it is edited through ``RunConfig.from_dict`` and its message is
shown next to it. ``ConfigFormMixin`` holds the form half of ``TrainingPane``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QCompleter,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from dpostudio.core.data.sources import BUILTIN_DEMO, BUILTIN_DEMO_MINIMAL
from dpostudio.core.training.run_config import DEFAULT_MODEL, ConfigError, RunConfig, field_default
from dpostudio.ui.training.backend_line import BackendLine

if TYPE_CHECKING:
    _MixinBase = QWidget  # only ever mixed into a QWidget (``TrainingPane``)
else:
    _MixinBase = object

# Fields the Dataset pane owns (the Data group): never duplicated in this form.
DATA_FIELDS = tuple(f.name for f in RunConfig.field_specs() if f.metadata["group"] == "Data")
FORM_EXCLUDED = set(DATA_FIELDS) | {"model"}
GROUP_ORDER = ("DPO", "LoRA", "Optimisation", "Precision & device", "Evaluation & saving", "Model", "Run")
LABELS = {
    "trust_remote_code": "Trust remote code",
    "beta": "Beta (β)",
    "loss_type": "Loss",
    "loss_weights": "Loss weights",
    "discopop_tau": "DiscoPOP tau (τ)",
    "simpo_gamma": "SimPO gamma (γ)",
    "desirable_weight": "KTO good weight",
    "undesirable_weight": "KTO bad weight",
    "max_length": "Max length (tokens)",
    "lora_r": "Rank r",
    "lora_alpha": "Alpha",
    "lora_dropout": "Dropout",
    "lora_target_modules": "Target modules",
    "learning_rate": "Learning rate",
    "lr_scheduler_type": "Scheduler",
    "warmup_steps": "Warm-up steps",
    "warmup_ratio": "Warm-up ratio",
    "weight_decay": "Weight decay",
    "optimizer": "Optimizer",
    "per_device_batch_size": "Batch size",
    "group_by_length": "Group by length",
    "share_prompts": "Share prompts",
    "gradient_accumulation_steps": "Grad. accumulation",
    "num_train_epochs": "Epochs",
    "max_steps": "Max steps",
    "max_grad_norm": "Max grad norm",
    "seed": "Seed",
    "device": "Device",
    "precision": "Precision",
    "gradient_checkpointing": "Gradient checkpointing",
    "eval_steps": "Eval every (steps)",
    "logging_steps": "Log every (steps)",
    "save_steps": "Save every (steps)",
    "save_total_limit": "Keep checkpoints",
    "name": "Run name",
}


def _kind(spec: dataclasses.Field) -> type:
    default = field_default(spec)
    if default is not None:
        return type(default)
    text = str(spec.type)
    for kind in (bool, int, float, str, list):
        if text.startswith(kind.__name__):
            return kind
    return str


def _number_or_text(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text


def format_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(map(str, value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def parse_value(text: str, kind: type, item_kind: type = str) -> Any:
    """Text from an editor to a typed value; unparsable text is passed on so validation can name the problem.
    Lists are written with commas; ``item_kind`` float reads their items as numbers."""
    text = text.strip()
    if text == "":
        return None
    if kind is int:
        try:
            return int(text)
        except ValueError:
            try:
                number = float(text)
                return int(number) if number.is_integer() else number
            except ValueError:
                return text
    if kind is float:
        try:
            return float(text)
        except ValueError:
            return text
    if kind is list:
        parts = [part.strip() for part in text.strip("[]").split(",") if part.strip()]
        return [_number_or_text(part) for part in parts] if item_kind is float else parts
    return text


def choice_words(meta: Mapping[str, Any], value: str) -> str:
    """Plain words for a value of a field with ``choice_help``: its own, or one line per '+'-joined part."""
    helps = meta.get("choice_help") or {}
    if value in helps:
        return f"{value}: {helps[value]}"
    return "\n".join(f"{part.strip()}: {helps[part.strip()]}" for part in value.split("+") if part.strip() in helps)


class FieldEditor:
    """One form row: the editor widget and the error label under it."""

    def __init__(self, spec: dataclasses.Field, parent: QWidget):
        self.spec = spec
        self.name = spec.name
        self.kind = _kind(spec)
        self.item_kind = float if str(spec.type).startswith("list[float]") else str
        meta = spec.metadata
        help_text = meta["help"]
        self.tooltip = help_text + _range_hint(meta)
        widget: QComboBox | QCheckBox | QLineEdit
        if meta.get("choices") or meta.get("suggestions"):
            widget = combo = QComboBox(parent)
            items = list(meta.get("choices") or meta["suggestions"])
            combo.addItems(items)
            for i, item in enumerate(items):
                if item in (meta.get("choice_help") or {}):
                    combo.setItemData(i, meta["choice_help"][item], Qt.ItemDataRole.ToolTipRole)
            if not meta.get("choices"):  # suggestions: other values may be typed (checked as they are typed)
                combo.setEditable(True)
                combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
                completer = combo.completer()  # a list of matches, not inline completion that swallows a '+'
                if completer is not None:
                    completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        elif self.kind is bool:
            widget = QCheckBox(parent)
        else:
            widget = line = QLineEdit(parent)
            if meta.get("optional"):
                line.setPlaceholderText("empty = not set")
            line.setClearButtonEnabled(False)
        widget.setObjectName(f"field_{self.name}")
        widget.setToolTip(self.tooltip)
        self.widget = widget
        if meta.get("choice_help") and isinstance(widget, QComboBox):
            widget.currentTextChanged.connect(self._describe_choice)
            self._describe_choice(widget.currentText())
        self.error = QLabel(parent)
        self.error.setObjectName(f"error_{self.name}")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #d9534f;")
        self.error.hide()
        self.container = QWidget(parent)
        box = QVBoxLayout(self.container)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(1)
        box.addWidget(widget)
        box.addWidget(self.error)

    def _describe_choice(self, text: str) -> None:
        """The tooltip says what the chosen value does, under the field's help."""
        words = choice_words(self.spec.metadata, text.strip())
        self.widget.setToolTip(self.tooltip + (f"\n\n{words}" if words else ""))

    def value(self) -> Any:
        if isinstance(self.widget, QComboBox):
            return self.widget.currentText()
        if isinstance(self.widget, QCheckBox):
            return self.widget.isChecked()
        return parse_value(self.widget.text(), self.kind, self.item_kind)

    def set_value(self, value: Any) -> None:
        if isinstance(self.widget, QComboBox):
            if isinstance(value, list):  # a list field with suggestions (report_to): "a, b", or "none" when empty
                text = format_value(value) or ("none" if self.widget.findText("none") >= 0 else "")
            else:
                text = str(value)
            self.widget.setCurrentText(text)
        elif isinstance(self.widget, QCheckBox):
            self.widget.setChecked(bool(value))
        else:
            self.widget.setText(format_value(value))

    def connect(self, slot: Callable[[], None]) -> None:
        if isinstance(self.widget, QComboBox):
            self.widget.currentTextChanged.connect(lambda *_: slot())
        elif isinstance(self.widget, QCheckBox):
            self.widget.toggled.connect(lambda *_: slot())
        else:
            self.widget.textChanged.connect(lambda *_: slot())

    def show_error(self, text: str | None) -> None:
        self.error.setText(text or "")
        self.error.setVisible(bool(text))
        if isinstance(self.widget, QLineEdit):
            self.widget.setStyleSheet("border: 1px solid #d9534f;" if text else "")


def _range_hint(meta: Mapping[str, Any]) -> str:
    lo, hi = meta.get("min"), meta.get("max")
    if lo is None and hi is None:
        return ""
    below = "less than" if meta.get("max_exclusive") else "at most"
    if lo is not None and hi is not None:
        upper = f"less than {hi:g}" if meta.get("max_exclusive") else f"to {hi:g}"
        return f"\nAllowed: {'more than' if meta.get('min_exclusive') else 'from'} {lo:g} {upper}."
    if lo is not None:
        return f"\nAllowed: {'more than' if meta.get('min_exclusive') else 'at least'} {lo:g}."
    return f"\nAllowed: {below} {hi:g}."


class ConfigFormMixin(_MixinBase):
    """The form part of ``TrainingPane``: building the editors, reading/writing/validating values, the full config."""

    data_provider: Callable[[], dict] | None

    if TYPE_CHECKING:  # provided by TrainingPane and ModelPickerMixin
        message = Signal(str, str)
        dataPresetRequested = Signal(dict)
        maxLengthChanged = Signal(int)
        editors: dict[str, FieldEditor]
        data_overrides: dict[str, Any]
        data_summary: QLabel
        _estimate_timer: QTimer

        def model_spec(self) -> str: ...
        def set_model_spec(self, spec: str) -> None: ...
        def _on_form_edited(self) -> None: ...

    def _build_form(self) -> None:
        groups: dict[str, list[dataclasses.Field]] = {}
        for spec in RunConfig.field_specs():
            if spec.name in FORM_EXCLUDED:
                continue
            groups.setdefault(spec.metadata["group"], []).append(spec)
        order = [g for g in GROUP_ORDER if g in groups] + [g for g in groups if g not in GROUP_ORDER]
        form = QWidget(self)
        row = QHBoxLayout(form)
        columns = [QVBoxLayout(), QVBoxLayout()]
        for column in columns:
            row.addLayout(column, 1)
        heights = [0, 0]
        self.group_boxes: dict[str, QGroupBox] = {}
        self.form_columns: list[list[str]] = [[], []]  # the groups in each column, top to bottom (tab order)
        self.form_fields: dict[str, list[str]] = {}  # each group's fields, top to bottom
        for group in order:
            box = QGroupBox(group.replace("&", "&&"), form)
            box.setObjectName(f"group_{group}")
            layout = QFormLayout(box)
            layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            layout.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
            layout.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            for spec in groups[group]:
                editor = FieldEditor(spec, box)
                label = QLabel(LABELS.get(spec.name, spec.name.replace("_", " ").capitalize()), box)
                label.setToolTip(spec.metadata["help"])
                label.setBuddy(editor.widget)
                layout.addRow(label, editor.container)
                if spec.name == "backend":  # which backend the run will use and why; unused fields greyed
                    self.backend_line = BackendLine(box)
                    layout.addRow("", self.backend_line.label)
                editor.connect(functools.partial(self._on_field_changed, spec.name))
                self.editors[spec.name] = editor
            shorter = 0 if heights[0] <= heights[1] else 1
            columns[shorter].addWidget(box)
            heights[shorter] += len(groups[group]) + 2
            self.group_boxes[group] = box
            self.form_columns[shorter].append(group)
            self.form_fields[group] = [spec.name for spec in groups[group]]
        for column in columns:
            column.addStretch(1)
        self.form_scroll = QScrollArea(self)
        self.form_scroll.setWidgetResizable(True)
        self.form_scroll.setWidget(form)
        self.form_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.form_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.form_scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Tab goes to the fields, not the scroll area
        self.form_scroll.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def values(self) -> dict[str, Any]:
        """The form's values (this pane's fields only, typed; invalid text is passed through)."""
        return {name: editor.value() for name, editor in self.editors.items()}

    def set_values(self, values: dict[str, Any]) -> None:
        for name, value in values.items():
            if name == "model":
                self.set_model_spec(value)
            elif name in self.editors:
                self.editors[name].set_value(value)
        self.validate_form()
        self.refresh_backend()

    def refresh_backend(self, *_args: Any) -> None:
        if hasattr(self, "backend_line"):
            self.backend_line.refresh(self.values(), self.model_spec() or DEFAULT_MODEL, self.editors)

    def _on_field_changed(self, name: str) -> None:
        self._on_form_edited()
        self.refresh_backend()
        error = self.validate_field(name)
        for other, editor in self.editors.items():  # fields checked against this one (loss_weights: loss_type)
            if name in editor.spec.metadata.get("related", ()):
                self.validate_field(other)
        if name == "max_length" and not error:
            self.maxLengthChanged.emit(int(self.editors[name].value()))
        if name in (
            "per_device_batch_size",
            "max_length",
            "lora_r",
            "lora_target_modules",
            "precision",
            "device",
            "gradient_checkpointing",
        ):
            self._estimate_timer.start()

    def validate_field(self, name: str) -> str | None:
        """Check one field through ``RunConfig.from_dict``, together with the fields it is checked against
        (``related``); show and return its message. A related field's own problem is shown there, not here."""
        editor = self.editors[name]
        related = [r for r in editor.spec.metadata.get("related", ()) if r in self.editors]
        try:
            RunConfig.from_dict({name: editor.value(), **{r: self.editors[r].value() for r in related}})
            error = None
        except ConfigError as exc:
            if exc.field in related:
                error = None
            else:
                error = str(exc).split(": ", 1)[1] if exc.field == name and ": " in str(exc) else str(exc)
        except (TypeError, ValueError) as exc:
            error = str(exc)
        editor.show_error(error)
        return error

    def validate_form(self) -> dict[str, str]:
        errors = {}
        for name in self.editors:
            error = self.validate_field(name)
            if error:
                errors[name] = error
        return errors

    def field_error(self, name: str) -> str:
        editor = self.editors[name]
        return editor.error.text() if editor.error.isVisibleTo(self) or editor.error.text() else ""

    def set_data_provider(self, provider: Callable[[], dict] | None) -> None:
        self.data_provider = provider
        self.refresh_data_summary()

    @Slot()
    def refresh_data_summary(self, *_args) -> None:
        data = {**RunConfig().to_dict(), **self.data_config()}
        first = f", first {data['first_n']} rows" if data.get("first_n") else ""
        if data.get("eval_split"):
            split = f"eval split '{data['eval_split']}'"
        elif data["dataset"] in (BUILTIN_DEMO, BUILTIN_DEMO_MINIMAL):  # these bring their own held-out pairs
            split = "the demo's own 40 held-out eval pairs"
        elif data.get("eval_ratio"):
            split = f"{100 - data['eval_ratio'] * 100:g}/{data['eval_ratio'] * 100:g} train/eval split"
        else:
            split = "no evaluation rows"
        self.data_summary.setText(f"Data: {data['dataset']}{first}, {split} (set in the Dataset pane)")

    def data_config(self) -> dict[str, Any]:
        if self.data_provider is not None:
            try:
                return {k: v for k, v in dict(self.data_provider() or {}).items() if k in DATA_FIELDS}
            except Exception as exc:
                self.message.emit("error", f"the Dataset pane could not give its settings: {exc}")
                return {}
        return dict(self.data_overrides)

    def build_config(self) -> RunConfig:
        """The full run config (this form + the Dataset pane's data settings + the model); raises ConfigError."""
        errors = self.validate_form()
        if errors:
            name = next(iter(errors))
            raise ConfigError(name, errors[name])
        values = {k: v for k, v in self.values().items()}
        values = {k: v for k, v in values.items() if v is not None or self.editors[k].spec.metadata.get("optional")}
        return RunConfig.from_dict({**self.data_config(), **values, "model": self.model_spec() or DEFAULT_MODEL})

    # ---- the form's last values, kept across launches (in the window settings file) ---------------------
    FORM_KEY = "training/form"

    def remember_form(self) -> None:
        """Keep the form's values and model for the next launch (data settings belong to the Dataset pane)."""
        from dpostudio.ui.main_window import window_settings

        settings = window_settings()
        settings.setValue(self.FORM_KEY, json.dumps({"model": self.model_spec(), **self.values()}, default=str))
        settings.sync()

    @classmethod
    def remembered_form(cls) -> dict[str, Any] | None:
        from dpostudio.ui.main_window import window_settings

        try:
            values = json.loads(str(window_settings().value(cls.FORM_KEY, "") or "null"))
        except ValueError:
            return None
        return values if isinstance(values, dict) else None

    def restore_form(self) -> bool:
        """Fill the form with the values it had when the app last closed; False when there are none."""
        values = self.remembered_form()
        if not values:
            return False
        self.set_values({k: v for k, v in values.items() if k == "model" or k in self.editors})
        return True

    def load_config(self, config: RunConfig) -> None:
        data = config.to_dict()
        self.set_model_spec(data.pop("model"))
        self.set_values({k: v for k, v in data.items() if k not in DATA_FIELDS})
        data_part = {k: v for k, v in data.items() if k in DATA_FIELDS}
        self.data_overrides.update(data_part)
        self.dataPresetRequested.emit(data_part)
        self.refresh_data_summary()
