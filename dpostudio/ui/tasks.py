"""Run blocking core work off the GUI thread: a worker object moved to a QThread, results by queued signal.

    task = run_task(parent, load_something, path, on_result=show, on_error=report, with_progress=True)

When ``with_progress`` is true the function receives a ``progress(fraction, message)`` keyword argument that is
safe to call from the worker thread. The task object is kept alive until it finishes (Spyder/Anki style);
no widget is touched from the worker.

``in_child=True`` runs the function in the app's background *process* instead (one spawned process, reused):
for work that imports or runs PyTorch (device probe, tokenizers), which would otherwise hold this process's
interpreter lock for hundreds of milliseconds and freeze the window. The function, its arguments and its result
must pickle; the task's thread only waits for the answer. A crash of that process is reported in words and the
next call starts a fresh one.

Lifetimes: a worker thread and its worker object are kept by this module (``keep_until_finished``) until the
thread has *ended* (joined on the GUI thread), whatever happens to the task or its parent widget meanwhile; then
they are released on the GUI thread. No Qt object is ever deleted on a worker thread, and no ``QThread`` is
destroyed while its thread is still winding down (a CI run crashed in such a window).
"""

from __future__ import annotations

import atexit
import multiprocessing
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot

from dpostudio.core.errors import UserError

_alive: set[Task] = set()
_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


def _child_pool() -> ProcessPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_child_setup
            )
        return _pool


class BackgroundProcessError(UserError):
    """The app's background process died while working on a task."""


def _child_setup() -> None:
    """In the background process: core reaches plugins (``plugin:`` specs) as it does in the app."""
    from dpostudio.plugins import connect_core

    connect_core()


