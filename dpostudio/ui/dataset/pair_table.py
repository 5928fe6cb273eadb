"""The rows of loaded preference data as a lazy Qt table model (the Dataset pane's "Rows" table)."""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QTableView

from dpostudio.core.data.templates import flatten_prompt


def _one_line(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _row_table_view(model: QAbstractTableModel) -> QTableView:
    """A compact table view over ``model`` that selects whole rows and has no row header."""
    view = QTableView()
    view.setModel(model)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setAlternatingRowColors(True)
    view.verticalHeader().hide()
    view.verticalHeader().setDefaultSectionSize(22)
    return view


_ROOT = QModelIndex()  # the invalid index: a flat table's only parent


class ListTableModel(QAbstractTableModel):
    """A flat table over the list ``self._rows`` with the fixed column titles ``HEADERS``."""

    HEADERS: tuple[str, ...] = ()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list = []

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = _ROOT) -> int:  # noqa: N802 (Qt API)
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = _ROOT) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.HEADERS[section]
        return None


class PairTableModel(ListTableModel):
    """The usable pairs (train then eval) as rows; text is shortened only when it is displayed."""

    HEADERS = ("Split", "Row", "Prompt", "Chosen", "Rejected", "Problems kept")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[tuple[str, dict, str]] = []

    def set_report(self, report) -> None:
        self.beginResetModel()
        kept: dict[tuple[str, int], list[str]] = {}
        for p in report.problems:
            kept.setdefault((p.split, p.row), []).append(p.kind)
        prepared = report.pairs
        rows = [("train", pair) for pair in prepared.train] + [("eval", pair) for pair in prepared.eval or []]
        self._rows = [(split, pair, ", ".join(kept.get((split, pair["row"]), []))) for split, pair in rows]
        self.endResetModel()

    def pair(self, row: int) -> tuple[str, dict] | None:
        if 0 <= row < len(self._rows):
            split, pair, _ = self._rows[row]
            return split, pair
        return None

    def _full(self, row: int, col: int) -> str:
        split, pair, kept = self._rows[row]
        if col == 0:
            return split
        if col == 1:
            return str(pair["row"])
        if col == 2:
            return flatten_prompt(pair["prompt"])
        if col == 3:
            return pair["chosen"]
        if col == 4:
            return pair["rejected"]
        return kept

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return _one_line(self._full(index.row(), index.column()))
        if role == Qt.ItemDataRole.ToolTipRole and index.column() in (2, 3, 4):
            text = self._full(index.row(), index.column())
            return text if len(text) < 1500 else text[:1500] + "…"
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() == 1:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and index.column() == 5:
            return QColor("#b26a00")
        return None
