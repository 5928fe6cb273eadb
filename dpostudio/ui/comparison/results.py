"""The results half of the Comparison pane: answer boxes, the results table, the summary line and CSV export.

``ComparisonResultsMixin`` is mixed into ``ComparisonPane``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QFileDialog,
    QHeaderView,
    QLabel,
    QProgressBar,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from dpostudio.ui.comparison.widgets import VERDICT_COLOUR, VERDICT_TEXT, AnswerBox, _html
from dpostudio.ui.tasks import describe_error

if TYPE_CHECKING:
    _MixinBase = QWidget  # only ever mixed into a QWidget (``ComparisonPane``)
else:
    _MixinBase = object


class ComparisonResultsMixin(_MixinBase):
    """Fills the answer boxes and the results table from comparison items; shows the summary; exports CSV."""

    if TYPE_CHECKING:  # provided by ComparisonPane
        message = Signal(str, str)
        answers_layout: QVBoxLayout
        table: QTableWidget
        progress: QProgressBar
        summary_label: QLabel
        _boxes: dict[int, AnswerBox]
        _items: dict[int, dict]
        _criteria: list[str]
        _current_dir: str | None

    def _reset_results(self, prompts: list[str]) -> None:
        for box in self._boxes.values():
            box.setParent(None)
            box.deleteLater()
        self._boxes, self._items = {}, {}
        for i, text in enumerate(prompts):
            box = AnswerBox(i, text)
            self.answers_layout.insertWidget(self.answers_layout.count() - 1, box)
            self._boxes[i] = box
        headers = ["#", "Prompt", "Base answer", "Tuned answer"]
        headers += [f"{c} (base / tuned)" for c in self._criteria]
        headers += ["Verdict", "Reasoning"]
        self.table.clear()
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setRowCount(len(prompts))
        for i, text in enumerate(prompts):
            self.table.setItem(i, 0, QTableWidgetItem(str(i + 1)))
            self.table.setItem(i, 1, QTableWidgetItem(text))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for col, width in enumerate([30, 180, 240, 240] + [110] * len(self._criteria) + [100, 320]):
            self.table.setColumnWidth(col, width)
        header.setStretchLastSection(True)
        self.progress.setRange(0, max(1, len(prompts)))
        self.progress.setValue(0)

    def _show_item(self, item: dict) -> None:
        i = item["index"]
        self._items[i] = item
        box = self._boxes.get(i)
        if box is not None:
            box.set_item(item)
        if i >= self.table.rowCount():
            self.table.setRowCount(i + 1)
        values = [str(i + 1), item["prompt"], item["base"]["answer"], item["tuned"]["answer"]]
        scores = item.get("scores") or {}
        values += [f"{scores[c]['base']:g} / {scores[c]['tuned']:g}" if c in scores else "—" for c in self._criteria]
        values += [
            VERDICT_TEXT.get(item.get("verdict"), str(item.get("verdict"))) if item.get("judge") else "—",
            item.get("judge_error") or item.get("reasoning") or "",
        ]
        for col, value in enumerate(values):
            cell = QTableWidgetItem(value)
            cell.setToolTip(value if len(value) < 2000 else value[:2000] + "…")
            if col == 4 + len(self._criteria) and item.get("verdict") in VERDICT_COLOUR:
                cell.setForeground(Qt.GlobalColor.black)
                font = QFont(cell.font())
                font.setBold(True)
                cell.setFont(font)
            self.table.setItem(i, col, cell)
        self.table.resizeRowToContents(i)
        self.progress.setValue(len(self._items))

    def _show_summary(self, summary: dict, meta: dict | None) -> None:
        if not summary:
            return
        headline = summary.get("headline", "")
        parts = [f"<b>{_html(headline)}</b>"]
        means = summary.get("mean_scores") or {}
        if summary.get("judged") and means:
            parts.append(
                "Mean scores (base → tuned): "
                + ", ".join(f"{c} {_num(s.get('base'))} → {_num(s.get('tuned'))}" for c, s in means.items())
            )
        w, t = summary.get("mean_words") or {}, summary.get("mean_tokens") or {}
        if w:
            parts.append(
                f"Mean length: base {_num(w.get('base'))} words / {_num(t.get('base'))} tokens, "
                f"tuned {_num(w.get('tuned'))} words / {_num(t.get('tuned'))} tokens"
            )
        for note in summary.get("notes") or []:
            parts.append(f"<span style='color:#8a5a00'>{_html(note)}</span>")
        extra = []
        if summary.get("adapter"):
            extra.append(summary["adapter"])
        if summary.get("judge"):
            extra.append(f"judge: {summary['judge']}")
        if meta and meta.get("adapter_label"):
            extra = [meta["adapter_label"]] + ([f"judge: {meta['judge']}"] if meta.get("judge") else [])
        if extra:
            parts.append(f"<span style='color:#666'>{_html(' · '.join(extra))}</span>")
        self.summary_label.setText("<br>".join(parts))

    # --- export ------------------------------------------------------------------------------------------
    def export_csv(self, dest: str | Path) -> Path | None:
        from dpostudio.core.compare.store import write_csv

        if not self._current_dir:
            return None
        path = write_csv(Path(self._current_dir), dest=dest)
        self.message.emit("info", f"Comparison exported to {path}")
        return path

    @Slot()
    def _export_dialog(self) -> None:
        if not self._current_dir:
            return
        name, _ = QFileDialog.getSaveFileName(
            self, "Export comparison", str(Path.home() / "comparison.csv"), "CSV (*.csv)"
        )
        if name:
            try:
                self.export_csv(name)
            except OSError as exc:
                self.message.emit("error", f"Could not export: {describe_error(exc)}")


def _num(value) -> str:
    return "—" if value is None else f"{value:g}"
