"""What the remote judges (Gemini, OpenAI-compatible servers) share: the rubric, the JSON shape of a verdict,
strict parsing, and the retry loop.

Not a plugin itself (it has no entry point); ``gemini_judge`` and ``openai_judge`` use it.

The reply must be one JSON object::

    {"answer_a": {"coherence": 7, "relevance": 8, "depth": 6, "reason": "..."},
     "answer_b": {"coherence": 5, "relevance": 9, "depth": 4, "reason": "..."},
     "winner": "A" | "B" | "tie",
     "reason": "one or two sentences"}

Scores are numbers from 1 to 10. Anything else (missing keys, scores out of range, text around the object) is
"unparseable": the call is retried, and if it stays unparseable the judge raises ``PluginError`` -- a verdict is
never guessed. Transient failures (HTTP 408/429/5xx, timeouts, network errors) are retried with exponential
backoff, honouring ``Retry-After``; an invalid key (401/403), a safety block or a bad request fails at once.
"""

from __future__ import annotations

import email.utils
import json
import random
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from dpostudio.plugins import DEFAULT_CRITERIA, PluginError, Verdict

BACKOFF_BASE = 1.0  # seconds; doubled on every retry (tests lower it)
BACKOFF_MAX = 30.0
RETRY_AFTER_MAX = 120.0  # never wait longer than this for one Retry-After
PARSE_RETRIES = 1  # extra calls when the reply cannot be parsed
DEFAULT_RETRIES = 4  # extra calls for transient failures
DEFAULT_TIMEOUT = 60.0
CRITERION_HELP = {
    "coherence": "clear, well organised and consistent",
    "relevance": "answers the question that was asked",
    "depth": "thorough, accurate and insightful",
    "helpfulness": "useful to the person asking",
    "harmlessness": "avoids harmful or offensive content",
    "conciseness": "to the point without padding",
}

SYSTEM_INSTRUCTION = (
    "You are an impartial, strict judge of answers written by AI assistants. You compare two answers to the same "
    "question. Judge only the content; do not favour an answer for its position or its length. "
    "Reply with a single JSON object and nothing else."
)


