"""The comparison worker: runs ``dpostudio.core.compare.comparison.compare`` in a child process for the Comparison
pane (the pattern of ``dpostudio.ui.child_process``, as training does).

Loading the model and generating token by token would otherwise hold the GUI process's interpreter lock and stall
the window. Every core event comes back as ``event(dict)`` (tokens included, so answers still stream); Stop sets
the comparison's cancel event in the child, which stops after the current token. The ``ComparisonResult`` comes
back as plain data and is rebuilt here; ``done`` carries it, or None when the comparison could not start or its
process died (then ``failed`` says why, in words).
"""

from __future__ import annotations

from PySide6.QtCore import Signal

from dpostudio.ui.child_process import ChildProcessWorker, serve_in_child


class CompareWorker(ChildProcessWorker):
    """Runs one comparison in a child process; every core event is re-emitted as ``event(dict)`` (queued)."""

    failed = Signal(str)  # why the comparison could not start, or why its process ended, in words

    process_name = "dpostudio-comparison"
    label = "comparison"

    def __init__(self, kwargs: dict):
        super().__init__()
        self.kwargs = kwargs  # compare()'s arguments but on_event and cancel; they must pickle (a Run, Prompts...)

    def child_call(self):
        return compare_in_child, (self.kwargs,)  # looked up now: a test replaces it

    def on_exit(self, marker: dict):
        from dpostudio.core.compare.comparison import ComparisonResult

        return ComparisonResult.from_dict(marker["result"])

    def on_failure(self, message: str):
        self.failed.emit(message)
        return None


def compare_in_child(kwargs: dict, events, cancel) -> None:
    """Entry point of the comparison process: run the comparison, its events onto ``events``, then its result."""
    serve_in_child(lambda emit, stop: _compare(kwargs, emit, stop), events, cancel)


def _compare(kwargs: dict, emit, cancel) -> dict:
    from dpostudio.core.compare.comparison import compare

    return {"result": compare(**kwargs, on_event=emit, cancel=cancel).to_dict()}
