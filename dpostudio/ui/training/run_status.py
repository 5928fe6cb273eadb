"""What the Training pane's progress bar and status line say, derived from the run's state each time it changes.

``RunStatus`` keeps the state (the step, the phase under way — loading, evaluating k of n batches, saving —,
whether a stop was asked for, the form's blocking problem, the run's end) and ``render()`` writes both widgets from
it, so no text outlives the state it describes: a stop pressed during an evaluation says it takes effect after
the evaluation, with how far it is; a fixed form field clears "Fix this first"; an end says how to go on in words.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QLabel, QProgressBar

from dpostudio.core.training.event_types import (
    CANCELLED,
    CHECKPOINT,
    EVAL,
    EVALUATING,
    FINISHED,
    LOG,
    LOSS,
    PHASE,
    REWARDS_ACCURACIES,
    REWARDS_MARGINS,
    SAVING,
    STAGE,
    STARTED,
)


def format_eta(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "…"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def checkpoint_step(path: Any) -> int | None:
    """The step of a ``checkpoint-<step>`` folder path, or None."""
    try:
        return int(str(path).rstrip("/\\").rsplit("-", 1)[-1]) if path else None
    except ValueError:
        return None


class RunStatus:
    """The state behind the progress bar and the status line of the Training pane."""

    def __init__(self, progress: QProgressBar, label: QLabel):
        self.progress, self.label = progress, label
        self.reset()
        self.form_error: str | None = None
        self.render()

    def reset(self) -> None:
        self.running = False
        self.resuming: str | None = None
        self.run_line = ""  # "Run X on CPU · fp32 (...)"
        self.stage: tuple[str, float] | None = None  # loading before training: (message, fraction)
        self.phase: dict[str, Any] | None = None  # evaluating / saving inside training
        self.step = 0
        self.max_steps = 0
        self.eta: float | None = None
        self.metrics_line = ""
        self.stopping = False
        self.final: dict[str, Any] | None = None

    # ---- state changes ----------------------------------------------------------------------------
    def start(self, resume: str | None = None) -> None:
        self.reset()
        self.running, self.resuming = True, resume
        self.stage = ("resuming: loading the model and the data" if resume else "loading the model and the data", 0.0)
        self.render()

    def stop_requested(self) -> None:
        self.stopping = True
        self.render()

    def set_form_error(self, error: str | None) -> None:
        self.form_error = error
        self.render()

    def on_event(self, event: dict) -> None:
        kind = event.get("type")
        if kind == STARTED:
            origin = f", resuming from step {event['resumed_from_step']}" if event.get("resumed_from_step") else ""
            self.run_line = (
                f"Run {event.get('run_id')} on {str(event.get('device', '')).upper()} · "
                f"{event.get('precision')} ({event.get('device_reason')}){origin}"
            )
        elif kind == STAGE:
            message = str(event.get("message", ""))
            self.stage = None if message == "training" else (message, float(event.get("fraction") or 0.0))
        elif kind == PHASE:
            self.stage = None
            self.phase = dict(event)
        elif kind == LOG:
            self.stage = None
            self.step, self.max_steps = int(event.get("step") or 0), int(event.get("max_steps") or 0)
            self.eta = event.get("eta_s")
            if self.phase is not None and self.step > int(self.phase.get("step") or 0):
                self.phase = None  # a later step: the phase is over
            metrics = event.get("metrics") or {}
            if LOSS in metrics:
                self.metrics_line = (
                    f"Step {self.step}: loss {metrics[LOSS]:.4f}, margin "
                    f"{metrics.get(REWARDS_MARGINS, float('nan')):+.3f}, accuracy "
                    f"{metrics.get(REWARDS_ACCURACIES, float('nan')):.2f}"
                )
        elif kind in (EVAL, CHECKPOINT):
            ended = {EVAL: EVALUATING, CHECKPOINT: SAVING}[kind]  # the event that closes each phase
            if self.phase is None or self.phase.get("phase") != ended:
                return
            self.phase = None
        else:
            return
        self.render()

    def finish(self, final: dict, resumable_from: int | None) -> None:
        self.running, self.stopping, self.stage, self.phase = False, False, None, None
        self.final = {**final, "resumable_from": resumable_from}
        self.render()

    # ---- what it says -----------------------------------------------------------------------------
    def _phase_words(self) -> str:
        phase = self.phase or {}
        if phase.get("phase") == EVALUATING:
            on = f" the eval set '{phase['eval_set']}'" if phase.get("eval_set") else " the held-out pairs"
            return f"evaluating{on}{self._batches()}"
        return "saving a checkpoint"

    def _batches(self) -> str:
        phase = self.phase or {}
        return f" ({phase.get('done', 0)}/{phase['total']} batches)" if phase.get("total") else ""

    def text(self) -> str:
        if self.final is not None and not self.running:
            return self._end_text()
        if not self.running:
            return f"Fix this first: {self.form_error}" if self.form_error else "Ready."
        at = f" at step {self.phase.get('step')}" if self.phase else ""
        if self.stopping:
            if self.stage is not None:
                return (
                    f"Stopping once loading is done (now: {self.stage[0]}). No checkpoint exists before the first "
                    "step, so this run cannot be resumed."
                )
            if self.phase is not None and self.phase.get("phase") == EVALUATING:
                on = f" on '{self.phase['eval_set']}'" if self.phase.get("eval_set") else ""
                return f"Stopping after the evaluation{on}{at}{self._batches()}, then saving a checkpoint…"
            if self.phase is not None:
                return f"Stopping: saving a checkpoint{at}…"
            return "Stopping after the step in progress, then saving a checkpoint…"
        if self.stage is not None:
            return f"Preparing: {self.stage[0]}…"
        if self.phase is not None:
            words = self._phase_words()
            return f"{words[0].upper()}{words[1:]}{at} of {self.max_steps or '?'}…"
        return self.metrics_line or self.run_line or "Training…"

    def _end_text(self) -> str:
        final = self.final or {}
        kind, step, resume = final.get("type"), final.get("step") or 0, final.get("resumable_from")
        then = f" — Resume continues from the checkpoint at step {resume}." if resume else ""
        if kind == FINISHED:
            return f"Finished after {step} steps; the adapter is saved in the run's folder."
        if kind == CANCELLED:
            if resume:
                return f"Stopped at step {step}{then}"
            return f"Stopped at step {step}, before any checkpoint was saved; Train starts a new run."
        return f"Failed: {final.get('message') or 'the run ended with an error'}{then}"

    def render(self) -> None:
        bar = self.progress
        if self.final is not None and not self.running:
            kind, step = self.final.get("type"), int(self.final.get("step") or 0)
            total = self.max_steps or max(step, 1)
            bar.setRange(0, total)
            bar.setValue(total if kind == FINISHED else min(step, total))
            if kind == FINISHED:
                bar.setFormat(f"finished · {step} steps")
            else:
                bar.setFormat(f"stopped at step {step}" if kind == CANCELLED else "failed")
        elif not self.running:
            bar.setRange(0, 1)
            bar.setValue(0)
            bar.setFormat("idle")
        elif self.stage is not None:
            bar.setRange(0, 1000)
            bar.setValue(int(1000 * self.stage[1]))
            bar.setFormat(self._fit(self.stage[0]))
        elif self.phase is not None:
            batches = int(self.phase.get("total") or 0)
            if self.phase.get("phase") == EVALUATING and batches:
                bar.setRange(0, batches)
                bar.setValue(min(int(self.phase.get("done") or 0), batches))
                bar.setFormat(f"eval %v/%m batches · step {self.phase.get('step')}/{self.max_steps or '?'}")
            else:
                bar.setRange(0, 0)  # busy: no count to show
                bar.setFormat(self._fit(self._phase_words()))
        elif self.max_steps > 0:
            bar.setRange(0, self.max_steps)
            bar.setValue(min(self.step, self.max_steps))
            bar.setFormat(f"step {self.step} / {self.max_steps} · ETA {format_eta(self.eta)}")
        if self.stopping and self.running:
            bar.setFormat(self._fit("stopping · " + bar.format()))
        self.label.setText(self.text())

    def _fit(self, text: str) -> str:
        """``text`` shortened in the middle to the bar's width (the line below the bar has it in full), so that
        a long phase such as "reference log-probs (train pairs new to the cache): 16 of 32" keeps its count and
        never wraps inside the bar. A text with Qt's placeholders (%v, %m) is short and is left whole."""
        if "%" in text:
            return text
        width = max(self.progress.width(), self.progress.minimumSizeHint().width()) - 16
        return QFontMetrics(self.progress.font()).elidedText(text, Qt.TextElideMode.ElideMiddle, max(width, 60))
