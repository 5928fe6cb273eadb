"""The per-pair reward explorer: a window that scores a run's pairs, shows them in a sortable, filterable table,
and saves swap/drop/mark edits as a new dataset version next to the run.

The main window opens it with::

    window = open_explorer(self, run_id)           # run_id may be None: the newest run with an adapter
    window.trainRequested.connect(self.train_on_dataset)   # str: the saved version's JSONL path

``view`` (``ExplorerView``, the widget), ``model`` (table model and filters), ``detail`` (one pair side by side) and
``worker`` (the scoring child process) hold the pieces.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDialog, QVBoxLayout, QWidget

from dpostudio.ui.explorer.view import ExplorerView

__all__ = ["ExplorerView", "ExplorerWindow", "open_explorer"]

WINDOW_SIZE = (1280, 800)


class ExplorerWindow(QDialog):
    """A non-modal window holding one ``ExplorerView``; its signals are the view's."""

    trainRequested = Signal(str)  # noqa: N815 - the path of a saved dataset version to train on
    message = Signal(str, str)  # level, text in words (for the app's log area)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Per-pair reward explorer")
        self.setWindowFlag(Qt.WindowType.WindowMaximizeButtonHint, True)
        self.setModal(False)
        self.view = ExplorerView(self)
        self.view.trainRequested.connect(self.trainRequested)
        self.view.message.connect(self.message)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.view)
        self.resize(*WINDOW_SIZE)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.view.cancel()  # the scoring process stops after its current batch; its thread is kept until it ends
        super().closeEvent(event)

    def reject(self) -> None:  # Escape closes the window the same way
        self.view.cancel()
        super().reject()


def open_explorer(parent: QWidget | None = None, run_id: str | None = None) -> ExplorerWindow:
    """Open (show) an explorer window on ``run_id`` (id, unique prefix or run folder; None: the first run listed
    with an adapter) and return it. Connect its ``trainRequested(str)`` to start a run on a saved version."""
    window = ExplorerWindow(parent)
    if run_id:
        window.view.select_run(run_id)
    window.show()
    window.raise_()
    window.activateWindow()
    return window
