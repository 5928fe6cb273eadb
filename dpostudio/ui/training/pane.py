"""Training pane: base model picker, the run-config form, presets, a memory estimate, Train / Stop / Resume.

The form is generated from ``RunConfig.field_specs()`` (group, help text, choices, range), so a new config field
appears here without UI code. Data-group fields belong to the Dataset pane and are taken from its
``data_config()``. Each field is validated as it is edited through ``RunConfig.from_dict`` and its message is
shown next to it. Training runs through ``TrainingController`` (a worker on a QThread); this pane only reacts to
the events it delivers on the GUI thread.

The form lives in ``config_form``, the model picker in ``model_picker``, the memory and time estimates in
``estimates`` and what past runs offer (Resume, "Train again", the first-run preset) in ``past_runs``; all are mixed
into ``TrainingPane``. The progress bar and status line are written by ``run_status.RunStatus`` from the run's
state (phase, stop asked for, end). The form's values are remembered across launches.
"""

from __future__ import annotations

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
    RESUMABLE_STATES,
    RUNNING,
    STAGE,
    STARTED,
)
from dpostudio.core.training.presets import PRESETS, get_preset
from dpostudio.core.training.run_config import ConfigError, RunConfig
from dpostudio.core.training.run_history import History, ResumeOffer
from dpostudio.ui.tasks import Task
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
from dpostudio.ui.training.estimates import EstimatesMixin
from dpostudio.ui.training.model_picker import (
    MODEL_EMBEDDED,
    MODEL_FOLDER,
    MODEL_GGUF,
    MODEL_HUB,
    MODEL_STORE,
    ModelPickerMixin,
)
from dpostudio.ui.training.past_runs import PastRunsMixin
from dpostudio.ui.training.run_status import RunStatus, checkpoint_step, format_eta
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


