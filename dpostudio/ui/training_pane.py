"""Training pane: base model picker, the run-config form, presets, a memory estimate, Train / Stop / Resume.

The form is generated from ``RunConfig.field_specs()`` (group, help text, choices, range), so a new config field
appears here without UI code. Data-group fields belong to the Dataset pane and are taken from its
``data_config()``. Each field is validated as it is edited through ``RunConfig.from_dict`` and its message is
shown next to it. Training runs through ``TrainingController`` (a worker on a QThread); this pane only reacts to
the events it delivers on the GUI thread.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QFileDialog, QFormLayout, QFrame, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
    QProgressBar, QPushButton, QScrollArea, QSizePolicy, QSplitter, QVBoxLayout, QWidget,
)

from dpostudio.core.presets import PRESETS, get_preset
from dpostudio.core.run_config import DEFAULT_MODEL, ConfigError, RunConfig

from .tasks import run_task
from .training_worker import TrainingController

# Fields the Dataset pane owns (the Data group): never duplicated in this form.
DATA_FIELDS = tuple(f.name for f in RunConfig.field_specs() if f.metadata["group"] == "Data")
FORM_EXCLUDED = set(DATA_FIELDS) | {"model"}
GROUP_ORDER = ("DPO", "LoRA", "Optimisation", "Precision & device", "Evaluation & saving", "Model", "Run")
LABELS = {
    "trust_remote_code": "Trust remote code", "beta": "Beta (β)", "loss_type": "Loss", "max_length": "Max length (tokens)",
    "lora_r": "Rank r", "lora_alpha": "Alpha", "lora_dropout": "Dropout", "lora_target_modules": "Target modules",
    "learning_rate": "Learning rate", "lr_scheduler_type": "Scheduler", "warmup_steps": "Warm-up steps",
    "warmup_ratio": "Warm-up ratio", "weight_decay": "Weight decay", "optimizer": "Optimizer",
    "per_device_batch_size": "Batch size", "gradient_accumulation_steps": "Grad. accumulation",
    "num_train_epochs": "Epochs", "max_steps": "Max steps", "max_grad_norm": "Max grad norm", "seed": "Seed",
    "device": "Device", "precision": "Precision", "gradient_checkpointing": "Gradient checkpointing",
    "eval_steps": "Eval every (steps)", "logging_steps": "Log every (steps)", "save_steps": "Save every (steps)",
    "save_total_limit": "Keep checkpoints", "name": "Run name",
}
MODEL_EMBEDDED, MODEL_HUB, MODEL_FOLDER, MODEL_GGUF, MODEL_STORE = "embedded", "hub", "folder", "gguf", "store"


def _kind(spec: dataclasses.Field) -> type:
    default = spec.default if spec.default is not dataclasses.MISSING else spec.default_factory()  # type: ignore[misc]
    if default is not None:
        return type(default)
    text = str(spec.type)
    for kind in (bool, int, float, str):
        if text.startswith(kind.__name__):
            return kind
    return str


def format_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(map(str, value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def parse_value(text: str, kind: type) -> Any:
    """Text from an editor to a typed value; unparsable text is passed on so validation can name the problem."""
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
        return [part.strip() for part in text.split(",") if part.strip()]
    return text


def format_eta(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "…"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class FieldEditor:
    """One form row: the editor widget and the error label under it."""

    def __init__(self, spec: dataclasses.Field, parent: QWidget):
        self.spec = spec
        self.name = spec.name
        self.kind = _kind(spec)
        meta = spec.metadata
        help_text = meta["help"]
        if meta.get("choices"):
            widget = QComboBox(parent)
            widget.addItems(list(meta["choices"]))
        elif self.kind is bool:
            widget = QCheckBox(parent)
        else:
            widget = QLineEdit(parent)
            if meta.get("optional"):
                widget.setPlaceholderText("empty = not set")
            widget.setClearButtonEnabled(False)
        widget.setObjectName(f"field_{self.name}")
        widget.setToolTip(help_text + _range_hint(meta))
        self.widget = widget
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

    def value(self) -> Any:
        if isinstance(self.widget, QComboBox):
            return self.widget.currentText()
        if isinstance(self.widget, QCheckBox):
            return self.widget.isChecked()
        return parse_value(self.widget.text(), self.kind)

    def set_value(self, value: Any) -> None:
        if isinstance(self.widget, QComboBox):
            self.widget.setCurrentText(str(value))
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


def _range_hint(meta: dict) -> str:
    lo, hi = meta.get("min"), meta.get("max")
    if lo is None and hi is None:
        return ""
    if lo is not None and hi is not None:
        return f"\nAllowed: {'more than' if meta.get('min_exclusive') else 'from'} {lo:g} to {hi:g}."
    if lo is not None:
        return f"\nAllowed: {'more than' if meta.get('min_exclusive') else 'at least'} {lo:g}."
    return f"\nAllowed: at most {hi:g}."


class TrainingPane(QWidget):
    message = Signal(str, str)
    dataPresetRequested = Signal(dict)  # a preset's Data-group values, for the Dataset pane
    runFinished = Signal(object)        # the final event of a run (finished/cancelled/failed) with run_id
    modelChanged = Signal(str)          # the base model spec (the Dataset pane uses its tokenizer)
    maxLengthChanged = Signal(int)      # the DPO max length (the Dataset pane checks truncation with it)

    def __init__(self, parent: QWidget | None = None, controller: TrainingController | None = None):
        super().__init__(parent)
        self.controller = controller or TrainingController(self)
        self.editors: dict[str, FieldEditor] = {}
        self.data_provider: Callable[[], dict] | None = None
        self.data_overrides: dict[str, Any] = {}  # used when no Dataset pane provides data_config()
        self.hardware = None
        self.last_run_id: str | None = None
        self.last_status: str | None = None
        self.import_task = None
        self._store_models: list[dict] = []
        self._estimate_timer = QTimer(self)
        self._estimate_timer.setSingleShot(True)
        self._estimate_timer.setInterval(250)
        self._estimate_timer.timeout.connect(self.update_memory_estimate)

        self._build_model_box()
        self._build_form()
        self._build_actions()

        side = QWidget(self)
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 6, 0)
        side_layout.addWidget(self.model_box)
        side_layout.addWidget(self.preset_box)
        side_layout.addWidget(self.memory_box)
        side_layout.addStretch(1)
        side_layout.addWidget(self.action_box)
        side_scroll = QScrollArea(self)
        side_scroll.setWidgetResizable(True)
        side_scroll.setFrameShape(QFrame.NoFrame)
        side_scroll.setWidget(side)
        side_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        side_scroll.setMinimumWidth(340)

        splitter = QSplitter(Qt.Horizontal, self)
        splitter.addWidget(side_scroll)
        splitter.addWidget(self.form_scroll)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([360, 760])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        self.controller.event.connect(self._on_event)
        self.controller.finished.connect(self._on_finished)
        self.controller.crashed.connect(lambda text, _tb: self.message.emit("error", f"training crashed: {text}"))
        self.set_values(RunConfig().to_dict())
        self._update_buttons()
        self.refresh_data_summary()
        QTimer.singleShot(0, self.refresh_model_list)
        QTimer.singleShot(0, self.update_memory_estimate)

    # ---- model picker -----------------------------------------------------------------------------
    def _build_model_box(self) -> None:
        self.model_box = QGroupBox("Base model", self)
        self.model_source = QComboBox(self.model_box)
        self.model_source.setObjectName("model_source")
        self.model_source.setToolTip("Where the base model comes from. The embedded default works offline.")
        self.model_text = QLineEdit(self.model_box)
        self.model_text.setObjectName("model_text")
        self.model_browse = QPushButton("Browse…", self.model_box)
        self.model_import = QPushButton("Import GGUF", self.model_box)
        self.model_import.setToolTip("Convert the GGUF file into the model store now (once), with progress.")
        self.import_progress = QProgressBar(self.model_box)
        self.import_progress.setRange(0, 1000)
        self.import_progress.setTextVisible(True)
        self.import_progress.hide()
        self.model_hint = QLabel(self.model_box)
        self.model_hint.setWordWrap(True)
        self.model_hint.setObjectName("model_hint")
        row = QHBoxLayout()
        row.addWidget(self.model_text, 1)
        row.addWidget(self.model_browse)
        layout = QVBoxLayout(self.model_box)
        layout.addWidget(self.model_source)
        layout.addLayout(row)
        layout.addWidget(self.model_import)
        layout.addWidget(self.import_progress)
        layout.addWidget(self.model_hint)
        self._fill_model_sources()
        self.model_source.currentIndexChanged.connect(self._on_model_source)
        self.model_text.textChanged.connect(lambda *_: self._on_model_changed())
        self.model_browse.clicked.connect(self._browse_model)
        self.model_import.clicked.connect(lambda: self.import_gguf(self.model_text.text()))
        self._on_model_source()

    def _fill_model_sources(self) -> None:
        current = self.model_spec() if self.model_source.count() else DEFAULT_MODEL
        self.model_source.blockSignals(True)
        self.model_source.clear()
        self.model_source.addItem("Embedded default: SmolLM2-135M-Instruct", (MODEL_EMBEDDED, DEFAULT_MODEL))
        for entry in self._store_models:
            name = entry.get("name") or entry["path"]
            if name == "SmolLM2-135M-Instruct":
                continue
            self.model_source.addItem(f"Imported: {name}", (MODEL_STORE, entry["path"]))
        self.model_source.addItem("Hugging Face Hub id…", (MODEL_HUB, ""))
        self.model_source.addItem("Local model folder…", (MODEL_FOLDER, ""))
        self.model_source.addItem("GGUF file…", (MODEL_GGUF, ""))
        self.model_source.blockSignals(False)
        self.set_model_spec(current)

    @Slot()
    def refresh_model_list(self) -> None:
        from dpostudio.core.model_store import list_store

        def done(entries):
            self._store_models = list(entries or [])
            self._fill_model_sources()

        run_task(self, list_store, on_result=done,
                 on_error=lambda text, _tb: self.message.emit("warning", f"could not list imported models: {text}"))

    def _source_kind(self) -> str:
        data = self.model_source.currentData()
        return data[0] if data else MODEL_EMBEDDED

    def _on_model_source(self) -> None:
        kind = self._source_kind()
        editable = kind in (MODEL_HUB, MODEL_FOLDER, MODEL_GGUF)
        self.model_text.setVisible(editable)
        self.model_browse.setVisible(kind in (MODEL_FOLDER, MODEL_GGUF))
        self.model_import.setVisible(kind == MODEL_GGUF)
        self.model_text.setPlaceholderText({MODEL_HUB: "owner/name, e.g. HuggingFaceTB/SmolLM2-360M-Instruct",
                                            MODEL_FOLDER: "folder with config.json and safetensors",
                                            MODEL_GGUF: "path to a .gguf file"}.get(kind, ""))
        self.model_hint.setText({
            MODEL_EMBEDDED: "Ships with DPO Studio (135 M parameters) and works offline: good for a first run on a CPU.",
            MODEL_STORE: "A model imported earlier from a GGUF file.",
            MODEL_HUB: "Downloaded from the Hugging Face Hub on first use (a token from Settings is used for gated models).",
            MODEL_FOLDER: "A transformers model folder on this computer.",
            MODEL_GGUF: "Converted once into the model store (LM Studio, Ollama and llama.cpp files).",
        }[kind])
        self._on_model_changed()

    def _on_model_changed(self) -> None:
        self._estimate_timer.start()
        if hasattr(self, "editors"):
            self.modelChanged.emit(self.model_spec())

    def model_spec(self) -> str:
        data = self.model_source.currentData()
        if not data:
            return DEFAULT_MODEL
        kind, spec = data
        if kind in (MODEL_HUB, MODEL_FOLDER, MODEL_GGUF):
            return self.model_text.text().strip()
        return spec

    def set_model_spec(self, spec: str) -> None:
        spec = (spec or DEFAULT_MODEL).strip()
        for i in range(self.model_source.count()):
            kind, value = self.model_source.itemData(i)
            if value and value == spec:
                self.model_source.setCurrentIndex(i)
                self._on_model_source()
                return
        if spec.lower().endswith(".gguf"):
            kind = MODEL_GGUF
        elif spec.startswith(("/", "~", ".")) or "\\" in spec:
            kind = MODEL_FOLDER
        else:
            kind = MODEL_HUB
        for i in range(self.model_source.count()):
            if self.model_source.itemData(i)[0] == kind:
                self.model_source.setCurrentIndex(i)
                break
        self.model_text.setText(spec)
        self._on_model_source()

    def _browse_model(self) -> None:
        if self._source_kind() == MODEL_GGUF:
            path, _ = QFileDialog.getOpenFileName(self, "Choose a GGUF model file", "", "GGUF models (*.gguf)")
        else:
            path = QFileDialog.getExistingDirectory(self, "Choose a model folder")
        if path:
            self.model_text.setText(path)

    def import_gguf(self, path: str) -> None:
        """Convert a GGUF file into the model store in a background task, with progress; then select it."""
        path = (path or "").strip()
        if not path:
            self.message.emit("warning", "choose a .gguf file to import")
            return
        if self.import_task is not None and self.import_task.is_running():
            self.message.emit("warning", "a model import is already running")
            return
        from dpostudio.core.model_store import import_gguf

        def work(p, progress):
            return str(import_gguf(p, on_progress=progress))

        def on_progress(fraction, text):
            self.import_progress.setValue(int(fraction * 1000))
            self.import_progress.setFormat(f"{text} · {fraction:.0%}" if text else f"{fraction:.0%}")

        def done(folder):
            self.import_progress.hide()
            self.model_import.setEnabled(True)
            self.message.emit("info", f"imported {path} into the model store: {folder}")
            self._store_models.insert(0, {"name": folder.rstrip('/').split('/')[-1], "path": folder})
            self._fill_model_sources()
            self.set_model_spec(folder)

        def failed(text, _tb):
            self.import_progress.hide()
            self.model_import.setEnabled(True)
            self.message.emit("error", f"could not import the GGUF model: {text}")

        self.model_import.setEnabled(False)
        self.import_progress.setValue(0)
        self.import_progress.setFormat("starting…")
        self.import_progress.show()
        self.import_task = run_task(self, work, path, with_progress=True, on_result=done, on_error=failed,
                                    on_progress=on_progress)

    # ---- presets and memory estimate --------------------------------------------------------------
    def _build_actions(self) -> None:
        self.preset_box = QGroupBox("Preset", self)
        self.preset = QComboBox(self.preset_box)
        self.preset.setObjectName("preset")
        self.preset.addItem("Choose a preset…", None)
        for preset in PRESETS:
            self.preset.addItem(preset.name, preset.name)
            self.preset.setItemData(self.preset.count() - 1, preset.description, Qt.ToolTipRole)
        self.preset.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.preset.setMinimumContentsLength(20)
        self.preset.activated.connect(self._on_preset_chosen)
        self.preset_description = QLabel("Fills the form with a published recipe; you can change any value after.",
                                         self.preset_box)
        self.preset_description.setWordWrap(True)
        preset_layout = QVBoxLayout(self.preset_box)
        preset_layout.addWidget(self.preset)
        preset_layout.addWidget(self.preset_description)

        self.memory_box = QGroupBox("Memory estimate", self)
        self.memory_label = QLabel("…", self.memory_box)
        self.memory_label.setObjectName("memory_estimate")
        self.memory_label.setWordWrap(True)
        self.memory_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        QVBoxLayout(self.memory_box).addWidget(self.memory_label)

        self.action_box = QGroupBox("Training", self)
        self.train_button = QPushButton("Train", self.action_box)
        self.train_button.setObjectName("train_button")
        self.train_button.setDefault(True)
        self.stop_button = QPushButton("Stop", self.action_box)
        self.stop_button.setObjectName("stop_button")
        self.stop_button.setToolTip("Stop at the next step, saving a checkpoint you can resume from.")
        self.resume_button = QPushButton("Resume", self.action_box)
        self.resume_button.setObjectName("resume_button")
        self.resume_button.setToolTip("Continue the last stopped or failed run from its last checkpoint.")
        self.train_button.clicked.connect(self.start_training)
        self.stop_button.clicked.connect(self.stop_training)
        self.resume_button.clicked.connect(lambda: self.resume_training())
        buttons = QHBoxLayout()
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.resume_button)
        self.progress = QProgressBar(self.action_box)
        self.progress.setObjectName("training_progress")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("idle")
        self.progress.setTextVisible(True)
        self.status = QLabel("Ready.", self.action_box)
        self.status.setObjectName("training_status")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.data_summary = QLabel(self.action_box)
        self.data_summary.setObjectName("data_summary")
        self.data_summary.setWordWrap(True)
        self.data_summary.setToolTip("Preference data and split come from the Dataset pane.")
        layout = QVBoxLayout(self.action_box)
        layout.addWidget(self.data_summary)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)

    @Slot(int)
    def _on_preset_chosen(self, index: int) -> None:
        name = self.preset.itemData(index)
        if name:
            self.apply_preset(name)

    def apply_preset(self, name: str) -> None:
        preset = get_preset(name)
        values = preset.training_values()
        model = values.pop("model", None)
        if model:
            self.set_model_spec(model)
        self.set_values(values)
        data = preset.data_values()
        if data:
            self.data_overrides.update(data)
            self.dataPresetRequested.emit(data)
        self.refresh_data_summary()
        i = self.preset.findData(preset.name)
        if i >= 0:
            self.preset.setCurrentIndex(i)
        self.preset_description.setText(preset.description)
        self.message.emit("info", f"preset applied: {preset.name}")

    def set_hardware(self, hardware) -> None:
        """The probed ``HardwareInfo`` (from the status bar's background probe), for 'auto' device/precision."""
        self.hardware = hardware
        self._estimate_timer.start()

    @Slot()
    def update_memory_estimate(self) -> None:
        from dpostudio.core.memory_estimate import estimate_memory, model_config_for

        values = self.values()
        spec = self.model_spec()
        try:
            model_config = model_config_for(spec)
        except Exception:
            model_config = None
        if model_config is None:
            self.memory_label.setText("Cannot estimate yet: the model's config.json is not on this computer "
                                      "(it is read after the model is downloaded or imported).")
            return
        device, precision = values.get("device") or "auto", values.get("precision") or "auto"
        reason = ""
        try:
            from dpostudio.core.device import HardwareInfo, choose_device

            choice = choose_device(self.hardware or HardwareInfo(), device, precision)
            device, precision = choice.device, choice.precision
            if self.hardware is None and values.get("device") == "auto":
                reason = " (device not probed yet: assuming the CPU)"
        except Exception:
            device = "cpu" if device == "auto" else device
            precision = "fp32" if precision == "auto" else precision
        try:
            estimate = estimate_memory(
                model_config, precision=precision, device=device,
                batch_size=int(values.get("per_device_batch_size") or 1),
                max_length=int(values.get("max_length") or 256), lora_r=int(values.get("lora_r") or 16),
                lora_targets=values.get("lora_target_modules") or ["all-linear"],
                gradient_checkpointing=bool(values.get("gradient_checkpointing")))
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            self.memory_label.setText("Cannot estimate the memory for these values.")
            return
        self.memory_label.setText(
            f"On {device.upper()} · {precision}{reason}:\n{estimate.describe()}\n"
            "An estimate from the model's shape, not a measurement.")
        self.memory_estimate = estimate

    # ---- the form ---------------------------------------------------------------------------------
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
        for group in order:
            box = QGroupBox(group.replace("&", "&&"), form)
            box.setObjectName(f"group_{group}")
            layout = QFormLayout(box)
            layout.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
            layout.setRowWrapPolicy(QFormLayout.DontWrapRows)
            layout.setLabelAlignment(Qt.AlignRight | Qt.AlignVCenter)
            for spec in groups[group]:
                editor = FieldEditor(spec, box)
                label = QLabel(LABELS.get(spec.name, spec.name.replace("_", " ").capitalize()), box)
                label.setToolTip(spec.metadata["help"])
                label.setBuddy(editor.widget)
                layout.addRow(label, editor.container)
                editor.connect(lambda name=spec.name: self._on_field_changed(name))
                self.editors[spec.name] = editor
            column = 0 if heights[0] <= heights[1] else 1
            columns[column].addWidget(box)
            heights[column] += len(groups[group]) + 2
            self.group_boxes[group] = box
        for column in columns:
            column.addStretch(1)
        self.form_scroll = QScrollArea(self)
        self.form_scroll.setWidgetResizable(True)
        self.form_scroll.setWidget(form)
        self.form_scroll.setFrameShape(QFrame.NoFrame)
        self.form_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.form_scroll.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)

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

    def _on_field_changed(self, name: str) -> None:
        error = self.validate_field(name)
        if name == "max_length" and not error:
            self.maxLengthChanged.emit(int(self.editors[name].value()))
        if name in ("per_device_batch_size", "max_length", "lora_r", "lora_target_modules", "precision", "device",
                    "gradient_checkpointing"):
            self._estimate_timer.start()

    def validate_field(self, name: str) -> str | None:
        """Check one field on its own through ``RunConfig.from_dict``; show and return its message."""
        editor = self.editors[name]
        try:
            RunConfig.from_dict({name: editor.value()})
            error = None
        except ConfigError as exc:
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
        split = f"eval split '{data['eval_split']}'" if data.get("eval_split") else (
            f"{100 - data['eval_ratio'] * 100:g}/{data['eval_ratio'] * 100:g} train/eval split" if data.get("eval_ratio")
            else "no evaluation rows")
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

    def load_config(self, config: RunConfig) -> None:
        data = config.to_dict()
        self.set_model_spec(data.pop("model"))
        self.set_values({k: v for k, v in data.items() if k not in DATA_FIELDS})
        data_part = {k: v for k, v in data.items() if k in DATA_FIELDS}
        self.data_overrides.update(data_part)
        self.dataPresetRequested.emit(data_part)
        self.refresh_data_summary()

    # ---- training ---------------------------------------------------------------------------------
    def is_training(self) -> bool:
        return self.controller.is_running()

    @Slot()
    def start_training(self) -> bool:
        if self.controller.is_running():
            self.message.emit("warning", "a training run is already in progress")
            return False
        try:
            config = self.build_config()
        except ConfigError as exc:
            if exc.field in self.editors:
                self.editors[exc.field].show_error(str(exc).split(": ", 1)[-1])
                self.editors[exc.field].widget.setFocus()
            where = "" if exc.field in self.editors else " (Dataset pane)" if exc.field in DATA_FIELDS else ""
            self.message.emit("error", f"cannot start training{where}: {exc}")
            self.status.setText(f"Fix this first: {exc}")
            return False
        self.last_status = "starting"
        self.progress.setRange(0, 0)  # busy until the first step
        self.progress.setFormat("starting…")
        self.status.setText("Starting: loading the model and the data…")
        self.controller.start(config)
        self._update_buttons()
        self.message.emit("info", f"training started: {config.model} on {config.dataset}")
        return True

    @Slot()
    def stop_training(self) -> None:
        if self.controller.stop():
            self.status.setText("Stopping at the next step boundary and saving a checkpoint…")
            self.message.emit("info", "stop requested: the run stops after the current step and saves a checkpoint")
            self._update_buttons()

    def resumable_run_id(self) -> str | None:
        """The run Resume continues: the last run of this session if it stopped or failed, else the newest such run."""
        if self.last_run_id and self.last_status in ("cancelled", "failed"):
            return self.last_run_id
        try:
            from dpostudio.core.runs import list_runs

            for run in list_runs()[:20]:
                if run.info().get("status") in ("cancelled", "failed") and run.latest_checkpoint() is not None:
                    return run.id
        except Exception:
            return None
        return None

    @Slot()
    def resume_training(self, run_id: str | None = None) -> bool:
        if self.controller.is_running():
            self.message.emit("warning", "a training run is already in progress")
            return False
        run_id = run_id or self.resumable_run_id()
        if not run_id:
            self.message.emit("warning", "there is no stopped run to resume")
            return False
        self.last_status = "starting"
        self.progress.setRange(0, 0)
        self.progress.setFormat("resuming…")
        self.status.setText(f"Resuming run {run_id} from its last checkpoint…")
        self.controller.start(None, resume=run_id)
        self._update_buttons()
        self.message.emit("info", f"resuming run {run_id}")
        return True

    @Slot(object)
    def _on_event(self, event: dict) -> None:
        kind = event.get("type")
        if kind == "started":
            self.last_run_id = event.get("run_id")
            self.last_status = "running"
            origin = f", resuming from step {event['resumed_from_step']}" if event.get("resumed_from_step") else ""
            self.status.setText(f"Run {event.get('run_id')} on {str(event.get('device', '')).upper()} · "
                                f"{event.get('precision')} ({event.get('device_reason')}){origin}")
        elif kind == "stage":
            if self.progress.maximum() <= 1 or self.progress.value() <= 0:
                self.progress.setRange(0, 1000)
                self.progress.setValue(int(1000 * float(event.get("fraction") or 0)))
                self.progress.setFormat(str(event.get("message", ""))[:60])
        elif kind == "log":
            step, total = int(event.get("step") or 0), int(event.get("max_steps") or 0)
            if total > 0:
                self.progress.setRange(0, total)
                self.progress.setValue(min(step, total))
                self.progress.setFormat(f"step {step} / {total} · ETA {format_eta(event.get('eta_s'))}")
            metrics = event.get("metrics") or {}
            if "loss" in metrics:
                self.status.setText(f"Step {step}: loss {metrics['loss']:.4f}, margin "
                                    f"{metrics.get('rewards/margins', float('nan')):+.3f}, accuracy "
                                    f"{metrics.get('rewards/accuracies', float('nan')):.2f}")
        elif kind == "checkpoint":
            self.message.emit("info", f"checkpoint saved at step {event.get('step')}")
        elif kind == "eval":
            metrics = event.get("metrics") or {}
            if "eval_loss" in metrics:
                self.message.emit("info", f"eval @ step {event.get('step')}: loss {metrics['eval_loss']:.4f}, "
                                          f"accuracy {metrics.get('eval_rewards/accuracies', float('nan')):.2f}")

    @Slot(object)
    def _on_finished(self, final: dict) -> None:
        kind = final.get("type")
        self.last_status = kind
        if final.get("run_id"):
            self.last_run_id = final["run_id"]
        text = final.get("message") or kind
        if kind == "finished":
            self.progress.setRange(0, max(self.progress.maximum(), 1))
            self.progress.setValue(self.progress.maximum())
            self.progress.setFormat(f"finished · {final.get('step', 0)} steps")
            self.message.emit("info", f"training finished: {text}")
        elif kind == "cancelled":
            self.progress.setRange(0, max(self.progress.maximum(), 1))
            self.progress.setFormat(f"stopped at step {final.get('step', 0)}")
            self.message.emit("warning", f"training stopped: {text}")
        else:
            self.progress.setRange(0, max(self.progress.maximum(), 1))
            self.progress.setFormat("failed")
            self.message.emit("error", f"training failed: {text}")
        self.status.setText(f"{str(kind).capitalize()}: {text}")
        self._update_buttons()
        self.runFinished.emit(final)

    def _update_buttons(self) -> None:
        running = self.controller.is_running()
        self.train_button.setEnabled(not running)
        self.stop_button.setEnabled(running and not self.controller.stop_requested())
        self.resume_button.setEnabled(not running)
