"""Running a generation job or a loop off the GUI thread: the core's ``run_job`` / ``run_loop`` in a spawned child
process (``ChildProcessWorker``), as training and sweeps run. Generation and training load PyTorch; in a child the
window's interpreter lock stays free, and a crash or an out-of-memory kill ends the job, not the window.

The child's events are the core's (``dpostudio.core.loop.events``). Stop sets the child's cancel event: generation
stops after the batch in progress, ranking after the prompt in progress, training at its next step (keeping a
checkpoint); every finished prompt is already on disk, so Resume goes on from there.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from dpostudio.core.training.event_types import FAILED
from dpostudio.ui.child_process import ChildProcessWorker, serve_in_child
from dpostudio.ui.tasks import keep_until_finished

JOB, LOOP = "generate", "loop"


class LoopJobWorker(ChildProcessWorker):
    """Lives on its own thread; runs ``job_in_child`` for a dataset job folder or a loop folder."""

    process_name = "dpostudio-generate"
    label = "generation"

    def __init__(self, kind: str, path: str, secrets: dict | None = None):
        super().__init__()
        self.kind, self.path, self.secrets = kind, path, dict(secrets or {})

    def child_call(self):
        return job_in_child, (self.kind, self.path, self.secrets)  # looked up now: tests may replace it

    def on_exit(self, marker: dict) -> dict:
        return {"type": marker.get("status") or FAILED, "message": marker.get("message", ""), "path": self.path}

    def on_failure(self, message: str) -> dict:
        return {"type": FAILED, "message": message, "path": self.path}


def job_in_child(kind: str, path: str, secrets: dict, events, cancel) -> None:
    """Entry point of the child process: run (or resume) the job or loop, putting every event on ``events``."""
    serve_in_child(lambda emit, stop: run_in_child(kind, path, secrets, emit, stop), events, cancel)


def run_in_child(kind: str, path: str, secrets: dict, emit, cancel) -> dict:
    """The work itself (also callable in-process): ``{"status", "message"}`` in words."""
    from dpostudio.core.errors import UserError

    try:
        if kind == JOB:
            from dpostudio.core.loop import run_job

            result = run_job(path, emit, cancel, judge_options=secrets.get("ranker") or {})
        else:
            from dpostudio.core.loop import open_loop, run_loop

            result = run_loop(open_loop(path), emit, cancel, secrets=secrets)
    except UserError as exc:  # cannot start or resume (running elsewhere, files missing): said in words
        emit({"type": FAILED, "message": str(exc), "path": path})
        return {"status": FAILED, "message": str(exc)}
    return {"status": result["status"], "message": result["message"]}


class LoopJobController(QObject):
    """GUI-side handle: starts a ``LoopJobWorker`` on its own QThread and stops it on request. Signals arrive on
    the GUI thread: ``event`` (each child event), ``started``, ``finished`` (the end, a dict with ``type``,
    ``message``, ``path``), ``crashed`` (message, traceback: the work itself raised)."""

    event = Signal(object)  # type: ignore[assignment]  # shadows QObject.event, as ChildProcessWorker.event does
    started = Signal()
    finished = Signal(object)
    crashed = Signal(str, str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.worker_thread: QThread | None = None
        self.worker: LoopJobWorker | None = None
        self.kind: str | None = None
        self.path: str | None = None

    def is_running(self) -> bool:
        return self.worker_thread is not None and self.worker_thread.isRunning()

    def start(self, kind: str, path: str, secrets: dict | None = None) -> None:
        if self.is_running():
            raise RuntimeError("a generation job or loop is already running")
        thread = QThread()
        thread.setObjectName(kind)
        worker = LoopJobWorker(kind, path, secrets)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.event.connect(self._on_event)  # queued: the worker lives on its own thread
        worker.crashed.connect(self.crashed)
        worker.done.connect(self._on_done)
        keep_until_finished(thread, worker)
        self.worker_thread, self.worker, self.kind, self.path = thread, worker, kind, path
        thread.start()
        self.started.emit()

    def stop(self) -> bool:
        """Ask the child to stop at its next boundary. True when something running was asked."""
        if self.worker is not None and self.is_running():
            self.worker.cancel.set()
            return True
        return False

    def stop_requested(self) -> bool:
        return self.worker is not None and self.worker.cancel.is_set()

    def wait(self, msecs: int = 60_000) -> bool:
        return self.worker_thread.wait(msecs) if self.worker_thread is not None else True

    @Slot(object)
    def _on_event(self, event: Any) -> None:
        self.event.emit(event)

    @Slot(object)
    def _on_done(self, final: Any) -> None:
        thread = self.worker_thread
        if thread is not None:
            thread.wait(5_000)  # it is quitting; nothing is left for its event loop
        self.worker_thread = None
        self.worker = None
        self.finished.emit(final)
