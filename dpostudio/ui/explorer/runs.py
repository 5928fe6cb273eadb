"""The explorer's run picker: the runs with an adapter (final or at a checkpoint) and their adapters.

``RunPickerMixin`` is mixed into ``ExplorerView`` (which owns the combo boxes and the status line).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QComboBox, QWidget

from dpostudio.ui.tasks import describe_error

if TYPE_CHECKING:
    from dpostudio.core.training.runs import Run

    _MixinBase = QWidget  # only ever mixed into a QWidget (``ExplorerView``)
else:
    _MixinBase = object

FINAL = "final"


class RunPickerMixin(_MixinBase):
    """Fills ``run_combo`` and ``checkpoint_combo``; ``_run()`` is the chosen run."""

    if TYPE_CHECKING:  # provided by ExplorerView
        message = Signal(str, str)
        run_combo: QComboBox
        checkpoint_combo: QComboBox

        def _set_status(self, text: str, error: bool = False) -> None: ...

    # ---- runs -------------------------------------------------------------------------------------------
    @Slot()
    def refresh_runs(self) -> None:
        """List the runs that have an adapter (final or at a checkpoint), keeping the current one."""
        from dpostudio.core.training.runs import list_runs

        current = self.run_combo.currentData()
        self.run_combo.blockSignals(True)
        self.run_combo.clear()
        try:
            runs = list_runs()
        except Exception as exc:
            runs = []
            self.message.emit("warning", f"Could not list the runs: {describe_error(exc)}")
        for run in runs:
            if run.final_adapter() is None and not run.checkpoint_steps():
                continue
            info = run.info()
            self.run_combo.addItem(f"{run.display_name} · {run.status(info)}", str(run.path))
            self.run_combo.setItemData(self.run_combo.count() - 1, run.id, Qt.ItemDataRole.ToolTipRole)
        if current:
            i = self.run_combo.findData(current)
            if i >= 0:
                self.run_combo.setCurrentIndex(i)
        self.run_combo.blockSignals(False)
        self._on_run_changed()
        if self.run_combo.count() == 0:
            self._set_status("No run with an adapter yet: train one first (or wait for its first checkpoint).")

    def select_run(self, run_id: str, checkpoint: int | str | None = None) -> bool:
        """Pick the run ``run_id`` (id, unique prefix or folder) and optionally a checkpoint step; False if absent."""
        from dpostudio.core.training.runs import get_run

        try:
            run = get_run(run_id)
        except Exception as exc:
            self._set_status(describe_error(exc), error=True)
            return False
        i = self.run_combo.findData(str(run.path))
        if i < 0:
            self.refresh_runs()
            i = self.run_combo.findData(str(run.path))
        if i < 0:
            self._set_status(f"Run {run.id} has no adapter to score yet (no final adapter, no checkpoint).", True)
            return False
        self.run_combo.setCurrentIndex(i)
        if checkpoint is not None:
            j = self.checkpoint_combo.findData(FINAL if checkpoint in ("", FINAL) else int(checkpoint))
            if j < 0:
                self._set_status(f"Run {run.id} has no adapter at checkpoint {checkpoint}.", True)
                return False
            self.checkpoint_combo.setCurrentIndex(j)
        return True

    def _run(self) -> Run | None:
        from pathlib import Path

        from dpostudio.core.training.runs import Run

        path = self.run_combo.currentData()
        return Run(Path(path)) if path else None

    @Slot()
    def _on_run_changed(self, *_args) -> None:
        self.checkpoint_combo.clear()
        run = self._run()
        if run is None:
            return
        if run.final_adapter() is not None:
            self.checkpoint_combo.addItem("final adapter", FINAL)
        for step in reversed(run.checkpoint_steps()):
            self.checkpoint_combo.addItem(f"checkpoint {step}", step)
