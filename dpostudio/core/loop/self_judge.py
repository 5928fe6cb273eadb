"""The model judges its own answers: the LLM-as-a-Judge prompt of "Self-Rewarding Language Models" (Yuan et al.,
2024, fig. 2), an additive 5-point rubric; the reply must end with ``Score: N``.

Each answer is judged ``samples`` times (the paper samples 3 judgements and averages them; with 1 the judgement
is greedy) and its score is the mean of the readable ones. A reply without a readable ``Score: N`` (0-5) counts
as unreadable: an answer none of whose judgements can be read is left unscored (``None``) and said so -- a
score is never guessed.
"""

from __future__ import annotations

import re
import threading

from dpostudio.core.compare.prompt_sets import Prompt

RUBRIC = """Review the user's question and the corresponding response using the additive 5-point scoring system \
described below. Points are accumulated based on the satisfaction of each criterion:
- Add 1 point if the response is relevant and provides some information related to the user's inquiry, even if it \
is incomplete or contains some irrelevant content.
- Add another point if the response addresses a substantial portion of the user's question, but does not \
completely resolve the query or provide a direct answer.
- Award a third point if the response answers the basic elements of the user's question in a useful way, \
regardless of whether it seems to have been written by an AI Assistant or if it has elements typically found in \
blogs or search results.
- Grant a fourth point if the response is clearly written from an AI Assistant's perspective, addressing the \
user's question directly and comprehensively, and is well-organized and helpful, even if there is slight room for \
improvement in clarity, conciseness or focus.
- Bestow a fifth point for a response that is impeccably tailored to the user's question by an AI Assistant, \
without extraneous information, reflecting expert knowledge, and demonstrating a high-quality, engaging, and \
insightful answer.

User: {instruction}

<response>{response}</response>

After examining the user's instruction and the response:
- Briefly justify your total score, up to 100 words.
- Conclude with the score using the format: "Score: <total points>"

Remember to assess from the AI Assistant perspective, utilizing web search knowledge as necessary. To evaluate the \
response in alignment with this additive scoring model, we'll systematically attribute points based on the \
outlined criteria."""

SCORE = re.compile(r"score\s*[:=]\s*\**\s*([0-5](?:\.\d+)?)\s*(?:/\s*5|points?)?", re.IGNORECASE)
MAX_SCORE = 5.0


def rubric_prompt(instruction: str, response: str) -> str:
    return RUBRIC.format(instruction=instruction, response=response)


def parse_score(text: str) -> float | None:
    """The last ``Score: N`` in a judgement (0-5), or None when there is none."""
    found = SCORE.findall(text or "")
    if not found:
        return None
    value = float(found[-1])
    return value if 0 <= value <= MAX_SCORE else None


def judge_answers(
    loaded,
    generator,
    instruction: str,
    answers: list[str],
    *,
    samples: int = 1,
    temperature: float = 0.7,
    max_new_tokens: int = 256,
    seed: int = 0,
    cancel: threading.Event | None = None,
) -> list[dict] | None:
    """Score each answer with the rubric, by the loaded model itself. Returns one
    ``{"score": float|None, "judgements": [text...], "readable": n}`` per answer; None when cancelled."""
    from dpostudio.core.loop.generate import encode, generate_batch

    encoded = [encode(loaded, Prompt(rubric_prompt(instruction, a)), generator) for a in answers]
    replies = generate_batch(
        loaded,
        encoded,
        k=samples,
        temperature=temperature if samples > 1 else 0.0,
        top_p=1.0,
        max_new_tokens=max_new_tokens,
        seed=seed,
        cancel=cancel,
    )
    if replies is None:
        return None
    results = []
    for group in replies:
        texts = [r["text"] for r in group]
        scores = [s for s in (parse_score(t) for t in texts) if s is not None]
        results.append(
            {
                "score": round(sum(scores) / len(scores), 3) if scores else None,
                "judgements": texts,
                "readable": len(scores),
            }
        )
    return results
