"""One pair side by side: the prompt above, the chosen and the rejected answer next to each other, in full, each
with its reward and how its log-probability moved against the reference, and the pair's pending edit."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QPlainTextEdit, QSizePolicy, QSplitter, QVBoxLayout, QWidget

from dpostudio.core.data.versions import PairEdit
from dpostudio.core.diagnostics.pair_scores import PairScore


def _text_box(name: str) -> QPlainTextEdit:
    box = QPlainTextEdit()
    box.setReadOnly(True)
    box.setObjectName(name)
    box.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
    return box


class PairDetail(QWidget):
    """The selected pair in full; ``show_pair(None)`` says what to do instead."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.heading = QLabel("Select a pair in the table to read it here.")
        self.heading.setWordWrap(True)
        self.heading.setTextFormat(Qt.TextFormat.RichText)
        self.prompt_label = QLabel("<b>Prompt</b>")
        self.prompt_edit = _text_box("prompt")
        self.chosen_label = QLabel("<b>Chosen</b>")
        self.chosen_edit = _text_box("chosen")
        self.rejected_label = QLabel("<b>Rejected</b>")
        self.rejected_edit = _text_box("rejected")
        for label in (self.chosen_label, self.rejected_label, self.prompt_label):
            label.setTextFormat(Qt.TextFormat.RichText)
            label.setWordWrap(True)
            label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)

        prompt_box = QWidget()
        prompt_layout = QVBoxLayout(prompt_box)
        prompt_layout.setContentsMargins(0, 0, 0, 0)
        prompt_layout.addWidget(self.prompt_label)
        prompt_layout.addWidget(self.prompt_edit)
        answers = QWidget()
        grid = QGridLayout(answers)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(self.chosen_label, 0, 0)
        grid.addWidget(self.rejected_label, 0, 1)
        grid.addWidget(self.chosen_edit, 1, 0)
        grid.addWidget(self.rejected_edit, 1, 1)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(prompt_box)
        self.splitter.addWidget(answers)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([80, 240])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.heading)
        layout.addWidget(self.splitter, 1)
        self.show_pair(None)

    def show_pair(self, score: PairScore | None, edit: PairEdit | None = None) -> None:
        if score is None:
            self.heading.setText("Select a pair in the table to read it here.")
            for box in (self.prompt_edit, self.chosen_edit, self.rejected_edit):
                box.clear()
            self.chosen_label.setText("<b>Chosen</b>")
            self.rejected_label.setText("<b>Rejected</b>")
            return
        edit = edit or PairEdit()
        verdict = (
            "the model agrees with the label"
            if score.agrees
            else "<span style='color:#b03a2e'>the model disagrees with the label</span>"
        )
        heading = f"<b>{escape(score.split)} row {score.row}</b> · margin {score.margin:+.3f} · {verdict}" + (
            " · an answer was cut at max_length" if score.truncated else ""
        )
        pending = edit.describe()
        if pending:
            heading += f" · <b>pending: {escape(pending)}</b>"
        if edit.note:
            heading += f" — “{escape(edit.note)}”"
        self.heading.setText(heading)
        self.prompt_edit.setPlainText(score.prompt)
        self.chosen_edit.setPlainText(score.chosen)
        self.rejected_edit.setPlainText(score.rejected)
        swapped = edit.swap and not edit.drop
        self.chosen_label.setText(
            _answer_heading(
                "Chosen",
                score.chosen_reward,
                score.delta_chosen_logp,
                score.chosen_tokens,
                "becomes the rejected answer" if swapped else "",
            )
        )
        self.rejected_label.setText(
            _answer_heading(
                "Rejected",
                score.rejected_reward,
                score.delta_rejected_logp,
                score.rejected_tokens,
                "becomes the chosen answer" if swapped else "",
            )
        )


def _answer_heading(title: str, reward: float, delta: float, tokens: int, pending: str) -> str:
    moved = "more likely" if delta > 0 else "less likely" if delta < 0 else "unchanged"
    text = (
        f"<b>{title}</b> · reward {reward:+.3f} · log-prob {delta:+.2f} nats vs the reference ({moved}, "
        f"{tokens} tokens)"
    )
    if pending:
        text += f" · <i>{pending} in the new version</i>"
    return text
