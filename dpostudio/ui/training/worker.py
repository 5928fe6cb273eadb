"""Training off the GUI thread: a worker object moved to a QThread drives the core engine in a child process.

The engine's ``train(config, on_event, cancel, resume=)`` blocks. It runs in a spawned child process, so that
importing PyTorch/TRL, tokenising and each step's Python work never hold the GUI process's interpreter lock
(measured in-thread: stalls of 50-580 ms of the GUI thread; see bench/gui_responsiveness.py), and so that a crash
or an out-of-memory kill in PyTorch cannot take the window down. Events come back over a multiprocessing queue;
the worker thread (blocked on that queue, not holding the lock) turns each into a Qt signal delivered (queued) to
the GUI thread. The worker never touches a widget. Stop is cooperative: it sets an event the engine checks at each
step boundary, where it saves a checkpoint and ends the run as ``cancelled``. A failure arrives as a ``failed``
event with the engine's message; the run folder (config, metrics log, checkpoints) stays on disk.
"""

from __future__ import annotations

import multiprocessing
import queue
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
        ctx = multiprocessing.get_context("spawn")
        events, child_cancel = ctx.Queue(), ctx.Event()
        config = self.config.to_dict() if self.config is not None else None
        proc = ctx.Process(target=train_in_child, args=(config, self.resume, events, child_cancel),
                           name="dpostudio-training", daemon=True)
        final: dict | None = None
        try:
            proc.start()
            final = self._relay(proc, events, child_cancel)
        except Exception as exc:  # the child could not be started
            from dpostudio.ui.tasks import describe_error

            final = {"type": "failed", "step": 0, "message": describe_error(exc), "run_id": None}
            self.crashed.emit(describe_error(exc), traceback.format_exc())
        finally:
            if proc.pid is not None:
                proc.join(30)
        self.done.emit(final)
        QThread.currentThread().quit()  # thread-safe; the controller waits for the thread after ``done``

    def _relay(self, proc, events, child_cancel) -> dict:
        """Forward the child's events until it says it is done (or dies); pass Stop on to it."""
        run_id = self.resume
        while True:
            if self.cancel.is_set():
                child_cancel.set()
            try:
                event = events.get(timeout=0.2)
            except queue.Empty:
                if proc.is_alive():
                    continue
                try:  # it may have exited right after its last put
                    event = events.get(timeout=1.0)
                except queue.Empty:
                    last = self._last or {}
                    return {"type": "failed", "step": last.get("step", 0), "run_id": run_id,
                            "message": f"the training process ended unexpectedly (exit code {proc.exitcode}; "
                                       "possibly out of memory); files written so far are kept"}
            kind = event.get("type")
            if kind == "_exit":
                final = self._last or {"type": event.get("status") or "failed", "step": 0,
                                       "message": event.get("message", "")}
                return {**final, "run_id": event["run_id"]}
            if kind == "_crash":
                self.crashed.emit(event["message"], event["traceback"])
                return {"type": "failed", "step": 0, "message": event["message"], "run_id": run_id}
            if kind == "started":
                run_id = event.get("run_id")
            self._on_event(event)


def train_in_child(config: dict | None, resume: str | None, events, cancel) -> None:
    """Entry point of the training process: run the engine, put each event on ``events``, then an end marker."""
    from dpostudio.core.training.engine import train
    from dpostudio.core.training.run_config import RunConfig
    from dpostudio.plugins import connect_core

    connect_core()  # a fresh (spawned) process: plugin: models and datasets resolve through this process's plugins
    _stop_when_parent_dies(cancel)
    try:
        run = train(RunConfig.from_dict(config) if config is not None else None, events.put, cancel, resume=resume)
        info = run.info()
        events.put({"type": "_exit", "run_id": run.id, "status": info.get("status"), "message": info.get("message", "")})
    except BaseException as exc:  # noqa: BLE001 — reported to the GUI, never a silent death
        text = str(exc).strip().splitlines()
        events.put({"type": "_crash", "message": text[0] if text else type(exc).__name__,
                    "traceback": traceback.format_exc()})


def _stop_when_parent_dies(cancel) -> None:
    """If the window's process dies (killed, or aborted by a fault), stop at the next step with a checkpoint
    instead of training on unseen: the run is then resumable from the app or ``dpostudio train --resume``."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        from multiprocessing.connection import wait

        wait([parent.sentinel])
        cancel.set()

    threading.Thread(target=watch, name="dpostudio-parent-watch", daemon=True).start()


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