def call_in_child(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``fn(*args, **kwargs)`` in the background process and return its result (blocks the calling thread)."""
    global _pool
    try:
        return _child_pool().submit(fn, *args, **kwargs).result()
    except BrokenProcessPool:
        with _pool_lock:
            _pool = None
        raise BackgroundProcessError(
            "the background process ended unexpectedly (possibly out of memory); try again"
        ) from None


def shutdown_child() -> None:
    """End the background process (at application exit)."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


class _Worker(QObject):
    result = Signal(object)
    error = Signal(str, str)  # message in words, traceback text
    progress = Signal(float, str)
    done = Signal()

    def __init__(self, fn: Callable[..., Any], args: tuple, kwargs: dict, with_progress: bool, in_child: bool):
        super().__init__()
        self.fn, self.args, self.kwargs, self.with_progress = fn, args, kwargs, with_progress
        self.in_child = in_child

    @Slot()
    def run(self) -> None:
        try:
            kwargs = dict(self.kwargs)
            if self.with_progress:
                kwargs["progress"] = lambda fraction, message="": self.progress.emit(float(fraction), str(message))
            if self.in_child:
                self.result.emit(call_in_child(self.fn, *self.args, **kwargs))
            else:
                self.result.emit(self.fn(*self.args, **kwargs))
        except Exception as exc:  # reported in words on the GUI thread
            self.error.emit(describe_error(exc), traceback.format_exc())
        finally:
            self.done.emit()


class _Reaper(QObject):
    """Lives on the GUI thread: joins finished worker threads and then lets go of them and their objects."""

    def __init__(self) -> None:
        super().__init__()
        self.kept: dict[int, tuple[QThread, tuple[QObject, ...]]] = {}

    def keep(self, thread: QThread, objects: tuple[QObject, ...]) -> None:
        self.kept[id(thread)] = (thread, objects)
        # queued (this object lives on the GUI thread, ``finished`` is emitted on the worker's): runs after the
        # thread said it finished, and is bound to this object, not to the task or a widget that may be gone
        thread.finished.connect(self._thread_finished)

    @Slot()
    def _thread_finished(self) -> None:
        sender = self.sender()
        if sender is not None:
            self._release(id(sender))

    def _release(self, key: int) -> None:
        entry = self.kept.get(key)
        if entry is None:
            return
        thread, _objects = entry
        if not thread.wait(10_000):  # ``finished`` is emitted just before the thread ends; this is short
            QTimer.singleShot(100, lambda: self._release(key))
            return
        del self.kept[key]


_reaper: _Reaper | None = None


def keep_until_finished(thread: QThread, *objects: QObject) -> None:
    """Hold ``thread`` and ``objects`` (its workers) until the thread has ended, then release them on the GUI
    thread. Call on the GUI thread before ``thread.start()``; the thread and objects must have no Qt parent."""
    global _reaper
    if _reaper is None:
        _reaper = _Reaper()
        # registered now, after the QApplication exists, so it runs before PySide's own exit clean-up (atexit
        # runs last-registered first), which deletes parentless QObjects such as these threads
        atexit.register(wait_for_threads)
    _reaper.keep(thread, objects)


def wait_for_threads(msecs: int = 15_000) -> int:
    """Wait (up to ``msecs`` in all) for every worker thread still held to end; returns how many still run.

    Called at interpreter exit: a ``QThread`` destroyed while its thread runs aborts the process."""
    if _reaper is None:
        return 0
    deadline = time.monotonic() + msecs / 1000
    for key, (thread, _objects) in list(_reaper.kept.items()):
        thread.quit()  # its event loop ends once its work returns (the GUI thread that would say so is here)
        left = max(0, int((deadline - time.monotonic()) * 1000))
        if thread.wait(left):
            _reaper.kept.pop(key, None)
    return len(_reaper.kept)


def kept_threads() -> int:
    """How many worker threads are still held (running, or finished and not yet joined)."""
    return len(_reaper.kept) if _reaper is not None else 0


class Task(QObject):
    """Handle of one background call; signals are delivered on the GUI thread."""

    result = Signal(object)
    error = Signal(str, str)
    progress = Signal(float, str)
    finished = Signal()

    def __init__(self, parent: QObject | None, fn, args, kwargs, with_progress: bool, in_child: bool = False):
        super().__init__(parent)
        self.worker_thread = QThread()  # not ``thread``: that would hide QObject.thread()
        self.worker_thread.setObjectName(f"task:{getattr(fn, '__name__', 'work')}")
        if in_child and with_progress:
            raise ValueError("progress reports are not relayed from the background process")
        self.worker = _Worker(fn, args, kwargs, with_progress, in_child)
        self.worker.moveToThread(self.worker_thread)
        self.worker_thread.started.connect(self.worker.run)
        self.worker.result.connect(self.result)
        self.worker.error.connect(self.error)
        self.worker.progress.connect(self.progress)
        # direct: the worker's thread ends its own event loop (``quit`` is thread-safe), whatever the GUI thread does
        self.worker.done.connect(self.worker_thread.quit, Qt.ConnectionType.DirectConnection)
        self.worker_thread.finished.connect(self._cleanup)

    def start(self) -> Task:
        _alive.add(self)
        keep_until_finished(self.worker_thread, self.worker)
        self.worker_thread.start()
        return self

    def is_running(self) -> bool:
        return self.worker_thread.isRunning()

    def wait(self, msecs: int = 30_000) -> bool:
        return self.worker_thread.wait(msecs)

    @Slot()
    def _cleanup(self) -> None:
        # the worker is not deleted here: the reaper lets go of it on this (GUI) thread once the thread has ended
        _alive.discard(self)
        self.finished.emit()


def run_task(
    parent: QObject | None,
    fn: Callable[..., Any],
    *args: Any,
    on_result=None,
    on_error=None,
    on_progress=None,
    with_progress: bool = False,
    in_child: bool = False,
    **kwargs: Any,
) -> Task:
    task = Task(parent, fn, args, kwargs, with_progress, in_child)
    if on_result:
        task.result.connect(on_result)
    if on_error:
        task.error.connect(on_error)
    if on_progress:
        task.progress.connect(on_progress)
    return task.start()


def describe_error(exc: BaseException) -> str:
    """A one-line message for an exception: a ``UserError`` (and an OS error) is already in words; anything
    else is a bug and is named by its type."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    if isinstance(exc, (UserError, OSError)) and first:
        return first
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
