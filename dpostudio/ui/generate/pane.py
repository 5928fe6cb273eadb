"""The Generate pane: two tabs. **Make pairs**: the form (``GenerateForm``), Start / Stop / Resume, a progress bar
with ETA and a status line in words, and the candidates per prompt (``CandidateBrowser``), where you can mark your
own best and worst answer; the built dataset opens in the Dataset pane. **Loop**: iterative DPO (``LoopView``).

One job at a time (a dataset job or a loop) runs in a child process (``LoopJobController``); files are read on
the GUI thread only when small (a dataset folder's JSONL), everything else on a task thread. Errors go to the log
panel in words (``message``), never a traceback in a dialog.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from dpostudio.core.loop import GenerateJob
from dpostudio.ui.generate.browser import CandidateBrowser
from dpostudio.ui.generate.form import FormError, GenerateForm, generated_dir
from dpostudio.ui.generate.loop_view import LoopView
from dpostudio.ui.generate.pickers import side_by_side
from dpostudio.ui.generate.progress import end_words, progress_words, train_words
from dpostudio.ui.generate.worker import JOB, LOOP, LoopJobController
from dpostudio.ui.tasks import run_task

REFRESH_MS = 600  # coalesced re-read of the dataset folder while a job writes it


def generated_folders() -> list[str]:
    """The dataset folders under ``generated_dir()`` (a job or a finished dataset), oldest first."""
    root = generated_dir()
    if not root.is_dir():
        return []
    return [str(p) for p in sorted(root.iterdir()) if (p / "job.json").is_file() or (p / "card.json").is_file()]


def create_job_folder(folder: str, job: GenerateJob) -> str:
    """Check the job, load its prompts and write the folder (a task thread: a Hub dataset may be read)."""
    from dpostudio.core.loop import create_job

    return str(create_job(folder, job))


class GeneratePane(QWidget):
    message = Signal(str, str)  # level, text
    datasetRequested = Signal(str)  # a dataset folder, for the Dataset pane
    runRequested = Signal(str)  # a run id, for Metrics
    jobEnded = Signal(object)  # the end of a job or loop (tests)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.controller = LoopJobController(self)
        self.controller.event.connect(self._on_event)
        self.controller.finished.connect(self._on_finished)
        self.controller.started.connect(self._update_buttons)
        self.controller.crashed.connect(lambda text, _tb: self.message.emit("error", f"Generation crashed: {text}"))
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(REFRESH_MS)
        self._refresh_timer.timeout.connect(self._reload_browser)

        self.form = GenerateForm()
        for text in self.form.warnings:
            QTimer.singleShot(0, lambda t=text: self.message.emit("warning", t))
        self.start_button = QPushButton("Start")
        self.start_button.setToolTip("Make a new dataset folder with these settings and generate")
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop after the batch in progress; every finished prompt is kept")
        self.stop_button.clicked.connect(self.stop)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Go on with the selected folder's job where it stopped")
        self.resume_button.clicked.connect(self.resume)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(self.form)
        left_layout.addLayout(buttons)
        left_layout.addStretch(1)

        self.folder_combo = QComboBox()
        self.folder_combo.setToolTip("A generated dataset folder: browse its candidates, resume its job")
        self.folder_combo.currentIndexChanged.connect(lambda _i: self._folder_changed())
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(lambda: self.refresh())
        self.dataset_button = QPushButton("Open in Dataset pane")
        self.dataset_button.setToolTip("Load this folder's pairs in the Dataset pane (to inspect and train on)")
        self.dataset_button.clicked.connect(self.open_in_dataset)
        top = QHBoxLayout()
        top.addWidget(QLabel("Dataset"))
        top.addWidget(self.folder_combo, 1)
        top.addWidget(self.resume_button)
        top.addWidget(self.refresh_button)
        top.addWidget(self.dataset_button)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("%v / %m prompts")
        self.status_label = QLabel("Set up a job on the left and press Start, or pick a dataset folder above.")
        self.status_label.setWordWrap(True)
        self.browser = CandidateBrowser()
        self.browser.message.connect(self.message)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.addLayout(top)
        right_layout.addWidget(self.progress)
        right_layout.addWidget(self.status_label)
        right_layout.addWidget(self.browser, 1)
        make = QWidget()
        make_layout = QVBoxLayout(make)
        make_layout.setContentsMargins(0, 0, 0, 0)
        make_layout.addWidget(side_by_side(left, right))

        self.loop_view = LoopView()
        self.loop_view.message.connect(self.message)
        self.loop_view.runRequested.connect(self.runRequested)
        self.loop_view.startRequested.connect(lambda path, secrets: self._start(LOOP, path, secrets))
        self.loop_view.stopRequested.connect(self.stop)
        self.tabs = QTabWidget()
        self.tabs.addTab(make, "Make pairs")
        self.tabs.addTab(self.loop_view, "Loop (iterative DPO)")
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        self._update_buttons()

    def _reload_browser(self) -> None:
        self.browser.reload()

    # ---- folders ---------------------------------------------------------------------------------------
    def refresh(self, select: str | None = None) -> None:
        """List the generated folders and the loops again (the window calls it when the pane is shown)."""
        keep = select or self.folder_combo.currentData()
        run_task(self, generated_folders, on_result=lambda paths: self._show_folders(paths, keep))
        self.loop_view.refresh()
        self.form.refresh_runs()

    def _show_folders(self, paths: list[str], keep: str | None) -> None:
        if keep and keep not in paths and Path(keep).is_dir():
            paths = [*paths, keep]  # a folder outside the data dir, opened or made here
        self.folder_combo.blockSignals(True)
        self.folder_combo.clear()
        for path in paths:
            self.folder_combo.addItem(Path(path).name, path)
        i = self.folder_combo.findData(keep) if keep else -1
        self.folder_combo.setCurrentIndex(i if i >= 0 else self.folder_combo.count() - 1)
        self.folder_combo.blockSignals(False)
        self._folder_changed()

    def show_folder(self, path: str) -> None:
        """Browse ``path`` (a dataset folder made by the core)."""
        self._show_folders(generated_folders(), str(path))

    def _folder_changed(self) -> None:
        folder = self.folder_combo.currentData()
        self.browser.load(folder)
        if not self.controller.is_running():
            answered = len(self.browser.data["records"])
            self.progress.setRange(0, max(answered, 1))
            self.progress.setValue(answered)
        if folder and not self.controller.is_running():
            from dpostudio.core.loop import job_status

            status = job_status(folder) if (Path(folder) / "job.json").is_file() else "finished"
            self.status_label.setText(f"{Path(folder).name}: {status}")
        self._update_buttons()

    def open_in_dataset(self) -> None:
        folder = self.folder_combo.currentData()
        if not folder or not (Path(folder) / "pairs.jsonl").is_file():
            self.message.emit("warning", "This folder has no pairs yet: its job has not finished")
            return
        self.datasetRequested.emit(folder)

    # ---- running ---------------------------------------------------------------------------------------
    def is_running(self) -> bool:
        return self.controller.is_running()

    def start(self) -> None:
        if self.is_running():
            return
        try:
            folder, job = self.form.build()
        except FormError as exc:
            self.message.emit("warning", f"Generation not started: {exc}")
            return
        self.start_button.setEnabled(False)
        self.status_label.setText("Reading the prompts and checking the model…")
        secrets = {"ranker": dict(job.ranker.options)}
        run_task(
            self,
            create_job_folder,
            str(folder),
            job,
            on_result=lambda path: self._created(path, secrets),
            on_error=self._not_created,
        )

    def _created(self, path: str, secrets: dict) -> None:
        self._show_folders(generated_folders(), path)
        self._start(JOB, path, secrets)

    def _not_created(self, text: str, _tb: str = "") -> None:
        self.form.show_error(text)
        self.status_label.setText(f"Not started: {text}")
        self.message.emit("warning", f"Generation not started: {text}")
        self._update_buttons()

    def resume(self) -> None:
        folder = self.folder_combo.currentData()
        if folder and not self.is_running():
            self._start(JOB, folder, {})

    def _start(self, kind: str, path: str, secrets: dict) -> None:
        if self.is_running():
            self.message.emit("warning", "A generation job or loop is already running; stop it first")
            return
        self.progress.setRange(0, 0)  # busy until the first progress event
        what = "Loop" if kind == LOOP else "Generation"
        self.status_label.setText(f"{what} starting…")
        self.loop_view.status_label.setText(f"{what} starting…")
        self.controller.start(kind, path, secrets)
        self.loop_view.set_running(kind == LOOP)
        self.message.emit("info", f"{what} started in {path}")

    def stop(self) -> None:
        if self.controller.stop():
            words = "Stopping after the batch or step in progress; finished work is kept…"
            self.status_label.setText(words)
            self.loop_view.status_label.setText(words)
            self._update_buttons()

    def _status(self, text: str) -> None:
        (self.loop_view.status_label if self.controller.kind == LOOP else self.status_label).setText(text)

    @Slot(object)
    def _on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "progress":
            self.progress.setRange(0, max(int(event.get("total") or 0), 1))
            self.progress.setValue(int(event.get("done") or 0))
            self._status(progress_words(event))
        elif kind == "stage":
            self._status(str(event.get("message") or ""))
        elif kind == "prompt_done":
            if self.controller.kind == JOB:
                self._refresh_timer.start()
        elif kind == "prompt_marked":
            self.message.emit("warning", f"Prompt {event.get('index', 0) + 1} left out: {event.get('reason')}")
        elif kind in ("note", "round"):
            prefix = f"Round {event['round']}: " if kind == "round" else ""
            self.message.emit("info", prefix + str(event.get("message") or ""))
            if kind == "round":
                self._status(prefix + str(event.get("message") or ""))
                self.loop_view.reload()
        elif kind == "dataset":
            counts = event.get("counts") or {}
            self.message.emit("info", f"Dataset written: {counts.get('pairs')} pairs in {event.get('path')}")
        elif kind == "train":
            words = train_words(event.get("round"), event.get("event") or {})
            if words:
                self._status(words)

    @Slot(object)
    def _on_finished(self, final: dict[str, Any]) -> None:
        kind = self.controller.kind
        level, text = end_words(final, "Loop" if kind == LOOP else "Generation")
        self.message.emit(level, text)
        self.progress.setRange(0, max(self.progress.maximum(), 1))
        self._status(text)
        self.loop_view.set_running(False)
        if kind == LOOP:
            self.loop_view.reload()
        else:
            self.browser.reload()
        self._update_buttons()
        self.jobEnded.emit(final)

    def _update_buttons(self) -> None:
        running = self.is_running()
        stopping = running and self.controller.stop_requested()
        folder = self.folder_combo.currentData()
        self.start_button.setEnabled(not running)
        self.stop_button.setEnabled(running and not stopping)
        self.resume_button.setEnabled(not running and bool(folder) and (Path(folder) / "job.json").is_file())
        self.dataset_button.setEnabled(bool(folder))
        self.loop_view.set_running(running and self.controller.kind == LOOP)

    def set_base_provider(self, provider: Callable[[], dict[str, Any]] | None) -> None:
        """Where a loop's run config comes from (the Training form)."""
        self.loop_view.base_provider = provider

    def shutdown(self, msecs: int = 30_000) -> bool:
        """Stop a running job or loop and wait for it (window close); True when nothing runs any more."""
        self.controller.stop()
        return self.controller.wait(msecs)
