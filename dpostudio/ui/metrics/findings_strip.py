"""The findings strip above the charts: what the diagnostics say about the run(s) shown, in words.

One compact row per finding ("step 12 · Likelihood displacement: ..."), an icon coloured by severity, and a
detail box with the evidence, what it usually means and what to try for the row picked (or the first one).
The strip is small by construction (its list and detail box have a fixed maximum height, its labels never ask
for width) and folds away with its arrow. With no findings it says so in one line, and only claims that nothing
alarming was seen once a run has enough logged steps to judge.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QSize, Qt, Signal, Slot
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPixmap, QPolygonF, QTextDocument
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSizePolicy,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from dpostudio.core.diagnostics.findings import INFO, WARNING, Finding
from dpostudio.ui.metrics.chart_markers import severity_color
from dpostudio.ui.metrics.chart_series import short_run_label

MIN_STEPS_TO_JUDGE = 10  # fewer logged steps than this: too early to say that nothing is wrong
DETAIL_LINES = 5  # the height of the list and the detail box, in lines of text (more scrolls)
DOCUMENT_MARGIN = 3
KEY_ROLE = Qt.ItemDataRole.UserRole


@dataclass
class FindingEntry:
    run_id: str
    run_label: str  # the run's name (in the detail box)
    finding: Finding
    short_label: str = ""  # what tells it apart from the other runs shown (prefixes its row)


def severity_icon(severity: str, size: int = 14) -> QIcon:
    """A warning triangle or an info disc in the severity's colour (the markers on the charts use it too)."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(severity_color(severity)))
    if severity == INFO:
        painter.drawEllipse(1, 1, size - 2, size - 2)
        mark = "i"
    else:
        painter.drawPolygon(QPolygonF([QPointF(size / 2, 0.5), QPointF(size - 0.5, size - 1), QPointF(0.5, size - 1)]))
        mark = "!"
    font = QFont()
    font.setBold(True)
    font.setPixelSize(int(size * 0.7))
    painter.setFont(font)
    painter.setPen(QColor("#ffffff"))
    rect = pixmap.rect().adjusted(0, 2 if severity != INFO else 0, 0, 0)
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, mark)
    painter.end()
    return QIcon(pixmap)


def finding_html(entry: FindingEntry, with_run: bool = False) -> str:
    """Evidence, meaning and advice of a finding as rich text (the detail box and the rows' tooltips)."""
    f = entry.finding
    esc = html.escape
    where = f"step {f.step}"
    if f.last_step is not None and f.last_step != f.step:
        where += f", still seen at step {f.last_step}"
    run = f"{esc(entry.run_label)} · " if with_run else ""
    color = severity_color(f.severity)
    kind = "warning" if f.severity == WARNING else "note"
    parts = [
        f"<b>{run}{esc(f.title)}</b> <span style='color:{color}'>({kind}, {where})</span>",
        f"<b>Evidence:</b> {esc(f.evidence)}" if f.evidence else "",
        f"<b>What it usually means:</b> {esc(f.meaning)}" if f.meaning else "",
        f"<b>What to try:</b> {esc(f.advice)}" if f.advice else "",
    ]
    return "<br>".join(p for p in parts if p)


