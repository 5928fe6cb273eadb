"""Events the engine reports, and the TrainerCallback that turns TRL's hooks into them.

Every event is a plain dict with a ``type``:

  started     run_id, run_dir, config (dict), device, precision, device_reason, model, resumed_from_step
  stage       message, fraction (0..1) — loading the model/data before training (not written to the log)
  resumed     from_step, checkpoint
  log         step, max_steps, epoch, metrics (TRL names: loss, grad_norm, learning_rate, rewards/chosen,
              rewards/rejected, rewards/margins, rewards/accuracies, logps/*, ...), elapsed_s, eta_s
  eval        step, epoch, metrics (TRL names with the ``eval_`` prefix: eval_loss, eval_rewards/accuracies, ...)
  checkpoint  step, path
  summary     step, metrics (train_runtime, train_loss, ...)
  finished    step, adapter_dir, message
  cancelled   step, checkpoint, message  (resume with the run id)
  failed      step, message (in words), detail (exception type and text)
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from transformers import TrainerCallback

EventFn = Callable[[dict[str, Any]], None]
SUMMARY_KEYS = ("train_runtime", "train_samples_per_second", "train_steps_per_second", "train_loss", "total_flos")


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
        if self._emit_log(state, logs) == "log":
            self._check_cancel(control)  # a stop pressed before this step was logged saves this step
        return control

    def _emit_log(self, state, logs) -> str:
        logs = dict(logs or {})
        epoch = logs.pop("epoch", state.epoch)
        step = state.global_step
        if any(k.startswith("eval_") for k in logs):
            self.emit({"type": "eval", "step": step, "epoch": epoch, "metrics": logs})
            return "eval"
        if any(k in logs for k in SUMMARY_KEYS):
            self.emit({"type": "summary", "step": step, "metrics": logs})
            return "summary"
        elapsed = time.monotonic() - (self._t0 or time.monotonic())
        done = max(step - self._step0, 0)
        remaining = max(state.max_steps - step, 0)
        eta = elapsed / done * remaining if done else None
        self.emit({"type": "log", "step": step, "max_steps": state.max_steps, "epoch": epoch,
                   "metrics": logs, "elapsed_s": elapsed, "eta_s": eta})
        return "log"

    def on_save(self, args, state, control, **kwargs):
        path = f"{args.output_dir}/checkpoint-{state.global_step}"
        self.emit({"type": "checkpoint", "step": state.global_step, "path": path})
