"""Per-row checks on canonical pairs, each with a reason in words, and the user's drop-or-keep choice.

Nothing here changes a source: dropping a row only leaves it out of the pairs handed to training.
"""

from __future__ import annotations

import json

from dpostudio.core.data.problems import PROBLEM_KINDS, UNUSABLE, Problem, check_drop_kinds


def _blank(text) -> bool:
    return not isinstance(text, str) or not text.strip()


def check_pair(pair: dict, mapping: dict, *, source: str = "", split: str = "train") -> list[Problem]:
    """Empty or whitespace-only fields, missing prompt, identical answers."""
    row = pair["row"]
    out = []
    prompt_col = mapping.get("prompt") or mapping.get("chosen")
    turns = [m for m in pair["prompt"] if m["role"] != "system"]
    if not turns or all(_blank(m["content"]) for m in turns):
        why = (
            "the prompt is empty or only whitespace"
            if mapping.get("prompt")
            else "chosen and rejected share no prompt before their answers"
        )
        out.append(Problem(row, prompt_col, "missing_prompt", why, source, split))
    for part in ("chosen", "rejected"):
        if _blank(pair[part]):
            out.append(
                Problem(
                    row, mapping.get(part), "empty", f"the {part} answer is empty or only whitespace", source, split
                )
            )
    if not _blank(pair["chosen"]) and pair["chosen"].strip() == pair["rejected"].strip():
        out.append(
            Problem(
                row,
                f"{mapping.get('chosen')}' and '{mapping.get('rejected')}",
                "identical",
                "the chosen and rejected answers are identical, so the row teaches nothing",
                source,
                split,
            )
        )
    return out


def find_duplicates(pairs: list[dict], mapping: dict, *, source: str = "", split: str = "train") -> list[Problem]:
    """Rows repeating an earlier row's prompt, chosen and rejected (the first occurrence is not a problem)."""
    seen: dict[str, int] = {}
    out = []
    for pair in pairs:
        key = json.dumps([pair["prompt"], pair["chosen"], pair["rejected"]], ensure_ascii=False, sort_keys=True)
        if key in seen:
            out.append(Problem(pair["row"], None, "duplicate", f"repeats row {seen[key]} exactly", source, split))
        else:
            seen[key] = pair["row"]
    return out


def truncation_problem(
    pair: dict, lengths: tuple[int, int, int], max_length: int, mapping: dict, *, source: str = "", split: str = "train"
) -> Problem | None:
    """A "truncated" problem when prompt + an answer exceeds ``max_length`` tokens (TRL keeps the start)."""
    p, c, r = lengths
    if p + max(c, r) <= max_length:
        return None
    if p >= max_length:
        reason = (
            f"the prompt alone is {p} tokens, at least the max length {max_length}: no answer token "
            "survives and TRL leaves the row out"
        )
        return Problem(pair["row"], mapping.get("prompt") or mapping.get("chosen"), "truncated", reason, source, split)
    parts = []
    for name, n in (("chosen", c), ("rejected", r)):
        if p + n > max_length:
            kept = max(0, max_length - p)
            parts.append(f"{kept} of {n} {name} tokens ({kept / n:.0%}) survive")
    column = mapping.get("chosen") if p + c > max_length else mapping.get("rejected")
    reason = f"the prompt ({p} tokens) + answer is longer than max length {max_length}: " + "; ".join(parts)
    return Problem(pair["row"], column, "truncated", reason, source, split)


def validate_pairs(
    pairs: list[dict],
    mapping: dict,
    *,
    source: str = "",
    split: str = "train",
    lengths: list[tuple[int, int, int]] | None = None,
    max_length: int | None = None,
) -> list[Problem]:
    """All per-row problems of one split, in row order (truncation only when token lengths are given)."""
    problems = []
    for pair in pairs:
        problems.extend(check_pair(pair, mapping, source=source, split=split))
    problems.extend(find_duplicates(pairs, mapping, source=source, split=split))
    if lengths is not None and max_length:
        for pair, length in zip(pairs, lengths):
            prob = truncation_problem(pair, length, max_length, mapping, source=source, split=split)
            if prob:
                problems.append(prob)
    order = {k: i for i, k in enumerate([UNUSABLE, *PROBLEM_KINDS])}
    return sorted(problems, key=lambda p: (p.row, order.get(p.kind, 99)))


def apply_policy(
    pairs: list[dict], problems: list[Problem], drop_kinds: list[str]
) -> tuple[list[dict], dict[str, int]]:
    """Leave out rows with a problem of a kind in ``drop_kinds``. Returns (kept pairs, rows dropped per kind)."""
    drop = set(check_drop_kinds(drop_kinds))
    reason_of: dict[int, str] = {}
    for p in problems:
        if p.kind in drop and p.row not in reason_of:
            reason_of[p.row] = p.kind
    dropped: dict[str, int] = {}
    for kind in reason_of.values():
        dropped[kind] = dropped.get(kind, 0) + 1
    return [pair for pair in pairs if pair["row"] not in reason_of], dropped