class FindingsStrip(QFrame):
    """A thin, foldable list of the findings of the runs on the charts."""

    findingSelected = Signal(str, str)  # run id, kind: the row picked (its markers are highlighted)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("FindingsStrip")
        self.entries: list[FindingEntry] = []
        self._state: tuple | None = None
        self._user_folded = False
        self._building = False

        self.toggle = QToolButton(self)
        self.toggle.setObjectName("FindingsToggle")
        self.toggle.setText("Findings")
        self.toggle.setCheckable(True)
        self.toggle.setChecked(False)
        self.toggle.setAutoRaise(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.toggle.setToolTip("Show or hide the findings: patterns in the curves worth a look, with what to try.")
        self.toggle.clicked.connect(self._on_toggle_clicked)
        bold = self.toggle.font()
        bold.setBold(True)
        self.toggle.setFont(bold)

        self.summary = QLabel(self)
        self.summary.setObjectName("FindingsSummary")
        # never ask for width: a long line is cut, not the window widened (the tooltip has it whole)
        self.summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.summary.setMinimumWidth(0)

        self.list = QListWidget(self)
        self.list.setObjectName("FindingsList")
        self.list.setUniformItemSizes(True)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setIconSize(QSize(14, 14))
        self.list.setMinimumWidth(0)
        self.list.currentItemChanged.connect(self._on_current_changed)

        self.detail = QTextBrowser(self)
        self.detail.setObjectName("FindingsDetail")
        self.detail.setOpenLinks(False)
        self.detail.setMinimumWidth(0)
        self.detail.document().setDocumentMargin(DOCUMENT_MARGIN)

        self.body = QWidget(self)
        body_layout = QHBoxLayout(self.body)
        body_layout.setContentsMargins(0, 0, 0, 0)
        body_layout.setSpacing(6)
        body_layout.addWidget(self.list, 1)
        body_layout.addWidget(self.detail, 2)
        # whole lines of detail, never a line cut in half at the bottom: measured as the detail box lays text out
        sample = QTextDocument()
        sample.setDefaultFont(self.detail.font())
        sample.setDocumentMargin(DOCUMENT_MARGIN)
        sample.setHtml("<br>".join(["<b>Xg</b>"] * DETAIL_LINES))
        # (the bottom margin left out: text that scrolls would show the top of a sixth line there)
        height = math.ceil(sample.size().height()) - DOCUMENT_MARGIN
        self.body.setFixedHeight(height + 2 * self.detail.frameWidth())
        self.body.setVisible(False)

        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.addWidget(self.toggle)
        header.addWidget(self.summary, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(header)
        layout.addWidget(self.body)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.set_findings([], {})

    # ---- content ----------------------------------------------------------------------------------
    def set_findings(self, entries: list[FindingEntry], steps_logged: dict[str, int]) -> None:
        """Show ``entries`` (the findings of the runs on the charts); ``steps_logged``: every run shown and how
        many training steps it has logged (for the empty state). Cheap when nothing changed."""
        state = (
            tuple((e.run_id, e.run_label, e.short_label, repr(e.finding.to_dict())) for e in entries),
            tuple(sorted(steps_logged.items())),
        )
        if state == self._state:
            return
        rebuild = self._state is None or state[0] != self._state[0] or len(state[1]) != len(self._state[1])
        self._state = state
        had_findings = bool(self.entries)
        self.entries = list(entries)
        self._set_summary(steps_logged)
        if not rebuild:
            return
        several = len(steps_logged) > 1
        current = self.current_key()
        self._building = True
        self.list.clear()
        for entry in self.entries:
            f = entry.finding
            text = f"step {f.step} · {f.title}"
            if several:
                text = f"{entry.short_label or short_run_label(entry.run_label)} · {text}"
            item = QListWidgetItem(severity_icon(f.severity), text)
            item.setData(KEY_ROLE, (entry.run_id, f.kind))
            item.setToolTip(f"<qt>{finding_html(entry, several)}</qt>")
            self.list.addItem(item)
            if (entry.run_id, f.kind) == current:
                self.list.setCurrentItem(item)
        self._building = False
        self._show_detail()
        has_findings = bool(self.entries)
        self.toggle.setEnabled(has_findings)
        if has_findings and not had_findings and not self._user_folded:
            self._set_open(True)
        elif not has_findings:
            self._set_open(False)

    def _set_summary(self, steps_logged: dict[str, int]) -> None:
        if self.entries:
            warnings = sum(e.finding.severity == WARNING for e in self.entries)
            notes = len(self.entries) - warnings
            counts = [f"{n} {word}{'s' if n != 1 else ''}" for n, word in ((warnings, "warning"), (notes, "note")) if n]
            text = f"{len(self.entries)} finding{'s' if len(self.entries) != 1 else ''} ({', '.join(counts)})"
            if not self.toggle.isChecked():  # folded: the one line names them
                text += ": " + "; ".join(f"step {e.finding.step} · {e.finding.title}" for e in self.entries)
        elif not steps_logged:
            text = "Select a run to see what its curves say."
        else:
            fewest = min(steps_logged.values())
            if fewest < MIN_STEPS_TO_JUDGE:
                text = (
                    f"No findings yet: too few logged steps to judge ({fewest} so far"
                    + (" in the shortest run" if len(steps_logged) > 1 else "")
                    + ")."
                )
            elif len(steps_logged) == 1:
                text = f"No findings: nothing alarming in the curves of these {fewest} steps."
            else:
                text = f"No findings: nothing alarming in the curves of the {len(steps_logged)} runs shown."
        self.summary.setText(text)
        self.summary.setToolTip(text)

    # ---- reading it back (tests, the pane) --------------------------------------------------------
    def rows(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]

    def is_open(self) -> bool:
        return self.toggle.isChecked()

    def current_key(self) -> tuple[str, str] | None:
        item = self.list.currentItem()
        return tuple(item.data(KEY_ROLE)) if item is not None else None  # type: ignore[return-value]

    def select(self, run_id: str, kind: str) -> None:
        for i in range(self.list.count()):
            item = self.list.item(i)
            if tuple(item.data(KEY_ROLE)) == (run_id, kind):
                self.list.setCurrentItem(item)
                return

    # ---- behaviour --------------------------------------------------------------------------------
    def _set_open(self, on: bool) -> None:
        self.toggle.setChecked(on)
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        self.body.setVisible(on)
        if self._state is not None:
            self._set_summary(dict(self._state[1]))

    @Slot(bool)
    def _on_toggle_clicked(self, on: bool) -> None:
        self._user_folded = not on
        self._set_open(on)

    @Slot()
    def _on_current_changed(self, *_args) -> None:
        self._show_detail()
        key = self.current_key()
        if key is not None and not self._building:
            self.findingSelected.emit(*key)

    def _show_detail(self) -> None:
        if not self.entries:
            self.detail.clear()
            return
        key = self.current_key()
        entry = next((e for e in self.entries if (e.run_id, e.finding.kind) == key), self.entries[0])
        self.detail.setHtml(finding_html(entry, len(self._state[1]) > 1 if self._state else False))
