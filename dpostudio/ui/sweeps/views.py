"""The Sweeps pane's slice and contour views (pyqtgraph), drawn from ``core.sweeps.views``.

- ``SliceView``: one scatter per swept field, the objective against the field's value (log x for a log-uniform
  field, the words as ticks for a choice of words); the best trial is ringed.
- ``ContourView``: two chosen fields against each other, each finished trial a point coloured by its objective
  (viridis; the best end bright), over the shaded inverse-distance guide, with a colour bar.

Both are given the plain data a snapshot carries (``trial_points``, the space, the direction) and compute on the
GUI thread (a few hundred points at most: well under a millisecond per view).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QRectF
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from dpostudio.core.sweeps.space import ParamSpec
from dpostudio.core.sweeps.spec import MINIMIZE, objective_words
from dpostudio.core.sweeps.views import Axis, Contour, TrialPoint, contour, log_ticks, slices

POINT_COLOUR = "#4a7bd0"
BEST_COLOUR = "#e67e22"
COLUMNS = 3  # slices per row
SHORT = {"learning_rate": "lr", "per_device_batch_size": "batch", "gradient_accumulation_steps": "accum"}


def _theme(widget: pg.GraphicsLayoutWidget | pg.PlotWidget, plots: list[pg.PlotItem], palette) -> None:
    widget.setBackground(palette.base().color())
    text = palette.text().color()
    for plot in plots:
        for side in ("left", "bottom"):
            axis = plot.getAxis(side)
            axis.setPen(pg.mkPen(text))
            axis.setTextPen(pg.mkPen(text))


def _set_label(plot: pg.PlotItem, side: str, text: str) -> None:
    """An axis title without pyqtgraph's automatic scaling (which shows 0.55 as "550" with "(x0.001)")."""
    axis = plot.getAxis(side)
    axis.setLabel(text)
    axis.setSIPrefixEnableRanges(())  # setLabel resets the ranges: no range, no scaling
    axis.updateAutoSIPrefix()


def _label_ticks(plot: pg.PlotItem, side: str, axis: Axis, extent: tuple[float, float]) -> None:
    """Words as ticks for a choice of words, 1-2-5 ticks on a log axis (``extent`` in log10), else pyqtgraph's."""
    if axis.labels:
        ticks: list[list[tuple[float, str]]] | None = [[(float(i), label) for i, label in enumerate(axis.labels)]]
    elif axis.log:
        ticks = [log_ticks(*extent)]
    else:
        ticks = None
    plot.getAxis(side).setTicks(ticks)


def _best(values: list[float], direction: str) -> int | None:
    if not values:
        return None
    return int(np.argmin(values) if direction == MINIMIZE else np.argmax(values))


