"""What past runs tell the Training pane before a new one starts: which run Resume continues (and from which step),
which runs' settings can be trained again, and how long a step took on this machine.

``scan_history()`` reads the run folders (run.json, config.toml, metrics.jsonl) and is meant to run off the GUI
thread. ``estimate_duration()`` turns the step times of past runs into a rough figure for a new config, scaled by
the work per step (pairs × length); with no comparable past run it says the time is unknown rather than guess.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from dpostudio.core.training.event_types import CANCELLED, FAILED, INTERRUPTED, LOG, RESUMED


@dataclass(frozen=True)
class PastRun:
    """One run of the history, as the "Train again" menu lists it."""

    run_id: str
    name: str
    status: str
    step: int | None  # how far it got (the last logged step)
    max_steps: int | None
    model: str
    dataset: str

    def describe(self) -> str:
        steps = f"step {self.step}" if self.step else "no steps"
        if self.step and self.max_steps:
            steps = f"step {self.step}/{self.max_steps}"
        return f"{self.name} · {self.status} · {steps} · {self.model}"


@dataclass(frozen=True)
class ResumeOffer:
    """The run Resume continues and where: its state, how far it got and the checkpoint it restarts from."""

    run_id: str
    name: str
    status: str
    step: int | None
    checkpoint_step: int

    def describe(self) -> str:
        how = {
            CANCELLED: "was stopped",
            FAILED: "failed",
            INTERRUPTED: "was interrupted (its training process ended)",
        }.get(self.status, self.status)
        at = f" at step {self.step}" if self.step else ""
        return f"Run {self.name} {how}{at} — Resume continues from its checkpoint at step {self.checkpoint_step}."


@dataclass(frozen=True)
class StepTiming:
    """How long a step of a past run took on this machine (from the records of its first session)."""

    run_id: str
    model: str
    device: str
    work_per_step: int  # pairs × max length per optimizer step
    seconds_per_step: float


@dataclass
class History:
    runs: list[PastRun] = field(default_factory=list)
    resumable: ResumeOffer | None = None
    timings: list[StepTiming] = field(default_factory=list)
    train_rows: dict[tuple[Any, Any], int] = field(default_factory=dict)  # (dataset, first_n) -> training rows


def _work(config: dict[str, Any]) -> int:
    return (
        int(config.get("per_device_batch_size") or 1)
        * int(config.get("gradient_accumulation_steps") or 1)
        * int(config.get("max_length") or 256)
    )


def step_timing(run, config: dict[str, Any], info: dict[str, Any]) -> StepTiming | None:
    """The seconds per step of ``run``'s first session (before any resume), from its last log record there."""
    last = None
    for event in run.events():
        if event.get("type") == RESUMED:
            break
        if event.get("type") == LOG and event.get("step") and isinstance(event.get("elapsed_s"), (int, float)):
            last = event
    if last is None or not info.get("device") or last["elapsed_s"] <= 0:
        return None
    return StepTiming(
        run.id, str(config.get("model", "")), str(info["device"]), _work(config), last["elapsed_s"] / last["step"]
    )


def scan_history(limit: int = 30) -> History:
    """The ``limit`` newest runs, the newest one Resume can continue, and the step times runs recorded."""
    from dpostudio.core.training.runs import list_runs

    history = History()
    for run in list_runs()[:limit]:
        info = run.info()
        status = run.status(info)
        try:
            config = run.config().to_dict()
        except Exception:  # an unreadable config: the run cannot be trained again, nor timed
            config = {}
        logs = [e for e in run.events() if e.get("type") == LOG]
        step = logs[-1]["step"] if logs else info.get("step")
        if config:
            history.runs.append(
                PastRun(
                    run.id,
                    str(info.get("name") or run.id),
                    status,
                    step,
                    logs[-1].get("max_steps") if logs else config.get("max_steps"),
                    str(config.get("model", "")),
                    str(config.get("dataset", "")),
                )
            )
            timing = step_timing(run, config, info)
            if timing is not None:
                history.timings.append(timing)
            if isinstance(info.get("train_rows"), int):
                history.train_rows.setdefault((config.get("dataset"), config.get("first_n")), info["train_rows"])
        if history.resumable is None and run.resumable(status):
            checkpoint = run.latest_checkpoint()
            if checkpoint is not None:
                at = int(checkpoint.name.rsplit("-", 1)[-1])
                history.resumable = ResumeOffer(
                    run.id,
                    str(info.get("name") or run.id),
                    status,
                    max(step or 0, at),  # it got at least as far as its checkpoint
                    at,
                )
    return history


@dataclass(frozen=True)
class DurationEstimate:
    seconds: float | None  # None: unknown
    words: str


def format_duration(seconds: float) -> str:
    seconds = max(int(round(seconds)), 1)
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def planned_steps(config: dict[str, Any], train_rows: int | None) -> int | None:
    """Optimizer steps the config will run: its max steps, else epochs over ``train_rows`` (None: not known yet)."""
    if config.get("max_steps"):
        return int(config["max_steps"])
    if not train_rows:
        return None
    per_step = int(config.get("per_device_batch_size") or 1) * int(config.get("gradient_accumulation_steps") or 1)
    return max(1, math.ceil(math.ceil(train_rows / per_step) * float(config.get("num_train_epochs") or 1.0)))


def estimate_duration(history: History, config: dict[str, Any], device: str) -> DurationEstimate:
    """Roughly how long ``config`` will train on ``device``, from past runs of the same model there."""
    model = str(config.get("model", ""))
    same = [t for t in history.timings if t.model == model and t.device == device]
    steps = planned_steps(config, history.train_rows.get((config.get("dataset"), config.get("first_n"))))
    if not same:
        return DurationEstimate(
            None,
            f"Time: unknown — no past run of this model on {device.upper()} to measure from. "
            "The progress bar shows an estimate after the first steps.",
        )
    # the newest comparable run, its step time scaled by the work per step (pairs × length)
    timing = same[0]
    per_step = timing.seconds_per_step * _work(config) / max(timing.work_per_step, 1)
    if steps is None:
        return DurationEstimate(
            None,
            f"Time: about {format_duration(per_step)} per step on {device.upper()} (from run {timing.run_id}); "
            "the number of steps is known once the data is loaded.",
        )
    total = per_step * steps
    return DurationEstimate(
        total,
        f"Time: roughly {format_duration(total)} for {steps} steps on {device.upper()} "
        f"(from the step times of run {timing.run_id}; evaluations and saving add to it).",
    )
