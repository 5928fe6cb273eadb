"""The rules behind the findings: pure functions of a run's metric history, one per kind of finding.

Each rule looks at the ``History`` (``history``) and returns a ``Hit`` (where the pattern began, the evidence in
words and as numbers) or None; the titles, meanings and advice live in ``findings``. The thresholds and the reasons
for their values are in ``thresholds``. Rules that read evaluations read every held-out set of the run: the eval
split and each extra eval set (``eval_<set>_...``), since a pattern often shows only on data unlike the training
pairs.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable

from dpostudio.core.diagnostics import thresholds as T
from dpostudio.core.diagnostics.history import (
    History,
    Hit,
    at_or_before,
    eval_sets,
    fmt,
    mean,
    of_steps,
    rolling,
    span,
    trend,
    window,
)
from dpostudio.core.training.event_types import (
    EVAL_LOSS,
    EVAL_PREFIX,
    EVAL_REWARDS_ACCURACIES,
    EVAL_REWARDS_MARGINS,
    LOGPS_CHOSEN,
    LOSS,
    REWARDS_ACCURACIES,
    REWARDS_CHOSEN,
    REWARDS_MARGINS,
    REWARDS_REJECTED,
)

__all__ = ["History", "Hit", "Rule"]


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
        below_reference = h.reference_free or not chosen or mean(chosen[-k:]) <= -T.BELOW_REFERENCE
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
            if chosen and not h.reference_free:
                text += f"; rewards/chosen is {fmt(mean(chosen[-k:]))} (below the starting model)"
            parts.append(text)
            numbers.update(
                {"logps/chosen from": first, "logps/chosen to": last, "margins from": m_first, "margins to": m_last}
            )
    main_margins = dict(h.eval.get(EVAL_REWARDS_MARGINS, []))
    for name, prefix in eval_sets(h):
        elp, emg = h.eval.get(prefix + LOGPS_CHOSEN, []), dict(h.eval.get(prefix + REWARDS_MARGINS, []))
        if len(elp) < 2:
            continue
        peak = max(elp[:-1], key=lambda p: p[1])
        latest = elp[-1]
        if not _clear_drop(peak[1], latest[1], short=True):
            continue
        # the margins that rose: this set's own, else the eval split's (the model separates training-like pairs
        # better and better while the held-out set's chosen answers lose probability)
        rising = [
            (label, m)
            for label, m in ((prefix, emg), (EVAL_PREFIX, main_margins))
            if peak[0] in m and latest[0] in m and m[latest[0]] - m[peak[0]] >= T.MARGIN_MIN_RISE
        ]
        if not rising:
            continue
        label, m = rising[0]
        starts.append(peak[0])
        drop = peak[1] - latest[1]
        text = (
            f"{prefix}logps/chosen fell from {fmt(peak[1])} (step {peak[0]}) to {fmt(latest[1])} "
            f"(step {latest[0]}; {drop / abs(peak[1]):.0%} lower) while {label}rewards/margins rose from "
            f"{fmt(m[peak[0]])} to {fmt(m[latest[0]])}"
        )
        chosen_reward = dict(h.eval.get(prefix + REWARDS_CHOSEN, [])).get(latest[0])
        if chosen_reward is not None:
            text += f"; {prefix}rewards/chosen is {fmt(chosen_reward)}"
        parts.append(text if name == "eval" else f"on the held-out set '{name}': {text}")
        numbers.update({f"{prefix}logps/chosen from": peak[1], f"{prefix}logps/chosen to": latest[1]})
    return Hit(min(starts), "; ".join(parts), numbers) if parts else None


def _clear_drop(first: float, last: float, short: bool = False) -> bool:
    """Whether a summed log-prob fell clearly: by enough nats and enough of its size. With ``short``, held-out
    answers (measured on the same pairs every time, so without batch noise) may instead fall by a smaller number of
    nats that is a large share of a short answer's total."""
    drop = first - last
    if drop >= T.DISPLACEMENT_MIN_DROP and drop >= T.DISPLACEMENT_MIN_REL_DROP * abs(first):
        return True
    return short and drop >= T.DISPLACEMENT_SHORT_MIN_DROP and drop >= T.DISPLACEMENT_SHORT_REL_DROP * abs(first)


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
    # the eval split: the same pairs every time, so a near-perfect first evaluation is not luck
    ea, emg = h.eval.get(EVAL_REWARDS_ACCURACIES, []), dict(h.eval.get(EVAL_REWARDS_MARGINS, []))
    for j, (step, value) in enumerate(ea):
        if step > T.SATURATED_EVAL_EARLY_FRACTION * max_steps:
            break
        if value < T.SATURATED_EVAL_ACCURACY or step not in emg:
            continue
        for later_step, later_value in ea[j + 1 :]:
            if later_value >= T.SATURATED_EVAL_HOLD and emg.get(later_step, -math.inf) - emg[step] >= T.MARGIN_MIN_RISE:
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
    for name, prefix in eval_sets(h):
        found = _eval_loss_rising(h, prefix) or _accuracy_gap(h, prefix)
        if found is not None:
            step, text, found_numbers = found
            starts.append(step)
            parts.append(text if name == "eval" else f"on the held-out set '{name}': {text}")
            numbers.update(found_numbers)
    return Hit(min(starts), "; ".join(parts), numbers) if parts else None


