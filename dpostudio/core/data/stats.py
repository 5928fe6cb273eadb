"""Describe preference pairs: length percentiles of prompt/chosen/rejected with the selected tokenizer, rows over
the max length and how much of their answers survive, and the chosen-vs-rejected length bias.

Length bias is a common DPO pitfall: when chosen answers are systematically longer, the model learns verbosity.
Without a tokenizer lengths are counted in characters (and truncation cannot be judged).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dpostudio.core.data.templates import template_pairs, token_lengths

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

PERCENTILES = (5, 25, 50, 75, 95, 99)
BIAS_WARN_SHARE = 0.6  # chosen longer (or shorter) in more than this share of rows -> warn


@dataclass
class LengthStats:
    count: int
    mean: float
    min: int
    max: int
    percentiles: dict[int, float]

    def to_dict(self) -> dict:
        return {
            "count": self.count,
            "mean": self.mean,
            "min": self.min,
            "max": self.max,
            "percentiles": {f"p{k}": v for k, v in self.percentiles.items()},
        }


@dataclass
class PairStats:
    rows: int
    unit: str  # "tokens" or "characters"
    prompt: LengthStats | None
    chosen: LengthStats | None
    rejected: LengthStats | None
    measured_rows: int = 0  # how many rows the lengths were measured on (a sample of big sets)
    max_length: int | None = None
    over_max_length: int = 0  # prompt + longer answer > max_length
    prompt_fills_max_length: int = 0  # prompt alone >= max_length: TRL leaves these rows out
    chosen_survival: float | None = None  # mean share of chosen tokens kept, over the truncated rows
    rejected_survival: float | None = None
    chosen_longer_share: float | None = None  # share of rows whose chosen answer is longer than the rejected one
    length_ratio: float | None = None  # mean chosen length / mean rejected length
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k not in ("prompt", "chosen", "rejected")}
        for part in ("prompt", "chosen", "rejected"):
            value = getattr(self, part)
            out[part] = value.to_dict() if value else None
        return out


def describe_lengths(values: list[int]) -> LengthStats | None:
    if not values:
        return None
    import numpy as np

    arr = np.asarray(values, dtype=float)
    pct = {p: float(np.percentile(arr, p)) for p in PERCENTILES}
    return LengthStats(len(values), float(arr.mean()), int(arr.min()), int(arr.max()), pct)


def measure(
    pairs: list[dict],
    tokenizer: PreTrainedTokenizerBase | None = None,
    *,
    template: str = "chat",
    system_prompt: str | None = None,
) -> list[tuple[int, int, int]]:
    """(prompt, chosen, rejected) lengths per pair: tokens as TRL counts them, or characters without a tokenizer."""
    if tokenizer is None:
        rows = template_pairs(pairs, template if template != "chat" else "none", system_prompt=system_prompt)
        return [(len(r["prompt"]), len(r["chosen"]), len(r["rejected"])) for r in rows]
    rows = template_pairs(pairs, template, system_prompt=system_prompt, tokenizer=tokenizer)
    return [token_lengths(r, tokenizer) for r in rows]


def compute_stats(
    lengths: list[tuple[int, int, int]], *, rows: int | None = None, unit: str = "tokens", max_length: int | None = None
) -> PairStats:
    """Summarise measured lengths; ``rows`` is the full row count when ``lengths`` covers only a sample."""
    prompts = [p for p, _, _ in lengths]
    chosen = [c for _, c, _ in lengths]
    rejected = [r for _, _, r in lengths]
    stats = PairStats(
        rows if rows is not None else len(lengths),
        unit,
        describe_lengths(prompts),
        describe_lengths(chosen),
        describe_lengths(rejected),
        measured_rows=len(lengths),
    )
    if not lengths:
        return stats
    decided = [(c, r) for c, r in zip(chosen, rejected) if c != r]
    stats.chosen_longer_share = sum(c > r for c, r in decided) / len(decided) if decided else 0.5
    mean_r = sum(rejected) / len(rejected)
    stats.length_ratio = (sum(chosen) / len(chosen)) / mean_r if mean_r else None
    share = stats.chosen_longer_share
    assert stats.chosen is not None and stats.rejected is not None  # there are lengths, so both were described
    if decided and (share > BIAS_WARN_SHARE or share < 1 - BIAS_WARN_SHARE):
        longer = "longer" if share > 0.5 else "shorter"
        stats.warnings.append(
            f"length bias: the chosen answer is {longer} than the rejected one in "
            f"{max(share, 1 - share):.0%} of rows (mean {stats.chosen.mean:.0f} vs {stats.rejected.mean:.0f} {unit}); "
            f"the model may learn that {'longer' if share > 0.5 else 'shorter'} is better rather than what is better"
        )
    if max_length and unit == "tokens":
        stats.max_length = max_length
        over = [(p, c, r) for p, c, r in lengths if p + max(c, r) > max_length]
        stats.over_max_length = len(over)
        stats.prompt_fills_max_length = sum(p >= max_length for p, _, _ in over)
        if over:
            stats.chosen_survival = sum(_kept(p, c, max_length) for p, c, _ in over) / len(over)
            stats.rejected_survival = sum(_kept(p, r, max_length) for p, _, r in over) / len(over)
            stats.warnings.append(
                f"{len(over)} of {len(lengths)} rows are longer than max length {max_length}; on those rows "
                f"{stats.chosen_survival:.0%} of the chosen and {stats.rejected_survival:.0%} of the rejected tokens "
                f"survive on average"
                + (
                    f"; {stats.prompt_fills_max_length} rows lose their answers entirely"
                    if stats.prompt_fills_max_length
                    else ""
                )
            )
    return stats


def _kept(prompt: int, answer: int, max_length: int) -> float:
    if answer <= 0:
        return 1.0
    return min(answer, max(0, max_length - prompt)) / answer


def format_stats(stats: PairStats) -> list[str]:
    """Plain-text lines for the CLI and logs."""
    lines = []
    sample = f" (measured on {stats.measured_rows} of {stats.rows} rows)" if stats.measured_rows < stats.rows else ""
    lines.append(f"lengths in {stats.unit}{sample}:")
    head = "  ".join(f"p{p:>2}" for p in PERCENTILES)
    lines.append(f"  {'':9}{'mean':>7}  {head}   max")
    for part in ("prompt", "chosen", "rejected"):
        s: LengthStats | None = getattr(stats, part)
        if s is None:
            continue
        cells = "  ".join(f"{s.percentiles[p]:>3.0f}" for p in PERCENTILES)
        lines.append(f"  {part:<9}{s.mean:>7.1f}  {cells}  {s.max:>4}")
    if stats.chosen_longer_share is not None:
        lines.append(
            f"chosen longer than rejected in {stats.chosen_longer_share:.0%} of rows"
            + (f" (length ratio {stats.length_ratio:.2f})" if stats.length_ratio else "")
        )
    if stats.max_length:
        lines.append(f"rows over max length {stats.max_length}: {stats.over_max_length}")
    lines.extend(f"warning: {w}" for w in stats.warnings)
    return lines


def length_bias(lengths: list[tuple[int, int, int]], unit: str) -> dict[str, Any] | None:
    """The chosen-vs-rejected length figures of a split as a run keeps them (``run.json``'s ``length_bias``) for
    the diagnostics: the share of pairs whose chosen answer is longer and the mean lengths; None without pairs."""
    stats = compute_stats(lengths, unit=unit)
    if stats.chosen_longer_share is None or stats.chosen is None or stats.rejected is None:
        return None
    return {
        "chosen_longer_share": stats.chosen_longer_share,
        "chosen_mean": stats.chosen.mean,
        "rejected_mean": stats.rejected.mean,
        "unit": unit,
    }


def length_bias_words(bias: dict[str, Any]) -> str:
    """``length_bias`` in a sentence, as the findings quote it."""
    share = float(bias["chosen_longer_share"])
    unit = bias.get("unit", "characters")
    return (
        f"in the training pairs the chosen answer is the longer one in {share:.0%} of pairs (mean "
        f"{float(bias['chosen_mean']):.0f} vs {float(bias['rejected_mean']):.0f} {unit})"
    )
