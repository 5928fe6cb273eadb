"""Widgets of the Comparison pane: the answer box (two answers side by side and the verdict) and its texts."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QGridLayout, QGroupBox, QHBoxLayout, QLabel, QPlainTextEdit, QWidget

SIDES = ("base", "tuned")
VERDICT_TEXT = {"tuned": "Tuned better", "base": "Base better", "tie": "Tie", "error": "Judge error", None: "—"}
VERDICT_COLOUR: dict[str | None, str] = {"tuned": "#1b7f3b", "base": "#b03a2e", "tie": "#7a6a00", "error": "#888888"}


class AnswerBox(QGroupBox):
    """One prompt: the two answers side by side, and the verdict underneath."""

    def __init__(self, index: int, prompt: str, parent: QWidget | None = None):
        super().__init__(f"{index + 1}. {prompt if len(prompt) < 140 else prompt[:139] + '…'}", parent)
        self.setToolTip(prompt)
        grid = QGridLayout(self)
        self.edits: dict[str, QPlainTextEdit] = {}
        self.stats: dict[str, QLabel] = {}
        for col, side in enumerate(SIDES):
            title = QLabel(f"<b>{'Base (adapter off)' if side == 'base' else 'Tuned (adapter on)'}</b>", self)
            stats = QLabel("", self)
            stats.setStyleSheet("color: #666;")
            edit = QPlainTextEdit(self)
            edit.setReadOnly(True)
            edit.setObjectName(f"answer_{index}_{side}")
            edit.setMinimumHeight(90)
            edit.setMaximumHeight(260)
            head = QHBoxLayout()
            head.addWidget(title)
            head.addStretch(1)
            head.addWidget(stats)
            grid.addLayout(head, 0, col)
            grid.addWidget(edit, 1, col)
            self.edits[side], self.stats[side] = edit, stats
        self.verdict = QLabel("", self)
        self.verdict.setWordWrap(True)
        self.verdict.setTextFormat(Qt.TextFormat.RichText)
        grid.addWidget(self.verdict, 2, 0, 1, 2)

    def append(self, side: str, text: str) -> None:
        edit = self.edits[side]
        edit.moveCursor(QTextCursor.MoveOperation.End)
        edit.insertPlainText(text)
        edit.moveCursor(QTextCursor.MoveOperation.End)

    def set_answer(self, side: str, answer: dict) -> None:
        self.edits[side].setPlainText(answer.get("answer") or answer.get("text") or "")
        self.stats[side].setText(f"{answer.get('words', 0)} words · {answer.get('tokens', 0)} tokens")

    def set_item(self, item: dict) -> None:
        for side in SIDES:
            self.set_answer(side, item[side])
        verdict = item.get("verdict")
        if not item.get("judge"):
            self.verdict.setText("<i>no judge</i>")
            return
        colour = VERDICT_COLOUR.get(verdict, "#333")
        scores = " · ".join(f"{c} {s['base']:g} / {s['tuned']:g}" for c, s in (item.get("scores") or {}).items())
        why = item.get("judge_error") or item.get("reasoning") or ""
        why = why if len(why) < 400 else why[:399] + "…"
        self.verdict.setText(
            f"<b style='color:{colour}'>{VERDICT_TEXT.get(verdict, verdict)}</b>"
            + (f" &nbsp; <span style='color:#555'>(base / tuned) {scores}</span>" if scores else "")
            + f"<br><span style='color:#444'>{_html(why)}</span>"
        )


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
