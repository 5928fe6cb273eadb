"""Pairs from your own judgement, in the Comparison pane: under each answer pair a ``JudgeBar`` (base better,
tuned better, tie, or write a better answer), saved at once in the "my-judgements" set
(``dpostudio.core.compare.human_pairs``); above the answers a line counts the pairs made so far and opens them
in the Dataset pane.

A judgement names its comparison row (run, comparison folder, row), so reopening a comparison shows what was
judged, and judging a row again replaces the earlier judgement. ``HumanJudgementMixin`` is mixed into
``ComparisonPane`` ahead of the results mixin, whose ``_reset_results`` and ``_show_item`` it extends.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QMetaMethod, Qt, Signal
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QPushButton, QScrollArea, QWidget

from dpostudio.core.compare.human_pairs import TIE, Judgement, JudgementError, JudgementSet
from dpostudio.ui.comparison.better_answer_dialog import BetterAnswerDialog
from dpostudio.ui.comparison.judge_bar import JudgeBar
from dpostudio.ui.comparison.widgets import SIDES, AnswerBox, _html
from dpostudio.ui.tasks import describe_error

if TYPE_CHECKING:

    class _MixinBase(QWidget):  # only ever mixed into ``ComparisonPane``, ahead of ``ComparisonResultsMixin``
        def _reset_results(self, prompts: list[str]) -> None: ...
        def _show_item(self, item: dict) -> None: ...
        def open_comparison(self, path: str) -> None: ...

else:
    _MixinBase = object

TIE_HINT = "A tie is counted but makes no pair; judging a prompt again replaces the earlier judgement."
KEYS_HINT = "Keys while an answer pair has focus: B base better · T tuned better · = tie · W write a better answer"


class HumanJudgementMixin(_MixinBase):
    """Judge bars on the answer boxes, the judgement counter and "Open in Dataset pane"."""

    if TYPE_CHECKING:  # provided by ComparisonPane
        message = Signal(str, str)
        datasetRequested = Signal(str)
        answers_scroll: QScrollArea
        _boxes: dict[int, AnswerBox]
        _items: dict[int, dict]
        _current_dir: str | None

    _judge_bars: dict[int, JudgeBar]
    _judge_store: JudgementSet | None = None
    _opening_comparison = False
    better_dialog: BetterAnswerDialog | None = None

    # ---- building ------------------------------------------------------------------------------------------

    def _build_judgement_row(self, parent: QWidget) -> QWidget:
        """The line "N pairs from your judgements … [Open in Dataset pane]" (placed by the pane)."""
        host = QWidget(parent)
        row = QHBoxLayout(host)
        row.setContentsMargins(0, 0, 0, 0)
        self.judgement_count = QLabel("", host)
        self.judgement_count.setObjectName("CompareJudgementCount")
        self.judgement_count.setTextFormat(Qt.TextFormat.RichText)
        self.judgement_count.setWordWrap(True)
        self.judgement_count.setToolTip(KEYS_HINT)
        self.open_judgements_button = QPushButton("Open in Dataset pane", host)
        self.open_judgements_button.setObjectName("CompareOpenJudgements")
        self.open_judgements_button.setToolTip("Load the pairs made from your judgements in the Dataset pane")
        self.open_judgements_button.clicked.connect(self.open_judgements_in_dataset)
        row.addWidget(self.judgement_count, 1)
        row.addWidget(self.open_judgements_button)
        self._judge_bars = {}
        self.update_judgement_count()
        return host

    def judgement_set(self) -> JudgementSet:
        """Where this pane's judgements go (the data dir's "my-judgements" set)."""
        if self._judge_store is None:
            self._judge_store = JudgementSet()
        return self._judge_store

    # ---- extending the results mixin ------------------------------------------------------------------------

    def _reset_results(self, prompts: list[str]) -> None:
        super()._reset_results(prompts)
        self._judge_bars = {}
        for index, box in self._boxes.items():
            bar = JudgeBar(index, box, box)
            bar.setEnabled(False)  # until both answers are in
            bar.judged.connect(lambda verdict, i=index: self.judge_row(i, verdict))
            bar.writeRequested.connect(lambda i=index: self.write_better_answer(i))
            bar.clearRequested.connect(lambda i=index: self.clear_judgement(i))
            grid = box.layout()
            assert isinstance(grid, QGridLayout)
            grid.addWidget(bar, grid.rowCount(), 0, 1, 2)
            self._judge_bars[index] = bar
        self.update_judgement_count()

    def _show_item(self, item: dict) -> None:
        super()._show_item(item)
        bar = self._judge_bars.get(item["index"])
        if bar is not None:
            bar.setEnabled(True)
            if not self._opening_comparison:  # an opened comparison's rows are matched once it is on screen
                bar.show_judgement(self._stored(item["index"]))
        self.update_judgement_count()

    def open_comparison(self, path: str) -> None:
        self._opening_comparison = True
        try:
            super().open_comparison(path)
        finally:
            self._opening_comparison = False
        for index, bar in self._judge_bars.items():
            bar.show_judgement(self._stored(index) if index in self._items else None)
        self.update_judgement_count()

    # ---- judging ---------------------------------------------------------------------------------------------

    def row_source(self, index: int) -> dict | None:
        """What a judgement of row ``index`` (0-based) names: run, comparison folder and 1-based row."""
        if not self._current_dir:
            return None
        folder = Path(self._current_dir)
        return {"kind": "comparison", "run": folder.parent.parent.name, "comparison": folder.name, "row": index + 1}

    def _stored(self, index: int) -> Judgement | None:
        source = self.row_source(index)
        return self.judgement_set().latest(source) if source else None

    def _row(self, index: int) -> tuple[dict, dict, dict[str, str]] | None:
        item, source = self._items.get(index), self.row_source(index)
        if item is None or source is None:
            return None
        return item, source, {side: item[side]["answer"] for side in SIDES}

    def _prompt_and_system(self, index: int, item: dict) -> tuple[str | list[dict], str | None]:
        """The prompt as the model was given it: the shown text, or the conversation when it is more than one
        user turn; and the run's system prompt, unless the conversation brings its own."""
        from dpostudio.core.compare.store import read_meta

        meta = read_meta(Path(self._current_dir)) if self._current_dir else {}
        prompts = meta.get("prompts") or []
        messages = (prompts[index].get("messages") if index < len(prompts) else None) or []
        prompt: str | list[dict] = item["prompt"]
        if messages and messages != [{"role": "user", "content": item["prompt"]}] and messages[-1]["role"] == "user":
            prompt = messages
        has_system = isinstance(prompt, list) and prompt[0].get("role") == "system"
        return prompt, None if has_system else meta.get("system_prompt")

    def judge_row(self, index: int, verdict: str, written: str | None = None, against: str = "worse") -> bool:
        """Save the person's verdict on row ``index`` ("base", "tuned" or "tie"), optionally with a written
        better answer; True when saved. A judgement that makes no sense is refused in words, nothing lost."""
        row, bar = self._row(index), self._judge_bars.get(index)
        if row is None or bar is None:
            return False
        item, source, answers = row
        prompt, system = self._prompt_and_system(index, item)
        try:
            judgement = self.judgement_set().judge(
                prompt, answers, verdict, source=source, written=written, against=against, system=system
            )
        except (JudgementError, OSError) as exc:
            bar.show_judgement(bar.judgement)
            self.message.emit("warning", f"Prompt {index + 1}: not saved: {describe_error(exc)}")
            return False
        bar.show_judgement(judgement)
        self.update_judgement_count()
        if written is None:
            self._focus_next(index)
        return True

    def write_better_answer(self, index: int) -> BetterAnswerDialog | None:
        """Open "Write a better answer…" for row ``index``; saving it records the judgement."""
        row, bar = self._row(index), self._judge_bars.get(index)
        if row is None or bar is None:
            return None
        item, _source, answers = row
        mine = bar.judgement
        if mine is not None and mine.written:
            single = len(mine.rejected) == 1 and mine.verdict in SIDES
            start, text = (mine.verdict if single else None), mine.chosen
        else:
            start = mine.verdict if mine is not None and mine.verdict in SIDES else item.get("verdict")
            text = None
        dialog = BetterAnswerDialog(item["prompt"], answers, start if start in SIDES else None, self, text=text)
        dialog.accepted.connect(lambda: self.judge_row(index, dialog.better(), dialog.text(), dialog.against()))
        dialog.finished.connect(lambda _result: bar.show_judgement(bar.judgement))
        dialog.finished.connect(dialog.deleteLater)
        self.better_dialog = dialog
        dialog.open()
        return dialog

    def clear_judgement(self, index: int) -> None:
        source, bar = self.row_source(index), self._judge_bars.get(index)
        if source is None or bar is None:
            return
        try:
            self.judgement_set().withdraw(source)
        except OSError as exc:
            self.message.emit("warning", f"Prompt {index + 1}: the judgement could not be cleared: {exc}")
            return
        bar.show_judgement(None)
        self.update_judgement_count()

    def _focus_next(self, index: int) -> None:
        following = sorted(i for i in self._judge_bars if i > index and i in self._items)
        if following:
            nxt = self._judge_bars[following[0]]
            nxt.buttons[TIE].setFocus(Qt.FocusReason.OtherFocusReason)
            self.answers_scroll.ensureWidgetVisible(self._boxes[following[0]])

    # ---- the counter and the Dataset pane ------------------------------------------------------------------

    def update_judgement_count(self) -> None:
        if not hasattr(self, "judgement_count"):
            return
        log = self.judgement_set().read()
        pairs = log.pair_count
        text = f"<b>{pairs} pair{'' if pairs == 1 else 's'} from your judgements</b>"
        extra = [f"{log.ties} tie{'' if log.ties == 1 else 's'}"] if log.ties else []
        judged_here = sum(1 for bar in self._judge_bars.values() if bar.judgement is not None)
        if self._items:
            extra.append(f"{judged_here} of {len(self._items)} answered prompts here judged")
        text += f" ({', '.join(extra)})" if extra else ""
        if log.problems:
            text += f"<br><span style='color:#8a5a00'>{_html(log.problems[0])}</span>"
        self.judgement_count.setText(text)
        self.judgement_count.setToolTip(f"Saved in {self.judgement_set().pairs_path}\n{KEYS_HINT}\n{TIE_HINT}")
        self.open_judgements_button.setEnabled(pairs > 0)

    def open_judgements_in_dataset(self) -> None:
        """Hand the pairs file to the Dataset pane (through ``datasetRequested``; without a listener, the
        window's Dataset pane directly)."""
        try:
            path = str(self.judgement_set().refresh())
        except OSError as exc:
            self.message.emit("error", f"Could not write the judgements' pairs file: {exc}")
            return
        signal = QMetaMethod.fromSignal(self.datasetRequested)
        if self.isSignalConnected(signal):
            self.datasetRequested.emit(path)
            return
        window = self.window()
        dataset_pane = getattr(window, "dataset_pane", None)
        if dataset_pane is None or not hasattr(dataset_pane, "use_judgements"):
            self.message.emit("info", f"Your judgements' pairs are in {path}")
            return
        dataset_pane.use_judgements(path)
        show = getattr(window, "show_pane", None)
        if callable(show):
            show("Dataset")
