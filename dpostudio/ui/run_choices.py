"""Filling the run and adapter pickers that the Comparison pane and the pair explorer share: the runs that have an
adapter (final or at a checkpoint), and for one run its final adapter and checkpoints, newest first."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox

from dpostudio.ui.tasks import describe_error

if TYPE_CHECKING:
    from dpostudio.core.training.runs import Run


def fill_runs_with_adapter(
    combo: QComboBox, label: Callable[[Run, dict], tuple[str, str]], warn: Callable[[str], None]
) -> None:
    """Refill ``combo`` with the runs that have an adapter (item data: the run folder), keeping the current one
    selected, without emitting change signals. ``label(run, info)`` gives the item's text and tooltip; a run list
    that cannot be read is said through ``warn``."""
    from dpostudio.core.training.runs import list_runs

    current = combo.currentData()
    combo.blockSignals(True)
    try:
        combo.clear()
        try:
            runs = list_runs()
        except Exception as exc:
            runs = []
            warn(f"Could not list the runs: {describe_error(exc)}")
        for run in runs:
            if run.final_adapter() is None and not run.checkpoint_steps():
                continue  # nothing to compare or score yet
            text, tooltip = label(run, run.info())
            combo.addItem(text, str(run.path))
            combo.setItemData(combo.count() - 1, tooltip, Qt.ItemDataRole.ToolTipRole)
        if current:
            i = combo.findData(current)
            if i >= 0:
                combo.setCurrentIndex(i)
    finally:
        combo.blockSignals(False)


def fill_adapters(combo: QComboBox, run: Run | None, final: Any) -> None:
    """Refill ``combo`` with ``run``'s final adapter (item data ``final``) and its checkpoints (item data: the step),
    newest first."""
    combo.clear()
    if run is None:
        return
    if run.final_adapter() is not None:
        combo.addItem("final adapter", final)
    for step in reversed(run.checkpoint_steps()):
        combo.addItem(f"checkpoint {step}", step)
