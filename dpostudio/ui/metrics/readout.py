"""The hover readout under the charts: one compact line that never widens the window.

``readout_text`` says what is under the mouse ("Loss · step 12 │ b0.1: loss 0.52, eval loss 0.51 │ b0.5: ...");
``ElidedLabel`` shows it in whatever width the pane gives it, cut with "…" (the whole text is its tooltip).
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


def readout_text(
    title: str, axis: str, x: float | None, values: dict[str, list[tuple[str, float]]], names: dict[str, str]
) -> str:
    """The readout of one chart at ``x``: per run (named when ``names`` has it), each series' value there."""
    if x is None or not values:
        return f"{title}: no data"
    parts = [f"{title} · {axis} {x:g}"]
    for run_id, series in values.items():
        ordered = sorted(series, key=lambda pair: pair[0].startswith("eval"))  # training first, then eval
        text = ", ".join(f"{label} {value:.4g}" for label, value in ordered)
        parts.append(f"{names[run_id]}: {text}" if run_id in names else text)
    return " │ ".join(parts)


class ElidedLabel(QLabel):
    """A one-line label that takes the width it is given and cuts its text with "…" rather than asking for more."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt's name)
        super().setText(text)
        self.setToolTip(text)

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(120, super().sizeHint().height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(40, super().minimumSizeHint().height())

    def elided(self) -> str:
        """The text as shown in the label's current width."""
        return self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, self.contentsRect().width())

    def paintEvent(self, _event) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.setPen(self.palette().windowText().color())
        flags = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        painter.drawText(self.contentsRect(), int(flags), self.elided())
        painter.end()
