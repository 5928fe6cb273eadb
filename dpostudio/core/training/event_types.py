"""The training vocabulary in one light module: event kinds, their fields, run states and TRL's metric names.

Events stay plain dicts at run time (they cross a multiprocessing queue and are written to ``metrics.jsonl``);
the TypedDicts below are their documented shape, for readers and type checkers. This module imports nothing
heavy (no torch, no transformers, no Qt), so the CLI, the UI and the run folder code can all use it.

Every event has a ``type``:

  started     run_id, run_dir, config (dict), device, precision, device_reason, model, resumed_from_step
  stage       message, fraction (0..1) — the long phases before training: importing and loading the model,
              preparing (tokenizing) the data (not written to the log)
  phase       phase ("evaluating" | "saving"), step, done, total (None while unknown), eval_set (optional) — a long
              phase inside training with its own progress: evaluation batches, writing a checkpoint. It lasts
              until the ``eval`` (evaluating) or ``checkpoint`` (saving) event; not written to the log.
  resumed     from_step, checkpoint
  log         step, max_steps, epoch, metrics (TRL names, see below), elapsed_s, eta_s
  eval        step, epoch, metrics (TRL names with the ``eval_`` prefix)
  checkpoint  step, path
  summary     step, metrics (train_runtime, train_loss, ...)
  finding     step (of the log/eval record that raised or updated it), finding (``Finding.to_dict()`` of
              ``core.diagnostics``: kind, step where the pattern began, title, evidence, meaning, advice, severity,
              last_step, numbers). Each kind is raised once per run; a later event with the same kind updates it.
  finished    step, adapter_dir, message
  cancelled   step, checkpoint, message  (resume with the run id), reason (optional: "pruned" when a sweep's
              pruner stopped the run after an evaluation; run.json then has ``stop_reason`` "pruned")
  failed      step, message (in words), checkpoint, detail (exception type and text; optional)

The three end events share their names with the run states they leave in ``run.json``.
"""

from __future__ import annotations

from collections.abc import Container
from typing import Any, Final, Literal, TypedDict

# ---- event kinds -------------------------------------------------------------------------------------
STARTED: Final = "started"
STAGE: Final = "stage"
RESUMED: Final = "resumed"
LOG: Final = "log"
EVAL: Final = "eval"
CHECKPOINT: Final = "checkpoint"
SUMMARY: Final = "summary"
FINISHED: Final = "finished"
CANCELLED: Final = "cancelled"
FAILED: Final = "failed"
FINDING: Final = "finding"  # a diagnostics finding raised (or updated) at a step: see core.diagnostics
PHASE: Final = "phase"  # a long phase inside training (evaluating, saving a checkpoint), with its progress

# ---- phases (``phase`` events) -----------------------------------------------------------------------
EVALUATING: Final = "evaluating"
SAVING: Final = "saving"
PHASES: Final = (EVALUATING, SAVING)

# ---- run states (``Run.status()``) -------------------------------------------------------------------
CREATED: Final = "created"  # the folder exists; training has not started yet
RUNNING: Final = "running"  # a live process is training it
INTERRUPTED: Final = "interrupted"  # marked running, but its process is gone (killed, crashed): resumable
UNKNOWN: Final = "unknown"  # run.json is missing or unreadable
END_STATES: Final = (FINISHED, CANCELLED, FAILED)  # also the kinds of the final event
RESUMABLE_STATES: Final = (CANCELLED, FAILED, INTERRUPTED)  # resumable when a complete checkpoint exists
STATES: Final = (CREATED, RUNNING, INTERRUPTED, FINISHED, CANCELLED, FAILED, UNKNOWN)
PRUNED: Final = "pruned"  # why a cancelled run stopped: a sweep's pruner (run.json ``stop_reason``, event ``reason``)

# ---- TRL's metric names (DPOTrainer logs; evaluation adds the ``eval_`` prefix) ----------------------
LOSS: Final = "loss"
GRAD_NORM: Final = "grad_norm"
LEARNING_RATE: Final = "learning_rate"
REWARDS_CHOSEN: Final = "rewards/chosen"
REWARDS_REJECTED: Final = "rewards/rejected"
REWARDS_MARGINS: Final = "rewards/margins"
REWARDS_ACCURACIES: Final = "rewards/accuracies"
LOGPS_CHOSEN: Final = "logps/chosen"
LOGPS_REJECTED: Final = "logps/rejected"
LOGITS_CHOSEN: Final = "logits/chosen"
LOGITS_REJECTED: Final = "logits/rejected"
EVAL_PREFIX: Final = "eval_"


def eval_name(metric: str) -> str:
    """The name TRL gives ``metric`` when it is measured on the evaluation split."""
    return EVAL_PREFIX + metric


def is_eval_metric(name: str) -> bool:
    return name.startswith(EVAL_PREFIX)


# Extra eval sets (``RunConfig.extra_eval_sets``) log as ``eval_<set>_<metric>``; these names would read as the
# main split's own metrics (eval_aux_loss, eval_num_tokens, eval_mean_token_accuracy, ...), so no set may take them.
RESERVED_EVAL_SET_NAMES: Final = ("eval", "train", "test", "aux", "num", "mean", "entropy", "samples", "steps")


