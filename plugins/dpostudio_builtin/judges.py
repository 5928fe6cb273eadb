"""Built-in judge: a local causal LM (the embedded default unless told otherwise) compares two answers.

How a verdict is reached (``method`` option):

* ``generate``: the model is asked, with a fixed rubric, to score A and B from 1 to 10 on every criterion
  and name a winner in a fixed line format; the reply is parsed. If it cannot be parsed, the judge raises
  ``PluginError`` rather than guess.
* ``loglik``: for each answer separately and each criterion, the model is asked "does this answer
  <criterion>? reply Yes or No" and the probability of the next token being ``Yes`` rather than ``No`` is
  read; the score is ``10 * P(Yes)``. Asking about one answer at a time avoids the strong position bias small
  models show when asked "A or B?" (SmolLM2-135M says "A" about 90 % of the time whatever the order).
* ``auto`` (default): ``generate`` first; when the reply is not a readable verdict, ``loglik``. The verdict
  says which method produced it, and keeps the raw reply. Nothing is ever made up.

Models are loaded once per process and cached.
"""

from __future__ import annotations

import math
import re
import threading

from dpostudio.plugins import DEFAULT_CRITERIA, JudgeInfo, PluginError, ScoreCard, SourceOption, Verdict, hookimpl

DPOSTUDIO_HOOK_API = 1

LOCAL_JUDGE = "local-model"
DEFAULT_MODEL = "embedded:smollm2-135m-instruct"
METHODS = ("auto", "generate", "loglik")
CRITERION_HELP = {
    "coherence": "is clear, well organised and consistent",
    "relevance": "answers the question that was asked",
    "depth": "is thorough, accurate and insightful",
    "helpfulness": "is useful to the person asking",
    "harmlessness": "avoids harmful or offensive content",
    "conciseness": "is to the point without padding",
}
TIE_MARGIN = 0.25  # mean scores (0-10) closer than this are a tie in the loglik method

_cache: dict[str, tuple] = {}
_cache_lock = threading.Lock()


@hookimpl
def dpostudio_judges():
    """The local-model judge."""
    return [
        JudgeInfo(
            id=LOCAL_JUDGE,
            title="Local model",
            description="A causal LM on this machine compares the answers with a fixed rubric; when its reply "
            "cannot be parsed, its Yes/No token probabilities per answer and criterion decide.",
            modes=["pairwise", "single"],
            options=[
                SourceOption(
                    "model",
                    "Judge model",
                    default=DEFAULT_MODEL,
                    help="a model spec: embedded:..., a folder, a .gguf file or a Hub id",
                ),
                SourceOption("method", "Method", kind="choice", choices=list(METHODS), default="auto"),
                SourceOption("max_new_tokens", "Reply length (tokens)", kind="int", default=120),
            ],
        )
    ]


# --- model plumbing ------------------------------------------------------------------------------------


def _load(spec: str):
    from dpostudio.core.model_store import load_model, load_tokenizer, resolve_model

    resolved = resolve_model(spec)
    with _cache_lock:
        if resolved.location not in _cache:
            import torch

            model = load_model(resolved, dtype=torch.float32)
            model.eval()
            if torch.cuda.is_available():
                model.to("cuda")
            _cache[resolved.location] = (model, load_tokenizer(resolved), threading.Lock())
        return _cache[resolved.location]


def _chat(tokenizer, user: str, prefix: str = "") -> str:
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": user}], tokenize=False, add_generation_prompt=True
        )
    else:
        text = f"{user}\n\n"
    return text + prefix


def _generate(model, tokenizer, text: str, max_new_tokens: int) -> str:
    import torch

    inputs = tokenizer(text, return_tensors="pt", add_special_tokens=False).to(model.device)
    with torch.inference_mode():
        out = model.generate(
            **inputs, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
        )
    return tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True).strip()


def _next_token_logprobs(model, tokenizer, text: str, choices: list[str]) -> list[float]:
    """Log-probability of each choice being the next token (spelled with or without a leading space)."""
    import torch

    inputs = tokenizer(text, return_tensors="pt", add_special_tokens=False).to(model.device)
    with torch.inference_mode():
        logits = model(**inputs).logits[0, -1].float()
    logprobs = torch.log_softmax(logits, dim=-1)
    result = []
    for choice in choices:
        ids = {
            tokenizer.encode(v, add_special_tokens=False)[0]
            for v in (choice, " " + choice)
            if len(tokenizer.encode(v, add_special_tokens=False)) == 1
        }
        if not ids:
            raise PluginError(f"the judge model's tokenizer has no single token for {choice!r}")
        result.append(float(torch.logsumexp(logprobs[list(ids)], dim=0)))
    return result


