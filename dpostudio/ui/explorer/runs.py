"""The explorer's run picker: the runs with an adapter (final or at a checkpoint), their adapters, and which of a
run's pairs to score (its training or evaluation pairs, or one of its extra held-out eval sets).

``RunPickerMixin`` is mixed into ``ExplorerView`` (which owns the combo boxes and the status line).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QComboBox, QWidget

from dpostudio.ui.run_choices import fill_adapters, fill_runs_with_adapter
from dpostudio.ui.tasks import describe_error

if TYPE_CHECKING:
    from dpostudio.core.training.runs import Run

    _MixinBase = QWidget  # only ever mixed into a QWidget (``ExplorerView``)
else:
    _MixinBase = object

FINAL = "final"
SPLIT_CHOICES = (("eval", "Evaluation pairs"), ("train", "Training pairs"), ("both", "Training and evaluation"))


def fill_splits(combo: QComboBox, run: Run | None) -> None:
    """The run's own splits, then each extra eval set it was evaluated on (by name); the choice is kept when the
    new run has it too."""
    from dpostudio.core.training.run_config import parse_eval_set

    extra: list[str] = []
    if run is not None:
        try:
            extra = [parse_eval_set(entry)[0] for entry in run.config().extra_eval_sets]
        except (OSError, ValueError):  # an unreadable configuration: the run's own splits only
            extra = []
    current = combo.currentData()
    combo.blockSignals(True)
    combo.clear()
    for key, text in SPLIT_CHOICES:
        combo.addItem(text, key)
    for name in extra:
        combo.addItem(f"Held-out set “{name}”", name)
    combo.setCurrentIndex(max(combo.findData(current), 0))
    combo.blockSignals(False)


class RunPickerMixin(_MixinBase):
    """Fills ``run_combo`` and ``checkpoint_combo``; ``_run()`` is the chosen run."""

    if TYPE_CHECKING:  # provided by ExplorerView
        message = Signal(str, str)
        run_combo: QComboBox
        checkpoint_combo: QComboBox
        split_combo: QComboBox

        def _set_status(self, text: str, error: bool = False) -> None: ...

    # ---- runs -------------------------------------------------------------------------------------------
    @Slot()
    def refresh_runs(self) -> None:
        """List the runs that have an adapter (final or at a checkpoint), keeping the current one."""
        fill_runs_with_adapter(
            self.run_combo,
            lambda run, info: (f"{run.display_name} · {run.status(info)}", run.id),
            lambda text: self.message.emit("warning", text),
        )
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
        run = self._run()
        fill_adapters(self.checkpoint_combo, run, final=FINAL)
        fill_splits(self.split_combo, run)
