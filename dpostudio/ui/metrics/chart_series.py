"""The charts' table and how their series are named and styled.

Which chart each metric is drawn on (extra eval sets' ``eval_<set>_<metric>`` share the chart of ``eval_<metric>``),
a series' legend label and style slot, the colours and pen styles per slot, per run and per extra eval set, and the
short run labels that tell overlaid runs apart.
"""

from __future__ import annotations

import os
import re

from PySide6.QtCore import Qt

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
    split_eval_metric,
)

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
# One colour per run (the first run shown takes the first), readable on light and dark backgrounds.
RUN_COLORS = ("#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#64748b")
# One line style per series, the same in every chart and for every run; the legend row's key explains them.
# Style slots: 0 a training value (or chosen), 1 its eval twin, 2 the rejected one, 3 its eval twin.
SLOT_STYLES = (Qt.PenStyle.SolidLine, Qt.PenStyle.DotLine, Qt.PenStyle.DashLine, Qt.PenStyle.DashDotLine)
SLOT_KEYS = ("value · chosen", "eval", "rejected", "eval rejected")
# Extra eval sets (eval_<set>_<metric>) share the chart of eval_<metric>: dash-dot-dot, each set its own symbol.
EXTRA_SET_STYLE = Qt.PenStyle.DashDotDotLine
EXTRA_SET_SYMBOLS = ("s", "d", "t", "+")
METRIC_TO_CHART = {key: title for title, series in CHARTS for key, _, _ in series}


def run_color(index: int) -> str:
    """The colour of the ``index``-th run shown."""
    return RUN_COLORS[index % len(RUN_COLORS)]


def series_style(metric: str, extra_index: int | None = None) -> tuple[Qt.PenStyle, str | None, bool]:
    """(pen style, point symbol, hollow symbol) of a metric's series: training values are plain lines (chosen and
    values solid, rejected dashed), eval points have symbols (dotted; rejected dash-dot and hollow), an extra eval
    set's series are dash-dot-dot with the set's own symbol (``extra_index``)."""
    slot = series_info(metric)[2] if chart_of(metric) else 0
    rejected = slot >= 2
    if extra_index is not None:
        return EXTRA_SET_STYLE, EXTRA_SET_SYMBOLS[extra_index % len(EXTRA_SET_SYMBOLS)], rejected
    if slot % 2 == 0:
        return SLOT_STYLES[slot], None, False
    return SLOT_STYLES[slot], "o", rejected


def chart_of(metric: str) -> str | None:
    """The chart a metric is drawn on: its own, or for an extra eval set's ``eval_<set>_<metric>`` that of
    ``eval_<metric>``; None when it is not charted."""
    title = METRIC_TO_CHART.get(metric)
    if title is None:
        set_name, base = split_eval_metric(metric, METRIC_TO_CHART)
        if set_name is not None:
            title = METRIC_TO_CHART[base]
    return title


def series_info(metric: str) -> tuple[str, str, int]:
    """(chart, legend label, style slot) of a charted metric; an extra eval set's label is prefixed with the set."""
    set_name, base = split_eval_metric(metric, METRIC_TO_CHART)
    title = METRIC_TO_CHART[base]
    for key, label, slot in dict(CHARTS)[title]:
        if key == base:
            return title, f"{set_name} {label}" if set_name else label, slot
    return title, metric, 0


def extra_set_of(metric: str) -> str | None:
    """The extra eval set an ``eval_<set>_<metric>`` belongs to (None: a main train or eval metric)."""
    return split_eval_metric(metric, METRIC_TO_CHART)[0]


def extra_set_index(extra_sets: list[str], metric: str) -> int | None:
    """The position of an extra eval set's metric's set among the sets shown (in order of first appearance); a set
    not seen before is appended to ``extra_sets``."""
    set_name = split_eval_metric(metric, METRIC_TO_CHART)[0]
    if set_name is None:
        return None
    if set_name not in extra_sets:
        extra_sets.append(set_name)
    return extra_sets.index(set_name)


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


def legend_run_names(labels: list[str], limit: int = 24) -> list[str]:
    """The runs' names as the legend row shows them: elided to ``limit`` characters, and told apart by a number
    when two runs shown have the same name."""
    names = [label if len(label) <= limit else label[: limit - 1] + "…" for label in labels]
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} #{seen[name]}")
    return out
