"""A run's metric history as the diagnostics rules read it, and the small numeric tools they share.

``History`` keeps every finite value of a run's log and eval records by metric (non-finite ones and gradient spikes
are noted as they arrive); ``trend``, ``window``, ``rolling`` and friends read noisy series; ``fmt`` and ``span``
write numbers and step ranges into the findings' evidence.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dpostudio.core.diagnostics import thresholds as T
from dpostudio.core.training.event_types import (
    EVAL_LOSS,
    EVAL_PREFIX,
    EVAL_REWARDS_MARGINS,
    GRAD_NORM,
    LOSS,
    REWARDS_ACCURACIES,
    REWARDS_MARGINS,
    extra_eval_sets_in,
    is_eval_metric,
)

Point = tuple[int, float]  # (step, value)
WATCHED_FINITE = (LOSS, GRAD_NORM, REWARDS_MARGINS, EVAL_LOSS, EVAL_REWARDS_MARGINS)  # NaN/inf here is divergence


@dataclass
class Hit:
    """What a rule found: the step where the pattern began and the evidence."""

    step: int
    evidence: str
    numbers: dict[str, float] = field(default_factory=dict)
    cause: str | None = None  # a short phrase completing the kind's title (collapse says which sign it saw)


@dataclass
class History:
    """A run's metric values so far, by metric, in the order fed."""

    train: dict[str, list[Point]] = field(default_factory=dict)
    eval: dict[str, list[Point]] = field(default_factory=dict)
    bad: list[tuple[int, str, float]] = field(default_factory=list)  # (step, metric, value) of NaN/inf values
    spikes: list[tuple[int, float, float]] = field(default_factory=list)  # (step, grad norm, median before it)
    train_records: int = 0
    reference_free: bool = False  # ORPO/CPO/SimPO: rewards are β·log p of the policy alone, not against a reference

    def add(self, record: Mapping[str, Any]) -> tuple[int, bool, bool]:
        """Take one record; return (its step, whether it is an eval record, whether it raised an alarm)."""
        step = _int(record.get("step"))
        is_eval = any(isinstance(k, str) and is_eval_metric(k) for k in record)
        series = self.eval if is_eval else self.train
        alarm = False
        if not is_eval:
            self.train_records += 1
        for key, raw in record.items():
            if key in ("step", "epoch", "type") or not isinstance(key, str):
                continue
            value = _float(raw)
            if value is None:
                continue
            if not math.isfinite(value):
                if key in WATCHED_FINITE:
                    self.bad.append((step, key, value))
                    alarm = True
                continue
            if key == GRAD_NORM and not is_eval:
                alarm = self._check_spike(step, value) or alarm
            if key == REWARDS_ACCURACIES and value == 0 and _float(record.get(REWARDS_MARGINS)) == 0:
                continue  # the first log, where the policy is the reference: every pair ties, none is "right"
            series.setdefault(key, []).append((step, value))
        return step, is_eval, alarm

    def _check_spike(self, step: int, value: float) -> bool:
        before = [v for _, v in self.train.get(GRAD_NORM, [])[-T.GRAD_SPIKE_HISTORY :]]
        if len(before) < T.GRAD_SPIKE_MIN_HISTORY:
            return False
        median = statistics.median(before)
        if median > 0 and value >= T.GRAD_SPIKE_FACTOR * median:
            self.spikes.append((step, value, median))
            return True
        return False

    def due(self) -> bool:
        """Whether the trend rules should look again: every log at first, then about every 1/200 of the logs."""
        n = self.train_records
        return n <= T.FULL_CHECK_POINTS or n % math.ceil(n / T.FULL_CHECK_POINTS) == 0


# ---- numbers --------------------------------------------------------------------------------------------
def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return 0


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class Trend:
    """A least-squares line through (step, value) points."""

    slope: float
    t: float  # the slope in standard errors (±inf for a perfect line)
    start: float  # the line at the first point's step
    end: float  # the line at the last point's step

    @property
    def change(self) -> float:
        return self.end - self.start


def trend(points: list[Point]) -> Trend | None:
    n = len(points)
    if n < 3:
        return None
    xs = [float(s) for s, _ in points]
    ys = [v for _, v in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    intercept = my - slope * mx
    ssr = sum((y - intercept - slope * x) ** 2 for x, y in zip(xs, ys, strict=True))
    se = math.sqrt(ssr / (n - 2) / sxx)
    t = slope / se if se > 0 else (math.copysign(math.inf, slope) if slope else 0.0)
    return Trend(slope, t, intercept + slope * xs[0], intercept + slope * xs[-1])


def window(n: int) -> int:
    """How many logs one end of a trend averages."""
    return max(T.MIN_WINDOW, int(n * T.WINDOW_FRACTION))


def mean(points: list[Point]) -> float:
    return statistics.fmean(v for _, v in points)


def rolling(points: list[Point], k: int) -> list[tuple[int, float]]:
    """(step of the window's last point, mean of the window) for each window of ``k`` consecutive points."""
    out, total = [], 0.0
    for i, (step, value) in enumerate(points):
        total += value
        if i >= k:
            total -= points[i - k][1]
        if i >= k - 1:
            out.append((step, total / k))
    return out


def fmt(value: float) -> str:
    size = abs(value)
    spec = ".0f" if size >= 100 else ".1f" if size >= 10 else ".2f" if size >= 1 else ".3f"
    return format(value, spec)


def span(points: list[Point]) -> str:
    first, last = points[0][0], points[-1][0]
    return f"step {first}" if first == last else f"steps {first}–{last}"


def at_or_before(points: list[Point], step: int, k: int) -> list[Point]:
    return [p for p in points if p[0] <= step][-k:]


def of_steps(max_steps: int | None) -> str:
    return f" of {max_steps}" if max_steps else ""


def eval_sets(h: History) -> list[tuple[str, str]]:
    """(name, metric prefix) of each held-out set the history holds, the eval split first: ``("eval", "eval_")``,
    then ``(set, "eval_<set>_")`` for each extra eval set (each logs ``eval_<set>_loss``)."""
    return [("eval", EVAL_PREFIX)] + [(name, f"{EVAL_PREFIX}{name}_") for name in extra_eval_sets_in(h.eval)]
