"""Judging a pair of answers: the judge plugin is asked **in both orders** (base as A, then tuned as A) to cancel
position bias; when the two orders disagree the prompt counts as a tie. A judge failure is returned as a record
(verdict "error"), never raised, so a comparison goes on with its next prompt.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from dpostudio.core.compare.settings import ComparisonError

EventFn = Callable[[dict[str, Any]], None]
CRITERIA = ["coherence", "relevance", "depth"]
SIDES = ("base", "tuned")
ORDERS = ("base_first", "tuned_first")
DEFAULT_JUDGE_TIMEOUT = 900.0
SECRET_WORDS = ("key", "token", "secret", "password")


def check_judge(judge_id: str) -> None:
    """Raise ``ComparisonError`` in words unless ``judge_id`` names a judge a plugin offers."""
    from dpostudio.core.plugin_access import PluginCallError, plugins

    try:
        known = [j.id for j in plugins().judges()]
    except PluginCallError as exc:
        raise ComparisonError(f"judge {judge_id!r}: {exc}") from None
    if judge_id not in known:
        raise ComparisonError(f"unknown judge {judge_id!r}; available: {', '.join(known) or 'none'}")


def judge_both_orders(
    judge_id: str,
    prompt: str,
    base: str,
    tuned: str,
    criteria: list[str],
    options: dict,
    *,
    timeout: float | None = DEFAULT_JUDGE_TIMEOUT,
    on_event: EventFn | None = None,
    prompt_index: int = 0,
    cancel: threading.Event | None = None,
) -> dict:
    """Ask the judge twice, base as A then tuned as A; agreement gives the verdict, disagreement a tie.

    Returns ``{"verdict": "tuned"|"base"|"tie"|"error", "scores": {criterion: {"base", "tuned"}}, "reasoning",
    "judgements": [...], "judge_error": str|None, "position_disagreement": bool}``.
    """
    from dpostudio.core.plugin_access import PluginCallError, plugins

    emit = on_event or (lambda e: None)
    judgements: list[dict[str, Any]] = []
    errors: list[str] = []
    for order in ORDERS:
        if cancel is not None and cancel.is_set():
            errors.append(f"{order}: not asked (stopped)")
            judgements.append({"order": order, "error": "not asked (stopped)"})
            continue
        a, b = (base, tuned) if order == "base_first" else (tuned, base)
        side_of = {"A": "base", "B": "tuned"} if order == "base_first" else {"A": "tuned", "B": "base"}
        emit({"type": "judging", "prompt_index": prompt_index, "order": order})
        try:
            v = plugins().judge_pair(judge_id, prompt, a, b, criteria, options, timeout=timeout)
        except PluginCallError as exc:
            message = str(exc)
            if exc.timed_out:
                message = f"the judge did not answer within {timeout:g} s"
            errors.append(f"{order.replace('_', ' ')}: {message}")
            judgements.append({"order": order, "error": message})
            emit({"type": "judge_error", "prompt_index": prompt_index, "order": order, "message": message})
            continue
        judgements.append(
            {
                "order": order,
                "winner": "tie" if v.winner == "tie" else side_of[v.winner],
                "scores": {c: {side_of["A"]: v.scores[c]["A"], side_of["B"]: v.scores[c]["B"]} for c in criteria},
                "reasoning": v.reasoning,
                "method": v.method,
                "raw": v.raw,
            }
        )
    ok = [j for j in judgements if "error" not in j]
    if len(ok) < len(ORDERS):
        return {
            "verdict": "error",
            "scores": {},
            "reasoning": "; ".join(j.get("reasoning", "") for j in ok),
            "judgements": judgements,
            "judge_error": "; ".join(errors),
            "position_disagreement": False,
        }
    winners = [j["winner"] for j in ok]
    disagree = winners[0] != winners[1]
    verdict = "tie" if disagree else winners[0]
    scores = {c: {s: round(sum(j["scores"][c][s] for j in ok) / len(ok), 2) for s in SIDES} for c in criteria}
    reasoning = " | ".join(f"{j['order'].replace('_', ' ')}: {j['reasoning']}" for j in ok)
    if disagree:
        reasoning = (
            f"the verdict changed when the answers swapped places ({winners[0]} with base first, "
            f"{winners[1]} with tuned first), so this counts as a tie. " + reasoning
        )
    return {
        "verdict": verdict,
        "scores": scores,
        "reasoning": reasoning,
        "judgements": judgements,
        "judge_error": None,
        "position_disagreement": disagree,
    }


def safe_options(judge_id: str | None, options: dict) -> dict:
    """Judge options as they may be written to disk: secret ones (API keys) are left out."""
    if not judge_id:
        return {}
    from dpostudio.core.plugin_access import secret_option_names

    secret_names = secret_option_names(judge_id)
    return {
        k: ("(hidden)" if k in secret_names or any(w in k.lower() for w in SECRET_WORDS) else v)
        for k, v in options.items()
        if v not in (None, "")
    }
