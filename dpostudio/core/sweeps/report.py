"""Reading a sweep: the top-runs table (as a W&B sweep report ranks runs), CSV export, parameter importance and a
status summary. Everything here reads the study alone, so it works for a sweep whose trials ran on other machines.

Table rows are plain dicts with the columns of ``COLUMNS`` (and any other swept field after them): trial, run_id,
state, value (the objective), eval_loss, eval_accuracy, then the trial's run settings (its swept values, else the
sweep's base values), and message.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dpostudio.core.sweeps.spec import MINIMIZE, SweepError, objective_words
from dpostudio.core.sweeps.store import (
    LAST_EVAL_ACCURACY,
    LAST_EVAL_LOSS,
    MESSAGE,
    RUN_ID,
    Sweep,
    budget_left,
    counted,
    outcome_of,
    retries,
    safe_url,
    trial_seconds,
)

SETTING_COLUMNS = ("learning_rate", "beta", "gradient_accumulation_steps", "per_device_batch_size", "max_steps")
COLUMNS = ("trial", "run_id", "state", "value", "eval_loss", "eval_accuracy", *SETTING_COLUMNS)
SORT_KEYS = {"eval_loss": ("eval_loss", False), "eval_accuracy": ("eval_accuracy", True), "value": ("value", None)}
HEADERS = {
    "trial": "TRIAL",
    "run_id": "RUN",
    "state": "STATE",
    "value": "VALUE",
    "eval_loss": "EVAL LOSS",
    "eval_accuracy": "EVAL ACC",
    "learning_rate": "LR",
    "beta": "BETA",
    "gradient_accumulation_steps": "ACCUM",
    "per_device_batch_size": "BATCH",
    "max_steps": "STEPS",
}


def columns(sweep: Sweep) -> list[str]:
    """The table's columns: the fixed ones, then any other swept field."""
    extra = [p.name for p in sweep.spec.space if p.name not in COLUMNS]
    return [*COLUMNS, *extra, "message"]


def rows(sweep: Sweep) -> list[dict[str, Any]]:
    """One row per trial, by trial number."""
    from optuna.trial import TrialState

    trials = sweep.trials()
    retried = retries(trials)
    base = sweep.spec.base
    out = []
    for trial in sorted(trials, key=lambda t: t.number):
        outcome = outcome_of(trial)
        if outcome is None:
            state = "running" if trial.state == TrialState.RUNNING else "waiting"
        else:
            state = outcome
        if trial.number in retried:
            state = f"{state} (retried as trial {retried[trial.number]})"
        row: dict[str, Any] = {
            "trial": trial.number,
            "run_id": trial.user_attrs.get(RUN_ID),
            "state": state,
            "value": trial.value if trial.state == TrialState.COMPLETE else None,
            "eval_loss": _number(trial.user_attrs.get(LAST_EVAL_LOSS)),
            "eval_accuracy": _number(trial.user_attrs.get(LAST_EVAL_ACCURACY)),
        }
        for name in columns(sweep)[len(COLUMNS) - len(SETTING_COLUMNS) : -1]:
            row[name] = trial.params.get(name, base.get(name))
        row["message"] = trial.user_attrs.get(MESSAGE, "")
        out.append(row)
    return out


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def top(sweep: Sweep, by: str = "value", limit: int | None = None) -> list[dict[str, Any]]:
    """The trials ranked: by ``eval_loss`` (lowest first), ``eval_accuracy`` (highest first) or ``value`` (the
    sweep's objective, best first). Trials without the number come last, by trial number."""
    if by not in SORT_KEYS:
        raise SweepError(f"sort by {by!r}: expected one of {', '.join(SORT_KEYS)}")
    key, descending = SORT_KEYS[by]
    if descending is None:
        descending = sweep.spec.direction != MINIMIZE
    table = rows(sweep)

    def rank(row: dict[str, Any]) -> tuple[int, float, int]:
        value = row[key]
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return (1, 0.0, row["trial"])
        return (0, -value if descending else value, row["trial"])

    ranked = sorted(table, key=rank)
    return ranked[:limit] if limit else ranked


def to_csv(table: list[dict[str, Any]], fields: list[str], path: str | Path | None = None) -> str:
    """The table as CSV (written to ``path`` too when given)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in table:
        writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in fields})
    text = buffer.getvalue()
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


def format_value(name: str, value: Any) -> str:
    if value is None:
        return "—"
    if name in ("eval_loss", "value"):
        return f"{value:.4f}"
    if name == "eval_accuracy":
        return f"{value:.3f}"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def format_table(table: list[dict[str, Any]], fields: list[str]) -> str:
    """The table as aligned text (the message column last, unpadded)."""
    shown = [f for f in fields if f != "message"]
    cells = [[HEADERS.get(f, f.upper()) for f in shown]]
    cells += [[format_value(f, row.get(f)) for f in shown] for row in table]
    widths = [max(len(line[i]) for line in cells) for i in range(len(shown))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in cells]
    return "\n".join(lines)


def importance(sweep: Sweep) -> tuple[dict[str, float], str]:
    """Each swept field's importance to the objective (Optuna's default evaluator), with a note in words; empty
    with the reason when it cannot be said yet (fewer than two finished trials, or nothing varied)."""
    import optuna
    from optuna.trial import TrialState

    complete = sweep.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 2:
        return {}, f"importance needs at least 2 finished trials; {len(complete)} so far"
    varied = [p.name for p in sweep.spec.space if len({repr(t.params.get(p.name)) for t in complete}) > 1]
    if not varied:
        return {}, "the finished trials all share the same values, so no field can be said to matter more"
    try:
        found = optuna.importance.get_param_importances(sweep.study, params=varied)
    except (RuntimeError, ValueError) as exc:
        return {}, f"importance could not be computed: {exc}"
    return dict(found), f"share of the variation in {objective_words(sweep.spec.metric)}, over {len(complete)} trials"


@dataclass
class Status:
    """Where a sweep stands."""

    name: str
    description: str
    storage: str
    states: dict[str, int]
    counted: int
    trials_left: int | None
    seconds_used: float
    seconds_left: float | None
    best: dict[str, Any] | None

    def lines(self) -> list[str]:
        states = ", ".join(f"{n} {s}" for s, n in self.states.items()) or "no trials yet"
        budget = f"{self.counted} trials count toward the budget"
        if self.trials_left is not None:
            budget += f", {self.trials_left} to go"
        if self.seconds_left is not None:
            budget += f"; {self.seconds_used:.0f} s of trial time used, {self.seconds_left:.0f} s left"
        out = [self.description, f"storage: {self.storage}", f"trials: {states}", f"budget: {budget}"]
        if self.best:
            out.append(f"best: trial {self.best['trial']} (run {self.best['run_id']}), value {self.best['value']:.4f}")
        return out


def status(sweep: Sweep) -> Status:
    table = rows(sweep)
    states: dict[str, int] = {}
    for row in table:
        word = row["state"].split(" (")[0]
        states[word] = states.get(word, 0) + 1
    trials_left, seconds_left = budget_left(sweep)
    ranked = [r for r in top(sweep, "value") if r["value"] is not None]
    return Status(
        name=sweep.name,
        description=sweep.spec.describe(),
        storage=safe_url(sweep.url),
        states=states,
        counted=sum(map(counted, sweep.trials())),
        trials_left=trials_left,
        seconds_used=trial_seconds(sweep.trials()),
        seconds_left=seconds_left,
        best=ranked[0] if ranked else None,
    )
