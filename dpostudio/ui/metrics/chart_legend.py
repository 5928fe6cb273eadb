"""The charts' one shared legend: a row above the plots, never inside a plot area.

It lists each run shown (its colour and short name) and then the key of the line styles (``chart_series``): the
same style means the same kind of series in every chart and for every run, so one row explains all eight charts.
The row is a pyqtgraph item of the charts' scene, so the PNG and SVG exports carry it too.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPen

from dpostudio.ui.metrics.chart_series import EXTRA_SET_STYLE, SLOT_KEYS, SLOT_STYLES

KEY_COLOR = "#7f7f7f"  # the line-style key is drawn in a neutral grey: colour means run, style means series
MAX_PER_ROW = 8
KEY_ORDER = (0, 2, 1, 3)  # chosen, rejected, eval, eval rejected


@dataclass(frozen=True)
class LegendEntry:
    label: str
    color: str
    style: Qt.PenStyle = Qt.PenStyle.SolidLine
    symbol: str | None = None
    hollow: bool = False
    width: float = 2.4


def series_pen(color: str, style: Qt.PenStyle, width: float = 1.6) -> QPen:
    pen = QPen(QColor(color))
    pen.setWidthF(width)
    pen.setCosmetic(True)
    pen.setStyle(style)
    return pen


def style_item(
    item: pg.PlotDataItem, color: str, style: Qt.PenStyle, symbol: str | None, hollow: bool, width: float = 1.6
) -> None:
    """Give a curve (or a legend sample) its colour, line style and point symbol."""
    item.setPen(series_pen(color, style, width))
    item.setSymbol(symbol)
    item.setSymbolSize(6)
    item.setSymbolPen(pg.mkPen(QColor(color), width=1.2))
    item.setSymbolBrush(pg.mkBrush(None) if hollow else pg.mkBrush(QColor(color)))


def key_entries(slots: set[int], extra_sets: list[str]) -> list[LegendEntry]:
    """The line-style key for the style slots and extra eval sets shown."""
    from dpostudio.ui.metrics.chart_series import EXTRA_SET_SYMBOLS

    entries = [
        LegendEntry(SLOT_KEYS[slot], KEY_COLOR, SLOT_STYLES[slot], "o" if slot % 2 else None, slot == 3, 1.6)
        for slot in sorted(slots, key=KEY_ORDER.index)
    ]
    entries += [
        LegendEntry(
            f"{name} eval", KEY_COLOR, EXTRA_SET_STYLE, EXTRA_SET_SYMBOLS[i % len(EXTRA_SET_SYMBOLS)], width=1.6
        )
        for i, name in enumerate(extra_sets)
    ]
    return entries


class LegendRow:
    """A legend laid out in rows above the charts, in its own cell of a ``GraphicsLayout`` spanning every column."""

    def __init__(
        self, layout: pg.GraphicsLayout, row: int, colspan: int, text_size: str = "8pt", line_scale: float = 1.0
    ) -> None:
        self.line_scale = line_scale  # wider sample lines, for a picture rendered larger than the screen
        self.box = pg.GraphicsWidget()
        layout.addItem(self.box, row=row, col=0, colspan=colspan)
        self.legend = pg.LegendItem(horSpacing=18, labelTextSize=text_size, pen=None, brush=None)
        # pyqtgraph's legend keeps its screen size when the view is scaled: this one scales with an exported picture
        self.legend.setFlag(self.legend.GraphicsItemFlag.ItemIgnoresTransformations, False)
        self.legend.setParentItem(self.box)
        self.legend.anchor(itemPos=(0.5, 0), parentPos=(0.5, 0), offset=(0, 2))
        self.entries: list[LegendEntry] = []
        self._samples: list[pg.PlotDataItem] = []  # the legend draws its samples from these (never plotted)
        self._fit()

    def set_entries(self, entries: list[LegendEntry], text_color: QColor | None = None) -> None:
        if text_color is not None:
            self.legend.setLabelTextColor(text_color)
        if entries == self.entries and text_color is None:
            return
        self.entries = list(entries)
        self.legend.clear()
        self._samples = []
        self.legend.setColumnCount(max(1, min(len(entries), MAX_PER_ROW)))
        for entry in entries:
            sample = pg.PlotDataItem()
            style_item(sample, entry.color, entry.style, entry.symbol, entry.hollow, entry.width * self.line_scale)
            self._samples.append(sample)
            self.legend.addItem(sample, entry.label)
        self._fit()

    def labels(self) -> list[str]:
        return [label.text for _sample, label in self.legend.items]

    def _fit(self) -> None:
        """The row is as tall as the legend's lines of entries (no entries: a thin gap)."""
        height = self.legend.boundingRect().height() + 4 if self.entries else 6
        self.box.setMinimumHeight(height)
        self.box.setMaximumHeight(height)
