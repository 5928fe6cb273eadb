"""The findings markers on the training charts.

Each diagnostics finding (``core.diagnostics``) is drawn as a dashed vertical line at the step where it began, on
the charts that show its pattern (``FINDING_CHARTS``), coloured by severity and labelled with its kind (prefixed
with the run's short label once several runs are shown); labels on one chart are staggered so they do not overlap.
"""

from __future__ import annotations

from collections.abc import Callable

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QPen

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


def marker_pen(finding: Finding, highlighted: bool = False) -> QPen:
    """A finding marker's dashed pen in its severity's colour, thicker when highlighted."""
    pen = QPen(QColor(severity_color(finding.severity)))
    pen.setCosmetic(True)
    pen.setWidthF(3.0 if highlighted else 1.4)
    pen.setStyle(Qt.PenStyle.DashLine)
    return pen


class FindingMarkers:
    """The finding markers drawn on a set of plots: one line per (run, kind) and chart the kind is marked on."""

    def __init__(self, plots: dict[str, pg.PlotItem]) -> None:
        self.plots = plots
        self.lines: dict[tuple[str, str], list[tuple[str, pg.InfiniteLine]]] = {}  # (run, kind) -> (chart, line)
        self.highlighted: tuple[str, str] | None = None

    def on(self, title: str) -> list[tuple[str, str, float]]:
        """(run, kind, x) of the markers drawn on one chart."""
        return [
            (run_id, kind, float(line.value()))
            for (run_id, kind), lines in self.lines.items()
            for chart, line in lines
            if chart == title
        ]

    def highlight(self, key: tuple[str, str] | None, findings: dict[str, dict[str, Finding]]) -> None:
        """Draw the markers of the finding ``key`` (run, kind) thicker, the others as usual (None: none thicker)."""
        self.highlighted = key
        for shown, lines in self.lines.items():
            finding = findings.get(shown[0], {}).get(shown[1])
            if finding is not None:
                for _chart, line in lines:
                    line.setPen(marker_pen(finding, shown == self.highlighted))

    def remove(self, key: tuple[str, str]) -> None:
        for chart, line in self.lines.pop(key, []):
            self.plots[chart].removeItem(line)

    def remove_run(self, run_id: str) -> None:
        for key in [k for k in self.lines if k[0] == run_id]:
            self.remove(key)
        if self.highlighted and self.highlighted[0] == run_id:
            self.highlighted = None

    def rebuild(
        self,
        shown: list[tuple[str, Finding]],
        short_labels: dict[str, str] | None,
        x_of: Callable[[str, float], float | None],
    ) -> None:
        """Replace every marker with those of ``shown`` (run, finding), at ``x_of(run, step)`` (None: not drawn);
        ``short_labels`` (run -> label) prefix the marker labels when several runs are shown."""
        for key in list(self.lines):
            self.remove(key)
        per_chart: dict[str, int] = {}
        for run_id, finding in sorted(shown, key=lambda item: item[1].step):
            x = x_of(run_id, finding.step)
            if x is None:
                continue
            label = finding_label(finding.kind)
            if short_labels is not None:
                label = f"{short_labels[run_id]} · {label}"
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
                    pen=marker_pen(finding, (run_id, finding.kind) == self.highlighted),
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
            self.lines[(run_id, finding.kind)] = lines
