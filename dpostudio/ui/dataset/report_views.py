"""The Dataset pane's validation report views: the "Problems" tab (what to leave out) and the "Statistics" tab.

``ProblemTableModel`` lists the problems found; ``DataReportViewsMixin`` (mixed into ``DatasetPane``) builds both
tabs and fills them from a ``DataReport``.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QGridLayout,
    QGroupBox,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from dpostudio.core.data.problems import PROBLEM_KINDS, UNUSABLE
from dpostudio.core.data.stats import PERCENTILES
from dpostudio.ui.dataset.pair_table import ListTableModel, _row_table_view

if TYPE_CHECKING:
    from PySide6.QtWidgets import QTabWidget

    _MixinBase = QWidget  # only ever mixed into a QWidget (``DatasetPane``)
else:
    _MixinBase = object


def _esc(text) -> str:
    """Text from the data, safe inside a rich-text label."""
    return escape(str(text), quote=False)


class ProblemTableModel(ListTableModel):
    """The problems found in the data (one per row), and whether training leaves each one out."""

    HEADERS = ("Split", "Row", "Column", "Problem", "Reason", "Training")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._dropped: set[str] = set()

    def set_report(self, report) -> None:
        self.beginResetModel()
        self._rows = list(report.problems)
        self._dropped = set(report.drop_kinds) | {UNUSABLE}
        self.endResetModel()

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        p = self._rows[index.row()]
        dropped = p.kind in self._dropped
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                p.split,
                str(p.row),
                p.column or "",
                p.kind.replace("_", " "),
                p.reason,
                "left out" if dropped else "kept",
            )[index.column()]
        if role == Qt.ItemDataRole.ToolTipRole:
            return p.message()
        if role == Qt.ItemDataRole.ForegroundRole and index.column() == 5:
            return QColor("#a33") if dropped else QColor("#2e7d32")
        return None


class DataReportViewsMixin(_MixinBase):
    """The "Problems" and "Statistics" tabs of ``DatasetPane``."""

    if TYPE_CHECKING:  # provided by DatasetPane
        tabs: QTabWidget

        def _on_field_changed(self, *_args: object) -> None: ...

    def _build_problems_tab(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        box = QGroupBox("Leave these rows out of training (the file is never changed)")
        grid = QGridLayout(box)
        self.drop_checks: dict[str, QCheckBox] = {}
        for i, (kind, desc) in enumerate(PROBLEM_KINDS.items()):
            check = QCheckBox()
            check.setToolTip(desc)
            check.toggled.connect(self._on_field_changed)
            self.drop_checks[kind] = check
            grid.addWidget(check, i, 0)
        self._update_drop_labels(None)
        note = QLabel("Rows that cannot form a pair at all are always left out and listed below.")
        note.setWordWrap(True)
        note.setStyleSheet("color: palette(mid);")
        grid.addWidget(note, len(PROBLEM_KINDS), 0)
        layout.addWidget(box)
        self.problem_summary = QLabel("No data loaded yet.")
        self.problem_summary.setWordWrap(True)
        layout.addWidget(self.problem_summary)
        self.problem_model = ProblemTableModel(self)
        self.problem_table = _row_table_view(self.problem_model)
        header = self.problem_table.horizontalHeader()
        for col in range(len(ProblemTableModel.HEADERS)):
            header.setSectionResizeMode(
                col, QHeaderView.ResizeMode.Stretch if col == 4 else QHeaderView.ResizeMode.ResizeToContents
            )
        layout.addWidget(self.problem_table, 1)
        return page

    def _build_stats_tab(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        self.counts_label = QLabel("No data loaded yet.")
        self.counts_label.setWordWrap(True)
        self.counts_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.counts_label)
        self.lengths_title = QLabel("<b>Lengths</b>")
        layout.addWidget(self.lengths_title)
        headers = ["mean", *(f"p{p}" for p in PERCENTILES), "max"]
        self.lengths_table = QTableWidget(3, len(headers))
        self.lengths_table.setHorizontalHeaderLabels(headers)
        self.lengths_table.setVerticalHeaderLabels(["prompt", "chosen", "rejected"])
        self.lengths_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.lengths_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.lengths_table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.lengths_table.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self._fit_lengths_table()
        layout.addWidget(self.lengths_table)
        self.bias_label = QLabel()
        self.bias_label.setWordWrap(True)
        layout.addWidget(self.bias_label)
        self.warnings_label = QLabel()
        self.warnings_label.setWordWrap(True)
        self.warnings_label.setStyleSheet("color: #b26a00;")
        layout.addWidget(self.warnings_label)
        self.notes_label = QLabel()
        self.notes_label.setWordWrap(True)
        self.notes_label.setStyleSheet("color: palette(mid);")
        self.notes_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.notes_label)
        # these labels join lines with <br>: rich text always (Qt's guess takes a note such as
        # "prompt <- 'prompt'<br>…" for plain text and shows the tags), with the data's own text escaped
        for label in (self.counts_label, self.lengths_title, self.bias_label, self.warnings_label, self.notes_label):
            label.setTextFormat(Qt.TextFormat.RichText)
        layout.addStretch(1)
        return page

    def _fit_lengths_table(self) -> None:
        t = self.lengths_table
        t.resizeRowsToContents()
        rows = sum(t.rowHeight(r) for r in range(t.rowCount()))
        t.setFixedHeight(t.horizontalHeader().sizeHint().height() + rows + 2 * t.frameWidth())

    def _update_drop_labels(self, counts: dict | None) -> None:
        for kind, check in self.drop_checks.items():
            text = PROBLEM_KINDS[kind][0].upper() + PROBLEM_KINDS[kind][1:]
            check.setText(f"{text} ({counts.get(kind, 0)} rows)" if counts is not None else text)

    def _show_problems(self, report) -> None:
        if not report.problems:
            self.problem_summary.setText("No problems found.")
            return
        parts = [f"{n} {k.replace('_', ' ')}" for k, n in report.problem_counts.items()]
        left = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in report.dropped.items()) or "none"
        self.problem_summary.setText(
            f"{len(report.problems)} problems: {', '.join(parts)}. Left out of training: {left}."
        )
        self.tabs.setTabText(1, f"Problems ({len(report.problems)})")

    def _show_stats(self, report) -> None:
        if not report.problems:
            self.tabs.setTabText(1, "Problems")
        s = report.stats
        read = ", ".join(f"{k} {v}" for k, v in report.rows_read.items())
        used = ", ".join(f"{k} {v}" for k, v in report.rows_used.items())
        lines = [
            f"<b>Rows read</b>: {_esc(read)}. <b>Rows used</b>: {_esc(used)}.",
            f"Columns: {_esc(', '.join(map(str, report.columns)))}.",
        ]
        if s.max_length:
            lines.append(
                f"Rows over the max length of {s.max_length} tokens: <b>{s.over_max_length}</b>"
                + (
                    f" (on those, {s.chosen_survival:.0%} of the chosen and {s.rejected_survival:.0%} of the "
                    f"rejected tokens survive)"
                    if s.over_max_length
                    else ""
                )
                + "."
            )
        self.counts_label.setText("<br>".join(lines))
        sample = f", measured on {s.measured_rows} of {s.rows} rows" if s.measured_rows < s.rows else ""
        unit_note = "" if s.unit == "tokens" else " — load a tokenizer to count tokens and check truncation"
        self.lengths_title.setText(f"<b>Lengths in {s.unit}</b>{sample}{unit_note}")
        for r, part in enumerate(("prompt", "chosen", "rejected")):
            ls = getattr(s, part)
            values = [] if ls is None else [ls.mean, *(ls.percentiles[p] for p in PERCENTILES), ls.max]
            for c in range(self.lengths_table.columnCount()):
                text = f"{values[c]:.0f}" if values else "—"
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.lengths_table.setItem(r, c, item)
        if s.chosen_longer_share is not None:
            ratio = f" (mean length ratio chosen/rejected {s.length_ratio:.2f})" if s.length_ratio else ""
            self.bias_label.setText(
                f"The chosen answer is longer than the rejected one in "
                f"<b>{s.chosen_longer_share:.0%}</b> of rows{ratio}."
            )
        else:
            self.bias_label.setText("")
        self._fit_lengths_table()
        self.warnings_label.setText("<br>".join(f"⚠ {_esc(w)}" for w in s.warnings))
        self.notes_label.setText("<br>".join(_esc(n) for n in report.notes))