class TrainingPane(PastRunsMixin, EstimatesMixin, ModelPickerMixin, ConfigFormMixin, QWidget):
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
        self.history: History | None = None  # the last reading of the run history (past_runs)
        self.resume_offer: ResumeOffer | None = None
        self.last_run_id: str | None = None
        self.last_status: str | None = None
        self.last_run_resumable = False  # the session's last run stopped/failed with a checkpoint to resume from
        self.newest_resumable: str | None = None  # the newest resumable run on disk (found off the GUI thread)
        self._resumable_task: Task | None = None
        self._resumable_again = False
        self._first_run_checked = False
        self.form_restored = False
        self._building = True
        self.import_task = None
        self._store_models: list[dict] = []
        self._estimate_timer = QTimer(self)
        self._estimate_timer.setSingleShot(True)
        self._estimate_timer.setInterval(250)
        self._estimate_timer.timeout.connect(self.update_estimates)
        self._estimate_timer.timeout.connect(self._update_spread)
        self._remember_timer = QTimer(self)  # the form's values are written shortly after each edit
        self._remember_timer.setSingleShot(True)
        self._remember_timer.setInterval(500)
        self._remember_timer.timeout.connect(self.remember_form)

        self._build_model_box()
        self._build_form()
        self._build_estimates()
        self._build_actions()

        side = QWidget(self)
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(self.model_box)
        side_layout.addWidget(self.preset_box)
        side_layout.addWidget(self.memory_box)
        side_layout.addStretch(1)
        side_scroll = QScrollArea(self)
        side_scroll.setWidgetResizable(True)
        side_scroll.setFrameShape(QFrame.Shape.NoFrame)
        side_scroll.setWidget(side)
        side_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        side_scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Tab goes to the fields, not the scroll area
        # Train / Stop / Resume, the progress bar and the run's status stay in view however tall the window is
        side_host = QWidget(self)
        side_column = QVBoxLayout(side_host)
        side_column.setContentsMargins(0, 0, 6, 0)
        side_column.addWidget(side_scroll, 1)
        side_column.addWidget(self.action_box)
        side_host.setMinimumWidth(360)

        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(side_host)
        splitter.addWidget(self.form_scroll)
        splitter.setChildrenCollapsible(False)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([380, 760])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        self._set_tab_order()

        self.controller.event.connect(self._on_event)
        self.modelChanged.connect(self.refresh_backend)  # the backend depends on the model's architecture
        self.controller.finished.connect(self._on_finished)
        self.controller.crashed.connect(lambda text, _tb: self.message.emit("error", f"training crashed: {text}"))
        self.set_values(RunConfig().to_dict())
        self.form_restored = self.restore_form()
        self._building = False
        self._update_buttons()
        self.refresh_data_summary()
        QTimer.singleShot(0, self.refresh_model_list)
        QTimer.singleShot(0, self.update_estimates)
        QTimer.singleShot(0, self.refresh_resumable)

    def _set_tab_order(self) -> None:
        """Tab walks the pane as it reads: the left column (model, preset, Train / Stop / Resume), then the form's
        groups column by column, each group top to bottom (Qt's default, creation order, zig-zags between the
        form's two columns)."""
        chain: list[QWidget] = [
            self.model_source,
            self.model_text,
            self.model_browse,
            self.model_import,
            self.preset,
            self.train_button,
            self.stop_button,
            self.resume_button,
            self.train_again_button,
        ]
        for column in self.form_columns:
            for group in column:
                chain.extend(self.editors[name].widget for name in self.form_fields[group])
        for first, second in zip(chain, chain[1:]):
            QWidget.setTabOrder(first, second)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        self._estimate_timer.start()  # a model imported elsewhere (or by a run) meanwhile

    # ---- presets ----------------------------------------------------------------------------------
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

        self.action_box = QGroupBox("Training", self)
        self.train_button = QPushButton("Train", self.action_box)
        self.train_button.setObjectName("train_button")
        self.train_button.setDefault(True)
        self.stop_button = QPushButton("Stop", self.action_box)
        self.stop_button.setObjectName("stop_button")
        self.stop_button.setToolTip("Stop after the step (or evaluation) in progress, saving a checkpoint to resume.")
        self.resume_button = QPushButton("Resume", self.action_box)
        self.resume_button.setObjectName("resume_button")
        self.train_button.clicked.connect(self.start_training)
        self.stop_button.clicked.connect(self.stop_training)
        self.resume_button.clicked.connect(lambda: self.resume_training())
        buttons = QHBoxLayout()
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.resume_button)
        self.progress = QProgressBar(self.action_box)
        self.progress.setObjectName("training_progress")
        self.progress.setTextVisible(True)
        self.status = QLabel(self.action_box)
        self.status.setObjectName("training_status")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.run_status = RunStatus(self.progress, self.status)
        self.data_summary = QLabel(self.action_box)
        self.data_summary.setObjectName("data_summary")
        self.data_summary.setWordWrap(True)
        self.data_summary.setToolTip("Preference data and split come from the Dataset pane.")
        self._build_past_runs(self.action_box)
        layout = QVBoxLayout(self.action_box)
        layout.addWidget(self.data_summary)
        layout.addLayout(buttons)
        layout.addWidget(self.resume_label)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.train_again_button)
        self.spread_label = QLabel(self.action_box)  # processes and effective batch (bundle_dialog.spread_words)
        self.spread_label.setObjectName("spread_summary")
        self.spread_label.setWordWrap(True)
        self.bundle_button = QPushButton("Export launch bundle…", self.action_box)
        self.bundle_button.setObjectName("bundle_button")
        self.bundle_button.setToolTip("Write a folder that trains this run with accelerate on a cluster or elsewhere")
        self.bundle_button.clicked.connect(self.export_launch_bundle)
        layout.addWidget(self.spread_label)
        layout.addWidget(self.bundle_button)

    @Slot()
    def export_launch_bundle(self) -> None:
        from dpostudio.ui.training.bundle_dialog import open_bundle_dialog

        open_bundle_dialog(self)

    def _update_spread(self) -> None:
        from dpostudio.ui.training.bundle_dialog import spread_words

        self.spread_label.setText(spread_words(self.values()))

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

    def _on_form_edited(self) -> None:
        """A field or the model changed: remember the form soon, and say again what still blocks Train."""
        if self._building:
            return
        self._remember_timer.start()
        if self.run_status.form_error is not None:
            QTimer.singleShot(0, self._recheck_form_error)  # after the edit's own validation

    def _recheck_form_error(self) -> None:
        try:
            self.build_config()
            error = None
        except ConfigError as exc:
            error = str(exc)
        self.run_status.set_form_error(error)

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
            self.run_status.final = None
            self.run_status.set_form_error(str(exc))
            return False
        self.remember_form()
        self.last_status = "starting"
        self.run_status.form_error = None
        self.run_status.start()
        self.controller.start(config)
        self._update_buttons()
        self.message.emit("info", f"training started: {config.model} on {config.dataset}")
        return True

    @Slot()
    def stop_training(self) -> None:
        if self.controller.stop():
            self.run_status.stop_requested()
            self.message.emit("info", f"stop requested: {self.status.text()}")
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
        try:  # the form shows the resumed run's own settings, not what it held before
            from dpostudio.core.training.runs import get_run

            self.load_config(get_run(run_id).config())
        except Exception as exc:  # the engine says in words why it cannot resume
            self.message.emit("warning", f"could not read the settings of run {run_id}: {exc}")
        self.last_status = "starting"
        self.run_status.form_error = None
        self.run_status.start(resume=run_id)
        self.controller.start(None, resume=run_id)
        self._update_buttons()
        self.message.emit("info", f"resuming run {run_id}")
        return True

    @Slot(object)
    def _on_event(self, event: dict) -> None:
        kind = event.get("type")
        self.run_status.on_event(event)
        if kind == STARTED:
            self.last_run_id = event.get("run_id")
            self.last_status = RUNNING
            self.last_run_resumable = False
            self._update_buttons()
        elif kind == STAGE and str(event.get("message", "")).startswith("loading tokenizer"):
            self._estimate_timer.start()  # the model is imported now: its config is here
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
        resume_from = self._resumable_step(self.last_run_id) if kind in RESUMABLE_STATES else None
        self.last_run_resumable = resume_from is not None
        if resume_from is not None and self.last_run_id:
            info_step = final.get("step") or None
            self.resume_offer = ResumeOffer(self.last_run_id, self.last_run_id, str(kind), info_step, resume_from)
        self.run_status.finish(final, resume_from)
        words = self.status.text()
        if kind == FINISHED:
            self.message.emit("info", f"training finished: {final.get('message') or words}")
        elif kind == CANCELLED:
            self.message.emit("info", words)
        else:
            self.message.emit("error", f"training failed: {final.get('message') or kind}")
        self._update_buttons()
        self._estimate_timer.start()  # the run may have imported the model
        self.refresh_resumable()  # this run may have been the newest resumable one, or become it
        self.runFinished.emit(final)

    @staticmethod
    def _resumable_step(run_id: str | None) -> int | None:
        """The step of the checkpoint the run would resume from (one folder listing: cheap enough here)."""
        if not run_id:
            return None
        try:
            from dpostudio.core.training.runs import get_run

            return checkpoint_step(get_run(run_id).latest_checkpoint())
        except Exception:
            return None

    def _update_buttons(self) -> None:
        running = self.controller.is_running()
        self.train_button.setEnabled(not running)
        self.stop_button.setEnabled(running and not self.controller.stop_requested())
        self.resume_button.setEnabled(not running and self.resumable_run_id() is not None)
        self._show_resume_offer(running)
        self.resumableChanged.emit()
