"""Training off the GUI thread: a worker object moved to a QThread drives the core engine in a child process.

The engine's ``train(config, on_event, cancel, resume=)`` blocks. It runs in a spawned child process, so that
importing PyTorch/TRL, tokenising and each step's Python work never hold the GUI process's interpreter lock
(measured in-thread: stalls of 50-580 ms of the GUI thread; see bench/gui_responsiveness.py), and so that a crash
or an out-of-memory kill in PyTorch cannot take the window down. Events come back over a multiprocessing queue;
the worker thread (blocked on that queue, not holding the lock) turns each into a Qt signal delivered (queued) to
the GUI thread. The worker never touches a widget. Stop is cooperative: it sets an event the engine checks at each
step boundary, where it saves a checkpoint and ends the run as ``cancelled``. A failure arrives as a ``failed``
event with the engine's message; the run folder (config, metrics log, checkpoints) stays on disk. The child
process, its relay and its endings are ``dpostudio.ui.child_process`` (the comparison runs the same way).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from dpostudio.core.training.event_types import END_STATES, FAILED, STARTED
from dpostudio.ui.child_process import ChildProcessWorker, serve_in_child, stop_when_parent_dies
from dpostudio.ui.tasks import keep_until_finished

END_EVENTS = END_STATES
_stop_when_parent_dies = stop_when_parent_dies  # the name bench/window_soak.py's stand-in engine uses


class TrainingWorker(ChildProcessWorker):
    """Lives on the training thread; runs ``train_in_child`` in a child process. Signals carry plain dicts from
    the engine: ``event`` (each one), ``done`` (the final event, with ``run_id``), ``crashed`` (the engine raised)."""

    process_name = "dpostudio-training"
    label = "training"

    def __init__(self, config: Any = None, resume: str | None = None):
        super().__init__()
        self.config = config
        self.resume = resume
        self.run_id = resume

    def child_call(self):
        config = self.config.to_dict() if self.config is not None else None
        return train_in_child, (config, self.resume)  # looked up now: tests and the soak bench replace it

    def on_event(self, event: dict) -> None:
        if event.get("type") == STARTED:
            self.run_id = event.get("run_id")

    def on_exit(self, marker: dict) -> dict:
        final = self.last_end or {
            "type": marker.get("status") or FAILED,
            "step": 0,
            "message": marker.get("message", ""),
        }
        return {**final, "run_id": marker.get("run_id", self.run_id)}

    def on_failure(self, message: str) -> dict:
        return {"type": FAILED, "step": (self.last_end or {}).get("step", 0), "message": message, "run_id": self.run_id}


def train_in_child(config: dict | None, resume: str | None, events, cancel) -> None:
    """Entry point of the training process: run the engine, put each event on ``events``, then an end marker."""
    serve_in_child(lambda emit, stop: _train(config, resume, emit, stop), events, cancel)


def _train(config: dict | None, resume: str | None, emit, cancel) -> dict:
    from dpostudio.core.training.launcher import train_anywhere  # the engine, or accelerate when devices > 1
    from dpostudio.core.training.run_config import RunConfig

    run = train_anywhere(RunConfig.from_dict(config) if config is not None else None, emit, cancel, resume=resume)
    if run is None:  # several processes ended before making the run folder: the failed event said why
        return {"run_id": None, "status": FAILED, "message": "the training processes ended before the run started"}
    info = run.info()
    return {"run_id": run.id, "status": run.status(info), "message": info.get("message", "")}


class TrainingController(QObject):
    """GUI-side handle: starts the worker on its own QThread, forwards its signals, and stops it on request.

    Signals are emitted on the GUI thread (queued from the worker). Keep one controller per window.
    """

    event = Signal(object)  # type: ignore[assignment]  # shadows QObject.event, as ChildProcessWorker.event does
    started = Signal()
    finished = Signal(object)  # final event dict with run_id
    crashed = Signal(str, str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        # shadows QObject.thread(): the worker's thread is public as ``controller.thread``
        self.thread: QThread | None = None  # type: ignore[assignment]
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
        worker.event.connect(self._on_event)  # queued: worker lives on the training thread
        worker.crashed.connect(self.crashed)
        worker.done.connect(self._on_done)
        keep_until_finished(thread, worker)  # released on the GUI thread once the thread has ended
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
