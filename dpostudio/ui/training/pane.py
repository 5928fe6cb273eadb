"""Training pane: base model picker, the run-config form, presets, a memory estimate, Train / Stop / Resume.

The form is generated from ``RunConfig.field_specs()`` (group, help text, choices, range), so a new config field
appears here without UI code. Data-group fields belong to the Dataset pane and are taken from its
``data_config()``. Each field is validated as it is edited through ``RunConfig.from_dict`` and its message is
shown next to it. Training runs through ``TrainingController`` (a worker on a QThread); this pane only reacts to
the events it delivers on the GUI thread.

The form lives in ``config_form`` and the model picker in ``model_picker``; both are mixed into ``TrainingPane``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from dpostudio.core.training.event_types import (
    CANCELLED,
    CHECKPOINT,
    EVAL,
    EVAL_LOSS,
    EVAL_REWARDS_ACCURACIES,
    FINISHED,
    LOG,
    LOSS,
    RESUMABLE_STATES,
    REWARDS_ACCURACIES,
    REWARDS_MARGINS,
    RUNNING,
    STAGE,
    STARTED,
)
from dpostudio.core.training.presets import PRESETS, get_preset
from dpostudio.core.training.run_config import ConfigError, RunConfig
from dpostudio.ui.tasks import Task, run_task
from dpostudio.ui.training.config_form import (
    DATA_FIELDS,
    FORM_EXCLUDED,
    GROUP_ORDER,
    LABELS,
    ConfigFormMixin,
    FieldEditor,
    format_value,
    parse_value,
)
from dpostudio.ui.training.model_picker import (
    MODEL_EMBEDDED,
    MODEL_FOLDER,
    MODEL_GGUF,
    MODEL_HUB,
    MODEL_STORE,
    ModelPickerMixin,
)
from dpostudio.ui.training.worker import TrainingController

__all__ = [
    "DATA_FIELDS",
    "FORM_EXCLUDED",
    "GROUP_ORDER",
    "LABELS",
    "MODEL_EMBEDDED",
    "MODEL_FOLDER",
    "MODEL_GGUF",
    "MODEL_HUB",
    "MODEL_STORE",
    "FieldEditor",
    "TrainingPane",
    "format_eta",
    "format_value",
    "parse_value",
]


def format_eta(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "…"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class TrainingPane(ModelPickerMixin, ConfigFormMixin, QWidget):
    message = Signal(str, str)
    dataPresetRequested = Signal(dict)  # a preset's Data-group values, for the Dataset pane
    runFinished = Signal(object)  # the final event of a run (finished/cancelled/failed) with run_id
    modelChanged = Signal(str)  # the base model spec (the Dataset pane uses its tokenizer)
    maxLengthChanged = Signal(int)  # the DPO max length (the Dataset pane checks truncation with it)
    resumableChanged = Signal()  # whether Resume is offered (and for which run) changed

    def __init__(self, parent: QWidget | None = None, controller: TrainingController | None = None):
        super().__init__(parent)
        self.controller = controller or TrainingController(self)
        self.editors: dict[str, FieldEditor] = {}
        self.data_provider: Callable[[], dict] | None = None
        self.data_overrides: dict[str, Any] = {}  # used when no Dataset pane provides data_config()
        self.hardware = None
        self.last_run_id: str | None = None
        self.last_status: str | None = None
        self.last_run_resumable = False  # the session's last run stopped/failed with a checkpoint to resume from
        self.newest_resumable: str | None = None  # the newest resumable run on disk (found off the GUI thread)
        self._resumable_task: Task | None = None
        self._resumable_again = False
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
        side_scroll.setFrameShape(QFrame.Shape.NoFrame)
        side_scroll.setWidget(side)
        side_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        side_scroll.setMinimumWidth(340)

        splitter = QSplitter(Qt.Orientation.Horizontal, self)
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
        QTimer.singleShot(0, self.refresh_resumable)

    # ---- presets and memory estimate --------------------------------------------------------------
    def _build_actions(self) -> None:
        self.preset_box = QGroupBox("Preset", self)
        self.preset = QComboBox(self.preset_box)
        self.preset.setObjectName("preset")
        self.preset.addItem("Choose a preset…", None)
        for preset in PRESETS:
            self.preset.addItem(preset.name, preset.name)
            self.preset.setItemData(self.preset.count() - 1, preset.description, Qt.ItemDataRole.ToolTipRole)
        self.preset.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.preset.setMinimumContentsLength(20)
        self.preset.activated.connect(self._on_preset_chosen)
        self.preset_description = QLabel(
            "Fills the form with a published recipe; you can change any value after.", self.preset_box
        )
        self.preset_description.setWordWrap(True)
        preset_layout = QVBoxLayout(self.preset_box)
        preset_layout.addWidget(self.preset)
        preset_layout.addWidget(self.preset_description)

        self.memory_box = QGroupBox("Memory estimate", self)
        self.memory_label = QLabel("…", self.memory_box)
        self.memory_label.setObjectName("memory_estimate")
        self.memory_label.setWordWrap(True)
        self.memory_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
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
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
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
        from dpostudio.core.training.memory import estimate_memory, model_config_for

        values = self.values()
        spec = self.model_spec()
        try:
            model_config = model_config_for(spec)
        except Exception:
            model_config = None
        if model_config is None:
            self.memory_label.setText(
                "Cannot estimate yet: the model's config.json is not on this computer "
                "(it is read after the model is downloaded or imported)."
            )
            return
        device, precision = values.get("device") or "auto", values.get("precision") or "auto"
        reason = ""
        try:
            from dpostudio.core.training.device import HardwareInfo, choose_device

            choice = choose_device(self.hardware or HardwareInfo(), device, precision)
            device, precision = choice.device, choice.precision
            if self.hardware is None and values.get("device") == "auto":
                reason = " (device not probed yet: assuming the CPU)"
        except Exception:
            device = "cpu" if device == "auto" else device
            precision = "fp32" if precision == "auto" else precision
        try:
            estimate = estimate_memory(
                model_config,
                precision=precision,
                device=device,
                batch_size=int(values.get("per_device_batch_size") or 1),
                max_length=int(values.get("max_length") or 256),
                lora_r=int(values.get("lora_r") or 16),
                lora_targets=values.get("lora_target_modules") or ["all-linear"],
                gradient_checkpointing=bool(values.get("gradient_checkpointing")),
            )
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            self.memory_label.setText("Cannot estimate the memory for these values.")
            return
        self.memory_label.setText(
            f"On {device.upper()} · {precision}{reason}:\n{estimate.describe()}\n"
            "An estimate from the model's shape, not a measurement."
        )
        self.memory_estimate = estimate

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
        """The run Resume continues: the last run of this session if it stopped, failed or was interrupted with a
        checkpoint, else the newest such run on disk (which includes runs whose process was killed before the
        app was last closed: their status reads "interrupted")."""
        if self.last_run_id and self.last_run_resumable:
            return self.last_run_id
        return self.newest_resumable

    def can_resume(self) -> bool:
        return not self.controller.is_running() and self.resumable_run_id() is not None

    @Slot()
    def refresh_resumable(self) -> None:
        """Look for the newest resumable run off the GUI thread; Resume is offered once one is found."""
        if self._resumable_task is not None and self._resumable_task.is_running():
            self._resumable_again = True  # what it reads may already be out of date: look once more after it
            return
        from dpostudio.core.training.runs import Run, newest_resumable_run

        def found(run: Run | None) -> None:
            self._set_newest_resumable(run.id if run is not None else None)
            if self._resumable_again:
                self._resumable_again = False
                self.refresh_resumable()

        self._resumable_task = run_task(self, newest_resumable_run, on_result=found, on_error=lambda *_: found(None))

    @Slot(list)
    def set_runs(self, rows: list) -> None:
        """The run history changed (rows of the Metrics pane, newest first, each with ``resumable``)."""
        self._set_newest_resumable(next((row["id"] for row in rows if row.get("resumable")), None))

    def _set_newest_resumable(self, run_id: str | None) -> None:
        if run_id != self.newest_resumable:
            self.newest_resumable = run_id
            self._update_buttons()

    @Slot()
    def resume_training(self, run_id: str | None = None) -> bool:
        if self.controller.is_running():
            self.message.emit("warning", "a training run is already in progress")
            return False
        run_id = run_id or self.resumable_run_id()
        if not run_id:
            self.message.emit("warning", "there is no stopped, failed or interrupted run with a checkpoint to resume")
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
        if kind == STARTED:
            self.last_run_id = event.get("run_id")
            self.last_status = RUNNING
            self.last_run_resumable = False
            origin = f", resuming from step {event['resumed_from_step']}" if event.get("resumed_from_step") else ""
            self.status.setText(
                f"Run {event.get('run_id')} on {str(event.get('device', '')).upper()} · "
                f"{event.get('precision')} ({event.get('device_reason')}){origin}"
            )
        elif kind == STAGE:
            if self.progress.maximum() <= 1 or self.progress.value() <= 0:
                self.progress.setRange(0, 1000)
                self.progress.setValue(int(1000 * float(event.get("fraction") or 0)))
                self.progress.setFormat(str(event.get("message", ""))[:60])
        elif kind == LOG:
            step, total = int(event.get("step") or 0), int(event.get("max_steps") or 0)
            if total > 0:
                self.progress.setRange(0, total)
                self.progress.setValue(min(step, total))
                self.progress.setFormat(f"step {step} / {total} · ETA {format_eta(event.get('eta_s'))}")
            metrics = event.get("metrics") or {}
            if LOSS in metrics:
                self.status.setText(
                    f"Step {step}: loss {metrics[LOSS]:.4f}, margin "
                    f"{metrics.get(REWARDS_MARGINS, float('nan')):+.3f}, accuracy "
                    f"{metrics.get(REWARDS_ACCURACIES, float('nan')):.2f}"
                )
        elif kind == CHECKPOINT:
            self.message.emit("info", f"checkpoint saved at step {event.get('step')}")
        elif kind == EVAL:
            metrics = event.get("metrics") or {}
            if EVAL_LOSS in metrics:
                self.message.emit(
                    "info",
                    f"eval @ step {event.get('step')}: loss {metrics[EVAL_LOSS]:.4f}, "
                    f"accuracy {metrics.get(EVAL_REWARDS_ACCURACIES, float('nan')):.2f}",
                )

    @Slot(object)
    def _on_finished(self, final: dict) -> None:
        kind = final.get("type")
        self.last_status = kind
        if final.get("run_id"):
            self.last_run_id = final["run_id"]
        self.last_run_resumable = kind in RESUMABLE_STATES and self._has_checkpoint(self.last_run_id)
        text = final.get("message") or kind
        if kind == FINISHED:
            self.progress.setRange(0, max(self.progress.maximum(), 1))
            self.progress.setValue(self.progress.maximum())
            self.progress.setFormat(f"finished · {final.get('step', 0)} steps")
            self.message.emit("info", f"training finished: {text}")
        elif kind == CANCELLED:
            self.progress.setRange(0, max(self.progress.maximum(), 1))
            self.progress.setFormat(f"stopped at step {final.get('step', 0)}")
            self.message.emit("warning", f"training stopped: {text}")
        else:
            self.progress.setRange(0, max(self.progress.maximum(), 1))
            self.progress.setFormat("failed")
            self.message.emit("error", f"training failed: {text}")
        self.status.setText(f"{str(kind).capitalize()}: {text}")
        self._update_buttons()
        self.refresh_resumable()  # this run may have been the newest resumable one, or become it
        self.runFinished.emit(final)

    @staticmethod
    def _has_checkpoint(run_id: str | None) -> bool:
        """Whether the run has a checkpoint to resume from (one folder listing: cheap enough for the GUI thread)."""
        if not run_id:
            return False
        try:
            from dpostudio.core.training.runs import get_run

            return get_run(run_id).latest_checkpoint() is not None
        except Exception:
            return False

    def _update_buttons(self) -> None:
        running = self.controller.is_running()
        self.train_button.setEnabled(not running)
        self.stop_button.setEnabled(running and not self.controller.stop_requested())
        resume_id = self.resumable_run_id()
        self.resume_button.setEnabled(not running and resume_id is not None)
        self.resume_button.setToolTip(
            f"Continue run {resume_id} from its last checkpoint."
            if resume_id
            else "Continue a stopped, failed or interrupted run from its last checkpoint (none yet)."
        )
        self.resumableChanged.emit()
