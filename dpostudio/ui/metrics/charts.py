"""Live training charts with pyqtgraph.

One ``PlotDataItem`` per (run, metric) series, fed with ``setData`` from a growing numpy buffer, with peak
downsampling and clip-to-view. Points are appended as events arrive; the items are redrawn by a ~20 Hz timer,
only when something changed, never once per event.

Diagnostics findings (``core.diagnostics``) are drawn as dashed vertical markers at the step where each began,
on the charts that show the pattern; they are (re)built by the same timer when a finding arrives or changes.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QPen
from PySide6.QtWidgets import QVBoxLayout, QWidget

from dpostudio.core.diagnostics.findings import (
    BOTH_REWARDS_FALLING,
    COLLAPSE,
    INFO,
    LIKELIHOOD_DISPLACEMENT,
    LOSS_UP_ACCURACY_UP,
    NOT_LEARNING,
    OVERFITTING,
    SATURATED,
    WARNING,
    Finding,
)
from dpostudio.core.training.event_types import (
    EVAL_LOGITS_CHOSEN,
    EVAL_LOGITS_REJECTED,
    EVAL_LOGPS_CHOSEN,
    EVAL_LOGPS_REJECTED,
    EVAL_LOSS,
    EVAL_REWARDS_ACCURACIES,
    EVAL_REWARDS_CHOSEN,
    EVAL_REWARDS_MARGINS,
    EVAL_REWARDS_REJECTED,
    GRAD_NORM,
    LEARNING_RATE,
    LOGITS_CHOSEN,
    LOGITS_REJECTED,
    LOGPS_CHOSEN,
    LOGPS_REJECTED,
    LOSS,
    REWARDS_ACCURACIES,
    REWARDS_CHOSEN,
    REWARDS_MARGINS,
    REWARDS_REJECTED,
    is_eval_metric,
    split_eval_metric,
)

REDRAW_HZ = 20
# (title, [(metric key, legend label, style slot)]) — style slot 0 is the train series, 1 its eval twin, ...
CHARTS: list[tuple[str, list[tuple[str, str, int]]]] = [
    ("Loss", [(LOSS, "loss", 0), (EVAL_LOSS, "eval loss", 1)]),
    (
        "Rewards: chosen vs rejected",
        [
            (REWARDS_CHOSEN, "chosen", 0),
            (REWARDS_REJECTED, "rejected", 2),
            (EVAL_REWARDS_CHOSEN, "eval chosen", 1),
            (EVAL_REWARDS_REJECTED, "eval rejected", 3),
        ],
    ),
    ("Reward margin", [(REWARDS_MARGINS, "margin", 0), (EVAL_REWARDS_MARGINS, "eval margin", 1)]),
    ("Reward accuracy", [(REWARDS_ACCURACIES, "accuracy", 0), (EVAL_REWARDS_ACCURACIES, "eval accuracy", 1)]),
    ("Gradient norm", [(GRAD_NORM, "grad norm", 0)]),
    ("Learning rate", [(LEARNING_RATE, "learning rate", 0)]),
    (
        "Log-probabilities",
        [
            (LOGPS_CHOSEN, "chosen", 0),
            (LOGPS_REJECTED, "rejected", 2),
            (EVAL_LOGPS_CHOSEN, "eval chosen", 1),
            (EVAL_LOGPS_REJECTED, "eval rejected", 3),
        ],
    ),
    (
        "Logits (mean)",
        [
            (LOGITS_CHOSEN, "chosen", 0),
            (LOGITS_REJECTED, "rejected", 2),
            (EVAL_LOGITS_CHOSEN, "eval chosen", 1),
            (EVAL_LOGITS_REJECTED, "eval rejected", 3),
        ],
    ),
]
LOG_SCALE_CHARTS = ("Loss", "Gradient norm")
# Colours per style slot when one run is shown (train, eval, second train series, its eval twin).
SLOT_COLORS = ("#3b82f6", "#f59e0b", "#ef4444", "#a855f7")
CHOSEN_REJECTED = {"chosen": "#16a34a", "rejected": "#dc2626", "eval chosen": "#86efac", "eval rejected": "#fca5a5"}
RUN_COLORS = ("#3b82f6", "#ef4444", "#16a34a", "#f59e0b", "#a855f7", "#0891b2", "#db2777", "#65a30d", "#64748b")
SLOT_STYLES = (Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine, Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine)
METRIC_TO_CHART = {key: title for title, series in CHARTS for key, _, _ in series}
# Extra eval sets (eval_<set>_<metric>) share the chart of eval_<metric>, each set in its own dotted style and colour.
EXTRA_SET_STYLES = (Qt.PenStyle.DotLine, Qt.PenStyle.DashDotLine, Qt.PenStyle.DashDotDotLine)
EXTRA_SET_COLORS = ("#0891b2", "#db2777", "#65a30d", "#64748b")


def chart_of(metric: str) -> str | None:
    """The chart a metric is drawn on: its own, or for an extra eval set's ``eval_<set>_<metric>`` that of
    ``eval_<metric>``; None when it is not charted."""
    title = METRIC_TO_CHART.get(metric)
    if title is None:
        set_name, base = split_eval_metric(metric, METRIC_TO_CHART)
        if set_name is not None:
            title = METRIC_TO_CHART[base]
    return title


# Which charts show the pattern of each kind of finding (its marker is drawn on those), and its marker's label.
FINDING_CHARTS: dict[str, tuple[str, ...]] = {
    LIKELIHOOD_DISPLACEMENT: ("Log-probabilities", "Reward margin"),
    SATURATED: ("Reward accuracy",),
    OVERFITTING: ("Loss",),
    COLLAPSE: ("Loss", "Gradient norm"),
    NOT_LEARNING: ("Reward margin",),
    BOTH_REWARDS_FALLING: ("Rewards: chosen vs rejected",),
    LOSS_UP_ACCURACY_UP: ("Loss", "Reward accuracy"),
}
FINDING_LABELS = {
    LIKELIHOOD_DISPLACEMENT: "displacement",
    SATURATED: "saturated",
    OVERFITTING: "overfitting",
    COLLAPSE: "collapse",
    NOT_LEARNING: "not learning",
    BOTH_REWARDS_FALLING: "rewards falling",
    LOSS_UP_ACCURACY_UP: "loss & accuracy up",
}
SEVERITY_COLORS = {WARNING: "#e8590c", INFO: "#0c8599"}  # readable on light and dark backgrounds, white text on them
MARKER_LABEL_POSITIONS = (0.08, 0.22, 0.36, 0.50)  # label heights along the line (0 = bottom), staggered per plot


def finding_charts(kind: str) -> tuple[str, ...]:
    """The charts a finding of ``kind`` is marked on (an unknown kind goes on the loss chart)."""
    return FINDING_CHARTS.get(kind, ("Loss",))


def finding_label(kind: str) -> str:
    return FINDING_LABELS.get(kind, kind.replace("_", " "))


def severity_color(severity: str) -> str:
    return SEVERITY_COLORS.get(severity, SEVERITY_COLORS[WARNING])


def short_run_label(label: str, limit: int = 18) -> str:
    """A run's label short enough to prefix a marker or a findings row (the folder's timestamp dropped)."""
    label = re.sub(r"^\d{8}-\d{6}-?", "", label) or label
    return label if len(label) <= limit else label[: limit - 1] + "…"


def distinct_run_labels(labels: list[str], limit: int = 14) -> list[str]:
    """Short labels that tell overlaid runs apart: timestamps dropped, and the leading words they all share cut
    (``ultrafeedback-b0.1``, ``ultrafeedback-b0.5`` -> ``b0.1``, ``b0.5``)."""
    names = [short_run_label(label, 10_000) for label in labels]
    if len(names) > 1:
        prefix = os.path.commonprefix(names)
        cut = max(prefix.rfind(sep) for sep in "-_ /:") + 1
        if cut and all(len(name) > cut for name in names):
            names = [name[cut:] for name in names]
    return [short_run_label(name, limit) for name in names]


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
        self.plots: dict[str, pg.PlotItem] = {}
        self.legends: dict[str, pg.LegendItem] = {}
        for i, (title, _) in enumerate(CHARTS):
            plot = self.layout_widget.addPlot(row=i // columns, col=i % columns, title=title)
            plot.showGrid(x=True, y=True, alpha=0.25)
            plot.setMenuEnabled(True)
            plot.setDownsampling(auto=True, mode="peak")
            plot.setClipToView(True)
            left = plot.getAxis("left")
            left.setWidth(58)  # room for labels such as 0.0001 or -0.05 before the first data arrives
            left.enableAutoSIPrefix(False)
            self.legends[title] = plot.addLegend(offset=(-6, 6), labelTextSize="8pt")
            self.plots[title] = plot
        self.buffers: dict[tuple[str, str], SeriesBuffer] = {}
        self.items: dict[tuple[str, str], pg.PlotDataItem] = {}
        self.run_order: list[str] = []
        self.run_labels: dict[str, str] = {}
        self.extra_sets: list[str] = []  # extra eval sets seen, in order: each keeps its own style
        self.dirty: set[tuple[str, str]] = set()
        self.findings: dict[str, dict[str, Finding]] = {}  # run -> kind -> its newest finding
        self.markers: dict[tuple[str, str], list[tuple[str, pg.InfiniteLine]]] = {}  # (run, kind) -> (chart, line)
        self.highlighted: tuple[str, str] | None = None
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
        for key in [k for k in self.markers if k[0] == run_id]:
            self._remove_marker(key)
        if self.highlighted and self.highlighted[0] == run_id:
            self.highlighted = None
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

    def markers_on(self, title: str) -> list[tuple[str, str, float]]:
        """(run, kind, x) of the finding markers drawn on one chart (after a redraw)."""
        return [
            (run_id, kind, float(line.value()))
            for (run_id, kind), lines in self.markers.items()
            for chart, line in lines
            if chart == title
        ]

    def highlight_finding(self, run_id: str, kind: str) -> None:
        """Draw one finding's markers thicker (the one picked in the findings strip); the others as usual."""
        self.highlighted = (run_id, kind) if kind in self.findings.get(run_id, {}) else None
        for key, lines in self.markers.items():
            finding = self.findings.get(key[0], {}).get(key[1])
            if finding is not None:
                for _chart, line in lines:
                    line.setPen(self._marker_pen(finding, key == self.highlighted))

    def _marker_pen(self, finding: Finding, highlighted: bool = False) -> QPen:
        pen = QPen(QColor(severity_color(finding.severity)))
        pen.setCosmetic(True)
        pen.setWidthF(3.0 if highlighted else 1.4)
        pen.setStyle(Qt.PenStyle.DashLine)
        return pen

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

    def _remove_marker(self, key: tuple[str, str]) -> None:
        for chart, line in self.markers.pop(key, []):
            self.plots[chart].removeItem(line)

    def _rebuild_markers(self) -> None:
        for key in list(self.markers):
            self._remove_marker(key)
        several = len(self.run_order) > 1
        short = self.short_labels()
        per_chart: dict[str, int] = {}
        shown = [(run_id, f) for run_id in self.run_order for f in self.findings_of(run_id)]
        for run_id, finding in sorted(shown, key=lambda item: item[1].step):
            x = self._marker_x(run_id, finding.step)
            if x is None:
                continue
            label = finding_label(finding.kind)
            if several:
                label = f"{short[run_id]} · {label}"
            color = QColor(severity_color(finding.severity))
            tip = f"step {finding.step} · {finding.title}\n{finding.evidence}"
            lines = []
            for chart in finding_charts(finding.kind):
                if chart not in self.plots:
                    continue
                index = per_chart.get(chart, 0)
                per_chart[chart] = index + 1
                position = MARKER_LABEL_POSITIONS[index % len(MARKER_LABEL_POSITIONS)]
                line = pg.InfiniteLine(
                    pos=x,
                    angle=90,
                    movable=False,
                    pen=self._marker_pen(finding, (run_id, finding.kind) == self.highlighted),
                    label=label,
                    labelOpts={"position": position, "color": "#ffffff", "fill": pg.mkBrush(color)},
                )
                line.setZValue(20)
                line.setToolTip(tip)
                if line.label is not None:
                    font = QFont()
                    font.setPointSizeF(7.5)
                    line.label.setFont(font)
                    line.label.setToolTip(tip)
                self.plots[chart].addItem(line, ignoreBounds=True)  # a marker never stretches the axes
                lines.append((chart, line))
            self.markers[(run_id, finding.kind)] = lines

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
        return item

    def _series_info(self, metric: str) -> tuple[str, str, int]:
        set_name, base = split_eval_metric(metric, METRIC_TO_CHART)
        title = METRIC_TO_CHART[base]
        for key, label, slot in dict(CHARTS)[title]:
            if key == base:
                return title, f"{set_name} {label}" if set_name else label, slot
        return title, metric, 0

    def _extra_set_index(self, metric: str) -> int | None:
        """The position of an extra eval set's metric's set among the sets shown (in order of first appearance)."""
        set_name = split_eval_metric(metric, METRIC_TO_CHART)[0]
        if set_name is None:
            return None
        if set_name not in self.extra_sets:
            self.extra_sets.append(set_name)
        return self.extra_sets.index(set_name)

    def _style_item(self, key: tuple[str, str], item: pg.PlotDataItem) -> None:
        run_id, metric = key
        title, label, slot = self._series_info(metric)
        several = len(self.run_order) > 1
        if several:
            color = RUN_COLORS[self.run_order.index(run_id) % len(RUN_COLORS)] if run_id in self.run_order else "#888"
            name = f"{self.run_labels.get(run_id, run_id)} · {label}"
        else:
            color = CHOSEN_REJECTED.get(label, SLOT_COLORS[slot % len(SLOT_COLORS)])
            name = label
        extra = self._extra_set_index(metric)
        if extra is not None and not several:
            base_label = label.split(" ", 1)[1]
            color = CHOSEN_REJECTED.get(base_label, EXTRA_SET_COLORS[extra % len(EXTRA_SET_COLORS)])
        pen = QPen(QColor(color))
        pen.setWidthF(1.6)
        pen.setCosmetic(True)
        pen.setStyle(
            SLOT_STYLES[slot % len(SLOT_STYLES)] if extra is None else EXTRA_SET_STYLES[extra % len(EXTRA_SET_STYLES)]
        )
        item.setPen(pen)
        is_eval = is_eval_metric(metric)
        item.setSymbol("o" if is_eval else None)
        item.setSymbolSize(5)
        item.setSymbolBrush(QColor(color))
        item.setSymbolPen(QColor(color))
        legend = self.legends[title]
        legend.removeItem(item)
        legend.addItem(item, name)
        item.opts["name"] = name

    def _restyle(self) -> None:
        def order(key):
            run_id, metric = key
            run_index = self.run_order.index(run_id) if run_id in self.run_order else len(self.run_order)
            return run_index, self._series_info(metric)[2]

        for key in sorted(self.items, key=order):
            self._style_item(key, self.items[key])

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
            legend = self.legends[title]
            legend.setLabelTextColor(text)
            legend.setBrush(pg.mkBrush(background.red(), background.green(), background.blue(), 200))
        self._restyle()  # re-adds legend entries so their labels take the new text colour

    def changeEvent(self, event) -> None:  # light/dark switch follows the application palette
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self.apply_theme()
        super().changeEvent(event)

    def export_png(self, path: str) -> bool:
        self.flush()
        return self.layout_widget.grab().save(path, "PNG")

    # ---- hover readout ----------------------------------------------------------------------------
    def _on_mouse(self, args) -> None:
        pos: QPointF = args[0]
        for title, plot in self.plots.items():
            if not plot.sceneBoundingRect().contains(pos):
                continue
            x = plot.vb.mapSceneToView(pos).x()
            parts = []
            for (_run_id, metric), item in self.items.items():
                if chart_of(metric) != title or item.xData is None or not len(item.xData):
                    continue
                xs, ys = item.xData, item.yData
                i = int(np.clip(np.searchsorted(xs, x), 0, len(xs) - 1))
                if i > 0 and abs(xs[i - 1] - x) < abs(xs[i] - x):
                    i -= 1
                parts.append(f"{item.opts.get('name', metric)} = {ys[i]:.4g} @ {self.x_axis} {xs[i]:g}")
            self.readout.emit(f"{title}: " + ("; ".join(parts) if parts else "no data"))
            return
