"""The run picker of the Comparison pane: runs with an adapter, their checkpoints and their past comparisons.

``RunPickerMixin`` is mixed into ``ComparisonPane``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QComboBox, QLabel, QPushButton, QWidget

from dpostudio.ui.run_choices import fill_adapters, fill_runs_with_adapter
from dpostudio.ui.tasks import describe_error

if TYPE_CHECKING:
    from dpostudio.core.training.runs import Run

    _MixinBase = QWidget  # only ever mixed into a QWidget (``ComparisonPane``)
else:
    _MixinBase = object


def _run_label(run: Run, info: dict) -> tuple[str, str]:
    """A run briefly (name, status, model's short name); the full id and model path in the tooltip."""
    model = str(info.get("model", ""))
    model = model.split(":", 1)[-1] if model.startswith("embedded:") else Path(model).name or model
    return f"{run.display_name} · {run.status(info)} · {model}", f"{run.id}\n{info.get('model', '')}"


class RunPickerMixin(_MixinBase):
    """Fills ``run_combo``, ``checkpoint_combo`` and ``past_combo``; opens a past comparison from disk."""

    if TYPE_CHECKING:  # provided by ComparisonPane and the other mixins
        message = Signal(str, str)
        run_combo: QComboBox
        checkpoint_combo: QComboBox
        past_combo: QComboBox
        prompt_source: QComboBox
        summary_label: QLabel
        status_label: QLabel
        export_button: QPushButton
        _criteria: list[str]
        _current_dir: str | None
        _summary_is_idle: bool
        open_button: QPushButton

        def _load_prompt_source(self, *_args) -> None: ...
        def _reset_results(self, prompts: list[str]) -> None: ...
        def _show_item(self, item: dict) -> None: ...
        def _show_summary(self, summary: dict, meta: dict | None) -> None: ...

    @Slot()
    def refresh_runs(self) -> None:
        fill_runs_with_adapter(self.run_combo, _run_label, lambda text: self.message.emit("warning", text))
        self._on_run_changed()
        self._show_idle_summary()

    def _show_idle_summary(self) -> None:
        """While no comparison is on screen, the summary line says what to do, from the run list as it is now."""
        if not self._summary_is_idle:
            return
        n = self.run_combo.count()
        if n == 0:
            text = "No run with an adapter yet: train one in the Training pane."
        elif n == 1:
            text = "One run with an adapter: press Compare to compare it with its base model."
        else:
            text = f"{n} runs with an adapter: pick one and press Compare."
        self.summary_label.setText(text)

    def _set_summary(self, html: str) -> None:
        """Show a comparison's (or an error's) summary; the run-list hint no longer replaces it."""
        self._summary_is_idle = False
        self.summary_label.setText(html)

    def show_latest_comparison(self) -> bool:
        """Open the newest comparison of any listed run that has something to show (finished, or with at least
        one answered prompt), as a relaunched app should; False when there is none."""
        from dpostudio.core.compare.store import list_comparisons, read_items
        from dpostudio.core.training.runs import Run

        rows = []
        for i in range(self.run_combo.count()):
            try:
                rows += [(row, i) for row in list_comparisons(Run(Path(self.run_combo.itemData(i))))]
            except OSError:
                continue
        rows.sort(key=lambda r: (r[0]["created_at"], r[0]["id"]), reverse=True)
        for row, index in rows:
            if row["status"] == "finished" or read_items(Path(row["path"])):
                self.run_combo.setCurrentIndex(index)
                self.past_combo.setCurrentIndex(max(0, self.past_combo.findData(row["path"])))
                self.open_comparison(row["path"])
                return True
        return False

    @Slot(list)
    def set_runs(self, rows: list) -> None:
        """The main window's run list changed (rows from the Metrics pane): re-read the runs."""
        self.refresh_runs()

    def select_run(self, run_path_or_id: str) -> bool:
        for i in range(self.run_combo.count()):
            data = self.run_combo.itemData(i)
            if data == str(run_path_or_id) or Path(data).name == str(run_path_or_id):
                self.run_combo.setCurrentIndex(i)
                return True
        return False

    def _run(self) -> Run | None:
        from dpostudio.core.training.runs import Run

        path = self.run_combo.currentData()
        return Run(Path(path)) if path else None

    @Slot()
    def _on_run_changed(self, *_args) -> None:
        run = self._run()
        fill_adapters(self.checkpoint_combo, run, final=None)
        if run is None:
            self.past_combo.clear()
            self.open_button.setEnabled(False)
            return
        self.refresh_past()
        if self.prompt_source.currentData() == "eval":
            self._load_prompt_source()

    def refresh_past(self) -> None:
        from dpostudio.core.compare.store import list_comparisons

        self.past_combo.clear()
        run = self._run()
        if run is None:
            self.open_button.setEnabled(False)
            return
        for row in list_comparisons(run):
            self.past_combo.addItem(f"{row['id']} · {row['status']} · {row['headline']}", row["path"])
        self.open_button.setEnabled(self.past_combo.count() > 0)

    @Slot()
    def _open_selected_past(self) -> None:
        path = self.past_combo.currentData()
        if path:
            self.open_comparison(path)

    def open_comparison(self, path: str) -> None:
        """Show a past comparison from its folder."""
        from dpostudio.core.compare.store import load

        try:
            data = load(path)
        except Exception as exc:
            self.message.emit("error", f"Could not open the comparison: {describe_error(exc)}")
            return
        meta = data["meta"]
        self._criteria = list(meta.get("criteria") or self._criteria)
        self._reset_results([p["text"] for p in meta.get("prompts", [])])
        for item in data["items"]:
            self._show_item(item)
        self._current_dir = data["path"]
        self._show_summary(data["summary"], meta)
        self.export_button.setEnabled(True)
        self.status_label.setText(f"opened {data['id']} ({meta.get('status', '?')})")
