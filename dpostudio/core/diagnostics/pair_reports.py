"""Reading a run's pair scores: sorted in an order worth reading, filtered to the pairs that tell something (the
model disagrees with the label, learned nothing, or made the chosen answer less likely), summed up in a line, and
written to a CSV file."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dpostudio.core.diagnostics.pair_scores import CSV_COLUMNS, PairScore, PairScoreError
from dpostudio.core.diagnostics.thresholds import NOT_LEARNING_MARGIN

SORTS = ("row", "disagree", "displacement", "margin", "nothing")
NOTHING_LEARNED_MARGIN = NOT_LEARNING_MARGIN  # |margin| below 0.05: the pair is barely told apart (see thresholds)


def sort_scores(scores: Iterable[PairScore], by: str = "row") -> list[PairScore]:
    """The scores in an order worth reading.

    row: data order (train before eval); disagree: most negative margin first (the pairs the model gets most
    wrong); displacement: the chosen answer's log-probability fallen most first; margin: largest margin first;
    nothing: smallest |margin| first (the pairs the training left where they were).
    """
    scores = list(scores)
    if by == "row":
        return sorted(scores, key=lambda s: (s.split != "train", s.row))
    if by == "disagree":
        return sorted(scores, key=lambda s: s.margin)
    if by == "displacement":
        return sorted(scores, key=lambda s: s.delta_chosen_logp)
    if by == "margin":
        return sorted(scores, key=lambda s: -s.margin)
    if by == "nothing":
        return sorted(scores, key=lambda s: abs(s.margin))
    raise PairScoreError(f"sort must be one of {', '.join(SORTS)}, not {by!r}")


def disagreeing(scores: Iterable[PairScore]) -> list[PairScore]:
    """The pairs whose label the model disagrees with (margin ≤ 0), most negative margin first."""
    return sorted((s for s in scores if not s.agrees), key=lambda s: s.margin)


def learned_nothing(scores: Iterable[PairScore], tolerance: float = NOTHING_LEARNED_MARGIN) -> list[PairScore]:
    """The pairs the model barely tells apart (|margin| < ``tolerance``), smallest first."""
    return sorted((s for s in scores if abs(s.margin) < tolerance), key=lambda s: abs(s.margin))


def displaced(scores: Iterable[PairScore]) -> list[PairScore]:
    """The pairs whose chosen answer became less likely than under the reference, the largest fall first."""
    return sorted((s for s in scores if s.delta_chosen_logp < 0), key=lambda s: s.delta_chosen_logp)


@dataclass
class Summary:
    total: int
    agree: int
    nothing: int
    displaced: int
    mean_margin: float | None
    worst_displacement: PairScore | None = None
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        if not self.total:
            return "no pairs scored"
        text = (
            f"model agrees with {self.agree}/{self.total} labels; {self.nothing} "
            f"{'pair' if self.nothing == 1 else 'pairs'} learned nothing (|margin| < {NOTHING_LEARNED_MARGIN:g})"
        )
        worst = self.worst_displacement
        if worst is None:
            return text + "; no chosen answer became less likely"
        return (
            f"{text}; largest displacement: {worst.split} row {worst.row}, chosen log-prob "
            f"{worst.delta_chosen_logp:+.2f} nats ({worst.delta_chosen_logp_per_token:+.3f}/token); "
            f"{self.displaced}/{self.total} chosen answers less likely than under the reference"
        )


def summarize(scores: Sequence[PairScore]) -> Summary:
    fallen = displaced(scores)
    return Summary(
        total=len(scores),
        agree=sum(1 for s in scores if s.agrees),
        nothing=len(learned_nothing(scores)),
        displaced=len(fallen),
        mean_margin=sum(s.margin for s in scores) / len(scores) if scores else None,
        worst_displacement=fallen[0] if fallen else None,
    )


def write_csv(scores: Iterable[PairScore], path: str | Path) -> Path:
    """Write one line per pair (``CSV_COLUMNS``, a header first) to ``path``; returns the path."""
    path = Path(path).expanduser()
    try:
        if path.parent and not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(CSV_COLUMNS)
            for score in scores:
                values = score.to_dict()
                writer.writerow([values[c] for c in CSV_COLUMNS])
    except OSError as exc:
        raise PairScoreError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path
