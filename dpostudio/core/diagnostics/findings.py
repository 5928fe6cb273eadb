"""Findings about a run, raised from the same metric records the charts read.

A ``RunWatcher`` is fed every log/eval record (``{"step": int, "epoch": float, <TRL metric names>: float}``) in
step order, live or read back from ``metrics.jsonl``; ``feed`` returns the findings that became true with that
record (each kind is raised once per run, at the step where the pattern began, and may later be updated with
fresher evidence: at most every 5 % of the run, or at once when its cause changes). ``diagnose(records)`` replays
a whole run. The rules are in ``rules.py``, their thresholds (and why) in ``thresholds.py``; this module holds the
words: each kind's title, what it usually means and what to try.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dpostudio.core.data.stats import length_bias_words
from dpostudio.core.diagnostics import rules
from dpostudio.core.diagnostics import thresholds as T

FINDINGS_FILE = "findings.json"  # in the run folder, next to metrics.jsonl

# kinds (stable ids: saved in run folders, used by the app for markers and by tests)
LIKELIHOOD_DISPLACEMENT = "likelihood_displacement"
SATURATED = "saturated"
OVERFITTING = "overfitting"
COLLAPSE = "collapse"
NOT_LEARNING = "not_learning"
BOTH_REWARDS_FALLING = "both_rewards_falling"
LOSS_UP_ACCURACY_UP = "loss_up_accuracy_up"
KINDS = (
    LIKELIHOOD_DISPLACEMENT,
    SATURATED,
    OVERFITTING,
    COLLAPSE,
    NOT_LEARNING,
    BOTH_REWARDS_FALLING,
    LOSS_UP_ACCURACY_UP,
)

WARNING, INFO = "warning", "info"


@dataclass
class Finding:
    """One thing the numbers say about a run, in words."""

    kind: str  # one of KINDS
    step: int  # the step where the pattern began (chart markers go here)
    title: str  # a short line, e.g. "Likelihood displacement: both answers are being pushed down"
    evidence: str  # the numbers, e.g. "logps/chosen fell from -41.2 (step 3) to -55.8 (step 20) while ..."
    meaning: str  # what it usually means
    advice: str  # what to try
    severity: str = WARNING  # WARNING or INFO
    last_step: int | None = None  # the step of the newest record that still shows it
    numbers: dict[str, float] = field(default_factory=dict)  # the evidence as data

    def line(self) -> str:
        """One line for the CLI: ``step 12 · Likelihood displacement: ... (evidence)``."""
        return f"step {self.step} · {self.title} ({self.evidence})"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


@dataclass(frozen=True)
class _Words:
    severity: str
    title: str
    meaning: str
    advice: str


WORDS: dict[str, _Words] = {
    LIKELIHOOD_DISPLACEMENT: _Words(
        WARNING,
        "Likelihood displacement: the chosen answers are becoming less likely",
        "The margin grows mostly because the rejected answers are pushed down faster than the chosen ones, while "
        "the chosen answers lose probability too. The probability taken from both goes to other text, so the "
        "tuned model can drift towards answers nobody wrote (often longer or off-style) even though the reward "
        "curves look good.",
        "Add a supervised term on the chosen answers (RPO: loss_type 'sigmoid+sft'), which keeps them "
        "likely; or raise beta (it keeps the model closer to where it started, e.g. 0.1 → 0.3); or lower the "
        "learning rate. Pairs whose two answers are nearly identical make this worse.",
    ),
    SATURATED: _Words(
        WARNING,
        "Too easy: reward accuracy near 100 % early",
        "The model ranks every pair right almost from the start and keeps pushing the margins up. Pairs this easy "
        "are usually told apart by a surface feature (length, tone, formatting) rather than by quality, and the "
        "growing margins then teach the model that feature.",
        "Look at the length bias in the data report (are the chosen answers systematically longer?). Add harder "
        "pairs (answers closer in quality), drop pairs that differ only in style, or train for fewer steps; a "
        "higher beta limits how far the margins are pushed.",
    ),
    OVERFITTING: _Words(
        WARNING,
        "Overfitting: better on the training pairs, worse on the held-out ones",
        "The model keeps improving on the pairs it trains on but gets worse on pairs it has not seen: it is "
        "memorising the training pairs instead of learning the preference behind them. On an extra held-out set "
        "written in another style it means what the model learned does not carry over to answers worded "
        "differently: it learned the training pairs' style rather than the preference.",
        "Use the checkpoint nearest the step where this began, or train for fewer steps or epochs; lower the "
        "learning rate, raise beta, add LoRA dropout, or add more (and more varied) pairs.",
    ),
    COLLAPSE: _Words(
        WARNING,
        "Collapse or divergence",
        "Training has left its stable range. A loss that is not a number (NaN) or infinite means the numbers "
        "overflowed and nothing useful is learned from there on; a loss near 0 or huge margins early mean the "
        "model pulls the two answers apart by pushing log-probabilities to extremes rather than by learning the "
        "preference; sudden gradient spikes often come just before either.",
        "Lower the learning rate (3–10×), add warmup, keep gradient clipping on (max_grad_norm 1.0) and raise "
        "beta to hold the model nearer the starting one. With fp16, try bf16 or fp32. Start again, or resume from "
        "a checkpoint saved before the step where this began.",
    ),
    NOT_LEARNING: _Words(
        WARNING,
        "Not learning: the margins stay near 0",
        "After a good part of the run the model still barely prefers the chosen answers to the rejected ones: "
        "its updates are too small to change what it prefers.",
        "Raise the learning rate (try 3–10×) and check that warmup is not most of the run; use a larger LoRA "
        "(rank 16–64, all linear layers); check beta (a very high beta, 0.5 or more, holds the model at the "
        "starting one). Also check that the chosen and rejected answers really differ.",
    ),
    BOTH_REWARDS_FALLING: _Words(
        INFO,
        "Both rewards are falling",
        "Both rewards below zero mean the tuned model gives both the chosen and the rejected answers less "
        "probability than the starting model did; the rejected ones fall faster, which is what makes the margin "
        "grow. On its own this is common in DPO (the loss only asks for the gap between the two). It matters when "
        "the chosen answers' log-probabilities fall a lot: see 'Likelihood displacement' if it is raised.",
        "Nothing to do on its own. Keep an eye on logps/chosen; if it keeps falling, add an SFT term on the chosen "
        "answers or raise beta.",
    ),
    LOSS_UP_ACCURACY_UP: _Words(
        INFO,
        "Loss rising while accuracy rises",
        "More pairs are ranked right, yet the loss grows: the pairs the model still gets wrong, it gets wrong with "
        "growing confidence (a large negative margin costs a lot of loss). The model is making confident mistakes "
        "on a minority of pairs.",
        "Look at the pairs it gets wrong: they may be mislabelled or contradict other pairs. A higher beta or a "
        "lower learning rate tempers the confidence; the 'robust' loss type tolerates some wrong labels.",
    ),
}

RULES: dict[str, rules.Rule] = {
    COLLAPSE: rules.collapse,
    LIKELIHOOD_DISPLACEMENT: rules.likelihood_displacement,
    SATURATED: rules.saturated,
    OVERFITTING: rules.overfitting,
    NOT_LEARNING: rules.not_learning,
    BOTH_REWARDS_FALLING: rules.both_rewards_falling,
    LOSS_UP_ACCURACY_UP: rules.loss_up_accuracy_up,
}


class RunWatcher:
    """Feed it a run's records in step order; it says what is new."""

    def __init__(
        self, max_steps: int | None = None, *, reference_free: bool = False, length_bias: dict[str, Any] | None = None
    ):
        self.max_steps = max_steps
        self.length_bias = length_bias  # the training pairs' length figures (data.stats.length_bias), if known
        self.findings: list[Finding] = []
        self._history = rules.History(reference_free=reference_free)
        self._reported: dict[str, int] = {}  # kind -> the step at which it was last returned by feed

    def feed(self, record: dict[str, Any]) -> list[Finding]:
        """Take one log or eval record; return the findings raised (or updated) by it."""
        step, is_eval, alarm = self._history.add(record)
        trends = is_eval or self._history.due()
        changed = []
        for kind, rule in RULES.items():
            if not (trends or (kind == COLLAPSE and alarm)):
                continue
            if kind == BOTH_REWARDS_FALLING and self._history.reference_free:
                continue  # without a reference model the rewards are β·log p: always below 0, never "falling"
            hit = rule(self._history, self.max_steps)
            if hit is not None and kind == SATURATED and self.length_bias:
                hit.evidence += "; " + length_bias_words(self.length_bias)
            if hit is not None and (finding := self._apply(kind, hit, step)) is not None:
                changed.append(finding)
        return changed

    def _apply(self, kind: str, hit: rules.Hit, step: int) -> Finding | None:
        words = WORDS[kind]
        title = f"{words.title}: {hit.cause}" if hit.cause else words.title
        existing = next((f for f in self.findings if f.kind == kind), None)
        if existing is None:
            finding = Finding(
                kind=kind,
                step=hit.step,
                title=title,
                evidence=hit.evidence,
                meaning=words.meaning,
                advice=words.advice,
                severity=words.severity,
                last_step=step,
                numbers=dict(hit.numbers),
            )
            self.findings.append(finding)
            self._reported[kind] = step
            return finding
        if hit.evidence == existing.evidence and title == existing.title:
            return None
        if title == existing.title and step - self._reported.get(kind, step) < self._update_every():
            return None  # fresher numbers, but too soon to report again (a new cause is reported at once)
        existing.title = title
        existing.evidence = hit.evidence
        existing.numbers = dict(hit.numbers)
        existing.last_step = step  # the step where it began stays: the charts' marker does not move
        self._reported[kind] = step
        return existing

    def _update_every(self) -> int:
        if self.max_steps:
            return max(1, round(T.UPDATE_EVERY_FRACTION * self.max_steps))
        return T.UPDATE_EVERY_STEPS


def diagnose(
    records: list[dict[str, Any]],
    max_steps: int | None = None,
    *,
    reference_free: bool = False,
    length_bias: dict[str, Any] | None = None,
) -> list[Finding]:
    """Replay a whole run's records (in step order) and return its findings."""
    watcher = RunWatcher(max_steps, reference_free=reference_free, length_bias=length_bias)
    for record in records:
        watcher.feed(record)
    return watcher.findings


def save_findings(run_dir: Path, findings: list[Finding]) -> None:
    """Write the findings to ``<run>/findings.json`` (atomically: a crash never leaves half a file)."""
    path = Path(run_dir) / FINDINGS_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([f.to_dict() for f in findings], indent=1), encoding="utf-8")
    tmp.replace(path)


def load_findings(run_dir: Path) -> list[Finding]:
    """The findings saved in a run folder ([] when none, or when the file cannot be read)."""
    path = Path(run_dir) / FINDINGS_FILE
    try:
        return [Finding.from_dict(d) for d in json.loads(path.read_text(encoding="utf-8"))]
    except (OSError, ValueError, TypeError):
        return []
