"""The explorer's saving: the pending edits written as a new dataset version next to the scored run (in the
app's background process), and "Train on it".

``VersionSavingMixin`` is mixed into ``ExplorerView`` (which owns the table model, the buttons and the labels).
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QInputDialog, QLabel, QPushButton, QWidget

from dpostudio.ui.tasks import Task, run_task

if TYPE_CHECKING:
    from dpostudio.core.data.versions import DatasetVersion
    from dpostudio.core.diagnostics.pair_scores import PairScores
    from dpostudio.ui.explorer.model import PairTableModel

    _MixinBase = QWidget  # only ever mixed into a QWidget (``ExplorerView``)
else:
    _MixinBase = object


class VersionSavingMixin(_MixinBase):
    """``save_version`` and its endings; ``trainRequested`` carries a saved version's path."""

    if TYPE_CHECKING:  # provided by ExplorerView
        message = Signal(str, str)
        trainRequested = Signal(str)
        versionSaved = Signal(object)
        model: PairTableModel
        save_button: QPushButton
        saved_label: QLabel
        _scores: PairScores | None
        _scored_path: str | None
        _save_task: Task | None
        _last_version: DatasetVersion | None

        def _set_status(self, text: str, error: bool = False) -> None: ...
        def _on_edits_changed(self, *_args) -> None: ...

    def save_version(self, description: str | None = None) -> bool:
        """Write the pending edits as a new dataset version next to the scored run (in the background process).
        ``description`` is asked for when None. False (with the reason shown) when nothing can be saved."""
        from pathlib import Path

        from dpostudio.core.data.versions import create_version
        from dpostudio.core.training.runs import Run

        if self._scores is None or self._scored_path is None:
            self._set_status("Score a run's pairs first: a version is made from a scored run.", error=True)
            return False
        edits = self.model.edits()
        if not edits:
            self._set_status("Nothing to save yet: swap, drop or mark at least one pair first.", error=True)
            return False
        if description is None:
            text, ok = QInputDialog.getText(self, "Save as new dataset version", "Describe this version (optional):")
            if not ok:
                return False
            description = text
        self._set_status("Saving the new dataset version…")
        self.save_button.setEnabled(False)
        self._save_task = run_task(
            self,
            create_version,
            Run(Path(self._scored_path)),
            edits,
            description=description,
            on_result=self._on_saved,
            on_error=self._on_save_failed,
            in_child=True,
        )
        return True

    @Slot(object)
    def _on_saved(self, version: DatasetVersion) -> None:
        self._save_task = None
        self._last_version = version
        self.saved_label.setText(
            f"Saved {escape(version.summary())}. The source dataset is unchanged. "
            "Press <b>Train on it</b> to start a run on this version."
        )
        self._set_status(f"Saved dataset version {version.number}: {version.path}")
        self.message.emit("info", f"Saved {version.summary()}")
        self._on_edits_changed()
        self.versionSaved.emit(version)

    @Slot(str, str)
    def _on_save_failed(self, text: str, _trace: str = "") -> None:
        self._save_task = None
        self._set_status(f"Could not save the dataset version: {text}", error=True)
        self.message.emit("error", f"Could not save the dataset version: {text}")
        self._on_edits_changed()

    @Slot()
    def _on_train(self) -> None:
        if self._last_version is not None:
            self.trainRequested.emit(str(self._last_version.path))

    def last_version(self) -> DatasetVersion | None:
        return self._last_version
