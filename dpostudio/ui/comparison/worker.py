"""The comparison worker: runs ``dpostudio.core.compare.comparison.compare`` on a ``QThread`` for the Comparison pane."""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Signal, Slot

from dpostudio.ui.tasks import describe_error


class CompareWorker(QObject):
    """Runs one comparison on its thread; every core event is re-emitted as ``event(dict)`` (queued)."""

    event = Signal(object)
    failed = Signal(str)
    done = Signal(object)

    def __init__(self, kwargs: dict):
        super().__init__()
        self.kwargs = kwargs
        self.cancel = threading.Event()

    @Slot()
    def run(self) -> None:
        from dpostudio.core.compare.comparison import compare
        from dpostudio.plugins import connect_core

        connect_core()  # judges and plugin: models are reached through the plugin host
        result = None
        try:
            result = compare(**self.kwargs, on_event=self.event.emit, cancel=self.cancel)
        except Exception as exc:  # shown in words on the GUI thread
            self.failed.emit(describe_error(exc))
        finally:
            self.done.emit(result)

