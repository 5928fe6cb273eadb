"""How a loop's rounds compare: each model's greedy answers to the held-out prompts (never trained on), and a judge
comparing two models' answers in both orders (``compare.judging.judge_both_orders``: when the orders disagree, a
tie).

Answers are generated once per model with ``generate.generate_candidates`` (K=1, temperature 0), so they resume
after a crash like any generation, into ``<loop>/heldout/round-<n>.jsonl``. Verdicts are appended one per prompt
to ``<loop>/round-<n>/winrate-vs-<other>.jsonl`` and resume the same way. The win rate of a model over another is
(wins + ties / 2) / judged prompts; prompts the judge failed on are counted, not judged.
"""

from __future__ import annotations

import threading
from pathlib import Path

from dpostudio.core.compare.judging import CRITERIA, judge_both_orders
from dpostudio.core.compare.prompt_sets import Prompt
from dpostudio.core.loop.events import EVALUATE, PROMPT_DONE, EventFn, Progress
from dpostudio.core.loop.generate import Generator, Sampling, generate_candidates
from dpostudio.core.loop.records import append_jsonl, read_jsonl


def heldout_answers(
    prompts: list[Prompt],
    generator: Generator,
    path: Path,
    max_new_tokens: int,
    emit: EventFn,
    cancel: threading.Event,
) -> list[str] | None:
    """The generator's greedy answer to each held-out prompt (generated or resumed into ``path``); None if stopped."""
    sampling = Sampling(k=1, temperature=0.0, top_p=1.0, max_new_tokens=max_new_tokens, seed=0, batch_size=4)
    result = generate_candidates(prompts, generator, sampling, path, emit, cancel)
    if result["status"] != "finished":
        return None
    by_index = {r["index"]: r["candidates"][0]["text"] for r in read_jsonl(path)}
    return [by_index[i] for i in range(len(prompts))]


def compare_answers(
    prompts: list[Prompt],
    mine: list[str],
    theirs: list[str],
    path: Path,
    judge_id: str,
    judge_options: dict,
    emit: EventFn,
    cancel: threading.Event,
    *,
    timeout: float | None = 300.0,
) -> dict | None:
    """Judge ``mine`` against ``theirs`` prompt by prompt in both orders (resuming ``path``); the tally, or None."""
    done = {r["index"]: r for r in read_jsonl(path) if isinstance(r.get("index"), int)}
    progress = Progress(emit, EVALUATE, len(prompts), len(done))
    for index, prompt in enumerate(prompts):
        if index in done:
            continue
        if cancel.is_set():
            return None
        # "base" is the model compared against, "tuned" this round's model
        result = judge_both_orders(
            judge_id,
            prompt.text,
            theirs[index],
            mine[index],
            list(CRITERIA),
            judge_options,
            timeout=timeout,
            cancel=cancel,
        )
        if cancel.is_set() and result["verdict"] == "error":
            return None
        outcome = {"tuned": "win", "base": "loss", "tie": "tie"}.get(result["verdict"], "error")
        record = {
            "index": index,
            "prompt": prompt.text,
            "outcome": outcome,
            "error": result["judge_error"],
            "reasoning": result["reasoning"][:2000],
        }
        append_jsonl(path, record)
        done[index] = record
        emit({"type": PROMPT_DONE, "phase": EVALUATE, "index": index, "record": record})
        progress.step()
    return tally(list(done.values()))


def tally(records: list[dict]) -> dict:
    """``{"wins", "ties", "losses", "errors", "judged", "win_rate"}`` (win_rate None when nothing was judged)."""
    counts = {
        k: sum(1 for r in records if r.get("outcome") == v)
        for k, v in (("wins", "win"), ("ties", "tie"), ("losses", "loss"), ("errors", "error"))
    }
    judged = counts["wins"] + counts["ties"] + counts["losses"]
    rate = round((counts["wins"] + counts["ties"] / 2) / judged, 4) if judged else None
    return {**counts, "judged": judged, "win_rate": rate}
