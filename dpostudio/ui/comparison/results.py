"""The results half of the Comparison pane: answer boxes, the results table, the summary line and CSV export.

``ComparisonResultsMixin`` is mixed into ``ComparisonPane``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from dpostudio.ui.comparison.widgets import VERDICT_COLOUR, VERDICT_TEXT, AnswerBox, _html, condense_reasoning
from dpostudio.ui.file_dialogs import save_file
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
        reason_view: QPlainTextEdit
        _columns: list[str]
        _boxes: dict[int, AnswerBox]
        _items: dict[int, dict]
        _criteria: list[str]
        _current_dir: str | None

        def _set_summary(self, html: str) -> None: ...

    def _reset_results(self, prompts: list[str]) -> None:
        for box in self._boxes.values():
            box.setParent(None)
            box.deleteLater()
        self._boxes, self._items = {}, {}
        for i, text in enumerate(prompts):
            box = AnswerBox(i, text)
            self.answers_layout.insertWidget(self.answers_layout.count() - 1, box)
            self._boxes[i] = box
        self._columns = ["#", "prompt", "verdict", *self._criteria, "reasoning", "base", "tuned"]
        titles = {"#": "#", "prompt": "Prompt", "verdict": "Verdict", "reasoning": "Judge's reasoning (click a row)"}
        titles |= {"base": "Base answer", "tuned": "Tuned answer"}
        headers = [titles.get(key) or f"{key}\n(base / tuned)" for key in self._columns]
        self.table.clear()
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setRowCount(len(prompts))
        for i, text in enumerate(prompts):
            self.table.setItem(i, 0, QTableWidgetItem(str(i + 1)))
            self.table.setItem(i, 1, _cell(text))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        widths = {"#": 34, "prompt": 200, "verdict": 100, "reasoning": 320, "base": 300, "tuned": 300}
        metrics = header.fontMetrics()
        for col, key in enumerate(self._columns):
            title = headers[col]
            fits = max(metrics.horizontalAdvance(line) for line in title.split("\n")) + 24  # margins, sort mark
            self.table.setColumnWidth(col, max(widths.get(key, 0), fits))
        self.reason_view.setPlainText("")
        self.progress.setRange(0, max(1, len(prompts)))
        self.progress.setValue(0)

    def table_column(self, key: str) -> int:
        """The results table's column for ``key``: "#", "prompt", "verdict", a criterion, "reasoning", "base" or
        "tuned" (-1 when there is none)."""
        return self._columns.index(key) if key in self._columns else -1

    def _show_item(self, item: dict) -> None:
        i = item["index"]
        self._items[i] = item
        box = self._boxes.get(i)
        if box is not None:
            box.set_item(item)
        if i >= self.table.rowCount():
            self.table.setRowCount(i + 1)
        scores = item.get("scores") or {}
        short, full = condense_reasoning(item) if item.get("judge") else ("", "")
        values = {
            "#": str(i + 1),
            "prompt": item["prompt"],
            "verdict": VERDICT_TEXT.get(item.get("verdict"), str(item.get("verdict"))) if item.get("judge") else "—",
            "reasoning": short,
            "base": item["base"]["answer"],
            "tuned": item["tuned"]["answer"],
        }
        values |= {c: f"{scores[c]['base']:g} / {scores[c]['tuned']:g}" if c in scores else "—" for c in self._criteria}
        for col, key in enumerate(self._columns):
            cell = _cell(values[key], full if key == "reasoning" else None)
            if key == "verdict" and item.get("verdict") in VERDICT_COLOUR:
                cell.setForeground(QColor(VERDICT_COLOUR[item["verdict"]]))
                font = QFont(cell.font())
                font.setBold(True)
                cell.setFont(font)
            self.table.setItem(i, col, cell)
        if self.table.currentRow() == i:
            self._show_row_detail(i)
        self.progress.setValue(len(self._items))

    @Slot(int, int, int, int)
    def _on_table_row(self, row: int, *_args) -> None:
        self._show_row_detail(row)

    def _show_row_detail(self, row: int) -> None:
        """Below the table: the selected row's full reasoning (the table shows one line of it)."""
        item = self._items.get(row)
        if item is None:
            self.reason_view.setPlainText("")
            return
        verdict = VERDICT_TEXT.get(item.get("verdict"), str(item.get("verdict"))) if item.get("judge") else "no judge"
        _short, full = condense_reasoning(item) if item.get("judge") else ("", "")
        self.reason_view.setPlainText(f"Prompt {row + 1}: {verdict}\n\n{full}".rstrip())

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
        self._set_summary("<br>".join(parts))

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
        name = save_file(self, "Export comparison", "comparison", "comparison.csv", "CSV (*.csv)")
        if name:
            try:
                self.export_csv(name)
            except OSError as exc:
                self.message.emit("error", f"Could not export: {describe_error(exc)}")


def _num(value) -> str:
    return "—" if value is None else f"{value:g}"


def _cell(text: str, tooltip: str | None = None) -> QTableWidgetItem:
    """A one-line cell; the whole text (or ``tooltip``) shows on hover."""
    cell = QTableWidgetItem(" ".join(text.split()))
    tip = text if tooltip is None else tooltip
    tip = tip if len(tip) < 2000 else tip[:2000] + "…"
    if tip:  # as rich text, so that Qt wraps a long tooltip instead of drawing one screen-wide line
        cell.setToolTip("<p>" + _html(tip).replace("\n\n", "</p><p>").replace("\n", "<br>") + "</p>")
    return cell
