"""Running a sweep's trials off the GUI thread: ``run_sweep`` in a child process, as training runs.

Each trial is a full training run (PyTorch), so the sweep runs in a spawned child process (``ChildProcessWorker``):
the window's interpreter lock stays free, and a crash or an out-of-memory kill ends the sweep, not the window. The
child's events are the engine's training events with a ``trial`` key, plus ``{"type": "trial", "state": ...}``
when a trial starts and ends and ``{"type": "note"}``. Stop sets the child's cancel event: the running trial
stops at its next step and is queued again for the next resume.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from dpostudio.core.training.event_types import FAILED
from dpostudio.ui.child_process import ChildProcessWorker, serve_in_child
from dpostudio.ui.tasks import keep_until_finished

SWEEP_DONE = "sweep_done"  # the type of what ``done`` carries when the child returned


class SweepWorker(ChildProcessWorker):
    """Lives on its own thread; runs ``sweep_in_child`` for the sweep ``name`` (at ``url``, if not in the data dir)."""

    process_name = "dpostudio-sweep"
    label = "sweep"

    def __init__(self, name: str, url: str | None = None):
        super().__init__()
        self.name = name
        self.url = url

    def child_call(self):
        return sweep_in_child, (self.name, self.url)  # looked up now: tests replace it

    def on_exit(self, marker: dict) -> dict:
        return {"type": SWEEP_DONE, "trials": list(marker.get("trials") or []), "message": marker.get("message", "")}

    def on_failure(self, message: str) -> dict:
        return {"type": FAILED, "trials": [], "message": message}


def sweep_in_child(name: str, url: str | None, events, cancel) -> None:
    """Entry point of the sweep process: run the sweep's trials, put each event on ``events``, then an end marker."""
    serve_in_child(lambda emit, stop: _run(name, url, emit, stop), events, cancel)


def _run(name: str, url: str | None, emit, cancel) -> dict:
    from dpostudio.core.sweeps import open_sweep
    from dpostudio.core.sweeps.runner import run_sweep

    sweep = open_sweep(name, url)
    done = run_sweep(sweep, emit, cancel)
    stopped = cancel.is_set()
    words = f"{len(done)} trial{'s' if len(done) != 1 else ''} ran"
    return {"trials": done, "message": f"{words}; stopped" if stopped else words}


class SweepController(QObject):
    """GUI-side handle: starts a ``SweepWorker`` on its own QThread and stops it on request. Signals arrive on the
    GUI thread: ``event`` (each child event), ``started``, ``finished`` (what ``done`` carried), ``crashed``."""

    event = Signal(object)  # type: ignore[assignment]  # shadows QObject.event, as ChildProcessWorker.event does
    started = Signal()
    finished = Signal(object)
    crashed = Signal(str, str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.worker_thread: QThread | None = None
        self.worker: SweepWorker | None = None
        self.name: str | None = None

    def is_running(self) -> bool:
        return self.worker_thread is not None and self.worker_thread.isRunning()

    def start(self, name: str, url: str | None = None) -> None:
        if self.is_running():
            raise RuntimeError("a sweep is already running")
        thread = QThread()
        thread.setObjectName("sweep")
        worker = SweepWorker(name, url)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.event.connect(self._on_event)  # queued: the worker lives on the sweep thread
        worker.crashed.connect(self.crashed)
        worker.done.connect(self._on_done)
        keep_until_finished(thread, worker)
        self.worker_thread, self.worker, self.name = thread, worker, name
        thread.start()
        self.started.emit()

    def stop(self) -> bool:
        """Ask the running trial to stop at its next step (it is queued again). True when a sweep was asked."""
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
