"""Run blocking core work off the GUI thread: a worker object moved to a QThread, results by queued signal.

    task = run_task(parent, load_something, path, on_result=show, on_error=report, with_progress=True)

When ``with_progress`` is true the function receives a ``progress(fraction, message)`` keyword argument that is
safe to call from the worker thread. The task object is kept alive until it finishes (Spyder/Anki style);
no widget is touched from the worker.
"""

from __future__ import annotations

import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, Signal, Slot

_alive: set["Task"] = set()


class _Worker(QObject):
    result = Signal(object)
    error = Signal(str, str)  # message in words, traceback text
    progress = Signal(float, str)
    done = Signal()

    def __init__(self, fn: Callable[..., Any], args: tuple, kwargs: dict, with_progress: bool):
        super().__init__()
        self.fn, self.args, self.kwargs, self.with_progress = fn, args, kwargs, with_progress

    @Slot()
    def run(self) -> None:
        try:
            kwargs = dict(self.kwargs)
            if self.with_progress:
                kwargs["progress"] = lambda fraction, message="": self.progress.emit(float(fraction), str(message))
            self.result.emit(self.fn(*self.args, **kwargs))
        except Exception as exc:  # reported in words on the GUI thread
            self.error.emit(describe_error(exc), traceback.format_exc())
        finally:
            self.done.emit()


class Task(QObject):
    """Handle of one background call; signals are delivered on the GUI thread."""

    result = Signal(object)
    error = Signal(str, str)
    progress = Signal(float, str)
    finished = Signal()

    def __init__(self, parent: QObject | None, fn, args, kwargs, with_progress: bool):
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName(f"task:{getattr(fn, '__name__', 'work')}")
        self.worker = _Worker(fn, args, kwargs, with_progress)
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.run)
        self.worker.result.connect(self.result)
        self.worker.error.connect(self.error)
        self.worker.progress.connect(self.progress)
        self.worker.done.connect(self.thread.quit)
        self.thread.finished.connect(self._cleanup)

    def start(self) -> "Task":
        _alive.add(self)
        self.thread.start()
        return self

    def is_running(self) -> bool:
        return self.thread.isRunning()

    def wait(self, msecs: int = 30_000) -> bool:
        return self.thread.wait(msecs)

    @Slot()
    def _cleanup(self) -> None:
        self.worker.deleteLater()
        _alive.discard(self)
        self.finished.emit()


def run_task(parent: QObject | None, fn: Callable[..., Any], *args: Any, on_result=None, on_error=None,
             on_progress=None, with_progress: bool = False, **kwargs: Any) -> Task:
    task = Task(parent, fn, args, kwargs, with_progress)
    if on_result:
        task.result.connect(on_result)
    if on_error:
        task.error.connect(on_error)
    if on_progress:
        task.progress.connect(on_progress)
    return task.start()


def describe_error(exc: BaseException) -> str:
    """A one-line message for an exception: the core's own errors are already in words."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    if isinstance(exc, (ValueError, RuntimeError, OSError)) and first:
        return first
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
