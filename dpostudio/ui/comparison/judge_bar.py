"""The row under each answer pair where the person says which answer is better.

Buttons "Base better", "Tuned better", "Tie" and "Write a better answer…", with keys that work while the answer
pair (or anything in it) has focus: B, T, = and W. The bar only asks; the pane saves the judgement and then
shows it here (``show_judgement``): the pressed button stays down and a line says what was recorded and when.
"""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QToolButton, QWidget

from dpostudio.core.compare.human_pairs import TIE, Judgement
from dpostudio.ui.comparison.widgets import VERDICT_COLOUR, _html

VERDICTS = (("base", "Base better", "B"), ("tuned", "Tuned better", "T"), (TIE, "Tie", "="))
WRITE_KEY = "W"


class JudgeBar(QWidget):
    """Judge one answer pair. Signals: ``judged(verdict)`` ("base" | "tuned" | "tie"), ``writeRequested()``,
    ``clearRequested()``. The keys are installed on ``scope`` (the answer box), for its whole area."""

    judged = Signal(str)
    writeRequested = Signal()
    clearRequested = Signal()

    def __init__(self, index: int, scope: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(f"judge_bar_{index}")
        # the pressed verdict stands out from the buttons around it (only the checked state is restyled)
        self.setStyleSheet(
            "QPushButton:checked { background-color: #d6e6f5; border: 1px solid #3b6ea5; border-radius: 3px;"
            " padding: 3px 8px; }"
        )
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 2, 0, 0)
        row.addWidget(QLabel("Your verdict:", self))
        self.buttons: dict[str, QPushButton] = {}
        for verdict, text, key in VERDICTS:
            button = QPushButton(text, self)
            button.setObjectName(f"judge_{index}_{verdict}")
            button.setCheckable(True)
            button.setToolTip(f"{text} (key {key} while this answer pair has focus)")
            button.clicked.connect(lambda _checked=False, v=verdict: self._ask(v))
            row.addWidget(button)
            self.buttons[verdict] = button
            self._shortcut(scope, key, lambda v=verdict: self._ask(v))
        self.write_button = QPushButton("Write a better answer…", self)
        self.write_button.setObjectName(f"judge_{index}_write")
        self.write_button.setCheckable(True)
        self.write_button.setToolTip(f"Write the answer you wish the model had given (key {WRITE_KEY})")
        self.write_button.clicked.connect(self._ask_write)
        row.addWidget(self.write_button)
        self._shortcut(scope, WRITE_KEY, self._ask_write)
        self.state = QLabel("", self)
        self.state.setObjectName(f"judge_state_{index}")
        self.state.setTextFormat(Qt.TextFormat.RichText)
        self.state.setWordWrap(True)
        row.addWidget(self.state, 1)
        self.clear_button = QToolButton(self)
        self.clear_button.setText("Clear")
        self.clear_button.setAutoRaise(True)
        self.clear_button.setToolTip("Take this judgement back (its pairs leave the dataset)")
        self.clear_button.clicked.connect(self.clearRequested)
        self.clear_button.hide()
        row.addWidget(self.clear_button)
        self.judgement: Judgement | None = None
        self.show_judgement(None)

    def _shortcut(self, scope: QWidget, key: str, slot) -> None:
        shortcut = QShortcut(QKeySequence(key), scope)
        shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        shortcut.activated.connect(slot)

    def _ask(self, verdict: str) -> None:
        if self.isEnabled():
            self.judged.emit(verdict)
        self._show_checked()  # a click toggles the button; what is down is what was saved

    def _ask_write(self) -> None:
        if self.isEnabled():
            self.writeRequested.emit()
        self._show_checked()

    def show_judgement(self, judgement: Judgement | None) -> None:
        """Show what is recorded for this pair (None: nothing yet)."""
        self.judgement = judgement
        self._show_checked()
        self.clear_button.setVisible(judgement is not None)
        if judgement is None:
            self.state.setText("<span style='color:#777'>not judged yet</span>")
            self.state.setToolTip("")
            return
        when = _local_time(judgement.when)
        if judgement.written:
            one = len(judgement.rejected) == 1 and judgement.verdict in ("base", "tuned")
            beaten = f"the {_other(judgement.verdict)} answer" if one else "both answers"
            text = f"you wrote a better answer, preferred to {beaten}"
            colour = VERDICT_COLOUR["tuned"]
        elif judgement.is_tie:
            text, colour = "tie (counted, no pair)", VERDICT_COLOUR["tie"]
        else:
            text = f"{judgement.verdict} better"
            colour = VERDICT_COLOUR.get(judgement.verdict, "#333")
        self.state.setText(f"<b style='color:{colour}'>{_html(text)}</b> <span style='color:#777'>{when}</span>")
        self.state.setToolTip(judgement.chosen or "")

    def _show_checked(self) -> None:
        j = self.judgement
        for verdict, button in self.buttons.items():
            button.setChecked(j is not None and not j.written and j.verdict == verdict)
        self.write_button.setChecked(j is not None and j.written)


def _other(side: str) -> str:
    return "tuned" if side == "base" else "base"


def _local_time(when: str) -> str:
    try:
        stamp = datetime.fromisoformat(when).astimezone()
    except ValueError:
        return when
    today = datetime.now().astimezone().date()
    return stamp.strftime("%H:%M" if stamp.date() == today else "%Y-%m-%d %H:%M")
