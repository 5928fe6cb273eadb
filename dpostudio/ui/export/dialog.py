"""The Export dialog: save a run's adapter or merged model to a folder, or publish it to the Hugging Face Hub.

All blocking work (exporting, merging, uploading) runs through ``tasks.run_task`` on a worker thread; progress
arrives as queued signals and fills the progress bar. Outcomes are reported in words in the dialog's status line
and through the ``message(level, text)`` signal (the main window forwards it to its log pane). The token is
never shown: only its masked form from ``core.secrets``.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from dpostudio.ui.file_dialogs import choose_folder
from dpostudio.ui.tasks import run_task

FINAL = "final adapter (end of training)"


def _export(run_id, dest, kind, checkpoint, dtype, force, progress):
    from dpostudio.core.publish.export import export_run

    return export_run(run_id, dest, kind, checkpoint=checkpoint, dtype=dtype, force=force, on_progress=progress)


def _push(run_id, repo, merged, checkpoint, dtype, private, message, progress):
    from dpostudio.core.publish.hub import push_run

    return push_run(
        run_id,
        repo,
        merged=merged,
        checkpoint=checkpoint,
        dtype=dtype,
        private=private,
        message=message or None,
        on_progress=progress,
    )


class ExportDialog(QDialog):
    """Pick a run and checkpoint, adapter or merged (with precision), then export to a folder or push to the Hub."""

    message = Signal(str, str)  # (level: info|warning|error, text)
    exported = Signal(object)  # ExportResult
    published = Signal(object)  # PublishResult

    def __init__(self, run_id: str | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Export and publish — DPO Studio")
        self.setMinimumWidth(620)
        self._task = None
        self._build()
        self.refresh_runs(run_id)
        self.refresh_token_status()

    # ---- layout ------------------------------------------------------------------------------------
    def _build(self) -> None:
        layout = QVBoxLayout(self)

        what = QGroupBox("What to export")
        form = QFormLayout(what)
        self.run_combo = QComboBox()
        self.run_combo.setMinimumContentsLength(40)
        self.run_combo.currentIndexChanged.connect(self._run_changed)
        form.addRow("Run:", self.run_combo)
        self.checkpoint_combo = QComboBox()
        self.checkpoint_combo.currentIndexChanged.connect(self._update_estimate)
        form.addRow("Weights from:", self.checkpoint_combo)
        kind_row = QHBoxLayout()
        self.adapter_radio = QRadioButton("LoRA adapter")
        self.adapter_radio.setToolTip("Small folder; loads with PeftModel.from_pretrained on top of the base model")
        self.merged_radio = QRadioButton("Merged full model")
        self.merged_radio.setToolTip(
            "The base model with the adapter folded in; loads with AutoModelForCausalLM.from_pretrained"
        )
        self.adapter_radio.setChecked(True)
        self.kind_group = QButtonGroup(self)
        for button in (self.adapter_radio, self.merged_radio):
            self.kind_group.addButton(button)
            kind_row.addWidget(button)
        kind_row.addStretch(1)
        self.kind_group.buttonToggled.connect(self._kind_changed)
        form.addRow("Kind:", kind_row)
        self.dtype_combo = QComboBox()
        self.dtype_combo.addItems(["fp16", "bf16", "fp32"])
        self.dtype_combo.setToolTip("Precision of the merged weights: fp16/bf16 halve the size, fp32 is exact")
        self.dtype_combo.currentIndexChanged.connect(self._update_estimate)
        form.addRow("Precision:", self.dtype_combo)
        self.estimate_label = QLabel()
        self.estimate_label.setStyleSheet("color: palette(mid);")
        form.addRow("", self.estimate_label)
        layout.addWidget(what)

        folder_box = QGroupBox("Save to a folder")
        folder_form = QFormLayout(folder_box)
        row = QHBoxLayout()
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("a new or empty folder")
        self.folder_edit.textChanged.connect(self._update_buttons)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row.addWidget(self.folder_edit, 1)
        row.addWidget(browse)
        folder_form.addRow("Folder:", row)
        self.force_check = QCheckBox("Replace the folder's contents if it is not empty")
        folder_form.addRow("", self.force_check)
        self.export_button = QPushButton("Export")
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.start_export)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.export_button)
        folder_form.addRow(buttons)
        layout.addWidget(folder_box)

        hub_box = QGroupBox("Publish to the Hugging Face Hub")
        hub_form = QFormLayout(hub_box)
        self.repo_edit = QLineEdit()
        self.repo_edit.setPlaceholderText("name or owner/name, e.g. smollm2-dpo")
        self.repo_edit.textChanged.connect(self._update_buttons)
        hub_form.addRow("Repository:", self.repo_edit)
        self.private_check = QCheckBox("Private repository")
        self.private_check.setChecked(True)
        hub_form.addRow("", self.private_check)
        self.commit_edit = QLineEdit()
        self.commit_edit.setPlaceholderText("Upload adapter with DPO Studio")
        hub_form.addRow("Commit message:", self.commit_edit)
        self.token_label = QLabel()
        self.token_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        hub_form.addRow("Token:", self.token_label)
        self.push_button = QPushButton("Publish")
        self.push_button.clicked.connect(self.start_push)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.push_button)
        hub_form.addRow(buttons)
        layout.addWidget(hub_box)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setFormat("idle")
        layout.addWidget(self.progress)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status_label)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout.addWidget(close)
        self._kind_changed()

    # ---- state -------------------------------------------------------------------------------------
    def refresh_runs(self, select: str | None = None) -> None:
        from dpostudio.core.training.runs import list_runs

        self.run_combo.blockSignals(True)
        self.run_combo.clear()
        for run in list_runs():
            info = run.info()
            label = f"{run.id}  [{run.status()}]"
            model = str(info.get("model") or "")
            if model:
                label += f"  · {Path(model).name if ('/' in model and Path(model).expanduser().exists()) else model}"
            self.run_combo.addItem(label, run.id)
        self.run_combo.blockSignals(False)
        if select:
            index = self.run_combo.findData(select)
            if index < 0:
                from dpostudio.core.training.runs import RunError, get_run

                try:
                    index = self.run_combo.findData(get_run(select).id)
                except RunError:
                    index = -1
            if index >= 0:
                self.run_combo.setCurrentIndex(index)
        self._run_changed()

    def refresh_token_status(self) -> None:
        from dpostudio.core.publish.hub import token_status

        try:
            text = token_status()
        except Exception as exc:  # a broken keyring must not break the dialog
            text = f"cannot read the keyring: {type(exc).__name__}"
        self.token_label.setText(text)
        self._has_token = not text.startswith(("no token", "cannot"))
        self._update_buttons()

    def selected_run(self) -> str | None:
        return self.run_combo.currentData()

    def selected_checkpoint(self) -> int | None:
        return self.checkpoint_combo.currentData()

    def selected_kind(self) -> str:
        return "merged" if self.merged_radio.isChecked() else "adapter"

    def _run_changed(self, *args) -> None:
        from dpostudio.core.publish.export import checkpoint_steps
        from dpostudio.core.training.runs import get_run

        self.checkpoint_combo.blockSignals(True)
        self.checkpoint_combo.clear()
        run_id = self.selected_run()
        if run_id:
            try:
                run = get_run(run_id)
                if (run.adapter_dir / "adapter_config.json").is_file():
                    self.checkpoint_combo.addItem(FINAL, None)
                for step in reversed(checkpoint_steps(run)):
                    self.checkpoint_combo.addItem(f"checkpoint at step {step}", step)
            except Exception as exc:
                self._status("error", f"cannot read run {run_id}: {exc}")
        self.checkpoint_combo.blockSignals(False)
        self._update_estimate()
        self._update_buttons()

    def _kind_changed(self, *args) -> None:
        merged = self.selected_kind() == "merged"
        self.dtype_combo.setEnabled(merged)
        self.commit_edit.setPlaceholderText(f"Upload {'merged model' if merged else 'adapter'} with DPO Studio")
        self._update_estimate()

    def _update_estimate(self, *args) -> None:
        from dpostudio.core.publish.export import estimate_size, human_size

        run_id = self.selected_run()
        if not run_id or self.checkpoint_combo.count() == 0:
            self.estimate_label.setText("this run has no adapter to export yet" if run_id else "no runs yet")
            return
        try:
            size = estimate_size(
                run_id, self.selected_kind(), self.dtype_combo.currentText(), self.selected_checkpoint()
            )
        except Exception as exc:
            self.estimate_label.setText(str(exc))
            return
        self.estimate_label.setText(
            f"about {human_size(size)} on disk"
            if size is not None
            else "size unknown (the base model is not stored locally)"
        )

    def _update_buttons(self, *args) -> None:
        idle = self._task is None
        ready = idle and self.checkpoint_combo.count() > 0
        self.export_button.setEnabled(ready and bool(self.folder_edit.text().strip()))
        self.push_button.setEnabled(
            ready and bool(self.repo_edit.text().strip()) and getattr(self, "_has_token", False)
        )
        for widget in (
            self.run_combo,
            self.checkpoint_combo,
            self.adapter_radio,
            self.merged_radio,
            self.folder_edit,
            self.repo_edit,
            self.private_check,
            self.commit_edit,
            self.force_check,
        ):
            widget.setEnabled(idle)
        self.dtype_combo.setEnabled(idle and self.selected_kind() == "merged")

    def _browse(self) -> None:
        typed = Path(self.folder_edit.text().strip()).expanduser() if self.folder_edit.text().strip() else None
        start = typed if typed is None or typed.is_dir() else typed.parent  # a new folder: start where it will be
        folder = choose_folder(self, "Export into folder", "export", start)
        if folder:
            self.folder_edit.setText(folder)

    # ---- work --------------------------------------------------------------------------------------
    def start_export(self):
        run_id, dest = self.selected_run(), self.folder_edit.text().strip()
        if not run_id or not dest:
            return None
        self._begin("exporting")
        self._task = run_task(
            self,
            _export,
            run_id,
            dest,
            self.selected_kind(),
            self.selected_checkpoint(),
            self.dtype_combo.currentText(),
            self.force_check.isChecked(),
            on_result=self._export_done,
            on_error=self._failed,
            on_progress=self._on_progress,
            with_progress=True,
        )
        self._task.finished.connect(self._task_finished)
        self._update_buttons()
        return self._task

    def start_push(self):
        run_id, repo = self.selected_run(), self.repo_edit.text().strip()
        if not run_id or not repo:
            return None
        self._begin("publishing")
        self._task = run_task(
            self,
            _push,
            run_id,
            repo,
            self.selected_kind() == "merged",
            self.selected_checkpoint(),
            self.dtype_combo.currentText(),
            self.private_check.isChecked(),
            self.commit_edit.text().strip(),
            on_result=self._push_done,
            on_error=self._failed,
            on_progress=self._on_progress,
            with_progress=True,
        )
        self._task.finished.connect(self._task_finished)
        self._update_buttons()
        return self._task

    def _begin(self, what: str) -> None:
        self.progress.setValue(0)
        self.progress.setFormat(f"{what}… %p%")
        self._status("info", f"{what.capitalize()}…", emit=False)

    def _on_progress(self, fraction: float, text: str) -> None:
        self.progress.setValue(int(max(0.0, min(1.0, fraction)) * 1000))
        if text:
            self.progress.setFormat(f"{text} — %p%")

    def _export_done(self, result) -> None:
        from dpostudio.core.publish.export import human_size

        self.progress.setValue(1000)
        self.progress.setFormat("done")
        what = "adapter" if result.kind == "adapter" else f"merged {result.dtype} model"
        self._status(
            "info", f"Exported the {what} of {result.run_id} to {result.folder} ({human_size(result.size_bytes)})"
        )
        self.exported.emit(result)

    def _push_done(self, result) -> None:
        self.progress.setValue(1000)
        self.progress.setFormat("done")
        visibility = "private" if result.private else "public"
        self._status("info", f"Published the {result.what} to {result.url} ({visibility})")
        self.published.emit(result)

    def _failed(self, text: str, details: str) -> None:
        self.progress.setFormat("failed")
        self._status("error", text)

    def _task_finished(self) -> None:
        self._task = None
        self._update_buttons()

    def _status(self, level: str, text: str, emit: bool = True) -> None:
        colour = {"error": "#b00020", "warning": "#9a6700"}.get(level, "")
        self.status_label.setStyleSheet(f"color: {colour};" if colour else "")
        self.status_label.setText(text)
        if emit:
            self.message.emit(level, text)

    def is_busy(self) -> bool:
        return self._task is not None

    def reject(self) -> None:
        if self._task is not None:
            self._status("warning", "Wait for the current export or upload to finish before closing.", emit=False)
            return
        super().reject()
