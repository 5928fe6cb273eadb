"""The diagnostics on a real run's recorded metric stream.

``data/streams/default-demo-fp32-to-step-42.jsonl`` is the log and eval records of the default demo (the embedded
SmolLM2-135M, built-in demo pairs, the app's default recipe: beta 0.1, lr 1e-4, batch 4, 80 steps planned, eval every
10 steps on 40 pairs) with the built-in differently-styled set as an extra eval set (``styled``), trained on a 2-core
CPU in fp32 and stopped at step 42. Its numbers show what the issue measured: in-distribution eval accuracy 0.975 at
the first evaluation, while on the styled set the accuracy stays near 0.5, the loss rises and the chosen answers lose
probability.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dpostudio.core.diagnostics.findings import (
    BOTH_REWARDS_FALLING,
    LIKELIHOOD_DISPLACEMENT,
    OVERFITTING,
    SATURATED,
    diagnose,
)

STREAM = Path(__file__).parent / "data" / "streams" / "default-demo-fp32-to-step-42.jsonl"
MAX_STEPS = 80


def _records(drop_styled: bool = False) -> list[dict]:
    records = []
    for line in STREAM.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        metrics = {k: v for k, v in event["metrics"].items() if not (drop_styled and k.startswith("eval_styled_"))}
        records.append((0 if event["type"] == "log" else 1, {"step": event["step"], **metrics}))
    return [r for _, r in sorted(records, key=lambda pair: (pair[1]["step"], pair[0]))]


@pytest.fixture(scope="module")
def findings():
    bias = {"chosen_longer_share": 0.6, "chosen_mean": 147.0, "rejected_mean": 172.0, "unit": "characters"}
    return {f.kind: f for f in diagnose(_records(), MAX_STEPS, length_bias=bias)}


def test_the_recorded_demo_raises_displacement_on_the_styled_set(findings):
    found = findings[LIKELIHOOD_DISPLACEMENT]
    assert found.step == 10  # the first evaluation: the styled chosen log-probs only fall from there
    assert "held-out set 'styled'" in found.evidence
    assert found.numbers["eval_styled_logps/chosen from"] == pytest.approx(-16.86, abs=0.01)
    assert found.numbers["eval_styled_logps/chosen to"] == pytest.approx(-20.83, abs=0.01)
    assert "eval_rewards/margins rose from 0.190 to 1.42" in found.evidence


def test_the_recorded_demo_raises_saturation_from_its_first_evaluation(findings):
    found = findings[SATURATED]
    assert found.step == 10
    assert "eval_rewards/accuracies was 0.975 at step 10 (of 80)" in found.evidence
    assert "chosen answer is the longer one in 60% of pairs" in found.evidence  # the data report's figure


def test_the_recorded_demo_raises_overfitting_on_the_styled_set(findings):
    found = findings[OVERFITTING]
    assert "eval_styled_loss rose at 3 evaluations in a row, from 0.691 (step 10) to 0.762 (step 40)" in found.evidence
    assert "eval_loss rose" not in found.evidence  # the in-distribution eval loss fell all along


def test_the_recorded_demo_explains_both_rewards_falling(findings):
    assert findings[BOTH_REWARDS_FALLING].severity == "info"
    assert set(findings) == {LIKELIHOOD_DISPLACEMENT, SATURATED, OVERFITTING, BOTH_REWARDS_FALLING}


def test_without_the_styled_set_only_saturation_and_falling_rewards_show():
    """The eval split alone looks healthy (accuracy 0.925, loss falling, chosen log-probs down 1.9 of 96 nats):
    the held-out set in another style is what reveals the rest."""
    kinds = {f.kind for f in diagnose(_records(drop_styled=True), MAX_STEPS)}
    assert kinds == {SATURATED, BOTH_REWARDS_FALLING}


def test_a_reference_free_method_is_not_told_its_rewards_are_falling():
    kinds = {f.kind for f in diagnose(_records(), MAX_STEPS, reference_free=True)}
    assert BOTH_REWARDS_FALLING not in kinds
