"""The vocabulary of generation, ranking and loop events: plain dicts (they cross a process queue), documented here.

Every event has a ``type``; ``phase`` says which step sent it (``generate``, ``rank``, ``pairs``, ``train``,
``evaluate``)::

  stage         phase, message, fraction (0..1)        loading a model, reading files
  progress      phase, done, total, elapsed_s, eta_s   after each prompt (eta_s None until one is done)
  prompt_done   phase, index, record                   one prompt finished and saved (its record as on disk)
  prompt_marked phase, index, reason                   a prompt left out: the judge failed after its retries, or
                                                       fewer than two answers could be scored
  note          message                                something worth saying (resumed, skipped, ...)
  dataset       path, counts                           a preference dataset folder was written (counts: pairs,
                                                       prompts, ties, unjudged, ...)
  round         round, state ("started" | "step" | "finished"), step, message, row (the table row, at the end)
  train         round, event                           a training event of the round's run (``event_types``)
  finished | cancelled | failed   message, path        the end of a job or a loop

``finished``/``cancelled``/``failed`` are the same words as the run states (``event_types``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Final, TypedDict

from dpostudio.core.training.event_types import CANCELLED, FAILED, FINISHED

STAGE: Final = "stage"
PROGRESS: Final = "progress"
PROMPT_DONE: Final = "prompt_done"
PROMPT_MARKED: Final = "prompt_marked"
NOTE: Final = "note"
DATASET: Final = "dataset"
ROUND: Final = "round"
TRAIN: Final = "train"
END_TYPES: Final = (FINISHED, CANCELLED, FAILED)

GENERATE: Final = "generate"
RANK: Final = "rank"
PAIRS: Final = "pairs"
TRAINING: Final = "train"
EVALUATE: Final = "evaluate"
PHASES: Final = (GENERATE, RANK, PAIRS, TRAINING, EVALUATE)


class ProgressEvent(TypedDict):
    type: str
    phase: str
    done: int
    total: int
    elapsed_s: float
    eta_s: float | None


class PromptDoneEvent(TypedDict):
    type: str
    phase: str
    index: int
    record: dict[str, Any]


class PromptMarkedEvent(TypedDict):
    type: str
    phase: str
    index: int
    reason: str


class RoundEvent(TypedDict, total=False):
    type: str
    round: int
    state: str
    step: str
    message: str
    row: dict[str, Any]


class EndEvent(TypedDict):
    type: str
    message: str
    path: str


EventFn = Callable[[dict[str, Any]], None]
log = logging.getLogger(__name__)


def guarded(listener: EventFn | None) -> EventFn:
    """The listener, made unable to stop the work: one that raises is logged and ignored."""

    def emit(event: dict[str, Any]) -> None:
        if listener is None:
            return
        try:
            listener(event)
        except Exception:
            log.exception("event listener failed")

    return emit


class Progress:
    """``progress`` events with an ETA from the prompts done in this session (earlier sessions' do not count)."""

    def __init__(self, emit: EventFn, phase: str, total: int, done: int = 0):
        self.emit, self.phase, self.total, self.done = emit, phase, total, done
        self.start, self.session_done = time.perf_counter(), 0

    def step(self, count: int = 1) -> None:
        self.done += count
        self.session_done += count
        elapsed = time.perf_counter() - self.start
        left = max(self.total - self.done, 0)
        eta = round(elapsed / self.session_done * left, 1) if self.session_done else None
        self.emit(self.event(elapsed, eta))

    def event(self, elapsed: float = 0.0, eta: float | None = None) -> dict[str, Any]:
        return {
            "type": PROGRESS,
            "phase": self.phase,
            "done": self.done,
            "total": self.total,
            "elapsed_s": round(elapsed, 1),
            "eta_s": eta,
        }


__all__ = [
    "EventFn",
    "Progress",
    "guarded",
    "CANCELLED",
    "DATASET",
    "END_TYPES",
    "EVALUATE",
    "FAILED",
    "FINISHED",
    "GENERATE",
    "NOTE",
    "PAIRS",
    "PHASES",
    "PROGRESS",
    "PROMPT_DONE",
    "PROMPT_MARKED",
    "RANK",
    "ROUND",
    "STAGE",
    "TRAIN",
    "TRAINING",
    "EndEvent",
    "ProgressEvent",
    "PromptDoneEvent",
    "PromptMarkedEvent",
    "RoundEvent",
]
