"""The explorer's scoring worker: ``core.diagnostics.pair_rewards.score_pairs`` in a child process.

Scoring loads the base model and the adapter and runs PyTorch for every batch of pairs; on a thread of the GUI
process it would hold the interpreter lock and stall the window. So it runs in a child process of its own
(``ui.child_process``), which streams ``stage`` events (loading) and ``progress`` events (``done``/``total`` pairs).
Cancel sets the scoring's cancel event in the child, which stops after the current batch and returns the pairs
scored so far. ``done`` carries the ``PairScores`` (``cancelled`` set when stopped early), or None when scoring
could not start or its process died (then ``failed`` says why, in words).
"""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import Signal

from dpostudio.ui.child_process import ChildProcessWorker, serve_in_child

PROGRESS, STAGE = "progress", "stage"


class ScoreWorker(ChildProcessWorker):
    """Scores one run's pairs in a child process; its events come back as ``event(dict)`` (queued)."""

    failed = Signal(str)  # why the scoring could not start or ended, in words

    process_name = "dpostudio-pair-scores"
    label = "pair scoring"

    def __init__(self, kwargs: dict):
        super().__init__()
        self.kwargs = kwargs  # score_pairs()'s arguments but the callbacks and cancel; they must pickle

    def child_call(self):
        return score_in_child, (self.kwargs,)  # looked up now: a test may replace it

    def on_exit(self, marker: dict):
        return scores_from_dict(marker["scores"])

    def on_failure(self, message: str):
        self.failed.emit(message)
        return None


def scores_to_dict(scores) -> dict:
    """``PairScores`` as plain data that pickles (and back with ``scores_from_dict``)."""
    return {
        "run_id": scores.run_id,
        "adapter": scores.adapter,
        "beta": scores.beta,
        "skipped": scores.skipped,
        "cancelled": scores.cancelled,
        "pairs": [dataclasses.asdict(s) for s in scores],
    }


def scores_from_dict(data: dict):
    from dpostudio.core.diagnostics.pair_scores import PairScore, PairScores

    return PairScores(
        (PairScore(**pair) for pair in data["pairs"]),
        run_id=data["run_id"],
        adapter=data["adapter"],
        beta=data["beta"],
        skipped=data["skipped"],
        cancelled=data["cancelled"],
    )


def score_in_child(kwargs: dict, events, cancel) -> None:
    """Entry point of the scoring process: score the pairs, progress onto ``events``, then the scores."""
    serve_in_child(lambda emit, stop: _score(kwargs, emit, stop), events, cancel)


def _score(kwargs: dict, emit, cancel) -> dict:
    from dpostudio.cli.pairs import _quiet_libraries
    from dpostudio.core.diagnostics.pair_rewards import score_pairs

    _quiet_libraries()
    scores = score_pairs(
        **kwargs,
        cancel=cancel,
        on_progress=lambda done, total: emit({"type": PROGRESS, "done": done, "total": total}),
        on_stage=lambda message, fraction: emit({"type": STAGE, "message": message, "fraction": fraction}),
    )
    return {"scores": scores_to_dict(scores)}
