"""The TrainerCallback that turns TRL's hooks into the engine's events.

Events are plain dicts with a ``type``; their kinds, fields and TRL's metric names are documented (as
TypedDicts and constants) in ``event_types``, which imports nothing heavy.

This callback emits ``log``, ``eval``, ``summary``, ``checkpoint`` and ``phase`` events; the engine emits the others
(``started``, ``stage``, ``resumed``, the end events) and, after each ``log`` and ``eval`` event, the ``finding``
events its diagnostics raise from that record (see ``run_diagnostics.Diagnostics``).

Stop is cooperative: ``cancel`` is read at each step end (a stop asked for before an evaluation that is due skips
that evaluation) and after each evaluation (the run then saves and stops without starting another step). An
evaluation cannot be cut short, so the ``phase`` events tell how far it is (batch k of n).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

from transformers import TrainerCallback

from dpostudio.core.training.event_types import (
    CHECKPOINT,
    EVAL,
    EVAL_PREFIX,
    EVALUATING,
    LOG,
    PHASE,
    SAVING,
    SUMMARY,
    SUMMARY_KEYS,
    PhaseEvent,
    TrainingEvent,
    is_eval_metric,
)

EventFn = Callable[[TrainingEvent], None]


class EngineCallback(TrainerCallback):
    """Reports logs/evals/checkpoints as events and stops cooperatively when ``cancel`` is set."""

    def __init__(self, emit: EventFn, cancel: threading.Event, eval_sets: list[str] | None = None):
        """``eval_sets``: the names of the eval datasets, in order, when TRL was given a dict of them ("eval" is the
        main split); their separate logs are merged into one eval event (see ``merge_eval_logs``)."""
        self.emit = emit
        self.cancel = cancel
        self.cancelled = False
        self._t0: float | None = None
        self._step0 = 0
        self.eval_sets = list(eval_sets or [])
        self._pending_eval: dict[str, float] = {}
        self._pending_sets: set[str] = set()
        self._eval_batches = 0  # batches of the eval set being evaluated
        self._evals_done = 0  # eval sets finished in the current evaluation

    def on_train_begin(self, args, state, control, **kwargs):
        self._t0 = time.monotonic()
        self._step0 = state.global_step

    def _check_cancel(self, control):
        if self.cancel.is_set():
            self.cancelled = True
            control.should_training_stop = True
            control.should_save = True  # checkpoint this step so the run can resume from here
        return control

    def on_step_end(self, args, state, control, **kwargs):
        self._check_cancel(control)
        if self.cancelled:
            control.should_evaluate = False  # stop asked for before a due evaluation began: save and stop now
        self._eval_batches = self._evals_done = 0
        if control.should_evaluate:
            self._phase(EVALUATING, state, 0, None)
        elif control.should_save:
            self._phase(SAVING, state, 0, 1)
        return control

    def on_prediction_step(self, args, state, control, eval_dataloader=None, **kwargs):
        self._eval_batches += 1
        try:
            total = len(eval_dataloader) if eval_dataloader is not None else None
        except TypeError:  # an iterable without a length
            total = None
        self._phase(EVALUATING, state, self._eval_batches, total)
        return control

    def on_evaluate(self, args, state, control, **kwargs):
        self._eval_batches = 0
        self._evals_done += 1
        if self._evals_done < len(self.eval_sets):
            return control  # the other eval sets follow within the same evaluation
        self._evals_done = 0
        self._check_cancel(control)  # a stop asked for during the evaluation: save this step, no further step
        if control.should_save:
            self._phase(SAVING, state, 0, 1)
        return control

    def _phase(self, phase: Literal["evaluating", "saving"], state, done: int, total: int | None) -> None:
        event: PhaseEvent = {"type": PHASE, "phase": phase, "step": state.global_step, "done": done, "total": total}
        if phase == EVALUATING and self.eval_sets and self._evals_done < len(self.eval_sets):
            name = self.eval_sets[self._evals_done]
            if name != "eval":
                event["eval_set"] = name
        self.emit(event)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self._emit_log(state, logs) == LOG:
            self._check_cancel(control)  # a stop pressed before this step was logged saves this step
        return control

    def _emit_log(self, state, logs) -> str:
        logs = dict(logs or {})
        epoch = logs.pop("epoch", state.epoch)
        step = state.global_step
        if any(is_eval_metric(k) for k in logs):
            if self.eval_sets:
                set_name, renamed = rename_eval_log(logs, self.eval_sets)
                self._pending_eval.update(renamed)
                self._pending_sets.add(set_name)
                if not self._pending_sets.issuperset(self.eval_sets):
                    return EVAL  # the other sets' logs follow within the same evaluation
                logs, self._pending_eval, self._pending_sets = self._pending_eval, {}, set()
            self.emit({"type": EVAL, "step": step, "epoch": epoch, "metrics": logs})
            return EVAL
        if any(k in logs for k in SUMMARY_KEYS):
            self.emit({"type": SUMMARY, "step": step, "metrics": logs})
            return SUMMARY
        elapsed = time.monotonic() - (self._t0 or time.monotonic())
        done = max(step - self._step0, 0)
        remaining = max(state.max_steps - step, 0)
        eta = elapsed / done * remaining if done else None
        self.emit(
            {
                "type": LOG,
                "step": step,
                "max_steps": state.max_steps,
                "epoch": epoch,
                "metrics": logs,
                "elapsed_s": elapsed,
                "eta_s": eta,
            }
        )
        return LOG

    def on_save(self, args, state, control, **kwargs):
        path = f"{args.output_dir}/checkpoint-{state.global_step}"
        self.emit({"type": CHECKPOINT, "step": state.global_step, "path": path})


def rename_eval_log(logs: dict, eval_sets: list[str]) -> tuple[str, dict]:
    """One of the logs TRL writes per eval dataset when given ``{name: Dataset}``, with the keys the engine uses.

    Trainer.evaluate prefixes that set's own metrics (loss, runtime, ...) with ``eval_<name>_``; DPOTrainer.log
    adds its reward/logp metrics as plain ``eval_<metric>``. The set is the one whose ``eval_<name>_`` keys appear.
    Its metrics become ``eval_<name>_<metric>``, except the main split ("eval"), whose metrics keep the plain
    ``eval_<metric>`` names they have when TRL is given a single dataset."""
    set_name = next(  # speed_metrics always logs eval_<name>_runtime; TRL's own keys never carry the set's name
        (n for n in eval_sets if f"{EVAL_PREFIX}{n}_runtime" in logs),
        next((n for n in eval_sets if f"{EVAL_PREFIX}{n}_loss" in logs), eval_sets[0]),
    )
    own = f"{EVAL_PREFIX}{set_name}_"
    out_prefix = EVAL_PREFIX if set_name == "eval" else own
    renamed = {}
    for key, value in logs.items():
        if key.startswith(own):
            renamed[out_prefix + key[len(own) :]] = value
        elif key.startswith(EVAL_PREFIX):
            renamed[out_prefix + key[len(EVAL_PREFIX) :]] = value
        else:
            renamed[key] = value
    return set_name, renamed
