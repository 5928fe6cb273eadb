""" "Write a better answer…": the person writes (or edits) the answer they wish the model had given.

The text starts as the better of the two answers shown (the person's own pick, else the judge's, else the tuned
one); "Prefer it to" says which answers it beats -- both, or only one of them. The dialog returns what the
``JudgementSet.judge`` call needs; nothing is saved here.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from dpostudio.ui.comparison.widgets import SIDES, _html

BOTH = "both"
SIDE_NAMES = {"base": "the base answer", "tuned": "the tuned answer"}


class BetterAnswerDialog(QDialog):
    """Edit a better answer for one prompt; ``better()`` and ``against()`` then say how it becomes pairs."""

    def __init__(
        self,
        prompt: str,
        answers: dict[str, str],
        start_from: str | None,
        parent: QWidget | None = None,
        *,
        text: str | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Write a better answer")
        self.setObjectName("BetterAnswerDialog")
        self.resize(640, 460)
        self._answers = dict(answers)
        start = start_from if start_from in SIDES else "tuned"
        layout = QVBoxLayout(self)
        shown = prompt if len(prompt) <= 400 else prompt[:399] + "…"
        self.prompt_label = QLabel(f"<b>Prompt:</b> {_html(shown)}", self)
        self.prompt_label.setWordWrap(True)
        self.prompt_label.setToolTip(prompt)
        layout.addWidget(self.prompt_label)
        origin = "the answer you wrote before" if text else SIDE_NAMES[start]
        note = QLabel(
            f"Starts as {origin}. Edit it into the answer you wish the model had given; it becomes the chosen "
            "answer of new preference pairs.",
            self,
        )
        note.setWordWrap(True)
        note.setStyleSheet("color: #555;")
        layout.addWidget(note)
        self.edit = QPlainTextEdit(self)
        self.edit.setObjectName("BetterAnswerText")
        self.edit.setPlainText(text if text else self._answers.get(start, ""))
        layout.addWidget(self.edit, 1)
        form = QFormLayout()
        self.against_combo = QComboBox(self)
        self.against_combo.setObjectName("BetterAnswerAgainst")
        self.against_combo.addItem("both answers shown (two pairs)", BOTH)
        for side in SIDES:
            self.against_combo.addItem(f"{SIDE_NAMES[side]} only", side)
        worse = next((s for s in SIDES if s != start_from), None) if start_from in SIDES else None
        self.against_combo.setCurrentIndex(max(0, self.against_combo.findData(worse or BOTH)))
        form.addRow("Prefer it to", self.against_combo)
        layout.addLayout(form)
        self.problem_label = QLabel("", self)
        self.problem_label.setStyleSheet("color: #b03a2e;")
        self.problem_label.setWordWrap(True)
        self.problem_label.hide()
        layout.addWidget(self.problem_label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button.setText("Save as a pair")
        layout.addWidget(buttons)
        self.edit.setFocus()

    def text(self) -> str:
        return self.edit.toPlainText().strip()

    def better(self) -> str:
        """The ``better`` label for ``JudgementSet.judge``: the answer kept out of the pairs, or "tie" for both."""
        against = self.against_combo.currentData()
        return "tie" if against == BOTH else next(s for s in SIDES if s != against)

    def against(self) -> str:
        return "both" if self.against_combo.currentData() == BOTH else "worse"

    def accept(self) -> None:
        """Refuse, in words, an empty answer or one that is the same as every answer it should beat."""
        text = self.text()
        beaten = [s for s in SIDES if self.against_combo.currentData() in (BOTH, s)]
        if not text:
            problem = "The answer is empty: write the answer you wish the model had given."
        elif all(self._answers.get(s, "").strip() == text for s in beaten):
            problem = "The answer is the same as the one it should beat: change it first."
        else:
            super().accept()
            return
        self.problem_label.setText(problem)
        self.problem_label.show()
