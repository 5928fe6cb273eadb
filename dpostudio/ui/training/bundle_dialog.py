"""Runs elsewhere: the "Export launch bundle…" dialog (Training pane) and "Import run folder…" (File menu).

The dialog shows how the run will be spread (devices, strategy, machines, effective batch), takes a folder, and
writes the bundle (``core.training.launch_bundle.write_bundle``: small text files and at most a copy of the data
file, so it runs on the GUI thread). It then lists what the bundle holds and what to see to before running it.

``import_run_folder(window)`` copies a run folder brought back from a cluster into the runs folder (on a worker
thread: checkpoints can be large) and refreshes the panes that list runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from dpostudio.core.errors import UserError
from dpostudio.core.training.run_config import RunConfig
from dpostudio.ui.file_dialogs import choose_folder, last_folder

FOLDER_KIND = "launch-bundle"


class LaunchBundleDialog(QDialog):
    """Write a launch bundle for ``config``. ``message(level, text)`` reports to the window's log."""

    message = Signal(str, str)

    def __init__(self, config: RunConfig, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Export launch bundle")
        self.setObjectName("launch_bundle_dialog")
        self.config = config
        self.written: Path | None = None

        intro = QLabel(
            "Writes a folder that trains this run with accelerate on another machine or a cluster: the "
            "configuration, an accelerate config, launch.sh, a SLURM script, a SkyPilot task and a README that "
            "says how to run it and how to bring the run folder back here.",
            self,
        )
        intro.setWordWrap(True)
        self.machines = QSpinBox(self)
        self.machines.setObjectName("bundle_machines")
        self.machines.setRange(1, 512)
        self.machines.setToolTip("How many computers share the run; each runs 'devices' processes (GPUs).")
        self.machines.valueChanged.connect(self._update_summary)
        self.summary = QLabel(self)
        self.summary.setObjectName("bundle_summary")
        self.summary.setWordWrap(True)
        self.copy_data = QCheckBox("Copy the dataset file into the bundle", self)
        self.copy_data.setObjectName("bundle_copy_data")
        local_data = Path(config.dataset).expanduser().is_file()
        self.copy_data.setChecked(local_data)
        self.copy_data.setEnabled(local_data)
        self.copy_data.setToolTip(
            "The data file goes into data/ and config.toml names it there."
            if local_data
            else "The dataset is not a file on this computer (a Hub id or built-in): nothing to copy."
        )
        self.folder = QLineEdit(self)
        self.folder.setObjectName("bundle_folder")
        self.folder.setPlaceholderText("a new or empty folder")
        self.folder.setText(str(last_folder(FOLDER_KIND) / f"{_slug(config.name or 'dpostudio-run')}-bundle"))
        self.folder.textChanged.connect(lambda _text: self._set_result(""))
        browse = QPushButton("Browse…", self)
        browse.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(browse)

        form = QFormLayout()
        form.addRow("Machines", self.machines)
        form.addRow("Spread", self.summary)
        form.addRow("Folder", folder_row)
        form.addRow("", self.copy_data)

        self.result_label = QLabel(self)
        self.result_label.setObjectName("bundle_result")
        self.result_label.setWordWrap(True)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.export_button.setObjectName("bundle_export")
        self.export_button.setDefault(True)
        self.export_button.clicked.disconnect()  # Accept would close the dialog; Export keeps it open with the result
        self.export_button.clicked.connect(self.export)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.result_label)
        layout.addStretch(1)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(560)
        self._update_summary()

    def _update_summary(self) -> None:
        c = self.config
        processes = c.devices * self.machines.value()
        effective = c.per_device_batch_size * processes * c.gradient_accumulation_steps
        self.summary.setText(
            f"strategy {c.strategy} · {c.devices} process(es) a machine · {processes} in all\n"
            f"effective batch {effective} = {c.per_device_batch_size} per device × {processes} processes × "
            f"{c.gradient_accumulation_steps} accumulation"
        )

    @Slot()
    def _browse(self) -> None:
        folder = choose_folder(self, "Folder for the launch bundle", FOLDER_KIND)
        if folder:
            self.folder.setText(folder)

    def _set_result(self, text: str, error: bool = False) -> None:
        self.result_label.setText(text)
        self.result_label.setStyleSheet("color: #b00020;" if error else "")

    @Slot()
    def export(self) -> bool:
        from dpostudio.core.training.launch_bundle import write_bundle

        text = self.folder.text().strip()
        if not text:
            self._set_result("Choose a folder for the bundle.", error=True)
            return False
        try:
            bundle = write_bundle(
                self.config, text, machines=self.machines.value(), copy_data=self.copy_data.isChecked()
            )
        except (UserError, OSError) as exc:
            self._set_result(f"Could not write the bundle: {exc}", error=True)
            self.message.emit("error", f"launch bundle not written: {exc}")
            return False
        self.written = bundle.folder
        notes = "".join(f"\n• {note}" for note in bundle.notes)
        self._set_result(
            f"Written to {bundle.folder}: {', '.join(p.name for p in bundle.files)}.\n"
            f"Run it there with ./launch.sh (README.md says more).{notes}"
        )
        self.message.emit("info", f"launch bundle written to {bundle.folder}")
        return True


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text).strip("-")[:40] or "run"


def import_run_folder(window, path: str | None = None, on_done: Callable[[object], None] | None = None) -> None:
    """File ▸ Import run folder…: copy a run folder trained elsewhere into the runs folder (on a worker thread),
    then refresh the panes that list runs. ``path`` skips the folder dialog (tests)."""
    from dpostudio.core.training.runs import import_run
    from dpostudio.ui.tasks import run_task

    path = path or choose_folder(window, "Import a run folder (the one holding run.json)", "run-import")
    if not path:
        return

    def imported(run) -> None:
        window.log_bus.report("info", f"run {run.id} imported into {run.path}")
        for pane in ("metrics_pane", "comparison_pane"):
            refresh = getattr(getattr(window, pane, None), "refresh_runs", None)
            if callable(refresh):
                refresh()
        if on_done is not None:
            on_done(run)

    def failed(message: str, _traceback: str) -> None:
        window.log_bus.report("error", f"could not import {path}: {message}")
        if on_done is not None:
            on_done(None)

    window.run_import_task = run_task(window, import_run, path, on_result=imported, on_error=failed)


def spread_words(values: dict) -> str:
    """The Training pane's line on how a run is spread: processes, strategy and the effective batch."""
    try:
        devices = max(int(values.get("devices") or 1), 1)
        batch = int(values.get("per_device_batch_size") or 1)
        accumulation = int(values.get("gradient_accumulation_steps") or 1)
    except (TypeError, ValueError):
        return ""
    effective = batch * devices * accumulation
    if devices == 1:
        return f"Effective batch {effective} = {batch} per step × {accumulation} accumulation, on one device."
    return (
        f"{devices} processes ({values.get('strategy') or 'ddp'}, through accelerate). Effective batch {effective} = "
        f"{batch} per device × {devices} devices × {accumulation} accumulation."
    )


def open_bundle_dialog(pane) -> LaunchBundleDialog | None:
    """The Training pane's "Export launch bundle…": the dialog for the form's configuration (a form error is
    reported instead, in words)."""
    from dpostudio.core.training.run_config import ConfigError

    try:
        config = pane.build_config()
    except ConfigError as exc:
        pane.message.emit("error", f"cannot export a launch bundle: {exc}")
        return None
    dialog = LaunchBundleDialog(config, pane)
    dialog.message.connect(pane.message)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    pane.bundle_dialog = dialog
    dialog.open()
    return dialog
