"""Training off the GUI thread: a worker object moved to a QThread calls the core engine.

The engine's ``train(config, on_event, cancel, resume=)`` blocks; every event it reports becomes a Qt signal
emitted from the worker thread and delivered (queued) to receivers on the GUI thread. The worker never touches a
widget. Stop is cooperative: it sets a ``threading.Event`` the engine checks at each step boundary, where it saves
a checkpoint and ends the run as ``cancelled``. A failure arrives as a ``failed`` event with the engine's message;
the run folder (config, metrics log, checkpoints) stays on disk.
"""

from __future__ import annotations

import threading
import traceback
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

END_EVENTS = ("finished", "cancelled", "failed")


class TrainingWorker(QObject):
    """Lives on the training thread. Signals carry plain dicts from the engine."""

    event = Signal(object)        # every engine event (dict)
    done = Signal(object)         # the final event (finished/cancelled/failed), or a synthetic failed one
    crashed = Signal(str, str)    # message in words, traceback — only if the engine itself raised

    def __init__(self, config: Any = None, resume: str | None = None):
        super().__init__()
        self.config = config
        self.resume = resume
        self.cancel = threading.Event()
        self._last: dict | None = None

    def _on_event(self, event: dict) -> None:  # called on the training thread
        if event.get("type") in END_EVENTS:
            self._last = event
        self.event.emit(event)

    @Slot()
    def run(self) -> None:
        try:
            from dpostudio.core.engine import train

            run = train(self.config, self._on_event, self.cancel, resume=self.resume)
            final = self._last or {"type": run.info().get("status", "failed"), "step": 0,
                                   "message": run.info().get("message", "")}
            final = {**final, "run_id": run.id}
        except BaseException as exc:  # noqa: BLE001 — KeyboardInterrupt from the engine, or a bug
            from .tasks import describe_error

            final = {"type": "failed", "step": 0, "message": describe_error(exc), "run_id": None}
            self.crashed.emit(describe_error(exc), traceback.format_exc())
        self.done.emit(final)
        QThread.currentThread().quit()  # thread-safe; the controller waits for the thread after ``done``


class TrainingController(QObject):
    """GUI-side handle: starts the worker on its own QThread, forwards its signals, and stops it on request.

    Signals are emitted on the GUI thread (queued from the worker). Keep one controller per window.
    """

    event = Signal(object)
    started = Signal()
    finished = Signal(object)  # final event dict with run_id
    crashed = Signal(str, str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.thread: QThread | None = None
        self.worker: TrainingWorker | None = None
        self.run_id: str | None = None
        self.last_final: dict | None = None

    def is_running(self) -> bool:
        return self.thread is not None and self.thread.isRunning()

    def start(self, config: Any = None, resume: str | None = None) -> None:
        if self.is_running():
            raise RuntimeError("a training run is already in progress")
        self.run_id = resume
        self.last_final = None
        thread = QThread()
        thread.setObjectName("training")
        worker = TrainingWorker(config, resume)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.event.connect(self._on_event)        # queued: worker lives on the training thread
        worker.crashed.connect(self.crashed)
        worker.done.connect(self._on_done)
        thread.finished.connect(worker.deleteLater)
        self.thread, self.worker = thread, worker
        thread.start()
        self.started.emit()

    def stop(self) -> bool:
        """Ask the run to stop at the next step boundary (it saves a checkpoint). True when a run was asked."""
        if self.worker is not None and self.is_running():
            self.worker.cancel.set()
            return True
        return False

    def stop_requested(self) -> bool:
        return self.worker is not None and self.worker.cancel.is_set()

    def wait(self, msecs: int = 60_000) -> bool:
        return self.thread.wait(msecs) if self.thread is not None else True

    @Slot(object)
    def _on_event(self, event: dict) -> None:
        if event.get("type") == "started":
            self.run_id = event.get("run_id")
        self.event.emit(event)

    @Slot(object)
    def _on_done(self, final: dict) -> None:
        if final.get("run_id"):
            self.run_id = final["run_id"]
        self.last_final = final
        thread = self.thread
        if thread is not None:
            thread.wait(5_000)  # the thread is quitting; its event loop has nothing left to do
        self.thread = None
        self.worker = None
        self.finished.emit(final)
