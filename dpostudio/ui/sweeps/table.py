"""The top-runs table (rows of ``report.top``, formatted as ``report.format_value`` does) and the parameter
importance chart (horizontal bars, one per swept field)."""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget

from dpostudio.core.sweeps.report import HEADERS, format_value

ROW_ROLE = Qt.ItemDataRole.UserRole  # the row's dict
NUMERIC = ("trial", "value", "eval_loss", "eval_accuracy")
STATE_COLOURS = {"finished": "#2e7d32", "pruned": "#8d6e00", "failed": "#c0392b", "running": "#1565c0"}

_Index = QModelIndex | QPersistentModelIndex


class TopRunsModel(QAbstractTableModel):
    """Rows: one dict per trial (``report.rows``); columns: ``report.columns``. Sorting puts missing values last."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.fields: list[str] = []
        self.table: list[dict[str, Any]] = []

    def set_rows(self, table: list[dict[str, Any]], fields: list[str]) -> None:
        self.beginResetModel()
        self.table = list(table)
        self.fields = list(fields)
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self.table)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self.fields)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self.fields):
            name = self.fields[section]
            return HEADERS.get(name, name.upper())
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.table[index.row()]
        name = self.fields[index.column()]
        value = row.get(name)
        if role == Qt.ItemDataRole.DisplayRole:
            if name == "message":
                return str(value or "")
            return format_value(name, value)
        if role == Qt.ItemDataRole.ToolTipRole:
            return str(row.get("message") or "") or None
        if role == Qt.ItemDataRole.TextAlignmentRole and name != "message" and name not in ("state", "run_id"):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and name == "state":
            colour = STATE_COLOURS.get(str(value or "").split(" (")[0])
            return QColor(colour) if colour else None
        if role == ROW_ROLE:
            return row
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(self.fields):
            return
        name = self.fields[column]
        descending = order == Qt.SortOrder.DescendingOrder

        def missing(value: Any) -> bool:
            return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""

        present = [r for r in self.table if not missing(r.get(name))]
        absent = [r for r in self.table if missing(r.get(name))]
        try:
            present.sort(key=lambda r: r[name], reverse=descending)
        except TypeError:  # mixed kinds in one column (e.g. choices of words and numbers)
            present.sort(key=lambda r: str(r[name]), reverse=descending)
        self.layoutAboutToBeChanged.emit()
        self.table = present + sorted(absent, key=lambda r: r["trial"])
        self.layoutChanged.emit()

    def run_ids(self, limit: int | None = None) -> list[str]:
        """The run ids in table order (trials without a run are skipped), at most ``limit``."""
        ids = [str(r["run_id"]) for r in self.table if r.get("run_id")]
        return ids[:limit] if limit else ids


class ImportanceChart(QWidget):
    """Horizontal bars: each swept field's share of the objective's variation (``report.importance``)."""

    BAR_COLOUR = QColor("#4a7bd0")

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.shares: dict[str, float] = {}
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

    def set_shares(self, shares: dict[str, float]) -> None:
        self.shares = dict(sorted(shares.items(), key=lambda kv: -kv[1]))
        self.updateGeometry()
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(320, 8 + 22 * max(len(self.shares), 1))

    def minimumSizeHint(self) -> QSize:
        return QSize(160, 8 + 22 * max(len(self.shares), 1))

    def paintEvent(self, event: QPaintEvent) -> None:
        if not self.shares:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        text = self.palette().color(QPalette.ColorRole.WindowText)
        metrics = painter.fontMetrics()
        label_w = max(metrics.horizontalAdvance(name) for name in self.shares) + 8
        value_w = metrics.horizontalAdvance("100%") + 8
        width = max(self.width() - label_w - value_w - 4, 10)
        top = max(self.shares.values()) or 1.0
        for i, (name, share) in enumerate(self.shares.items()):
            y = 4 + i * 22
            painter.setPen(text)
            painter.drawText(
                QRectF(0, y, label_w - 8, 18), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, name
            )
            bar = QRectF(label_w, y + 3, max(width * share / top, 1.0), 12)
            painter.fillRect(bar, self.BAR_COLOUR)
            painter.drawText(
                QRectF(bar.right() + 4, y, value_w, 18),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                f"{share:.0%}",
            )
        painter.end()
