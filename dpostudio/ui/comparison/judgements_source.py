""" "My judgements" in the Dataset pane: the preference pairs made from the person's own verdicts in the Comparison
pane (``dpostudio.core.compare.human_pairs``), listed with their counts and loaded with one click.

The pairs file is an ordinary JSONL preference file, so "Use" only makes it the pane's local file and loads it
(the column mapping and filters reset, as for any new file). The counts are re-read whenever the row is shown.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from dpostudio.core.compare.human_pairs import DEFAULT_SET, JudgementSet, list_sets


class MyJudgementsSource(QGroupBox):
    """Lists the judgement sets (the person's "my-judgements" first); ``useRequested(path)`` asks to load one."""

    useRequested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("My judgements", parent)
        self.setObjectName("MyJudgementsSource")
        layout = QVBoxLayout(self)
        self.set_combo = QComboBox(self)  # shown only when there is more than one set
        self.set_combo.setObjectName("JudgementSetCombo")
        self.set_combo.currentIndexChanged.connect(self._show_counts)
        layout.addWidget(self.set_combo)
        row = QHBoxLayout()
        self.count_label = QLabel("", self)
        self.count_label.setObjectName("JudgementSetCounts")
        self.count_label.setWordWrap(True)
        self.count_label.setStyleSheet("color: palette(mid);")
        self.use_button = QPushButton("Use", self)
        self.use_button.setObjectName("UseJudgements")
        self.use_button.setToolTip("Load the pairs made from these judgements (a JSONL file) as the data")
        self.use_button.clicked.connect(self._use)
        row.addWidget(self.count_label, 1)
        row.addWidget(self.use_button)
        layout.addLayout(row)
        self.refresh()

    def refresh(self) -> None:
        """Re-read the sets and their counts."""
        current = self.set_combo.currentData() or DEFAULT_SET
        names = list_sets()
        names = [DEFAULT_SET] + [n for n in names if n != DEFAULT_SET]
        self.set_combo.blockSignals(True)
        self.set_combo.clear()
        for name in names:
            self.set_combo.addItem("My judgements" if name == DEFAULT_SET else name, name)
        self.set_combo.setCurrentIndex(max(0, self.set_combo.findData(current)))
        self.set_combo.blockSignals(False)
        self.set_combo.setVisible(len(names) > 1)
        self._show_counts()

    def _set(self) -> JudgementSet:
        return JudgementSet(self.set_combo.currentData() or DEFAULT_SET)

    def _show_counts(self, *_args) -> None:
        store = self._set()
        log = store.read()
        if not log.judgements:
            text = "None yet: mark the better answers in the Comparison pane and they become pairs here."
        else:
            text = log.describe() + f", in {store.pairs_path.name}"
        if log.problems:
            text += f". {log.problems[0]}"
        self.count_label.setText(text)
        self.count_label.setToolTip(str(store.pairs_path))
        self.use_button.setEnabled(log.pair_count > 0)

    def _use(self) -> None:
        self.useRequested.emit(str(self._set().refresh()))

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.refresh()
        super().showEvent(event)
