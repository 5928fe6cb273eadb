"""Live training charts with pyqtgraph.

One ``PlotDataItem`` per (run, metric) series, fed with ``setData`` from a growing numpy buffer, with peak
downsampling and clip-to-view. Points are appended as events arrive; the items are redrawn by a ~20 Hz timer,
only when something changed, never once per event.

Diagnostics findings (``core.diagnostics``) are drawn as dashed vertical markers at the step where each began,
on the charts that show the pattern; they are (re)built by the same timer when a finding arrives or changes.
The chart table and series styles live in ``chart_series``, the markers in ``chart_markers``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, QTimer, Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from dpostudio.core.diagnostics.findings import Finding
from dpostudio.core.training.event_types import is_eval_metric
from dpostudio.ui.metrics.chart_legend import LegendEntry, LegendRow, key_entries, style_item
from dpostudio.ui.metrics.chart_markers import (
    FINDING_CHARTS,
    FINDING_LABELS,
    SEVERITY_COLORS,
    FindingMarkers,
    finding_charts,
    finding_label,
    severity_color,
)
from dpostudio.ui.metrics.chart_series import (
    CHARTS,
    LOG_SCALE_CHARTS,
    METRIC_TO_CHART,
    chart_of,
    distinct_run_labels,
    extra_set_index,
    extra_set_of,
    legend_run_names,
    run_color,
    series_info,
    series_style,
    short_run_label,
)
from dpostudio.ui.metrics.readout import readout_text

__all__ = [  # what the Metrics pane, the findings strip and the tests use, wherever it is defined
    "CHARTS",
    "FINDING_CHARTS",
    "FINDING_LABELS",
    "METRIC_TO_CHART",
    "REDRAW_HZ",
    "SEVERITY_COLORS",
    "ChartPanel",
    "SeriesBuffer",
    "chart_of",
    "distinct_run_labels",
    "ema",
    "finding_charts",
    "finding_label",
    "severity_color",
    "short_run_label",
]

REDRAW_HZ = 20


@dataclass
class SeriesBuffer:
    """A growing (step, epoch, value) buffer; capacity doubles so appends are amortised O(1)."""

    step: np.ndarray = field(default_factory=lambda: np.empty(64))
    epoch: np.ndarray = field(default_factory=lambda: np.empty(64))
    value: np.ndarray = field(default_factory=lambda: np.empty(64))
    n: int = 0

    def append(self, step: float, epoch: float | None, value: float) -> None:
        if self.n and step <= self.step[self.n - 1]:
            # a repeated or earlier step (a resume rewrote history): drop what it supersedes
            self.n = int(np.searchsorted(self.step[: self.n], step, side="left"))
        if self.n == len(self.step):
            for name in ("step", "epoch", "value"):
                old = getattr(self, name)
                new = np.empty(len(old) * 2)
                new[: self.n] = old[: self.n]
                setattr(self, name, new)
        self.step[self.n] = step
        self.epoch[self.n] = np.nan if epoch is None else epoch
        self.value[self.n] = value
        self.n += 1

    def merge(self, step: float, epoch: float | None, value: float) -> None:
        """Insert a point in step order (replacing one at the same step); used to merge history read from disk."""
        i = int(np.searchsorted(self.step[: self.n], step, side="left"))
        if i < self.n and self.step[i] == step:
            self.epoch[i] = np.nan if epoch is None else epoch
            self.value[i] = value
            return
        if i == self.n:
            self.append(step, epoch, value)
            return
        steps, epochs, values = (
            np.insert(a[: self.n], i, v)
            for a, v in ((self.step, step), (self.epoch, np.nan if epoch is None else epoch), (self.value, value))
        )
        self.n += 1
        capacity = max(len(self.step), self.n)
        for name, data in (("step", steps), ("epoch", epochs), ("value", values)):
            buffer = np.empty(capacity)
            buffer[: self.n] = data
            setattr(self, name, buffer)

    def x(self, axis: str) -> np.ndarray:
        return (self.epoch if axis == "epoch" else self.step)[: self.n]

    def y(self) -> np.ndarray:
        return self.value[: self.n]


def ema(values: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard-style debiased exponential moving average (``weight`` 0 = no smoothing)."""
    if weight <= 0 or len(values) < 2:
        return values
    out = np.empty_like(values)
    last, debias = 0.0, 0.0
    for i, v in enumerate(values):
        if not math.isfinite(v):
            out[i] = v
            continue
        last = last * weight + (1 - weight) * v
        debias = debias * weight + (1 - weight)
        out[i] = last / debias
    return out


