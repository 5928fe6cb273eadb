"""The main window: Start, Dataset, Generate, Training, Metrics, Comparison, Sweeps and Settings panes, menus, status
bar, log dock.

Start-up stays fast: nothing here imports torch/transformers; the device is probed in a background task after the
window is shown. The Dataset pane, Settings pane and Plugins dialog are imported defensively so the window works
(with a placeholder) while they are missing or broken.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from PySide6.QtCore import QByteArray, QProcess, QSettings, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QMessageBox,
    QTabWidget,
    QWidget,
)

from dpostudio.core.training.device import probe_and_choose
from dpostudio.ui.comparison.pane import ComparisonPane
from dpostudio.ui.dataset.pane import DatasetPane
from dpostudio.ui.file_dialogs import open_file, save_file
from dpostudio.ui.generate import GeneratePane
from dpostudio.ui.log_panel import LogBus, LogPanel
from dpostudio.ui.metrics.pane import MetricsPane
from dpostudio.ui.quit_question import StopAndQuitQuestion
from dpostudio.ui.settings.pane import SettingsPane
from dpostudio.ui.start_view import StartView, count_comparisons
from dpostudio.ui.sweeps import SweepsPane
from dpostudio.ui.tasks import run_task
from dpostudio.ui.training.pane import TrainingPane
from dpostudio.ui.window_menus import build_menus

PANES = ("Start", "Dataset", "Generate", "Training", "Metrics", "Comparison", "Sweeps", "Settings")
MEMORY_REFRESH_MS = 2000


def window_settings() -> QSettings:
    """Window geometry lives in the data dir (``DPOSTUDIO_HOME`` moves it, so tests never touch the user's)."""
    from dpostudio.core.paths import data_dir

    return QSettings(str(data_dir() / "window.ini"), QSettings.Format.IniFormat)


class MainWindow(QMainWindow):
    deviceProbed = Signal(object)

    def __init__(self, parent: QWidget | None = None, probe_device: bool = True):
        super().__init__(parent)
        self.setWindowTitle("DPO Studio")
        self.setObjectName("MainWindow")
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks)
        self.log_bus = LogBus(self)
        self.log_panel = LogPanel(self)
        self.log_bus.message.connect(self.log_panel.add)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.log_panel)
        self.hardware = None
        self.device_choice = None
        self._close_after_stop = False
        self._restart_after_close = False
        self.quit_question: StopAndQuitQuestion | None = None

        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("PaneTabs")
        self.tabs.setDocumentMode(True)
        self.setCentralWidget(self.tabs)
        self.panes: dict[str, QWidget] = {}

        self.start_view = StartView(self)
        self.dataset_pane = DatasetPane(self)
        self.generate_pane = GeneratePane(self)
        self.training_pane = TrainingPane(self)
        self.metrics_pane = MetricsPane(self)
        self.comparison_pane = ComparisonPane(self)
        self.sweeps_pane = SweepsPane(self)
        self.settings_pane = SettingsPane(self)
        for name, pane in zip(
            PANES,
            (
                self.start_view,
                self.dataset_pane,
                self.generate_pane,
                self.training_pane,
                self.metrics_pane,
                self.comparison_pane,
                self.sweeps_pane,
                self.settings_pane,
            ),
        ):
            self.panes[name] = pane
            self.tabs.addTab(pane, name)
            if hasattr(pane, "message"):
                pane.message.connect(self.log_bus.report)

        # wiring between panes
        controller = self.training_pane.controller
        controller.event.connect(self.metrics_pane.on_training_event)
        controller.started.connect(self._update_run_actions)
        controller.finished.connect(self._update_run_actions)
        # the engine writes the final status after its last event: list the runs again once the thread is done
        controller.finished.connect(lambda *_: self.metrics_pane.refresh_runs())
        self.training_pane.dataPresetRequested.connect(self._apply_data_values)
        self.metrics_pane.runsChanged.connect(self.comparison_pane.set_runs)
        self.metrics_pane.runsChanged.connect(self.training_pane.set_runs)  # Resume offers interrupted runs too
        self.training_pane.resumableChanged.connect(self._update_run_actions)
        self.training_pane.set_data_provider(self.dataset_pane.data_config)
        self.training_pane.modelChanged.connect(self._guarded(self.dataset_pane.set_model))
        self.training_pane.maxLengthChanged.connect(self._guarded(self.dataset_pane.set_max_length))
        self.dataset_pane.dataConfigChanged.connect(self.training_pane.refresh_data_summary)
        self._wire_start_view()
        self.settings_pane.restartRequested.connect(self.restart_app)
        self.sweeps_pane.overlayRequested.connect(self._overlay_runs)
        self.sweeps_pane.set_base_provider(lambda: self.training_pane.build_config().to_dict())
        self.tabs.currentChanged.connect(
            lambda i: self.sweeps_pane.refresh() if self.tabs.widget(i) is self.sweeps_pane else None
        )
        self._wire_generate_pane()

        self.actions_by_name: dict[str, QAction] = {}
        build_menus(self)
        self._build_status_bar()
        self._restore_geometry()
        self._update_run_actions()
        if probe_device:
            QTimer.singleShot(200, self.probe_device)

    # ---- panes ------------------------------------------------------------------------------------
    def _guarded(self, fn):
        """Call another pane's method; a failure lands in the log instead of propagating."""

        def call(*args):
            try:
                fn(*args)
            except Exception as exc:
                self.log_bus.report("error", f"{getattr(fn, '__qualname__', 'a pane')} failed: {exc}")

        return call

    def _wire_generate_pane(self) -> None:
        pane = self.generate_pane
        pane.set_base_provider(lambda: self.training_pane.build_config().to_dict())
        pane.runRequested.connect(lambda run_id: self._overlay_runs([run_id]))
        pane.datasetRequested.connect(self._guarded(self._use_generated_dataset))
        self.tabs.currentChanged.connect(lambda i: pane.refresh() if self.tabs.widget(i) is pane else None)

    def _use_generated_dataset(self, path: str) -> None:
        self.dataset_pane.use_judgements(path)
        self.show_pane("Dataset")

    def show_pane(self, name: str) -> None:
        self.tabs.setCurrentWidget(self.panes[name])

    def current_pane(self) -> str:
        return self.tabs.tabText(self.tabs.currentIndex())

    def data_config(self) -> dict[str, Any]:
        return self.training_pane.data_config()

    @Slot(dict)
    def _apply_data_values(self, values: dict) -> None:
        """A preset or loaded config sets Data-group fields: hand them to the Dataset pane."""
        try:
            self.dataset_pane.set_data_config({**self.dataset_pane.data_config(), **values})
        except Exception as exc:
            self.log_bus.report("error", f"the Dataset pane could not take the preset's data settings: {exc}")

    def set_data_config(self, values: dict) -> None:
        """Set Data-group fields wherever they live (the Dataset pane, else the Training pane's fallback)."""
        self.training_pane.data_overrides.update(values)
        self._apply_data_values(values)
        self.training_pane.refresh_data_summary()

    def run_background(self, fn, *args, on_result=None, what: str = "background task", **kwargs):
        """Run ``fn`` in a task; an error lands in the log area in words."""
        return run_task(
            self,
            fn,
            *args,
            on_result=on_result,
            on_error=lambda text, _tb: self.log_bus.report("error", f"{what} failed: {text}"),
            **kwargs,
        )

    # ---- the Start pane's state --------------------------------------------------------------------
    def _wire_start_view(self) -> None:
        start, controller = self.start_view, self.training_pane.controller
        start.paneRequested.connect(self.show_pane)
        self.dataset_pane.dataLoaded.connect(
            lambda report: start.update_state(
                data_text=f"{sum(report.rows_used.values())} pairs from {report.source}" if report else ""
            )
        )
        self.dataset_pane.dataConfigChanged.connect(
            lambda config: start.update_state(data_source=config.get("dataset") or "", data_text="")
        )
        start.update_state(data_source=self.dataset_pane.data_config().get("dataset") or "")
        self.metrics_pane.runsChanged.connect(lambda rows: start.update_state(runs=list(rows)))
        self.metrics_pane.runsChanged.connect(self._count_comparisons)
        controller.started.connect(lambda *_: start.update_state(training=True))
        controller.finished.connect(lambda *_: start.update_state(training=False))
        self.deviceProbed.connect(lambda choice: start.update_state(device=choice.device))
        self.comparison_pane.comparisonFinished.connect(lambda *_: self._count_comparisons(self.start_view.state.runs))

    def _count_comparisons(self, rows: list) -> None:
        ids = [row["id"] for row in rows if row.get("status") == "finished"]
        self.run_background(
            count_comparisons,
            ids,
            on_result=lambda n: self.start_view.update_state(comparisons=n),
            what="counting comparisons",
        )

    # ---- menus ------------------------------------------------------------------------------------
    @Slot()
    def _update_run_actions(self, *_args) -> None:
        running = self.training_pane.is_training()
        self.actions_by_name["train"].setEnabled(not running)
        self.actions_by_name["resume"].setEnabled(self.training_pane.can_resume())
        self.actions_by_name["stop"].setEnabled(running)

    @Slot()
    def open_config(self, path: str | None = None) -> bool:
        from dpostudio.core.training.run_config import ConfigError, RunConfig

        if not path:
            path = open_file(self, "Open run configuration", "config", "Run configuration (*.toml *.yaml *.yml)")
        if not path:
            return False
        try:
            config = RunConfig.load(path)
        except ConfigError as exc:
            self.log_bus.report("error", f"could not open {path}: {exc}")
            return False
        self.training_pane.load_config(config)
        self.log_bus.report("info", f"configuration loaded from {path}")
        return True

    @Slot()
    def save_config(self, path: str | None = None) -> bool:
        from dpostudio.core.training.run_config import ConfigError

        try:
            config = self.training_pane.build_config()
        except ConfigError as exc:
            self.log_bus.report("error", f"cannot save the configuration: {exc}")
            return False
        if not path:
            path = save_file(self, "Save run configuration", "config", "run.toml", "TOML (*.toml);;YAML (*.yaml *.yml)")
        if not path:
            return False
        try:
            config.save(path)
        except OSError as exc:
            self.log_bus.report("error", f"could not save {path}: {exc.strerror or exc}")
            return False
        self.log_bus.report("info", f"configuration saved to {path}")
        return True

    @Slot()
    def open_plugins(self) -> None:
        try:
            from dpostudio.ui.plugins.dialog import PluginsDialog
        except ImportError:
            self.log_bus.report(
                "warning",
                "the Plugins dialog is not available in this build; use  dpostudio plugins  on the command line",
            )
            return
        try:
            dialog = PluginsDialog(self)
            if hasattr(dialog, "message"):
                dialog.message.connect(self.log_bus.report)
            dialog.restartRequested.connect(self.restart_app)
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            dialog.open()
            self.plugins_dialog = dialog
        except Exception as exc:
            self.log_bus.report("error", f"the Plugins dialog could not be opened: {exc}")

    @Slot()
    def open_export(self) -> None:
        from dpostudio.ui.export.dialog import ExportDialog

        try:
            dialog = ExportDialog(None, self)
        except Exception as exc:
            self.log_bus.report("error", f"the Export dialog could not be opened: {exc}")
            return
        dialog.message.connect(self.log_bus.report)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        self.export_dialog = dialog

    @Slot(list)
    def _overlay_runs(self, run_ids: list) -> None:
        """A sweep's top runs, overlaid in the Metrics pane."""
        self.metrics_pane.refresh_runs()
        self.metrics_pane.select_runs([str(r) for r in run_ids if r])
        self.show_pane("Metrics")

    @Slot()
    def open_explorer(self) -> None:
        """The per-pair explorer on the run selected in Metrics (else the newest with an adapter)."""
        from dpostudio.ui.explorer import open_explorer

        selected = self.metrics_pane.selected_run_ids()
        try:
            self.explorer_window = open_explorer(self, selected[0] if selected else None)
        except Exception as exc:
            self.log_bus.report("error", f"the Pair Explorer could not be opened: {exc}")
            return
        self.explorer_window.message.connect(self.log_bus.report)
        self.explorer_window.trainRequested.connect(self.train_on_version)

    @Slot(str)
    def train_on_version(self, path: str) -> None:
        """Set the data to a saved dataset version (its source-specific settings reset) and show Training."""
        from dpostudio.core.data.versions import config_for_version
        from dpostudio.core.training.run_config import ConfigError, RunConfig

        try:
            values = config_for_version(RunConfig.from_dict(self.data_config()), path).to_dict()
        except (ConfigError, ValueError) as exc:
            self.log_bus.report("error", f"cannot train on {path}: {exc}")
            return
        data_fields = {f.name for f in RunConfig.field_specs() if f.metadata["group"] == "Data"}
        self.set_data_config({k: v for k, v in values.items() if k in data_fields})
        self.show_pane("Training")
        self.log_bus.report("info", f"the data is now the dataset version {path}; press Train to train on it")

    @Slot()
    def show_about(self) -> None:
        try:
            from importlib.metadata import version

            ver = version("dpostudio")
        except Exception:
            ver = "development"
        box = QMessageBox(self)
        box.setWindowTitle("About DPO Studio")
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setText(
            f"<b>DPO Studio</b> {ver}<br>Fine-tune language models with Direct Preference Optimization "
            "(TRL + PEFT), on Apple MPS, NVIDIA CUDA or the CPU."
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.about_box = box

    # ---- status bar -------------------------------------------------------------------------------
    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.device_label = QLabel("Device: probing…", self)
        self.device_label.setObjectName("device_label")
        self.device_label.setToolTip("The accelerator training will use when the device is 'auto'.")
        self.memory_label = QLabel("", self)
        self.memory_label.setObjectName("memory_label")
        self.memory_label.setToolTip("Memory used by DPO Studio (resident set size).")
        bar.addPermanentWidget(self.device_label)
        bar.addPermanentWidget(self.memory_label)
        self.memory_timer = QTimer(self)
        self.memory_timer.setInterval(MEMORY_REFRESH_MS)
        self.memory_timer.timeout.connect(self.update_memory)
        self.memory_timer.start()
        self.update_memory()

    @Slot()
    def update_memory(self) -> None:
        try:
            import psutil

            rss = psutil.Process(os.getpid()).memory_info().rss
            total = psutil.virtual_memory().total
        except Exception:
            self.memory_label.setText("")
            return
        self.memory_label.setText(f"Memory: {rss / 2**30:.2f} GiB of {total / 2**30:.0f} GiB")

    @Slot()
    def probe_device(self) -> None:
        def done(result):
            self.hardware, self.device_choice = result
            choice = self.device_choice
            name = {"cuda": "CUDA", "mps": "Apple MPS", "cpu": "CPU"}.get(choice.device, choice.device)
            extra = self.hardware.cuda_name if choice.device == "cuda" else ""
            self.device_label.setText(f"Device: {name}{' ' + extra if extra else ''} · {choice.precision}")
            self.device_label.setToolTip(choice.describe())
            self.training_pane.set_hardware(self.hardware)
            self.deviceProbed.emit(choice)

        def failed(text, _tb):
            self.device_label.setText("Device: unknown")
            self.log_bus.report("warning", f"could not probe the device: {text}")

        self.device_task = run_task(self, probe_and_choose, on_result=done, on_error=failed, in_child=True)

    # ---- geometry and closing ---------------------------------------------------------------------
    def _restore_geometry(self) -> None:
        settings = window_settings()
        geometry = settings.value("geometry")
        state = settings.value("state")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 800)
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.restoreState(state)
        else:
            QTimer.singleShot(0, lambda: self.resizeDocks([self.log_panel], [140], Qt.Orientation.Vertical))
        pane = settings.value("pane")
        # a first launch opens on Start (the path through the app); later ones where the user left off
        self.show_pane(pane if pane in self.panes else "Start")

    def save_geometry(self) -> None:
        settings = window_settings()
        settings.setValue("geometry", self.saveGeometry())
        settings.setValue("state", self.saveState())
        settings.setValue("pane", self.current_pane())
        settings.sync()

    def ask_stop_and_quit(self) -> bool:
        """Quitting while a run trains: "Stop and Quit" (a checkpoint is saved) or "Keep Training" (default)."""
        self.quit_question = StopAndQuitQuestion(self, step=self.training_pane.run_status.step)
        try:
            return self.quit_question.ask()
        finally:
            self.quit_question.deleteLater()
            self.quit_question = None

    def closeEvent(self, event) -> None:
        if self.training_pane.is_training():
            # never kill a run mid-step: ask, then stop it (it saves a checkpoint) and close when it has
            if not self._close_after_stop and not self.ask_stop_and_quit():
                event.ignore()
                return
            self.training_pane.stop_training()
            if not self._close_after_stop:
                self._close_after_stop = True
                self.training_pane.controller.finished.connect(lambda *_: self.close())
                self.log_bus.report(
                    "info", "stopping the training run first; the window closes once its checkpoint is saved"
                )
            event.ignore()
            return
        if self.generate_pane.is_running():  # finished prompts are on disk; Resume goes on from there
            self.generate_pane.shutdown()
        if self.sweeps_pane.is_running():  # the running trial stops at its next step; Resume runs it again
            self.sweeps_pane.shutdown()
        if self.comparison_pane.is_running():
            # every finished item is already saved; stop the rest and let its process end
            self.comparison_pane.stop()
            self.comparison_pane.wait(10_000)
        self.save_geometry()
        super().closeEvent(event)
        if self._restart_after_close:  # "Restart now" after a plugin install: a fresh process loads it
            QProcess.startDetached(sys.executable, ["-m", "dpostudio"])

    @Slot()
    def restart_app(self) -> None:
        """Close (asking first if a run trains, as quitting does) and start DPO Studio again."""
        self._restart_after_close = True
        if not self.close():
            self._restart_after_close = self._close_after_stop  # restarts once the stopping run has ended
