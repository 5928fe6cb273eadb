"""Export of the charts as a picture for a report: PNG at print resolution, or SVG.

The charts picked are redrawn into a separate, never-shown scene: light background and dark text whatever the app's
theme, a fixed size per chart (not the window's), the shared legend row on top, the curves and finding markers as
shown (same view ranges, same log scale), and nothing else (no hover readout, no menus). PNG is rendered at
``scale`` times its logical size, so lines and text stay sharp in print; SVG is drawn by Qt's SVG generator.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pyqtgraph as pg
from PySide6.QtCore import QCoreApplication, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtSvg import QSvgGenerator

from dpostudio.ui.metrics.chart_legend import LegendRow
from dpostudio.ui.metrics.chart_series import chart_of

if TYPE_CHECKING:
    from dpostudio.ui.metrics.charts import ChartPanel

CHART_SIZE = (440, 300)  # logical pixels per chart in the exported picture
PRINT_SCALE = 3.0
BACKGROUND = "#ffffff"
TEXT = "#1f2328"
FORMATS = {"png": "PNG (*.png)", "svg": "SVG (*.svg)"}


def _wider(pen: QPen, factor: float) -> QPen:
    pen = QPen(pen)
    pen.setWidthF(max(pen.widthF(), 1.0) * factor)
    return pen


def build_export_view(panel: ChartPanel, titles: list[str], line_scale: float = 1.0) -> pg.GraphicsLayoutWidget:
    """A never-shown copy of the charts ``titles`` (legend row on top), laid out and ready to render; its lines
    ``line_scale`` times wider than on screen (for a picture rendered that many times larger)."""
    columns = max(1, min(len(titles), panel.columns))
    rows = math.ceil(len(titles) / columns)
    view = pg.GraphicsLayoutWidget()
    view.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen)
    view.setBackground(BACKGROUND)
    view.ci.setContentsMargins(10, 6, 10, 10)
    legend = LegendRow(view.ci, row=0, colspan=columns, text_size="9pt", line_scale=line_scale)
    legend.set_entries(panel.legend_entries(), QColor(TEXT))
    text_pen = _wider(pg.mkPen(TEXT), line_scale)
    for i, title in enumerate(titles):
        source = panel.plots[title]
        plot = view.addPlot(row=1 + i // columns, col=i % columns)
        plot.setTitle(title, color=TEXT, size="11pt")
        plot.showGrid(x=True, y=True, alpha=0.2)
        plot.setMenuEnabled(False)
        plot.hideButtons()
        for axis in ("left", "bottom"):
            ax = plot.getAxis(axis)
            ax.setPen(text_pen)
            ax.setTextPen(text_pen)
            ax.enableAutoSIPrefix(False)
        plot.getAxis("left").setWidth(58)
        plot.setLabel("bottom", panel.x_axis, color=TEXT)
        plot.setLogMode(y=bool(source.getAxis("left").logMode))
        for (_run_id, metric), item in panel.items.items():
            if chart_of(metric) != title or item.xData is None or not item.isVisible():
                continue
            copy = pg.PlotDataItem(item.xData, item.yData)
            for option in ("symbol", "symbolSize", "symbolBrush"):
                copy.opts[option] = item.opts[option]
            copy.opts["pen"] = _wider(item.opts["pen"], line_scale)
            copy.opts["symbolPen"] = _wider(pg.mkPen(item.opts["symbolPen"]), line_scale)
            copy.opts["symbolSize"] = item.opts["symbolSize"] * line_scale**0.5
            copy.updateItems(styleUpdate=True)
            copy.setZValue(item.zValue())
            plot.addItem(copy)
        for _key, lines in panel.markers.items():
            for chart, line in lines:
                if chart != title:
                    continue
                label = line.label
                marker = pg.InfiniteLine(
                    pos=line.value(),
                    angle=90,
                    pen=_wider(line.pen, line_scale),
                    label=label.toPlainText() if label is not None else None,
                    labelOpts={"position": label.orthoPos, "color": "#ffffff", "fill": label.fill}
                    if label is not None
                    else None,
                )
                if marker.label is not None and label is not None:
                    marker.label.setFont(label.textItem.font())
                plot.addItem(marker, ignoreBounds=True)
        (x0, x1), (y0, y1) = source.vb.viewRange()
        plot.setXRange(x0, x1, padding=0)
        plot.setYRange(y0, y1, padding=0)
    width, height = CHART_SIZE
    view.resize(columns * width + 20, rows * height + int(legend.box.maximumHeight()) + 16)
    view.show()  # never on screen (WA_DontShowOnScreen): showing delivers the resize that lays the scene out
    QCoreApplication.sendPostedEvents()
    view.ci.layout.activate()
    return view


def render_png(view: pg.GraphicsLayoutWidget, path: str, scale: float = PRINT_SCALE) -> bool:
    """Render ``view``'s scene ``scale`` times larger than its logical size into ``path`` (its lines were made
    ``scale`` times wider by ``build_export_view``: pens one device pixel wide do not grow with the picture)."""
    source = view.ci.sceneBoundingRect()
    image = QImage(round(source.width() * scale), round(source.height() * scale), QImage.Format.Format_ARGB32)
    image.fill(QColor(BACKGROUND))
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
    view.scene().render(painter, QRectF(image.rect()), source)
    painter.end()
    return image.save(path, "PNG")  # type: ignore[call-overload]  # (the stub says bytes; PySide6 wants str)


def render_svg(view: pg.GraphicsLayoutWidget, path: str, title: str = "DPO Studio charts") -> bool:
    """Draw ``view`` as vector graphics into the SVG file ``path``."""
    source = view.ci.sceneBoundingRect()
    width, height = round(source.width()), round(source.height())
    generator = QSvgGenerator()
    generator.setFileName(path)
    generator.setSize(QSize(width, height))
    generator.setViewBox(QRect(0, 0, width, height))
    generator.setTitle(title)
    painter = QPainter()
    if not painter.begin(generator):
        return False
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    view.scene().render(painter, QRectF(0, 0, width, height), source)
    return painter.end()


def export_charts(panel: ChartPanel, path: str, titles: list[str] | None = None, scale: float = PRINT_SCALE) -> bool:
    """Save the charts ``titles`` (None: all) to ``path``: SVG when it ends in .svg, else PNG at ``scale``."""
    chosen = [title for title in (titles or list(panel.plots)) if title in panel.plots]
    if not chosen:
        return False
    svg = str(path).lower().endswith(".svg")
    view = build_export_view(panel, chosen, 1.0 if svg else scale)
    try:
        if svg:
            return render_svg(view, str(path))
        return render_png(view, str(path), scale)
    except OSError:
        return False
    finally:
        view.hide()
        view.deleteLater()
