"""Running a sweep's trials, one at a time in this process: each trial is a normal training run.

``run_sweep(sweep, on_event, cancel)`` first accounts for trials a dead process left behind (``store.recover``),
then asks Optuna for trials until the budget is spent, the grid is done or ``cancel`` is set. A trial's run is the
sweep's base configuration with the trial's values, named ``<sweep>-t<number>`` and tagged in run.json with
``sweep`` and ``sweep_trial``. Every evaluation is reported to the trial (``engine.train``'s ``on_eval``); when the
pruner says so the run stops after that evaluation (checkpoint kept) and ends *pruned*: in Optuna as PRUNED, in
the run folder as cancelled with ``stop_reason`` "pruned", its partial curves kept. A trial's value is its run's
objective metric at the last evaluation.

Listeners get the training events of each trial's run (``event_types``) and a ``trial`` event when a trial starts
and when it ends: ``{"type": "trial", "trial", "state" (running | finished | pruned | failed | stopped),
"params", "run_id" (None before the run exists), "value" (at the end), "message"}``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

from dpostudio.core.sweeps.spec import MINIMIZE, SweepError, objective_words
from dpostudio.core.sweeps.store import (
    FAILED,
    FINISHED,
    LAST_EVAL_ACCURACY,
    LAST_EVAL_LOSS,
    MESSAGE,
    OUTCOME,
    PRUNED,
    RUN_ID,
    STOPPED,
    Sweep,
    budget_left,
    outcome_of,
    owner_attrs,
    recover,
    retry,
    retry_note,
)
from dpostudio.core.training.event_types import (
    CANCELLED,
    EVAL,
    EVAL_LOSS,
    EVAL_REWARDS_ACCURACIES,
    STARTED,
)
from dpostudio.core.training.event_types import FINISHED as RUN_FINISHED
from dpostudio.core.training.event_types import PRUNED as STOP_PRUNED

TRIAL = "trial"  # the kind of the sweep's own events
RUNNING = "running"
SweepEventFn = Callable[[dict[str, Any]], None]


class TrialFailed(Exception):
    """Internal: the trial's run failed (or made no valid run); the message says why."""


class TrialStopped(Exception):
    """Internal: the trial was stopped by a person; the sweep stops after it."""


def run_sweep(
    sweep: Sweep,
    on_event: SweepEventFn | None = None,
    cancel: threading.Event | None = None,
    *,
    max_trials: int | None = None,
) -> list[int]:
    """Run trials until the budget is spent (or ``max_trials`` more have run, or ``cancel`` is set); returns the
    numbers of the trials run. ``cancel`` stops the running trial at its next step (its values are queued again
    for the next ``resume``)."""
    import optuna

    cancel = cancel or threading.Event()
    listener = on_event or (lambda event: None)
    notes = recover(sweep)
    for note in notes:
        listener({"type": "note", "message": note})
    left_trials, left_seconds = budget_left(sweep)
    if left_trials == 0 or left_seconds == 0 or cancel.is_set():
        return []
    done: list[int] = []

    def after_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        done.append(trial.number)
        if outcome_of(trial) == STOPPED:  # this process ended it, so this process queues it again, once
            for note in retry_note(trial.number, STOPPED, retry(study, trial)):
                listener({"type": "note", "message": note})
        for note in recover(sweep):  # a worker elsewhere may have died (its heartbeat stopped)
            listener({"type": "note", "message": note})
        trials, seconds = budget_left(sweep)
        if trials == 0 or seconds == 0 or cancel.is_set():
            study.stop()

    sweep.study.optimize(
        lambda trial: run_trial(sweep, trial, listener, cancel),
        n_trials=max_trials,
        timeout=left_seconds,
        callbacks=[after_trial],
        catch=(TrialFailed, TrialStopped),
        gc_after_trial=True,
    )
    return done


