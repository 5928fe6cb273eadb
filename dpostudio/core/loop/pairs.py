"""Preference pairs from ranked answers, and the dataset folder they are written to.

``PairSettings.mode``: ``best-worst`` (default; one pair per prompt, the best-scored answer chosen and the
worst rejected, when the best beats the worst by more than ``min_gap``) or ``gap`` (every pair of answers whose
scores differ by at least ``min_gap``, which must then be above 0). A prompt whose best and worst scores are
equal is a *tie*; a prompt the ranker marked, or left with fewer than two scores, is *unjudged*: both are left
out and counted.

The dataset folder (what every other part of the app loads by path: ``dpostudio train --dataset FOLDER``, the
Dataset pane, ``dpostudio push``)::

    pairs.jsonl       prompt, chosen, rejected (+ chosen_score, rejected_score, prompt_index, chosen_index, ...)
    candidates.jsonl  every answer generated, per prompt         rankings.jsonl  the scores and the ranker's details
    card.json         provenance (generator, adapter, sampling, ranker, prompts) and the counts
    README.md         a Hugging Face dataset card whose ``configs`` point ``load_dataset(FOLDER)`` at pairs.jsonl
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

from dpostudio.core.errors import UserError
from dpostudio.core.loop.records import read_jsonl, write_json, write_jsonl

PAIR_MODES = ("best-worst", "gap")
PAIRS_FILE = "pairs.jsonl"
CANDIDATES_FILE = "candidates.jsonl"
RANKINGS_FILE = "rankings.jsonl"
CARD_FILE = "card.json"


class PairError(UserError, ValueError):
    """Pairs cannot be built (bad settings); said in words."""


@dataclass
class PairSettings:
    mode: str = "best-worst"
    min_gap: float = 0.0

    def validate(self) -> PairSettings:
        if self.mode not in PAIR_MODES:
            raise PairError(f"pair mode must be one of {', '.join(PAIR_MODES)}, not {self.mode!r}")
        if not isinstance(self.min_gap, (int, float)) or self.min_gap < 0:
            raise PairError(f"min_gap must be a number >= 0, not {self.min_gap!r}")
        if self.mode == "gap" and self.min_gap <= 0:
            raise PairError("the gap mode needs min_gap above 0 (the smallest score difference that makes a pair)")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> PairSettings:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def _row(record: dict, chosen: int, rejected: int, scores: list) -> dict:
    answers = record["candidates"]
    messages = record.get("messages") or [{"role": "user", "content": record["prompt"]}]
    plain = len(messages) == 1 and messages[0].get("role") == "user"
    row: dict = {
        "prompt": record["prompt"] if plain else messages,
        "chosen": answers[chosen]["text"] if plain else [{"role": "assistant", "content": answers[chosen]["text"]}],
        "rejected": answers[rejected]["text"]
        if plain
        else [{"role": "assistant", "content": answers[rejected]["text"]}],
    }
    row.update(
        chosen_score=scores[chosen],
        rejected_score=scores[rejected],
        prompt_index=record["index"],
        chosen_index=chosen,
        rejected_index=rejected,
    )
    return row


def build_pairs(candidates: list[dict], rankings: list[dict], settings: PairSettings) -> tuple[list[dict], dict]:
    """The pairs and the counts: ``{"prompts", "judged", "pairs", "prompts_with_pairs", "ties", "unjudged"}``."""
    settings.validate()
    by_index = {r["index"]: r for r in rankings if isinstance(r.get("index"), int)}
    pairs: list[dict] = []
    counts = {"prompts": len(candidates), "judged": 0, "pairs": 0, "prompts_with_pairs": 0, "ties": 0, "unjudged": 0}
    for record in sorted(candidates, key=lambda r: r["index"]):
        ranked = by_index.get(record["index"])
        scores = list(ranked.get("scores") or []) if ranked else []
        scored = [i for i, s in enumerate(scores) if isinstance(s, (int, float))]
        if not ranked or ranked.get("status") != "ok" or len(scored) < 2:
            counts["unjudged"] += 1
            continue
        counts["judged"] += 1
        made = []
        if settings.mode == "best-worst":
            best = max(scored, key=lambda i: (scores[i], -i))
            worst = min(scored, key=lambda i: (scores[i], i))
            if scores[best] - scores[worst] > settings.min_gap:
                made.append(_row(record, best, worst, scores))
        else:
            for i in scored:
                for j in scored:
                    if scores[i] - scores[j] >= settings.min_gap and scores[i] > scores[j]:
                        made.append(_row(record, i, j, scores))
        if made:
            counts["prompts_with_pairs"] += 1
            pairs.extend(made)
        else:
            counts["ties"] += 1
    counts["pairs"] = len(pairs)
    return pairs, counts


def write_dataset(folder: str | Path, settings: PairSettings, provenance: dict) -> dict:
    """Build the pairs from the folder's candidates and rankings and write pairs.jsonl, card.json and README.md.
    Returns the card."""
    folder = Path(folder)
    candidates = read_jsonl(folder / CANDIDATES_FILE)
    rankings = read_jsonl(folder / RANKINGS_FILE)
    pairs, counts = build_pairs(candidates, rankings, settings)
    write_jsonl(folder / PAIRS_FILE, pairs)
    scores = [s for r in rankings for s in (r.get("scores") or []) if isinstance(s, (int, float))]
    card = {
        "kind": "dpostudio generated preference pairs",
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "files": {"pairs": PAIRS_FILE, "candidates": CANDIDATES_FILE, "rankings": RANKINGS_FILE},
        "counts": counts,
        "pairing": settings.to_dict(),
        "scores": {
            "count": len(scores),
            "min": min(scores, default=None),
            "max": max(scores, default=None),
            "mean": round(sum(scores) / len(scores), 4) if scores else None,
        },
        "marked": [{"index": r["index"], "reason": r.get("reason")} for r in rankings if r.get("status") != "ok"],
        **provenance,
    }
    write_json(folder / CARD_FILE, card)
    (folder / "README.md").write_text(readme(card), encoding="utf-8")
    return card


def readme(card: dict) -> str:
    """A Hugging Face dataset card: the YAML ``configs`` make ``load_dataset(folder)`` read pairs.jsonl only."""
    c = card["counts"]
    gen, sampling, ranker = card.get("generator", {}), card.get("sampling", {}), card.get("ranker", {})
    lines = [
        "---",
        "configs:",
        "- config_name: default",
        "  data_files:",
        "  - split: train",
        f"    path: {PAIRS_FILE}",
        "tags:",
        "- dpo",
        "- preference",
        "- dpostudio",
        "---",
        "",
        "# Generated preference pairs",
        "",
        f"Made by DPO Studio on {card['created']}: {c['pairs']} pairs from {c['prompts']} prompts "
        f"({c['ties']} ties and {c['unjudged']} unjudged prompts left out).",
        "",
        f"- generator: {gen.get('model', '?')}"
        + (f" with adapter {gen.get('adapter')}" if gen.get("adapter") else " (base, no adapter)"),
        f"- sampling: {sampling.get('k', '?')} answers per prompt, temperature {sampling.get('temperature')}, "
        f"top-p {sampling.get('top_p')}, up to {sampling.get('max_new_tokens')} new tokens, "
        f"seed {sampling.get('seed')}",
        f"- ranker: {card.get('ranker_words') or ranker.get('kind', '?')}",
        f"- pairs: {card['pairing']['mode']} (min gap {card['pairing']['min_gap']})",
        f"- prompts: {card.get('prompts_source', '?')}",
        "",
        f"`{PAIRS_FILE}` holds the pairs; `{CANDIDATES_FILE}` every answer; `{RANKINGS_FILE}` their scores; "
        f"`{CARD_FILE}` all of this as data.",
        "",
    ]
    return "\n".join(lines)
