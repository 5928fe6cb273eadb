"""The TrainerCallback that turns TRL's hooks into the engine's events.

Events are plain dicts with a ``type``; their kinds, fields and TRL's metric names are documented (as
TypedDicts and constants) in ``event_types``, which imports nothing heavy.

This callback emits ``log``, ``eval``, ``summary`` and ``checkpoint`` events; the engine emits the others
(``started``, ``stage``, ``resumed``, the end events) and, after each ``log`` and ``eval`` event, the ``finding``
events its diagnostics raise from that record (see ``engine.Diagnostics``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from transformers import TrainerCallback

from dpostudio.core.training.event_types import (
    CHECKPOINT,
    EVAL,
    LOG,
    SUMMARY,
    SUMMARY_KEYS,
    TrainingEvent,
    is_eval_metric,
)

EventFn = Callable[[TrainingEvent], None]


class EngineCallback(TrainerCallback):
    """Reports logs/evals/checkpoints as events and stops cooperatively when ``cancel`` is set."""

    def __init__(self, emit: EventFn, cancel: threading.Event):
        self.emit = emit
        self.cancel = cancel
        self.cancelled = False
        self._t0: float | None = None
        self._step0 = 0

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
        return self._check_cancel(control)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self._emit_log(state, logs) == LOG:
            self._check_cancel(control)  # a stop pressed before this step was logged saves this step
        return control

    def _emit_log(self, state, logs) -> str:
        logs = dict(logs or {})
        epoch = logs.pop("epoch", state.epoch)
        step = state.global_step
        if any(is_eval_metric(k) for k in logs):
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