def run_trial(sweep: Sweep, trial: Any, listener: SweepEventFn, cancel: threading.Event) -> float:
    """Train trial ``trial``'s run and return its value (raise TrialPruned, TrialFailed or TrialStopped)."""
    import optuna

    from dpostudio.core.training.engine import train

    spec = sweep.spec
    for key, value in owner_attrs().items():
        trial.set_user_attr(key, value)
    params = {p.name: p.suggest(trial) for p in spec.space}
    state: dict[str, Any] = {"run_id": None}

    def tell(outcome: str, message: str, value: float | None = None) -> None:
        trial.set_user_attr(OUTCOME, outcome)
        trial.set_user_attr(MESSAGE, message)
        event = {"type": TRIAL, "trial": trial.number, "state": outcome, "params": params}
        listener(event | {"run_id": state["run_id"], "value": value, "message": message})

    listener(
        {
            "type": TRIAL,
            "trial": trial.number,
            "state": RUNNING,
            "params": params,
            "run_id": None,
            "value": None,
            "message": "",
        }
    )
    try:
        config = spec.trial_config(params, trial.number)
    except SweepError as exc:
        tell(FAILED, str(exc))
        raise TrialFailed(str(exc)) from None

    def on_run_event(event: Any) -> None:
        if event["type"] == STARTED:
            state["run_id"] = event["run_id"]
            trial.set_user_attr(RUN_ID, event["run_id"])
        listener(dict(event) | {"trial": trial.number})

    def on_eval(step: int, metrics: dict[str, float]) -> str | None:
        for attr, metric in ((LAST_EVAL_LOSS, EVAL_LOSS), (LAST_EVAL_ACCURACY, EVAL_REWARDS_ACCURACIES)):
            if isinstance(metrics.get(metric), (int, float)):
                trial.set_user_attr(attr, float(metrics[metric]))
        value = metrics.get(spec.metric)
        if not isinstance(value, (int, float)):
            return None
        words = objective_words(spec.metric)
        if not math.isfinite(value):
            return f"{words} is {value} at step {step}: the run diverged"
        trial.report(float(value), step)
        if trial.should_prune():
            return f"{words} {value:.4g} at step {step} is {prune_words(sweep)}"
        return None

    try:
        run = train(
            config, on_run_event, cancel, on_eval=on_eval, tags={"sweep": spec.name, "sweep_trial": trial.number}
        )
    except KeyboardInterrupt:
        tell(STOPPED, "stopped by Ctrl-C")
        raise
    state["run_id"] = run.id
    info = run.info()
    status = run.status(info)
    message = str(info.get("message") or "")
    if status == RUN_FINISHED:
        records = [r for r in run.metrics(EVAL) if isinstance(r.get(spec.metric), (int, float))]
        if not records:
            text = f"the run logged no {spec.metric}, so it cannot be ranked (does the base config evaluate?)"
            tell(FAILED, text)
            raise TrialFailed(text)
        value = float(records[-1][spec.metric])
        if not math.isfinite(value):
            text = f"{objective_words(spec.metric)} is {value}: the run diverged"
            tell(FAILED, text)
            raise TrialFailed(text)
        tell(FINISHED, message, value)
        return value
    if status == CANCELLED and info.get("stop_reason") == STOP_PRUNED:
        tell(PRUNED, message)
        raise optuna.TrialPruned(message)
    if status == CANCELLED:  # the run says "resume with: dpostudio train --resume"; a sweep queues it again instead
        message = f"{message.split(';')[0]}; 'dpostudio sweep resume {spec.name}' runs these values again"
        tell(STOPPED, message)
        sweep.study.stop()
        raise TrialStopped(message)
    tell(FAILED, message or f"the run ended {status}")
    raise TrialFailed(message)


def prune_words(sweep: Sweep) -> str:
    worse = "higher" if sweep.spec.direction == MINIMIZE else "lower"
    if sweep.spec.pruner == "halving":
        return f"{worse} than the best share of earlier trials at that step (successive halving)"
    return f"{worse} than the median of earlier trials at that step"