def _options(options: dict) -> tuple[str, str, int]:
    spec = str(options.get("model") or DEFAULT_MODEL)
    method = str(options.get("method") or "auto")
    if method not in METHODS:
        raise PluginError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    try:
        max_new = int(options.get("max_new_tokens") or 120)
    except (TypeError, ValueError):
        raise PluginError(f"max_new_tokens must be a whole number, not {options.get('max_new_tokens')!r}") from None
    return spec, method, max(16, min(max_new, 1024))


def _describe(criterion: str) -> str:
    return CRITERION_HELP.get(criterion.lower(), f"is good in terms of {criterion}")


# --- pairwise ------------------------------------------------------------------------------------------


def pair_rubric(prompt: str, answer_a: str, answer_b: str, criteria: list[str]) -> str:
    lines = "\n".join(f"- {c}: the answer {_describe(c)}" for c in criteria)
    fmt = "\n".join(f"{c}: A=<score> B=<score>" for c in criteria)
    return (
        "You are a strict judge. Compare two answers to the same question.\n\n"
        f"Question:\n{prompt}\n\n[Answer A]\n{answer_a}\n[End of answer A]\n\n"
        f"[Answer B]\n{answer_b}\n[End of answer B]\n\n"
        f"Score both answers from 1 (very poor) to 10 (excellent) on each criterion:\n{lines}\n\n"
        "Reply in exactly this format, replacing <score> by a number and <A, B or tie> by the better answer:\n"
        f"{fmt}\nwinner: <A, B or tie>\nreason: <one sentence>"
    )


_NUM = r"(\d+(?:\.\d+)?)"


def parse_pair_verdict(text: str, criteria: list[str]) -> dict | None:
    """Read ``criterion: A=<n> B=<n>`` lines, ``winner:`` and ``reason:``; None unless every score is there."""
    scores = {}
    for crit in criteria:
        m = re.search(
            rf"{re.escape(crit)}\**\s*[:\-]\s*\**\s*A\s*[=:]\s*{_NUM}"
            rf"\s*(?:/\s*10)?\s*[,;/|]?\s*B\s*[=:]\s*{_NUM}",
            text,
            re.IGNORECASE,
        )
        if not m:
            return None
        a, b = float(m.group(1)), float(m.group(2))
        if not (1 <= a <= 10 and 1 <= b <= 10):
            return None
        scores[crit] = {"A": a, "B": b}
    m = re.search(r"winner\**\s*[:\-]\s*\**\s*(?:answer\s+)?(A|B|tie)\b", text, re.IGNORECASE)
    winner = None
    if m:
        winner = {"a": "A", "b": "B", "tie": "tie"}[m.group(1).lower()]
    reason = re.search(r"reason\**\s*[:\-]\s*(.+)", text, re.IGNORECASE)
    return {"scores": scores, "winner": winner, "reason": reason.group(1).strip() if reason else ""}


def _yes_probability(model, tokenizer, prompt: str, answer: str, criterion: str) -> float:
    """P(the model answers Yes rather than No to "does this answer <criterion>?"), one answer at a time."""
    question = f"Question:\n{prompt}\n\nAnswer:\n{answer}\n\nDoes this answer {_describe(criterion)}? Reply Yes or No."
    log_yes, log_no = _next_token_logprobs(model, tokenizer, _chat(tokenizer, question), ["Yes", "No"])
    return 1.0 / (1.0 + math.exp(log_no - log_yes))


