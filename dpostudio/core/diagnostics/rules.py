"""The rules behind the findings: pure functions of a run's metric history, one per kind of finding.

``History`` keeps every finite value of a run's log and eval records by metric (non-finite ones and gradient spikes
are noted as they arrive). Each rule looks at the history and returns a ``Hit`` (where the pattern began, the
evidence in words and as numbers) or None; the titles, meanings and advice live in ``findings``. The thresholds
and the reasons for their values are in ``thresholds``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dpostudio.core.diagnostics import thresholds as T
from dpostudio.core.training.event_types import (
    EVAL_LOGPS_CHOSEN,
    EVAL_LOSS,
    EVAL_REWARDS_ACCURACIES,
    EVAL_REWARDS_MARGINS,
    GRAD_NORM,
    LOGPS_CHOSEN,
    LOSS,
    REWARDS_ACCURACIES,
    REWARDS_CHOSEN,
    REWARDS_MARGINS,
    REWARDS_REJECTED,
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


def _at_or_before(points: list[Point], step: int, k: int) -> list[Point]:
    return [p for p in points if p[0] <= step][-k:]


def _of(max_steps: int | None) -> str:
    return f" of {max_steps}" if max_steps else ""


# ---- the rules ------------------------------------------------------------------------------------------
def likelihood_displacement(h: History, max_steps: int | None) -> Hit | None:
    parts: list[str] = []
    numbers: dict[str, float] = {}
    starts: list[int] = []
    lp, mg = h.train.get(LOGPS_CHOSEN, []), h.train.get(REWARDS_MARGINS, [])
    if len(lp) >= T.MIN_POINTS and len(mg) >= T.MIN_POINTS:
        k = window(len(lp))
        first, last = mean(lp[:k]), mean(lp[-k:])
        m_first, m_last = mean(mg[:k]), mean(mg[-k:])
        tl, tm = trend(lp), trend(mg)
        chosen = h.train.get(REWARDS_CHOSEN, [])
        # rewards/chosen compares each batch with the starting model on the same answers, so unlike the log-probs
        # it does not swing with the batches' lengths: it confirms the fall is real
        below_reference = not chosen or mean(chosen[-k:]) <= -T.BELOW_REFERENCE
        if (
            tl is not None
            and tm is not None
            and tl.t <= -T.CLEAR_T
            and _clear_drop(first, last)
            and tm.t >= T.CLEAR_T
            and m_last - m_first >= T.MARGIN_MIN_RISE
            and below_reference
        ):
            before_fall = rolling(lp, k)[: len(lp) - 2 * k + 1]  # the windows that end before the last one
            starts.append(max(before_fall, key=lambda p: p[1])[0] if before_fall else lp[0][0])
            text = (
                f"logps/chosen fell from {fmt(first)} ({span(lp[:k])}) to {fmt(last)} ({span(lp[-k:])}) while "
                f"rewards/margins rose from {fmt(m_first)} to {fmt(m_last)}"
            )
            if chosen:
                text += f"; rewards/chosen is {fmt(mean(chosen[-k:]))} (below the starting model)"
            parts.append(text)
            numbers.update(
                {"logps/chosen from": first, "logps/chosen to": last, "margins from": m_first, "margins to": m_last}
            )
    elp, emg = h.eval.get(EVAL_LOGPS_CHOSEN, []), dict(h.eval.get(EVAL_REWARDS_MARGINS, []))
    if len(elp) >= 2:
        peak = max(elp[:-1], key=lambda p: p[1])
        latest = elp[-1]
        if (
            _clear_drop(peak[1], latest[1])
            and peak[0] in emg
            and latest[0] in emg
            and emg[latest[0]] - emg[peak[0]] >= T.MARGIN_MIN_RISE
        ):
            starts.append(peak[0])
            parts.append(
                f"eval_logps/chosen fell from {fmt(peak[1])} (step {peak[0]}) to {fmt(latest[1])} (step {latest[0]}) "
                f"while eval_rewards/margins rose from {fmt(emg[peak[0]])} to {fmt(emg[latest[0]])}"
            )
            numbers.update({"eval_logps/chosen from": peak[1], "eval_logps/chosen to": latest[1]})
    return Hit(min(starts), "; ".join(parts), numbers) if parts else None


def _clear_drop(first: float, last: float) -> bool:
    drop = first - last
    return drop >= T.DISPLACEMENT_MIN_DROP and drop >= T.DISPLACEMENT_MIN_REL_DROP * abs(first)


def saturated(h: History, max_steps: int | None) -> Hit | None:
    if not max_steps:
        return None
    limit = T.SATURATED_EARLY_FRACTION * max_steps
    w = T.SATURATED_WINDOW
    acc, margins = h.train.get(REWARDS_ACCURACIES, []), dict(h.train.get(REWARDS_MARGINS, []))
    for i in range(len(acc) - w + 1):
        if acc[i][0] > limit:
            break
        streak = acc[i : i + w]
        if mean(streak) < T.SATURATED_ACCURACY:
            continue
        later = acc[i + w :][-w:]
        if len(later) < w or mean(later) < T.SATURATED_HOLD:
            return None  # wait for more logs (or the streak was luck)
        m_then = [margins[s] for s, _ in streak if s in margins]
        m_now = [margins[s] for s, _ in later if s in margins]
        if not m_then or not m_now or statistics.fmean(m_now) - statistics.fmean(m_then) < T.MARGIN_MIN_RISE:
            return None
        m0, m1 = statistics.fmean(m_then), statistics.fmean(m_now)
        return Hit(
            streak[0][0],
            f"rewards/accuracies was {fmt(mean(streak))} on {w} logs in a row from step {streak[0][0]} "
            f"(of {max_steps}) and is still {fmt(mean(later))} ({span(later)}), while rewards/margins kept "
            f"climbing from {fmt(m0)} to {fmt(m1)}",
            {"accuracy": mean(streak), "from step": streak[0][0], "margins from": m0, "margins to": m1},
        )
    ea, emg = h.eval.get(EVAL_REWARDS_ACCURACIES, []), dict(h.eval.get(EVAL_REWARDS_MARGINS, []))
    for j, (step, value) in enumerate(ea):
        if step > limit:
            break
        if value < T.SATURATED_ACCURACY or step not in emg:
            continue
        for later_step, later_value in ea[j + 1 :]:
            if later_value >= T.SATURATED_HOLD and emg.get(later_step, -math.inf) - emg[step] >= T.MARGIN_MIN_RISE:
                return Hit(
                    step,
                    f"eval_rewards/accuracies was {fmt(value)} at step {step} (of {max_steps}) and "
                    f"{fmt(later_value)} at step {later_step}, while eval_rewards/margins climbed from "
                    f"{fmt(emg[step])} to {fmt(emg[later_step])}",
                    {"eval accuracy": value, "margins from": emg[step], "margins to": emg[later_step]},
                )
        break
    return None


def overfitting(h: History, max_steps: int | None) -> Hit | None:
    parts: list[str] = []
    numbers: dict[str, float] = {}
    starts: list[int] = []
    el = h.eval.get(EVAL_LOSS, [])
    j = len(el) - 1
    while j > 0 and el[j - 1][1] < el[j][1]:
        j -= 1
    if el and len(el) - 1 - j >= T.OVERFIT_RISING_EVALS and el[-1][1] - el[j][1] >= T.OVERFIT_MIN_RISE:
        low = el[j]
        train_loss = [p for p in h.train.get(LOSS, []) if p[0] >= low[0]]
        tl = trend(train_loss)
        if tl is not None and tl.slope < 0 and tl.t <= -T.WEAK_T:
            starts.append(low[0])
            parts.append(
                f"eval_loss rose at {len(el) - 1 - j} evaluations in a row, from {fmt(low[1])} (step {low[0]}) to "
                f"{fmt(el[-1][1])} (step {el[-1][0]}), while the training loss fell from about {fmt(tl.start)} "
                f"to {fmt(tl.end)}"
            )
            numbers.update(
                {
                    "eval_loss low": low[1],
                    "eval_loss now": el[-1][1],
                    "train loss from": tl.start,
                    "train loss to": tl.end,
                }
            )
    ea, ta = h.eval.get(EVAL_REWARDS_ACCURACIES, []), h.train.get(REWARDS_ACCURACIES, [])
    if len(ea) >= 2:
        gaps = []
        for step, value in ea[-2:]:
            recent = _at_or_before(ta, step, T.ACC_WINDOW)
            gaps.append((step, mean(recent) - value, mean(recent), value) if len(recent) >= T.MIN_WINDOW else None)
        before, now = gaps
        if before and now and now[1] >= T.OVERFIT_ACC_GAP and before[1] >= T.OVERFIT_ACC_GAP_BEFORE:
            starts.append(before[0])
            parts.append(
                f"training accuracy {fmt(now[2])} vs evaluation accuracy {fmt(now[3])} at step {now[0]} "
                f"(a gap of {now[1]:.0%}; {before[1]:.0%} at step {before[0]})"
            )
            numbers.update({"train accuracy": now[2], "eval accuracy": now[3], "accuracy gap": now[1]})
    return Hit(min(starts), "; ".join(parts), numbers) if parts else None


def collapse(h: History, max_steps: int | None) -> Hit | None:
    causes: list[tuple[int, int, str, str]] = []  # (priority: 0 is worst, step, title phrase, evidence)
    numbers: dict[str, float] = {}
    if h.bad:
        step, name, value = h.bad[0]
        shown = "NaN" if math.isnan(value) else str(value)  # not a number, or ±inf
        more = f" ({len(h.bad) - 1} more NaN or infinite values after it)" if len(h.bad) > 1 else ""
        causes.append((0, step, f"{name} is {shown}", f"{name} was {shown} at step {step}{more}"))
        numbers["non-finite values"] = len(h.bad)
    loss = h.train.get(LOSS, [])
    early = T.COLLAPSE_EARLY_FRACTION * max_steps if max_steps else None
    for i, (end_step, value) in enumerate(rolling(loss, T.COLLAPSE_FLOOR_WINDOW)):
        first_step = loss[i][0]
        if (early is not None and first_step > early) or (early is None and i >= 3 * T.MIN_POINTS):
            break
        if max(v for _, v in loss[i : i + T.COLLAPSE_FLOOR_WINDOW]) <= T.COLLAPSE_LOSS_FLOOR:
            causes.append(
                (
                    1,
                    first_step,
                    "the loss fell to about 0 early",
                    f"loss was ≤ {T.COLLAPSE_LOSS_FLOOR} from step {first_step} to {end_step}{_of(max_steps)}",
                )
            )
            numbers["loss"] = value
            break
    margins = h.train.get(REWARDS_MARGINS, [])
    for end_step, value in rolling(margins, T.MIN_WINDOW):
        if value >= T.COLLAPSE_MARGIN:
            latest = mean(margins[-T.MIN_WINDOW :])
            causes.append(
                (
                    1,
                    end_step,
                    "the margins are exploding",
                    f"rewards/margins reached {fmt(value)} by step {end_step} (now {fmt(latest)})",
                )
            )
            numbers["margins"] = latest
            break
    if len(h.spikes) >= T.GRAD_SPIKE_COUNT:
        step, value, median = h.spikes[0]
        steps = ", ".join(str(s) for s, _, _ in h.spikes[:5]) + (", …" if len(h.spikes) > 5 else "")
        more = f"; {len(h.spikes)} spikes in all (steps {steps})"
        causes.append(
            (
                2,
                step,
                "gradient spikes",
                f"grad_norm jumped to {fmt(value)} at step {step}, {value / median:.0f}× the run's median "
                f"{fmt(median)}{more}",
            )
        )
        numbers["grad spikes"] = len(h.spikes)
    if not causes:
        return None
    causes.sort(key=lambda c: (c[1], c[0]))
    worst = min(causes, key=lambda c: (c[0], c[1]))
    return Hit(causes[0][1], "; ".join(c[3] for c in causes), numbers, cause=worst[2])


def not_learning(h: History, max_steps: int | None) -> Hit | None:
    margins = h.train.get(REWARDS_MARGINS, [])
    if not max_steps or len(margins) < T.MIN_POINTS or margins[-1][0] < T.NOT_LEARNING_FRACTION * max_steps:
        return None
    recent = margins[-window(len(margins)) :]
    level = mean(recent)
    if max(abs(v) for _, v in rolling(margins, len(recent))) >= T.NOT_LEARNING_MARGIN:
        return None  # the margins moved away from 0 at some point (or are away now): not flat
    done = margins[-1][0] / max_steps
    text = f"rewards/margins averaged {level:+.3f} over {span(recent)} with {done:.0%} of {max_steps} steps done"
    acc = h.train.get(REWARDS_ACCURACIES, [])
    if acc:
        text += f"; rewards/accuracies {fmt(mean(acc[-len(recent) :]))}"
    return Hit(margins[0][0], text, {"margins": level, "progress": done})


def both_rewards_falling(h: History, max_steps: int | None) -> Hit | None:
    rc, rr = h.train.get(REWARDS_CHOSEN, []), h.train.get(REWARDS_REJECTED, [])
    if len(rc) < T.MIN_POINTS or len(rr) < T.MIN_POINTS:
        return None
    k = window(len(rc))
    c0, c1, r0, r1 = mean(rc[:k]), mean(rc[-k:]), mean(rr[:k]), mean(rr[-k:])
    tc, tr = trend(rc), trend(rr)
    if tc is None or tr is None or not (tc.t <= -T.CLEAR_T and tr.t <= -T.CLEAR_T):
        return None
    if not (c1 <= -T.BELOW_REFERENCE and r1 <= -T.BELOW_REFERENCE and r1 < c1):
        return None
    start = rc[0][0]
    for end_step, value in reversed(rolling(rc, k)):
        if value >= 0:
            break
        start = end_step
    return Hit(
        start,
        f"rewards/chosen went from {fmt(c0)} ({span(rc[:k])}) to {fmt(c1)} ({span(rc[-k:])}) and rewards/rejected "
        f"from {fmt(r0)} to {fmt(r1)}: the rejected answers fall faster, so the margin is {fmt(c1 - r1)}",
        {"rewards/chosen from": c0, "rewards/chosen to": c1, "rewards/rejected from": r0, "rewards/rejected to": r1},
    )


def loss_up_accuracy_up(h: History, max_steps: int | None) -> Hit | None:
    parts: list[str] = []
    numbers: dict[str, float] = {}
    starts: list[int] = []
    loss, acc = h.train.get(LOSS, []), h.train.get(REWARDS_ACCURACIES, [])
    if len(loss) >= 4 * T.MIN_POINTS and len(acc) >= 2 * T.MIN_POINTS:  # the last half: ≥ 2 × MIN_POINTS logs,
        m = len(loss) // 2  # as the loss's noise is large next to the rises that matter
        tl, ta = trend(loss[-m:]), trend(acc[-m:])
        if (
            tl is not None
            and ta is not None
            and tl.t >= T.CLEAR_T
            and tl.change >= T.LOSS_MIN_RISE
            and ta.t >= T.WEAK_T  # accuracy on a small batch is coarse: the loss's clear rise is the signal
            and ta.change >= T.ACC_MIN_RISE
        ):
            starts.append(loss[-m][0])
            parts.append(
                f"over {span(loss[-m:])} the loss trend rose from {fmt(tl.start)} to {fmt(tl.end)} while "
                f"rewards/accuracies rose from {fmt(ta.start)} to {fmt(ta.end)}"
            )
            numbers.update({"loss from": tl.start, "loss to": tl.end, "accuracy from": ta.start, "accuracy to": ta.end})
    el, ea = h.eval.get(EVAL_LOSS, []), dict(h.eval.get(EVAL_REWARDS_ACCURACIES, []))
    j = len(el) - 1
    while j > 0 and el[j - 1][1] < el[j][1]:
        j -= 1
    if el and len(el) - 1 - j >= T.OVERFIT_RISING_EVALS and el[-1][1] - el[j][1] >= T.OVERFIT_MIN_RISE:
        low, latest = el[j], el[-1]
        if low[0] in ea and latest[0] in ea and ea[latest[0]] - ea[low[0]] >= T.ACC_MIN_RISE:
            starts.append(low[0])
            parts.append(
                f"eval_loss rose from {fmt(low[1])} (step {low[0]}) to {fmt(latest[1])} (step {latest[0]}) while "
                f"eval_rewards/accuracies rose from {fmt(ea[low[0]])} to {fmt(ea[latest[0]])}"
            )
            numbers.update({"eval_loss from": low[1], "eval_loss to": latest[1]})
    return Hit(min(starts), "; ".join(parts), numbers) if parts else None


Rule = Callable[[History, int | None], Hit | None]