class SliceView(QWidget):
    """The objective against each swept field, side by side."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        pg.setConfigOptions(antialias=True)
        self.graphics = pg.GraphicsLayoutWidget()
        self.note = QLabel()
        self.note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.note)
        self.plots: dict[str, pg.PlotItem] = {}
        self.scatters: dict[str, pg.PlotDataItem] = {}

    def set_data(self, points: list[TrialPoint], space: list[ParamSpec], metric: str, direction: str) -> None:
        self.graphics.clear()
        self.plots.clear()
        self.scatters.clear()
        words = objective_words(metric)
        for i, view in enumerate(slices(points, space)):
            name = view.axis.name
            col = i % COLUMNS
            plot = self.graphics.addPlot(row=i // COLUMNS, col=col)
            plot.setTitle(name, size="9pt")
            plot.showGrid(x=True, y=True, alpha=0.25)
            plot.setLogMode(x=view.axis.log, y=False)
            _set_label(plot, "left", words if col == 0 else "")
            _label_ticks(plot, "bottom", view.axis, view.x_range)
            scatter = plot.plot(
                view.x, view.y, pen=None, symbol="o", symbolSize=8, symbolBrush=POINT_COLOUR, symbolPen="w"
            )
            best = _best(view.y, direction)
            if best is not None:
                plot.plot(
                    [view.x[best]], [view.y[best]], pen=None, symbol="o", symbolSize=14,
                    symbolBrush=None, symbolPen=pg.mkPen(BEST_COLOUR, width=2),
                )  # fmt: skip
            plot.setXRange(*view.x_range, padding=0.02)
            self.plots[name] = plot
            self.scatters[name] = scatter
        self.note.setText(
            f"{words} of each finished trial against each swept field ({len(points)} trials; the best ringed)"
            if points
            else "No finished trials yet."
        )
        _theme(self.graphics, list(self.plots.values()), self.palette())

    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            _theme(self.graphics, list(self.plots.values()), self.palette())
        super().changeEvent(event)


class ContourView(QWidget):
    """Two chosen fields against each other, the trials coloured by the objective."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        pg.setConfigOptions(antialias=True)
        self.x_combo = QComboBox()
        self.y_combo = QComboBox()
        self.x_combo.currentIndexChanged.connect(lambda _: self.redraw())
        self.y_combo.currentIndexChanged.connect(lambda _: self.redraw())
        self.graphics = pg.GraphicsLayoutWidget()
        self.plot = self.graphics.addPlot(row=0, col=0)
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.image = pg.ImageItem()
        self.image.setZValue(-10)
        self.plot.addItem(self.image)
        self.scatter = pg.ScatterPlotItem(size=11, pen=pg.mkPen("w", width=1))
        self.plot.addItem(self.scatter)
        self.colour_bar = pg.ColorBarItem(colorMap=pg.colormap.get("viridis"), interactive=False, width=12)
        self.graphics.addItem(self.colour_bar, row=0, col=1)
        self.note = QLabel()
        self.note.setWordWrap(True)
        choose = QHBoxLayout()
        choose.addWidget(QLabel("x"))
        choose.addWidget(self.x_combo, 1)
        choose.addWidget(QLabel("y"))
        choose.addWidget(self.y_combo, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(choose)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.note)
        self.points: list[TrialPoint] = []
        self.space: list[ParamSpec] = []
        self.objective_metric, self.direction = "", MINIMIZE
        self.view: Contour | None = None
        _theme(self.graphics, [self.plot], self.palette())

    def set_data(self, points: list[TrialPoint], space: list[ParamSpec], metric: str, direction: str) -> None:
        self.points, self.space, self.objective_metric, self.direction = points, space, metric, direction
        names = [p.name for p in space]
        keep = (self.x_combo.currentData(), self.y_combo.currentData())
        for combo, wanted, fallback in ((self.x_combo, keep[0], 0), (self.y_combo, keep[1], 1)):
            combo.blockSignals(True)
            combo.clear()
            for name in names:
                combo.addItem(SHORT.get(name, name), name)
            index = names.index(wanted) if wanted in names else min(fallback, len(names) - 1)
            combo.setCurrentIndex(index)
            combo.blockSignals(False)
        self.redraw()

    def choose(self, x_name: str, y_name: str) -> None:
        self.x_combo.setCurrentIndex(self.x_combo.findData(x_name))
        self.y_combo.setCurrentIndex(self.y_combo.findData(y_name))

    def redraw(self) -> None:
        x_name, y_name = self.x_combo.currentData(), self.y_combo.currentData()
        self.scatter.setData([])
        self.image.clear()
        self.view = None
        if len(self.space) < 2:
            self.note.setText("A contour needs a sweep over at least two fields.")
            return
        if x_name == y_name or x_name is None or y_name is None:
            self.note.setText("Choose two different fields.")
            return
        view = contour(self.points, self.space, x_name, y_name)
        self.view = view
        _set_label(self.plot, "bottom", f"{x_name} (log scale)" if view.x_axis.log else x_name)
        _set_label(self.plot, "left", f"{y_name} (log scale)" if view.y_axis.log else y_name)
        _label_ticks(self.plot, "bottom", view.x_axis, view.x_range)
        _label_ticks(self.plot, "left", view.y_axis, view.y_range)
        words = objective_words(self.objective_metric)
        if not view.values:
            self.note.setText(f"No finished trial has both {x_name} and {y_name} yet.")
            return
        low, high = min(view.values), max(view.values)
        if high - low < 1e-12:
            low, high = low - 0.5, high + 0.5
        colours = pg.colormap.get("viridis")  # shared by pyqtgraph: never changed in place
        if self.direction == MINIMIZE:  # bright = best: reversed when lower is better
            colours = colours.getSubset(1.0, -1.0)
        brushes = [pg.mkBrush(colours.map((v - low) / (high - low), mode="qcolor")) for v in view.values]
        best = _best(view.values, self.direction)
        pens = [pg.mkPen(BEST_COLOUR if i == best else "w", width=2.5 if i == best else 1) for i in range(len(brushes))]
        self.scatter.setData(x=view.x, y=view.y, brush=brushes, pen=pens, data=view.trials)
        if view.grid:
            shade = np.clip((np.asarray(view.grid) - low) / (high - low), 0.0, 1.0)
            self.image.setImage(shade, levels=(0.0, 1.0), lut=colours.getLookupTable(nPts=256))
            self.image.setOpacity(0.45)
            x0, x1 = view.x_range
            y0, y1 = view.y_range
            self.image.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        self.plot.setXRange(*view.x_range, padding=0)
        self.plot.setYRange(*view.y_range, padding=0)
        self.colour_bar.setColorMap(colours)
        self.colour_bar.setLevels(low=low, high=high)
        self.note.setText(f"{words}: {view.note}; the best trial ringed in orange.")

    def point_colours(self) -> list[QColor]:
        """The colour of each drawn point, in ``view.trials`` order (tests)."""
        return [spot.brush().color() for spot in self.scatter.points()]

    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            _theme(self.graphics, [self.plot], self.palette())
        super().changeEvent(event)


def snapshot_views(snap: dict[str, Any]) -> tuple[list[TrialPoint], list[ParamSpec], str, str]:
    """The views' inputs from a pane snapshot (``load_snapshot``)."""
    spec = snap["spec"]
    space = [ParamSpec.from_dict(p) for p in spec["space"]]
    return snap.get("points") or [], space, spec["metric"], spec["direction"]