def split_eval_metric(name: str, known: Container[str]) -> tuple[str | None, str]:
    """``(set, eval_<metric>)`` for an extra eval set's metric ``eval_<set>_<metric>`` whose ``eval_<metric>`` is in
    ``known``; ``(None, name)`` for anything else (the main split's own metrics included)."""
    if not name.startswith(EVAL_PREFIX) or name in known:
        return None, name
    rest = name[len(EVAL_PREFIX) :]
    for i, char in enumerate(rest):
        if char == "_" and i and rest[:i] not in RESERVED_EVAL_SET_NAMES and EVAL_PREFIX + rest[i + 1 :] in known:
            return rest[:i], EVAL_PREFIX + rest[i + 1 :]
    return None, name


def extra_eval_sets_in(metrics: dict[str, Any]) -> list[str]:
    """The extra eval sets an eval record holds, in its order (each logs ``eval_<set>_loss``)."""
    main_loss = EVAL_PREFIX + LOSS
    names = []
    for key in metrics:
        if key.startswith(EVAL_PREFIX) and key.endswith("_" + LOSS) and key != main_loss:
            name = key[len(EVAL_PREFIX) : -len(LOSS) - 1]
            if name and name not in RESERVED_EVAL_SET_NAMES:
                names.append(name)
    return names


EVAL_LOSS: Final = eval_name(LOSS)
EVAL_REWARDS_CHOSEN: Final = eval_name(REWARDS_CHOSEN)
EVAL_REWARDS_REJECTED: Final = eval_name(REWARDS_REJECTED)
EVAL_REWARDS_MARGINS: Final = eval_name(REWARDS_MARGINS)
EVAL_REWARDS_ACCURACIES: Final = eval_name(REWARDS_ACCURACIES)
EVAL_LOGPS_CHOSEN: Final = eval_name(LOGPS_CHOSEN)
EVAL_LOGPS_REJECTED: Final = eval_name(LOGPS_REJECTED)
EVAL_LOGITS_CHOSEN: Final = eval_name(LOGITS_CHOSEN)
EVAL_LOGITS_REJECTED: Final = eval_name(LOGITS_REJECTED)

# the Trainer's end-of-training summary (a ``summary`` event, not a ``log`` one)
TRAIN_RUNTIME: Final = "train_runtime"
TRAIN_SAMPLES_PER_SECOND: Final = "train_samples_per_second"
TRAIN_STEPS_PER_SECOND: Final = "train_steps_per_second"
TRAIN_LOSS: Final = "train_loss"
TOTAL_FLOS: Final = "total_flos"
SUMMARY_KEYS: Final = (TRAIN_RUNTIME, TRAIN_SAMPLES_PER_SECOND, TRAIN_STEPS_PER_SECOND, TRAIN_LOSS, TOTAL_FLOS)

Metrics = dict[str, float]


# ---- event shapes ------------------------------------------------------------------------------------
class StartedEvent(TypedDict):
    type: Literal["started"]
    run_id: str
    run_dir: str
    config: dict[str, Any]
    device: str
    precision: str
    device_reason: str
    model: str
    resumed_from_step: int | None


class StageEvent(TypedDict):
    type: Literal["stage"]
    message: str
    fraction: float


class _PhaseEventBase(TypedDict):
    type: Literal["phase"]
    phase: Literal["evaluating", "saving"]
    step: int  # the training step the phase follows
    done: int  # batches evaluated so far (evaluating); 0 or 1 (saving)
    total: int | None  # None while unknown (before the first evaluation batch)


class PhaseEvent(_PhaseEventBase, total=False):
    eval_set: str  # the extra eval set being evaluated (absent for the main split)


class ResumedEvent(TypedDict):
    type: Literal["resumed"]
    from_step: int | None
    checkpoint: str


class LogEvent(TypedDict):
    type: Literal["log"]
    step: int
    max_steps: int
    epoch: float | None
    metrics: Metrics
    elapsed_s: float
    eta_s: float | None


class EvalEvent(TypedDict):
    type: Literal["eval"]
    step: int
    epoch: float | None
    metrics: Metrics


class CheckpointEvent(TypedDict):
    type: Literal["checkpoint"]
    step: int
    path: str


class SummaryEvent(TypedDict):
    type: Literal["summary"]
    step: int
    metrics: Metrics


class FindingEvent(TypedDict):
    type: Literal["finding"]
    step: int
    finding: dict[str, Any]  # Finding.to_dict() (core.diagnostics.findings)


class FinishedEvent(TypedDict):
    type: Literal["finished"]
    step: int
    adapter_dir: str
    message: str


class _CancelledEventBase(TypedDict):
    type: Literal["cancelled"]
    step: int
    checkpoint: str | None
    message: str


class CancelledEvent(_CancelledEventBase, total=False):
    reason: Literal["pruned"]  # a sweep's pruner stopped the run (absent for a stop asked for by a person)


class _FailedEventBase(TypedDict):
    type: Literal["failed"]
    step: int
    message: str
    checkpoint: str | None


class FailedEvent(_FailedEventBase, total=False):
    detail: str  # exception type and text, when an unexpected exception ended the run


EndEvent = FinishedEvent | CancelledEvent | FailedEvent
TrainingEvent = (
    StartedEvent
    | StageEvent
    | PhaseEvent
    | ResumedEvent
    | LogEvent
    | EvalEvent
    | CheckpointEvent
    | SummaryEvent
    | FindingEvent
    | FinishedEvent
    | CancelledEvent
    | FailedEvent
)
EVENT_TYPES: Final = (
    STARTED,
    STAGE,
    PHASE,
    RESUMED,
    LOG,
    EVAL,
    CHECKPOINT,
    SUMMARY,
    FINDING,
    FINISHED,
    CANCELLED,
    FAILED,
)