class ChartPanel(QWidget):
    """A grid of metric plots that can show one or several runs at once, with markers for their findings."""

    readout = Signal(str)  # hover text: chart, x and the values under the mouse
    updated = Signal()  # after a timer redraw that changed curves, runs or findings (the findings strip listens)

    def __init__(self, parent: QWidget | None = None, columns: int = 4):
        super().__init__(parent)
        pg.setConfigOptions(antialias=True)
        self.layout_widget = pg.GraphicsLayoutWidget(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.layout_widget)
        self.columns = columns
        self.plots: dict[str, pg.PlotItem] = {}
        # one legend for all charts, in a row above them: runs by colour, series by line style (never over the data)
        self.legend = LegendRow(self.layout_widget.ci, row=0, colspan=columns)
        for i, (title, _) in enumerate(CHARTS):
            plot = self.layout_widget.addPlot(row=1 + i // columns, col=i % columns, title=title)
            plot.showGrid(x=True, y=True, alpha=0.25)
            plot.setMenuEnabled(True)
            plot.setDownsampling(auto=True, mode="peak")
            plot.setClipToView(True)
            left = plot.getAxis("left")
            left.setWidth(58)  # room for labels such as 0.0001 or -0.05 before the first data arrives
            left.enableAutoSIPrefix(False)
            self.plots[title] = plot
        self.buffers: dict[tuple[str, str], SeriesBuffer] = {}
        self.items: dict[tuple[str, str], pg.PlotDataItem] = {}
        self.run_order: list[str] = []
        self.run_labels: dict[str, str] = {}
        self.extra_sets: list[str] = []  # extra eval sets seen, in order: each keeps its own style
        self.dirty: set[tuple[str, str]] = set()
        self.findings: dict[str, dict[str, Finding]] = {}  # run -> kind -> its newest finding
        self.finding_markers = FindingMarkers(self.plots)
        self._markers_dirty = False  # findings, runs or the x axis changed: rebuild the markers on the next redraw
        self._changed = False  # runs changed since the last redraw (tell the findings strip)
        self.smoothing = 0.0
        self.x_axis = "step"
        self._timer = QTimer(self)
        self._timer.setInterval(int(1000 / REDRAW_HZ))
        self._timer.timeout.connect(self.flush)
        self._timer.start()
        self._proxy = pg.SignalProxy(self.layout_widget.scene().sigMouseMoved, rateLimit=30, slot=self._on_mouse)
        self.apply_theme()

    # ---- data --------------------------------------------------------------------------------------
    def add_run(self, run_id: str, label: str | None = None) -> None:
        if run_id not in self.run_order:
            self.run_order.append(run_id)
            self.run_labels[run_id] = label or run_id
            self._restyle()
            self._markers_dirty = self._changed = True  # marker labels name the run once several are shown
        elif label and self.run_labels.get(run_id) != label:
            self.run_labels[run_id] = label
            self._restyle()
            self._markers_dirty = self._changed = True

    def remove_run(self, run_id: str) -> None:
        for key in [k for k in self.items if k[0] == run_id]:
            item = self.items.pop(key)
            self.plots[chart_of(key[1]) or ""].removeItem(item)
        for key in [k for k in self.buffers if k[0] == run_id]:
            self.buffers.pop(key)
            self.dirty.discard(key)
        if run_id in self.run_order:
            self.run_order.remove(run_id)
            self.run_labels.pop(run_id, None)
        self.findings.pop(run_id, None)
        self.finding_markers.remove_run(run_id)
        self._markers_dirty = self._changed = True
        self._restyle()

    def clear(self) -> None:
        for run_id in list(self.run_order):
            self.remove_run(run_id)

    def runs(self) -> list[str]:
        return list(self.run_order)

    def add_record(self, run_id: str, record: dict, merge: bool = False) -> int:
        """Append the known metrics of one log/eval record (``step``, ``epoch``, metric values). Returns points added.

        ``merge`` inserts in step order instead (history read from disk while live points are arriving).
        """
        step = record.get("step")
        if step is None:
            return 0
        added = 0
        for key, value in record.items():
            if chart_of(key) is None or not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            self.add_point(run_id, key, float(step), record.get("epoch"), float(value), merge=merge)
            added += 1
        return added

    def add_point(
        self, run_id: str, metric: str, step: float, epoch: float | None, value: float, merge: bool = False
    ) -> None:
        if run_id not in self.run_order:
            self.add_run(run_id)
        key = (run_id, metric)
        buffer = self.buffers.get(key)
        if buffer is None:
            buffer = self.buffers[key] = SeriesBuffer()
        (buffer.merge if merge else buffer.append)(step, epoch, value)
        self.dirty.add(key)

    def set_records(self, run_id: str, records: list[dict], label: str | None = None) -> None:
        """Replace a run's series with ``records`` (read back from disk)."""
        if run_id in self.run_order:
            for key in [k for k in self.buffers if k[0] == run_id]:
                self.buffers[key].n = 0
                self.dirty.add(key)
        self.add_run(run_id, label)
        for record in records:
            self.add_record(run_id, record)

    def logged_steps(self, run_id: str) -> int:
        """How many training (not eval) points the run has on its busiest chart."""
        counts = [b.n for (rid, metric), b in self.buffers.items() if rid == run_id and not is_eval_metric(metric)]
        return max(counts, default=0)

    # ---- findings ---------------------------------------------------------------------------------
    def set_finding(self, run_id: str, finding: Finding | dict) -> None:
        """Show a finding of a run (live or read back); one of the same kind already shown is replaced."""
        if isinstance(finding, dict):
            finding = Finding.from_dict(finding)
        if run_id not in self.run_order:
            self.add_run(run_id)
        self.findings.setdefault(run_id, {})[finding.kind] = finding
        self._markers_dirty = True

    def set_findings(self, run_id: str, findings: list[Finding], merge: bool = False) -> None:
        """Replace a run's findings (``merge``: only add kinds not already shown, which live events keep fresher)."""
        if run_id not in self.run_order:
            self.add_run(run_id)
        shown = self.findings.setdefault(run_id, {})
        if not merge:
            shown.clear()
        for finding in findings:
            if not (merge and finding.kind in shown):
                shown[finding.kind] = finding
        self._markers_dirty = True

    def short_labels(self) -> dict[str, str]:
        """Each run's short label, telling the runs shown apart (markers and findings rows are prefixed with it)."""
        return dict(
            zip(self.run_order, distinct_run_labels([self.run_labels.get(r, r) for r in self.run_order]), strict=True)
        )

    def findings_of(self, run_id: str) -> list[Finding]:
        """A run's findings by the step where each began."""
        return sorted(self.findings.get(run_id, {}).values(), key=lambda f: (f.step, f.kind))

    @property
    def markers(self) -> dict[tuple[str, str], list[tuple[str, pg.InfiniteLine]]]:
        """(run, kind) -> the (chart, line) of each of its finding markers (after a redraw)."""
        return self.finding_markers.lines

    @property
    def highlighted(self) -> tuple[str, str] | None:
        """The (run, kind) whose markers are drawn thicker, if any."""
        return self.finding_markers.highlighted

    def markers_on(self, title: str) -> list[tuple[str, str, float]]:
        """(run, kind, x) of the finding markers drawn on one chart (after a redraw)."""
        return self.finding_markers.on(title)

    def highlight_finding(self, run_id: str, kind: str) -> None:
        """Draw one finding's markers thicker (the one picked in the findings strip); the others as usual."""
        key = (run_id, kind) if kind in self.findings.get(run_id, {}) else None
        self.finding_markers.highlight(key, self.findings)

    def _marker_x(self, run_id: str, step: float) -> float | None:
        """Where a step lies on the current x axis (on the epoch axis: read off the run's own points)."""
        if self.x_axis == "step":
            return float(step)
        for (rid, _metric), buffer in self.buffers.items():
            if rid != run_id or not buffer.n:
                continue
            steps, epochs = buffer.x("step"), buffer.x("epoch")
            known = np.isfinite(epochs)
            if known.any():
                return float(np.interp(step, steps[known], epochs[known]))
        return None

    def _rebuild_markers(self) -> None:
        shown = [(run_id, f) for run_id in self.run_order for f in self.findings_of(run_id)]
        short = self.short_labels() if len(self.run_order) > 1 else None
        self.finding_markers.rebuild(shown, short, self._marker_x)

    def series(self, run_id: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
        buffer = self.buffers.get((run_id, metric))
        if buffer is None:
            return np.empty(0), np.empty(0)
        return buffer.x("step").copy(), buffer.y().copy()

    def drawn_points(self, run_id: str, metric: str) -> int:
        """How many points the plot item currently shows (after a redraw)."""
        item = self.items.get((run_id, metric))
        if item is None or item.xData is None:
            return 0
        return len(item.xData)

    # ---- view options -----------------------------------------------------------------------------
    def set_smoothing(self, weight: float) -> None:
        self.smoothing = max(0.0, min(float(weight), 0.999))
        self.dirty.update(self.buffers)

    def set_x_axis(self, axis: str) -> None:
        self.x_axis = "epoch" if axis == "epoch" else "step"
        self.dirty.update(self.buffers)
        self._markers_dirty = True

    def set_log_scale(self, on: bool) -> None:
        for title in LOG_SCALE_CHARTS:
            self.plots[title].setLogMode(y=bool(on))

    # ---- drawing ----------------------------------------------------------------------------------
    def flush(self) -> None:
        """Push changed buffers into their plot items, and rebuild changed markers (called by the ~20 Hz timer)."""
        if not (self.dirty or self._markers_dirty or self._changed):
            return
        for key in list(self.dirty):
            buffer = self.buffers.get(key)
            if buffer is None:
                continue
            item = self.items.get(key)
            if item is None:
                item = self._make_item(key)
            x, y = buffer.x(self.x_axis), buffer.y()
            if self.smoothing and not is_eval_metric(key[1]):
                y = ema(y, self.smoothing)
            item.setData(x, y)
        self.dirty.clear()
        if self._markers_dirty:
            self._markers_dirty = False
            self._rebuild_markers()
        self._changed = False
        self.updated.emit()

    def _make_item(self, key: tuple[str, str]) -> pg.PlotDataItem:
        run_id, metric = key
        title = chart_of(metric) or ""
        item = pg.PlotDataItem()
        self.plots[title].addItem(item)  # (addItem applies the plot's own decimation settings, so set ours after)
        item.setDownsampling(auto=True, method="peak")
        item.setClipToView(True)
        self.items[key] = item
        self._style_item(key, item)
        self.legend.set_entries(self.legend_entries())  # a new kind of series may add to the line-style key
        return item

    def run_names(self) -> dict[str, str]:
        """Each run's name as the legend row and the hover readout show it (short, told apart)."""
        names = legend_run_names([self.run_labels.get(r, r) for r in self.run_order])
        return dict(zip(self.run_order, names, strict=True))

    def run_colors(self) -> dict[str, str]:
        """Each run's one colour: every series of a run is drawn in it."""
        return {run_id: run_color(i) for i, run_id in enumerate(self.run_order)}

    def legend_entries(self) -> list[LegendEntry]:
        """The legend row: the runs shown (colour and name), then the key of the line styles in use."""
        names, colors = self.run_names(), self.run_colors()
        entries = [LegendEntry(names[r], colors[r], width=3.0) for r in self.run_order]
        slots = {series_info(m)[2] for (_r, m) in self.items if extra_set_of(m) is None}
        extra = [name for name in self.extra_sets if any(extra_set_of(m) == name for (_r, m) in self.items)]
        return entries + key_entries(slots, extra)

    def _style_item(self, key: tuple[str, str], item: pg.PlotDataItem) -> None:
        run_id, metric = key
        _title, label, _slot = series_info(metric)
        color = self.run_colors().get(run_id, "#888888")
        style, symbol, hollow = series_style(metric, extra_set_index(self.extra_sets, metric))
        style_item(item, color, style, symbol, hollow)
        item.opts["name"] = label
        item.setZValue(-self.run_order.index(run_id) if run_id in self.run_order else -100)  # first run on top

    def _restyle(self) -> None:
        for key, item in self.items.items():
            self._style_item(key, item)
        self.legend.set_entries(self.legend_entries())

    def apply_theme(self) -> None:
        palette = self.palette()
        background = palette.base().color()
        text = palette.text().color()
        self.layout_widget.setBackground(background)
        for title, plot in self.plots.items():
            for axis in ("left", "bottom"):
                ax = plot.getAxis(axis)
                ax.setPen(pg.mkPen(text))
                ax.setTextPen(pg.mkPen(text))
            plot.setTitle(title, color=text.name(), size="10pt")
        self.legend.set_entries(self.legend_entries(), text)

    def changeEvent(self, event) -> None:  # light/dark switch follows the application palette
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self.apply_theme()
        super().changeEvent(event)

    def export_image(self, path: str, titles: list[str] | None = None, scale: float = 3.0) -> bool:
        """Save the charts ``titles`` (None: all) with the legend row as PNG at ``scale`` times screen resolution,
        or as SVG when ``path`` ends in .svg (``chart_export``)."""
        from dpostudio.ui.metrics.chart_export import export_charts

        self.flush()
        return export_charts(self, path, titles, scale)

    def export_png(self, path: str) -> bool:
        return self.export_image(path)

    # ---- hover readout ----------------------------------------------------------------------------
    def _on_mouse(self, args) -> None:
        pos: QPointF = args[0]
        for title, plot in self.plots.items():
            if not plot.sceneBoundingRect().contains(pos):
                continue
            x = plot.vb.mapSceneToView(pos).x()
            values: dict[str, list[tuple[str, float]]] = {}
            at = None
            for (run_id, metric), item in self.items.items():
                if chart_of(metric) != title or item.xData is None or not len(item.xData):
                    continue
                xs, ys = item.xData, item.yData
                i = int(np.clip(np.searchsorted(xs, x), 0, len(xs) - 1))
                if i > 0 and abs(xs[i - 1] - x) < abs(xs[i] - x):
                    i -= 1
                at = xs[i] if at is None or abs(xs[i] - x) < abs(at - x) else at
                values.setdefault(run_id, []).append((str(item.opts.get("name", metric)), float(ys[i])))
            names = self.run_names() if len(self.run_order) > 1 else {}
            self.readout.emit(readout_text(title, self.x_axis, at, values, names))
            return
