"""Run a core function that streams events in a spawned child process, and relay its events as Qt signals.

Training and comparison both block for minutes in PyTorch. Run on a thread of the GUI process they would hold its
interpreter lock (stalls of 50-580 ms of the GUI thread, measured; see bench/gui_responsiveness.py), and a crash or
an out-of-memory kill would take the window down. So each runs in a child process of its own:

* GUI side: a ``ChildProcessWorker`` subclass is moved to a ``QThread``; its ``run`` starts the child (spawn), then
  waits on a multiprocessing queue (not holding the lock) and re-emits every event as its ``event`` signal, which
  reaches the GUI thread queued. The worker never touches a widget. Setting ``cancel`` (Stop) sets the child's
  multiprocessing event within 0.2 s; the core function checks it at its own step boundaries.
* Child side: the entry function (module level, so that spawn can find it by name) calls ``serve_in_child(work,
  events, cancel)``. It connects the core to the plugins (``connect_core``), stops the work if the window's process
  dies (``stop_when_parent_dies``), runs ``work(events.put, cancel)``, and ends with an end marker: ``_exit`` with
  the fields ``work`` returned, or ``_crash`` with the error in words and its traceback.
* Endings: ``done(object)`` carries what the subclass makes of the end (``on_exit``), or of a failure in words
  (``on_failure``) -- the child crashed, could not start, or died without a word (killed, out of memory), which is
  reported as "the <label> process ended unexpectedly". ``crashed(str, str)`` is emitted only when the work itself
  raised (message, traceback).
"""

from __future__ import annotations

import multiprocessing
import pickle
import queue
import threading
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from dpostudio.core.training.event_types import END_STATES, FAILED
from dpostudio.ui.tasks import describe_error

EXIT = "_exit"  # the child's last message when the work returned: {"type": EXIT, **fields}
CRASH = "_crash"  # ... when it raised: {"type": CRASH, "message", "traceback"}

EventFn = Callable[[dict[str, Any]], None]


class ChildProcessWorker(QObject):
    """Lives on a QThread; runs one child process and relays its events. Subclasses say what to run and what its
    end means: ``child_call``, and optionally ``on_event``, ``on_exit``, ``on_failure``."""

    event = Signal(object)  # type: ignore[assignment]  # every event of the child (a dict), in order (shadows QObject.event)
    done = Signal(object)  # the end, as ``on_exit`` / ``on_failure`` make it; always emitted, once
    crashed = Signal(str, str)  # message in words, traceback: only when the work itself raised

    process_name = "dpostudio-child"
    label = "background"  # "the <label> process ended unexpectedly"

    def __init__(self) -> None:
        super().__init__()
        self.cancel = threading.Event()  # set it (from any thread) to ask the child to stop
        self.last_end: dict | None = None  # the last end event (finished/cancelled/failed) the child sent
        self.pid: int | None = None

    # ---- for subclasses ---------------------------------------------------------------------------------
    def child_call(self) -> tuple[Callable[..., None], tuple]:
        """The child's entry function and its leading arguments (``events`` and ``cancel`` are appended)."""
        raise NotImplementedError

    def on_event(self, event: dict) -> None:
        """Called on the worker's thread with each event, before it is emitted."""

    def on_exit(self, marker: dict) -> Any:
        """What ``done`` carries when the work returned; ``marker`` holds the fields it returned."""
        return self.last_end or {"type": FAILED, "message": "ended without a final event", **marker}

    def on_failure(self, message: str) -> Any:
        """What ``done`` carries when the child crashed, died or could not start (``message`` is in words)."""
        return {"type": FAILED, "message": message}

    # ---- on the worker's thread -----------------------------------------------------------------------
    @Slot()
    def run(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        events, child_cancel = ctx.Queue(), ctx.Event()
        proc = None
        try:
            target, args = self.child_call()
            proc = ctx.Process(target=target, args=(*args, events, child_cancel), name=self.process_name, daemon=True)
            proc.start()
            self.pid = proc.pid
            final = self._relay(proc, events, child_cancel)
        except Exception as exc:  # the child could not be started
            self.crashed.emit(describe_error(exc), traceback.format_exc())
            final = self.on_failure(describe_error(exc))
        finally:
            if proc is not None and proc.pid is not None:
                proc.join(30)
        self.done.emit(final)
        QThread.currentThread().quit()  # thread-safe; whoever started the thread waits for it after ``done``

    def _relay(self, proc, events, child_cancel) -> Any:
        """Forward the child's events until it says it is done (or dies); pass Stop on to it."""
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
                    return self.on_failure(
                        f"the {self.label} process ended unexpectedly (exit code {proc.exitcode}; "
                        "possibly out of memory); files written so far are kept"
                    )
            kind = event.get("type")
            if kind == EXIT:
                return self.on_exit({k: v for k, v in event.items() if k != "type"})
            if kind == CRASH:
                self.crashed.emit(event["message"], event["traceback"])
                return self.on_failure(event["message"])
            if kind in END_STATES:
                self.last_end = event
            self.on_event(event)
            self.event.emit(event)


# ---- in the child process -------------------------------------------------------------------------------


def serve_in_child(work: Callable[[EventFn, Any], dict | None], events, cancel) -> None:
    """The child's side: run ``work(emit, cancel)``, put each event on ``events``, then the end marker.

    ``work`` returns the fields of the ``_exit`` marker (plain data that pickles) or None. Nothing escapes: an
    error becomes a ``_crash`` marker in words, so the window always hears how the child ended.
    """
    try:
        from dpostudio.plugins import connect_core

        connect_core()  # a fresh (spawned) process: judges and plugin: models are reached through its plugins
        stop_when_parent_dies(cancel)
        fields = work(events.put, cancel) or {}
        pickle.dumps(fields)  # fail here, in words, rather than in the queue's feeder thread, silently
        events.put({"type": EXIT, **fields})
    except BaseException as exc:  # noqa: BLE001 - reported to the window, never a silent death
        events.put({"type": CRASH, "message": describe_error(exc), "traceback": traceback.format_exc()})


def stop_when_parent_dies(cancel) -> None:
    """If the window's process dies (killed, or aborted by a fault), set ``cancel`` so the work stops at its next
    step boundary (training saves a checkpoint there) instead of running on unseen."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        from multiprocessing.connection import wait

        wait([parent.sentinel])
        cancel.set()

    threading.Thread(target=watch, name="dpostudio-parent-watch", daemon=True).start()
