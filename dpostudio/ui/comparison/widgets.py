"""Widgets of the Comparison pane: the answer box (two answers side by side and the verdict) and its texts."""

from __future__ import annotations

import re

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QToolButton,
    QWidget,
)

SIDES = ("base", "tuned")
VERDICT_TEXT = {"tuned": "Tuned better", "base": "Base better", "tie": "Tie", "error": "Judge error", None: "—"}
VERDICT_COLOUR: dict[str | None, str] = {"tuned": "#1b7f3b", "base": "#b03a2e", "tie": "#7a6a00", "error": "#888888"}


class AnswerBox(QGroupBox):
    """One prompt: the two answers side by side, and the verdict underneath."""

    def __init__(self, index: int, prompt: str, parent: QWidget | None = None):
        # a group box is as wide as its title: a long prompt is cut (in full in the tooltip) so that the box fits
        # the pane at 1280 pixels without a sideways scroll
        super().__init__(f"{index + 1}. {prompt if len(prompt) <= 90 else prompt[:89] + '…'}", parent)
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
        self.verdict.setTextFormat(Qt.TextFormat.RichText)
        self.verdict.setWordWrap(True)  # verdict, scores and the reasoning's gist wrap rather than widen the pane
        self.verdict.setObjectName(f"verdict_{index}")
        self.why_button = QToolButton(self)
        self.why_button.setText("Show reasoning")
        self.why_button.setCheckable(True)
        self.why_button.setAutoRaise(True)
        self.why_button.hide()
        self.why_button.toggled.connect(self._show_reasoning)
        verdict_row = QHBoxLayout()
        verdict_row.addWidget(self.verdict, 1)
        verdict_row.addWidget(self.why_button)
        grid.addLayout(verdict_row, 2, 0, 1, 2)
        self.reasoning = QLabel("", self)  # the judge's full reasoning, shown on demand
        self.reasoning.setObjectName(f"reasoning_{index}")
        self.reasoning.setWordWrap(True)
        self.reasoning.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.reasoning.setStyleSheet("color: #444;")
        self.reasoning.hide()
        grid.addWidget(self.reasoning, 3, 0, 1, 2)

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
            self.why_button.hide()
            return
        colour = VERDICT_COLOUR.get(verdict, "#333")
        scores = " · ".join(f"{c} {s['base']:g} / {s['tuned']:g}" for c, s in (item.get("scores") or {}).items())
        short, full = condense_reasoning(item)
        self.verdict.setText(
            f"<b style='color:{colour}'>{VERDICT_TEXT.get(verdict, verdict)}</b>"
            + (f" &nbsp; <span style='color:#555'>(base / tuned) {scores}</span>" if scores else "")
            + (f" &nbsp; <span style='color:#444'>{_html(short)}</span>" if short else "")
        )
        self.verdict.setToolTip(full)
        self.reasoning.setText(full)
        self.why_button.setVisible(bool(full) and full != short)
        self.reasoning.setVisible(self.why_button.isVisible() and self.why_button.isChecked())

    def _show_reasoning(self, shown: bool) -> None:
        self.reasoning.setVisible(shown)
        self.why_button.setText("Hide reasoning" if shown else "Show reasoning")


def _first_sentence(text: str, limit: int) -> str:
    text = " ".join(text.split())
    match = re.search(r"(?<=[.!?])\s", text)
    first = text[: match.start()] if match else text
    return first if len(first) <= limit else first[: limit - 1].rstrip() + "…"


def condense_reasoning(item: dict, limit: int = 110) -> tuple[str, str]:
    """The judge's reasoning for one prompt as (one line, full text). The full text gives each judging order its
    own paragraph; the line says the gist: the judge error, the changed mind, or the first sentence of the
    reasoning given with the base answer shown first."""
    error = item.get("judge_error") or ""
    judged = [j for j in item.get("judgements") or [] if j.get("reasoning")]
    if judged:
        paragraphs = [f"{j['order'].replace('_', ' ')}: {' '.join(j['reasoning'].split())}" for j in judged]
    else:
        raw = item.get("reasoning") or ""
        paragraphs = [" ".join(p.split()) for p in raw.split(" | ") if p.strip()]
    if item.get("position_disagreement"):
        paragraphs.insert(0, "The verdict changed when the answers swapped places, so this counts as a tie.")
    if error:
        paragraphs.insert(0, f"Judge error: {error}")
    full = "\n\n".join(paragraphs)
    if error:
        short = _first_sentence(f"Judge error: {error}", limit)
    elif item.get("position_disagreement"):
        short = "Changed its mind when the answers swapped places (a tie)."
    elif judged:
        short = _first_sentence(judged[0]["reasoning"], limit)
    else:
        short = _first_sentence(paragraphs[0], limit) if paragraphs else ""
    return short, full


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def no_wheel_without_focus(root: QWidget) -> None:
    """Spin and combo boxes under ``root`` take focus by click or Tab, not by the mouse wheel passing over them
    (so that, with the app's wheel filter, scrolling a page never edits a box the pointer happens to cross)."""
    boxes: list[QWidget] = [*root.findChildren(QAbstractSpinBox), *root.findChildren(QComboBox)]
    for widget in boxes:
        if widget.focusPolicy() == Qt.FocusPolicy.WheelFocus:
            widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
