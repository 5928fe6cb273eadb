"""What can be wrong with preference data, said in words: the error type and the per-row problem record.

Every message names the source (file name or Hub id), the split, the row number (1-based, counting data rows of
the source, before any filtering) and the column, so a user can find the row in their own file.
"""

from __future__ import annotations

from dataclasses import dataclass

from dpostudio.core.errors import UserError

#: Problem kinds a user may choose to drop or keep (RunConfig.drop_problems lists the dropped ones).
PROBLEM_KINDS = {
    "empty": "an answer is empty or only whitespace",
    "missing_prompt": "the prompt is missing or empty",
    "identical": "the chosen and rejected answers are identical",
    "duplicate": "the same prompt, chosen and rejected as an earlier row",
    "truncated": "prompt + answer is longer than the max length and would be cut",
}
#: Rows that cannot be turned into a pair at all; they are always left out, and always reported.
UNUSABLE = "unusable"
DEFAULT_DROP = ["empty", "missing_prompt", "identical", "duplicate"]


class DataError(UserError, ValueError):
    """Preference data cannot be used; the message names the source, row and column where known."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one row. ``row`` is 1-based in the source split; ``column`` is the source column."""

    row: int
    column: str | None
    kind: str  # one of PROBLEM_KINDS or UNUSABLE
    reason: str
    source: str = ""
    split: str = "train"

    @property
    def droppable(self) -> bool:
        """False for rows that can never be trained on (they are always left out)."""
        return self.kind != UNUSABLE

    def message(self) -> str:
        where = [self.source or "data"]
        if self.split not in ("train", ""):
            where.append(f"{self.split} split")
        where.append(f"row {self.row}")
        if self.column:
            where.append(f"column '{self.column}'")
        return f"{', '.join(where)}: {self.reason}"

    def to_dict(self) -> dict:
        return {
            "row": self.row,
            "column": self.column,
            "kind": self.kind,
            "reason": self.reason,
            "split": self.split,
            "message": self.message(),
        }

    def __str__(self) -> str:
        return self.message()


def check_drop_kinds(kinds: list[str]) -> list[str]:
    """Validate RunConfig.drop_problems; unknown names raise DataError naming the setting."""
    unknown = [k for k in kinds if k not in PROBLEM_KINDS]
    if unknown:
        raise DataError(f"drop_problems: unknown problem kind {unknown[0]!r}; known: {', '.join(PROBLEM_KINDS)}")
    return list(kinds)


def summarize(problems: list[Problem]) -> dict[str, int]:
    """Count problems by kind, in a stable order (unusable first, then PROBLEM_KINDS order)."""
    order = [UNUSABLE, *PROBLEM_KINDS]
    counts = {k: 0 for k in order}
    for p in problems:
        counts[p.kind] = counts.get(p.kind, 0) + 1
    return {k: v for k, v in counts.items() if v}
