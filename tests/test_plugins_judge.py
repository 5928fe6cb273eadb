"""The built-in local judge: verdict parsing, and a real verdict from the embedded SmolLM2 model."""

from __future__ import annotations

import pytest

from dpostudio.plugins import Verdict
from dpostudio.plugins.manager import HookCallError, get_manager
from dpostudio_builtin import judges

CRITERIA = ["coherence", "relevance", "depth"]
PROMPT = "What is the capital of France?"
GOOD = "The capital of France is Paris, a large city on the river Seine."
BAD = "Bananas are yellow and I like trains."


def test_parse_a_well_formed_verdict():
    text = ("coherence: A=8 B=3\nRelevance: A = 9, B = 2\n**depth**: A=7/10 B=2\nwinner: A\n"
            "reason: A answers the question.")
    parsed = judges.parse_pair_verdict(text, CRITERIA)
    assert parsed == {"scores": {"coherence": {"A": 8, "B": 3}, "relevance": {"A": 9, "B": 2},
                                 "depth": {"A": 7, "B": 2}},
                      "winner": "A", "reason": "A answers the question."}


@pytest.mark.parametrize("text", [
    "coherence: A=<score> B=<score>\nrelevance: A=<score> B=<score>\ndepth: A=<score> B=<score>\nwinner: A",
    "coherence: A=8 B=3\nrelevance: A=9 B=2\nwinner: A",  # a criterion missing
    "coherence: A=80 B=3\nrelevance: A=9 B=2\ndepth: A=1 B=2",  # out of range
    "The capital of France is Paris.",
])
def test_unreadable_verdicts_are_not_guessed(text):
    assert judges.parse_pair_verdict(text, CRITERIA) is None


def test_the_rubric_asks_for_the_parsed_format():
    rubric = judges.pair_rubric(PROMPT, GOOD, BAD, CRITERIA)
    for crit in CRITERIA:
        assert f"{crit}: A=<score> B=<score>" in rubric
    assert "winner: <A, B or tie>" in rubric and GOOD in rubric and BAD in rubric


def test_bad_options_are_user_errors():
    with pytest.raises(HookCallError, match="method must be one of auto, generate, loglik") as exc:
        get_manager().judge_pair("local-model", PROMPT, GOOD, BAD, CRITERIA, {"method": "vibes"})
    assert exc.value.user_error
    assert get_manager().info("builtin-judges").status == "active"


@pytest.mark.slow
def test_local_judge_gives_a_structured_verdict_on_the_embedded_model(embedded_model):
    manager = get_manager()
    options = {"model": embedded_model.spec}
    verdict = manager.judge_pair("local-model", PROMPT, GOOD, BAD, CRITERIA, options, timeout=600)
    assert isinstance(verdict, Verdict)
    assert verdict.winner in ("A", "B", "tie")
    assert set(verdict.scores) == set(CRITERIA)
    assert all(0 <= s[k] <= 10 for s in verdict.scores.values() for k in "AB")
    assert verdict.method in ("parsed", "loglik") and verdict.reasoning
    assert verdict.raw  # the auto method always keeps what the model said

    # The loglik method asks about each answer separately, so it has no position bias: swapping the answers
    # mirrors the scores exactly. On this pair the embedded model reliably prefers the sensible answer.
    forward = manager.judge_pair("local-model", PROMPT, GOOD, BAD, CRITERIA, {**options, "method": "loglik"})
    backward = manager.judge_pair("local-model", PROMPT, BAD, GOOD, CRITERIA, {**options, "method": "loglik"})
    assert forward.method == "loglik" and "probability of answering 'Yes'" in forward.reasoning
    assert {c: (s["A"], s["B"]) for c, s in forward.scores.items()} == \
           {c: (s["B"], s["A"]) for c, s in backward.scores.items()}
    assert forward.winner == "A" and backward.winner == "B"