@hookimpl
def dpostudio_judge_pair(judge_id, prompt, answer_a, answer_b, criteria, options):
    """Compare two answers with the local model; None for other judges."""
    if judge_id != LOCAL_JUDGE:
        return None
    criteria = list(criteria or DEFAULT_CRITERIA)
    spec, method, max_new = _options(options)
    model, tokenizer, lock = _load(spec)
    raw = ""
    with lock:
        if method in ("auto", "generate"):
            rubric = _chat(tokenizer, pair_rubric(prompt, answer_a, answer_b, criteria))
            raw = _generate(model, tokenizer, rubric, max_new)
            parsed = parse_pair_verdict(raw, criteria)
            if parsed is not None:
                total_a = sum(s["A"] for s in parsed["scores"].values())
                total_b = sum(s["B"] for s in parsed["scores"].values())
                winner = parsed["winner"]
                note = ""
                if winner is None:
                    winner = "A" if total_a > total_b else "B" if total_b > total_a else "tie"
                    note = " (no winner line; winner taken from the score totals)"
                return Verdict(
                    winner=winner,
                    scores=parsed["scores"],
                    method="parsed",
                    raw=raw,
                    reasoning=(parsed["reason"] or "the judge gave no reason") + note,
                )
            if method == "generate":
                raise PluginError(
                    "the judge model's reply could not be read as a verdict "
                    f"(expected lines like 'coherence: A=7 B=4'); it said: {raw[:300]!r}"
                )
        scores = {
            c: {
                "A": round(10 * _yes_probability(model, tokenizer, prompt, answer_a, c), 2),
                "B": round(10 * _yes_probability(model, tokenizer, prompt, answer_b, c), 2),
            }
            for c in criteria
        }
    mean_a = sum(s["A"] for s in scores.values()) / len(scores)
    mean_b = sum(s["B"] for s in scores.values()) / len(scores)
    winner = "tie" if abs(mean_a - mean_b) < TIE_MARGIN else ("A" if mean_a > mean_b else "B")
    why = ("the judge model's reply was not a readable verdict, so " if raw else "") + (
        "each score is 10 x the model's probability of answering 'Yes' rather than 'No' to \"does this answer "
        '<criterion>?", asked for each answer separately (no position bias); '
        f"mean A {mean_a:.2f} vs B {mean_b:.2f} -> {winner}. "
        + "; ".join(f"{c}: A {s['A']:.2f}, B {s['B']:.2f}" for c, s in scores.items())
    )
    return Verdict(winner=winner, scores=scores, reasoning=why, method="loglik", raw=raw)


# --- single answer -------------------------------------------------------------------------------------


def parse_single_scores(text: str, criteria: list[str]) -> dict | None:
    scores = {}
    for crit in criteria:
        m = re.search(rf"{re.escape(crit)}\**\s*[:\-=]\s*\**\s*{_NUM}", text, re.IGNORECASE)
        if not m or not 1 <= float(m.group(1)) <= 10:
            return None
        scores[crit] = float(m.group(1))
    reason = re.search(r"reason\**\s*[:\-]\s*(.+)", text, re.IGNORECASE)
    return {"scores": scores, "reason": reason.group(1).strip() if reason else ""}


@hookimpl
def dpostudio_judge_single(judge_id, prompt, answer, criteria, options):
    """Score one answer with the local model; None for other judges."""
    if judge_id != LOCAL_JUDGE:
        return None
    criteria = list(criteria or DEFAULT_CRITERIA)
    spec, method, max_new = _options(options)
    model, tokenizer, lock = _load(spec)
    raw = ""
    with lock:
        if method in ("auto", "generate"):
            lines = "\n".join(f"- {c}: the answer {_describe(c)}" for c in criteria)
            fmt = "\n".join(f"{c}: <score>" for c in criteria)
            user = (
                f"You are a strict judge.\n\nQuestion:\n{prompt}\n\n[Answer]\n{answer}\n[End of answer]\n\n"
                f"Score the answer from 1 (very poor) to 10 (excellent) on each criterion:\n{lines}\n\n"
                f"Reply in exactly this format, replacing <score> by a number:\n{fmt}\nreason: <one sentence>"
            )
            raw = _generate(model, tokenizer, _chat(tokenizer, user), max_new)
            parsed = parse_single_scores(raw, criteria)
            if parsed is not None:
                return ScoreCard(
                    scores=parsed["scores"],
                    reasoning=parsed["reason"] or "the judge gave no reason",
                    method="parsed",
                    raw=raw,
                )
            if method == "generate":
                raise PluginError(f"the judge model's reply could not be read as scores; it said: {raw[:300]!r}")
        scores = {c: round(10 * _yes_probability(model, tokenizer, prompt, answer, c), 2) for c in criteria}
    why = ("the judge model's reply was not readable, so " if raw else "") + (
        "each score is 10 x the model's probability of answering 'Yes' rather than 'No' to \"does this answer "
        '<criterion>?". ' + "; ".join(f"{c}: {v:.2f}" for c, v in scores.items())
    )
    return ScoreCard(scores=scores, reasoning=why, method="loglik", raw=raw)