class Transient(Exception):
    """A failure worth retrying (rate limit, server error, timeout, network); ``retry_after`` in seconds."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class Fatal(Exception):
    """A failure that retrying cannot fix (invalid key, safety block, bad request)."""


def rubric(prompt: str, answer_a: str, answer_b: str, criteria: list[str]) -> str:
    lines = "\n".join(
        f"- {c}: {CRITERION_HELP.get(c.lower(), 'how good the answer is in terms of ' + c)}" for c in criteria
    )
    per_answer = ", ".join(f'"{c}": <1-10>' for c in criteria)
    return (
        f"Question:\n{prompt}\n\n[Answer A]\n{answer_a}\n[End of answer A]\n\n"
        f"[Answer B]\n{answer_b}\n[End of answer B]\n\n"
        f"Score each answer from 1 (very poor) to 10 (excellent) on each criterion:\n{lines}\n\n"
        "Give each answer a one-sentence reason, then say which answer is better overall (A, B or tie) and why.\n"
        "Reply with exactly this JSON object:\n"
        f'{{"answer_a": {{{per_answer}, "reason": "<one sentence>"}}, '
        f'"answer_b": {{{per_answer}, "reason": "<one sentence>"}}, '
        '"winner": "<A, B or tie>", "reason": "<one or two sentences>"}'
    )


def json_schema(criteria: list[str]) -> dict:
    """The verdict as a JSON Schema (OpenAI ``json_schema`` response format; Gemini ``response_json_schema``)."""
    side = {
        "type": "object",
        "properties": {
            **{c: {"type": "integer", "minimum": 1, "maximum": 10} for c in criteria},
            "reason": {"type": "string"},
        },
        "required": [*criteria, "reason"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {
            "answer_a": side,
            "answer_b": side,
            "winner": {"type": "string", "enum": ["A", "B", "tie"]},
            "reason": {"type": "string"},
        },
        "required": ["answer_a", "answer_b", "winner", "reason"],
        "additionalProperties": False,
    }


_FENCE = re.compile(r"^```(?:json)?\s*\n?(.*?)\n?```$", re.DOTALL | re.IGNORECASE)


def parse_verdict(text: str, criteria: list[str]) -> tuple[dict | None, str]:
    """Strictly read a verdict. Returns ``(verdict fields, "")`` or ``(None, why not)``.

    Accepted: exactly one JSON object, optionally inside one Markdown code fence. Every criterion must be a
    number from 1 to 10 for both answers and ``winner`` one of A, B, tie. Nothing is inferred.
    """
    body = (text or "").strip()
    fence = _FENCE.match(body)
    if fence:
        body = fence.group(1).strip()
    if not body:
        return None, "the reply was empty"
    try:
        data = json.loads(body)
    except ValueError as exc:
        return None, f"the reply is not valid JSON ({exc.msg} at character {exc.pos})"
    if not isinstance(data, dict):
        return None, f"the reply is JSON but not an object ({type(data).__name__})"
    scores: dict[str, dict[str, float]] = {c: {} for c in criteria}
    reasons = {}
    for key, side in (("answer_a", "A"), ("answer_b", "B")):
        block = data.get(key)
        if not isinstance(block, dict):
            return None, f"the reply has no {key!r} object"
        for c in criteria:
            value = block.get(c)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return None, f"{key}.{c} is not a number ({value!r})"
            if not 1 <= value <= 10:
                return None, f"{key}.{c} = {value} is outside 1-10"
            scores[c][side] = float(value)
        reason = block.get("reason", "")
        reasons[side] = reason.strip() if isinstance(reason, str) else ""
    winner = data.get("winner")
    winner = (
        {"a": "A", "b": "B", "tie": "tie", "answer a": "A", "answer b": "B"}.get(str(winner).strip().lower())
        if isinstance(winner, str)
        else None
    )
    if winner is None:
        return None, f"winner must be 'A', 'B' or 'tie', not {data.get('winner')!r}"
    reason = data.get("reason", "")
    return {
        "scores": scores,
        "winner": winner,
        "reason": reason.strip() if isinstance(reason, str) else "",
        "reason_a": reasons["A"],
        "reason_b": reasons["B"],
    }, ""


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` header (seconds or an HTTP date) in seconds; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def scrub(text: str, secret: str | None) -> str:
    """Remove a secret from a message (error texts sometimes echo request details)."""
    text = str(text)
    if secret and len(secret) >= 4:
        text = text.replace(secret, "***")
    return text


def _sleep(seconds: float, stop: threading.Event | None = None) -> None:
    if seconds > 0:
        (stop or threading.Event()).wait(seconds)


def judge_with_retries(
    call: Callable[[], str], criteria: list[str], *, judge_name: str, retries: int, secret: str | None = None
) -> Verdict:
    """Run ``call`` (returns the reply text, raises Transient/Fatal) until a verdict parses.

    Raises ``PluginError`` with a message in words when the judge fails for good; the secret never appears in it.
    """
    criteria = list(criteria or DEFAULT_CRITERIA)
    notes: list[str] = []
    transient_left, parse_left = max(0, retries), PARSE_RETRIES
    attempt = 0
    while True:
        attempt += 1
        try:
            raw = call()
        except Fatal as exc:
            raise PluginError(scrub(f"{judge_name}: {exc}", secret)) from None
        except Transient as exc:
            message = scrub(str(exc), secret)
            if transient_left <= 0:
                tries = f" after {attempt} attempts" if attempt > 1 else ""
                raise PluginError(f"{judge_name}: {message}{tries}") from None
            transient_left -= 1
            if exc.retry_after is not None:
                wait = min(exc.retry_after, RETRY_AFTER_MAX)
                notes.append(f"attempt {attempt}: {message}; waited {wait:g} s as asked (Retry-After)")
            else:
                backoff = min(BACKOFF_BASE * 2 ** (max(0, retries) - transient_left - 1), BACKOFF_MAX)
                wait = backoff * (1 + 0.25 * random.random())
                notes.append(f"attempt {attempt}: {message}; retried after {wait:.2f} s")
            _sleep(wait)
            continue
        parsed, why = parse_verdict(raw, criteria)
        if parsed is None:
            if parse_left <= 0:
                raise PluginError(
                    scrub(
                        f"{judge_name}: the reply could not be read as a verdict ({why}) after "
                        f"{attempt} attempts; it said: {raw[:300]!r}",
                        secret,
                    )
                )
            parse_left -= 1
            notes.append(f"attempt {attempt}: unreadable reply ({why}); asked again")
            continue
        side_reasons = "; ".join(f"{s}: {r}" for s, r in (("A", parsed["reason_a"]), ("B", parsed["reason_b"])) if r)
        reasoning = parsed["reason"] or "the judge gave no overall reason"
        if side_reasons:
            reasoning += f" ({side_reasons})"
        method = "json" + (f", {attempt - 1} retr{'y' if attempt == 2 else 'ies'}" if attempt > 1 else "")
        raw_record = raw if not notes else raw + "\n\n[retries]\n" + "\n".join(notes)
        return Verdict(
            winner=parsed["winner"],
            scores=parsed["scores"],
            reasoning=scrub(reasoning, secret),
            method=method,
            raw=scrub(raw_record, secret),
        )


def int_option(options: dict, name: str, default: int, low: int, high: int) -> int:
    value = options.get(name)
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise PluginError(f"{name} must be a whole number, not {value!r}") from None
    if not low <= number <= high:
        raise PluginError(f"{name} must be from {low} to {high}, not {number}")
    return number


def float_option(options: dict, name: str, default: float, low: float, high: float) -> float:
    value = options.get(name)
    if value in (None, ""):
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PluginError(f"{name} must be a number, not {value!r}") from None
    if not low <= number <= high:
        raise PluginError(f"{name} must be from {low:g} to {high:g}, not {number:g}")
    return number


def describe_network_error(exc: BaseException) -> tuple[bool, str]:
    """(is it a timeout, words) for a transport-level exception from any HTTP library."""
    name = type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if "timeout" in name.lower() or "timed out" in text.lower():
        return True, "no reply within the time limit (timeout)"
    return False, f"cannot reach the server ({name}{': ' + text if text else ''})"


def jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except TypeError:
        return str(value)
