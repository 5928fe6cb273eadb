"""The prompt set of the Comparison pane: built-in, the run's held-out prompts, an edited list or a file.

``PromptSourceMixin`` is mixed into ``ComparisonPane``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QComboBox, QLabel, QPlainTextEdit, QWidget

from dpostudio.ui.file_dialogs import open_file
from dpostudio.ui.tasks import describe_error

if TYPE_CHECKING:
    from dpostudio.core.compare.prompt_sets import Prompt
    from dpostudio.core.training.runs import Run

    _MixinBase = QWidget  # only ever mixed into a QWidget (``ComparisonPane``)
else:
    _MixinBase = object

PROMPT_SOURCES = (
    ("builtin", "Built-in: five published prompts"),
    ("eval", "Held-out prompts of the run"),
    ("custom", "My list (edit below)"),
    ("file", "From a file…"),
)


class PromptSourceMixin(_MixinBase):
    """Loads the chosen prompt source into ``prompt_edit`` and turns the editor's text into prompts."""

    if TYPE_CHECKING:  # provided by ComparisonPane and the other mixins
        message = Signal(str, str)
        prompt_source: QComboBox
        prompt_edit: QPlainTextEdit
        prompt_count: QLabel
        _file_prompts: list[Prompt] | None

        def _run(self) -> Run | None: ...

    @Slot()
    def _load_prompt_source(self, *_args) -> None:
        from dpostudio.core.compare import prompt_sets

        key = self.prompt_source.currentData()
        self._file_prompts = None
        try:
            if key == "builtin":
                prompts = prompt_sets.builtin_set()
            elif key == "eval":
                run = self._run()
                if run is None:
                    prompts = []
                else:
                    prompts = prompt_sets.eval_prompts(run.config(), limit=50)
            elif key == "file":
                name = open_file(self, "Prompt file", "prompts", "Prompts (*.txt *.jsonl *.json)")
                if not name:
                    return
                prompts = prompt_sets.from_file(name)
            else:
                return  # custom: keep what is in the editor
        except Exception as exc:
            self.message.emit("warning", describe_error(exc))
            self.prompt_count.setText(describe_error(exc))
            return
        if key in ("eval", "file") and any(len(p.messages) > 1 for p in prompts):
            self._file_prompts = prompts  # multi-turn prompts keep their conversation
        self.prompt_edit.blockSignals(True)
        self.prompt_edit.setPlainText("\n".join(p.text.replace("\n", " ") for p in prompts))
        self.prompt_edit.blockSignals(False)
        self._update_prompt_count()

    @Slot()
    def _on_prompts_edited(self) -> None:
        self._file_prompts = None
        if self.prompt_source.currentData() != "custom":
            self.prompt_source.blockSignals(True)
            self.prompt_source.setCurrentIndex(self.prompt_source.findData("custom"))
            self.prompt_source.blockSignals(False)
        self._update_prompt_count()

    def _update_prompt_count(self) -> None:
        n = len([ln for ln in self.prompt_edit.toPlainText().splitlines() if ln.strip() and not ln.startswith("#")])
        self.prompt_count.setText(f"{n} prompt{'s' if n != 1 else ''}")

    def set_prompts(self, prompts: list[str]) -> None:
        self.prompt_edit.setPlainText("\n".join(prompts))

    def prompts(self) -> list:
        from dpostudio.core.compare.prompt_sets import from_lines

        if self._file_prompts is not None:
            return list(self._file_prompts)
        return from_lines(self.prompt_edit.toPlainText(), label=str(self.prompt_source.currentData()))