def _eval_loss_rising(h: History, prefix: str) -> tuple[int, str, dict[str, float]] | None:
    """The set's eval loss rising at the last evaluations in a row while the training loss falls."""
    el = h.eval.get(prefix + LOSS, [])
    j = len(el) - 1
    while j > 0 and el[j - 1][1] < el[j][1]:
        j -= 1
    if not el or len(el) - 1 - j < T.OVERFIT_RISING_EVALS or el[-1][1] - el[j][1] < T.OVERFIT_MIN_RISE:
        return None
    low = el[j]
    tl = trend([p for p in h.train.get(LOSS, []) if p[0] >= low[0]])
    if tl is None or tl.slope >= 0 or tl.t > -T.WEAK_T:
        return None
    text = (
        f"{prefix}loss rose at {len(el) - 1 - j} evaluations in a row, from {fmt(low[1])} (step {low[0]}) to "
        f"{fmt(el[-1][1])} (step {el[-1][0]}), while the training loss fell from about {fmt(tl.start)} to "
        f"{fmt(tl.end)}"
    )
    numbers = {f"{prefix}loss low": low[1], f"{prefix}loss now": el[-1][1]}
    return low[0], text, numbers | {"train loss from": tl.start, "train loss to": tl.end}


def _accuracy_gap(h: History, prefix: str) -> tuple[int, str, dict[str, float]] | None:
    """Training accuracy well above the set's accuracy at its last two evaluations."""
    ea, ta = h.eval.get(prefix + REWARDS_ACCURACIES, []), h.train.get(REWARDS_ACCURACIES, [])
    if len(ea) < 2:
        return None
    gaps = []
    for step, value in ea[-2:]:
        recent = at_or_before(ta, step, T.ACC_WINDOW)
        gaps.append((step, mean(recent) - value, mean(recent), value) if len(recent) >= T.MIN_WINDOW else None)
    before, now = gaps
    if not (before and now and now[1] >= T.OVERFIT_ACC_GAP and before[1] >= T.OVERFIT_ACC_GAP_BEFORE):
        return None
    text = (
        f"training accuracy {fmt(now[2])} vs evaluation accuracy {fmt(now[3])} at step {now[0]} "
        f"(a gap of {now[1]:.0%}; {before[1]:.0%} at step {before[0]})"
    )
    key = "eval accuracy" if prefix == EVAL_PREFIX else f"{prefix}accuracy"
    return before[0], text, {"train accuracy": now[2], key: now[3], "accuracy gap": now[1]}


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
                    f"loss was ≤ {T.COLLAPSE_LOSS_FLOOR} from step {first_step} to {end_step}{of_steps(max_steps)}",
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
