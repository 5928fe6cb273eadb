"""Diagnostics: each kind of finding on a small synthetic metric stream that shows it, and the negatives that matter
(a healthy run, noise alone, short runs, NaN) on the same streams."""

import ast
import json
import math

import pytest
from metric_streams import kinds, only, run_stream

from dpostudio.core.diagnostics import findings as F
from dpostudio.core.diagnostics import thresholds
from dpostudio.core.diagnostics.findings import Finding, RunWatcher, diagnose, load_findings, save_findings


# ---- the negatives that matter ------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(12))
def test_a_healthy_run_raises_nothing(seed):
    assert diagnose(run_stream(seed=seed), 100) == []


@pytest.mark.parametrize("seed", range(6))
def test_noise_alone_raises_nothing(seed):
    """Twice the batch noise around flat, plausible levels (a run that has settled): no trend, no alarm."""
    flat = dict(
        loss=lambda q: 0.5,
        margin=lambda q: 0.8,
        accuracy=lambda q: 0.75,
        chosen=lambda q: 0.05,
        eval_loss=lambda q: 0.55,
        eval_accuracy=lambda q: 0.72,
        eval_margin=lambda q: 0.7,
    )
    assert diagnose(run_stream(seed=seed, noise=2.0, **flat), 100) == []


def test_too_few_points_raise_nothing_even_when_alarming():
    """A few logs of falling chosen log-probs and rising margins are not a trend yet."""
    records = run_stream(max_steps=200, logps_chosen=lambda q: -120 - 400 * q, margin=lambda q: 20 * q)
    assert diagnose(records[: thresholds.MIN_POINTS - 2], 200) == []


# ---- one test per kind ----------------------------------------------------------------------------------
def test_likelihood_displacement():
    records = run_stream(
        logps_chosen=lambda q: -120 - 40 * q,  # the chosen answers lose 40 nats
        chosen=lambda q: -0.4 * q,
        margin=lambda q: 1.5 * q,
        eval_logps_chosen=lambda q: -118 - 40 * q,
        eval_margin=lambda q: 1.5 * q,
    )
    finding = only(diagnose(records, 100), F.LIKELIHOOD_DISPLACEMENT)
    assert finding.severity == F.WARNING
    assert "logps/chosen fell from" in finding.evidence and "rewards/margins rose" in finding.evidence
    assert "eval_logps/chosen fell" in finding.evidence
    assert finding.numbers["logps/chosen to"] < finding.numbers["logps/chosen from"] - 20
    assert 1 <= finding.step <= 40  # where the smoothed chosen log-prob peaked, early on
    assert "sft" in finding.advice and "beta" in finding.advice and "learning rate" in finding.advice


def test_chosen_logps_falling_without_rising_margins_is_not_displacement():
    records = run_stream(logps_chosen=lambda q: -120 - 40 * q, margin=lambda q: 0.3)
    assert F.LIKELIHOOD_DISPLACEMENT not in kinds(diagnose(records, 100))


def test_saturated_too_easy():
    records = run_stream(
        max_steps=200,
        accuracy=lambda q: 1.0,  # every pair ranked right from the first steps
        margin=lambda q: 1 + 8 * q,
        loss=lambda q: 0.3 * (1 - q) + 0.05,
    )
    finding = only(diagnose(records, 200), F.SATURATED)
    assert finding.step <= 20  # in the first tenth
    assert "length bias" in finding.advice and "data report" in finding.advice
    assert "rewards/accuracies was 1.00" in finding.evidence


def test_saturated_needs_the_run_length_and_an_early_streak():
    records = run_stream(max_steps=200, accuracy=lambda q: 1.0, margin=lambda q: 1 + 8 * q)
    assert F.SATURATED not in kinds(diagnose(records, None))
    late = run_stream(max_steps=200, accuracy=lambda q: 0.7 if q < 0.5 else 1.0, margin=lambda q: 1 + 8 * q)
    assert F.SATURATED not in kinds(diagnose(late, 200))


def test_overfitting_eval_loss_rises_while_train_loss_falls():
    records = run_stream(
        max_steps=100,
        eval_every=10,
        loss=lambda q: 0.69 - 0.6 * q,
        eval_loss=lambda q: 0.6 if q <= 0.4 else 0.6 + 0.1 * (q - 0.4),
        eval_accuracy=lambda q: 0.7,
    )
    found = diagnose(records, 100)
    finding = only(found, F.OVERFITTING)
    assert finding.step == 40  # the evaluation where the eval loss was lowest
    assert "eval_loss rose at" in finding.evidence and "training loss fell" in finding.evidence
    assert "checkpoint" in finding.advice


def test_overfitting_accuracy_gap():
    records = run_stream(
        max_steps=100, accuracy=lambda q: 0.6 + 0.4 * q, eval_accuracy=lambda q: 0.6, eval_loss=lambda q: 0.6
    )
    finding = only(diagnose(records, 100), F.OVERFITTING)
    assert "training accuracy" in finding.evidence and "evaluation accuracy" in finding.evidence
    assert finding.numbers["accuracy gap"] >= thresholds.OVERFIT_ACC_GAP


def test_one_eval_loss_wobble_is_not_overfitting():
    records = run_stream(eval_every=10, eval_loss=lambda q: 0.6 if abs(q - 0.5) > 0.01 else 0.62)
    assert F.OVERFITTING not in kinds(diagnose(records, 100))


def test_collapse_nan_loss_and_grad_norm():
    records = run_stream(max_steps=40, eval_every=0)
    records[19]["loss"] = float("nan")
    records[19]["grad_norm"] = float("inf")
    for record in records[20:]:
        record["loss"] = float("nan")
    watcher = RunWatcher(40)
    raised_at = None
    for record in records:
        if any(f.kind == F.COLLAPSE for f in watcher.feed(record)) and raised_at is None:
            raised_at = record["step"]
    assert raised_at == 20  # at once, not after a window
    finding = only(watcher.findings, F.COLLAPSE)
    assert finding.step == 20 and finding.title.endswith("loss is NaN")
    assert "loss was NaN at step 20" in finding.evidence and "more NaN or infinite values" in finding.evidence
    assert "learning rate" in finding.advice


def test_nan_values_do_not_break_the_other_rules():
    records = run_stream()
    records[30]["logps/chosen"] = float("nan")  # not watched for divergence: simply left out
    records[31]["rewards/accuracies"] = None
    records[32]["rewards/chosen"] = "n/a"
    assert diagnose(records, 100) == []


def test_collapse_loss_near_zero_early_and_margins_exploding():
    records = run_stream(
        loss=lambda q: max(0.69 - 20 * q, 0.001),
        margin=lambda q: 100 * q,
        accuracy=lambda q: 1.0,
        chosen=lambda q: -20 * q,
    )
    finding = only(diagnose(records, 100), F.COLLAPSE)
    assert "loss was ≤" in finding.evidence and "rewards/margins reached" in finding.evidence
    assert finding.step <= 10


def test_collapse_gradient_spikes():
    records = run_stream()
    records[40 + 2]["grad_norm"] = 60.0  # log records only: the evals at steps 20 and 40 shift the index by 2
    records[60 + 3]["grad_norm"] = 80.0
    finding = only(diagnose(records, 100), F.COLLAPSE)
    assert "spike" in finding.title
    assert finding.step == 41 and "2 spikes in all (steps 41, 61)" in finding.evidence


def test_one_gradient_spike_is_tolerated():
    records = run_stream()
    records[42]["grad_norm"] = 60.0
    assert diagnose(records, 100) == []


def test_not_learning():
    records = run_stream(
        margin=lambda q: 0.0,
        chosen=lambda q: 0.0,
        accuracy=lambda q: 0.5,
        loss=lambda q: 0.693,
        eval_margin=lambda q: 0.0,
        eval_loss=lambda q: 0.693,
        eval_accuracy=lambda q: 0.5,
    )
    for record in records:  # tiny margins: a learning rate far too low
        if "rewards/margins" in record:
            record["rewards/margins"] *= 0.02
    watcher = RunWatcher(100)
    raised = [(r["step"], f.kind) for r in records for f in watcher.feed(r)]
    assert raised and raised[0] == (30, F.NOT_LEARNING)  # not before 30 % of the run
    finding = only(watcher.findings, F.NOT_LEARNING)
    assert "learning rate" in finding.advice and "beta" in finding.advice and "LoRA" in finding.advice


def test_both_rewards_falling_is_explained_not_alarmed():
    records = run_stream(chosen=lambda q: -0.6 * q, margin=lambda q: 1.0 * (1 - math.exp(-5 * q)))
    finding = only(diagnose(records, 100), F.BOTH_REWARDS_FALLING)
    assert finding.severity == F.INFO
    assert "rewards/chosen went from" in finding.evidence and "rewards/rejected" in finding.evidence
    assert "Likelihood displacement" in finding.meaning


def test_loss_rising_while_accuracy_rises():
    records = run_stream(
        loss=lambda q: 0.5 + 0.3 * q, accuracy=lambda q: 0.4 + 0.6 * q, eval_loss=lambda q: 0.5 + 0.2 * q,
        eval_accuracy=lambda q: 0.6 + 0.2 * q,
    )
    finding = only([f for f in diagnose(records, 100) if f.severity == F.INFO], F.LOSS_UP_ACCURACY_UP)
    assert "the loss trend rose" in finding.evidence and "eval_loss rose" in finding.evidence
    assert "confident" in finding.meaning


# ---- the watcher's contract --------------------------------------------------------------------------
def test_each_kind_is_raised_once_and_updates_come_back_at_a_limited_rate():
    records = run_stream(
        max_steps=200,
        logps_chosen=lambda q: -120 - 60 * q,
        chosen=lambda q: -0.5 * q,
        margin=lambda q: 2 * q,
        eval_every=0,
    )
    watcher = RunWatcher(200)
    returned = [(r["step"], f.kind, f.evidence) for r in records for f in watcher.feed(r)]
    displacement = [r for r in returned if r[1] == F.LIKELIHOOD_DISPLACEMENT]
    assert len([f for f in watcher.findings if f.kind == F.LIKELIHOOD_DISPLACEMENT]) == 1
    assert 1 < len(displacement) <= 1 + 200 / (thresholds.UPDATE_EVERY_FRACTION * 200)
    assert all(b[0] - a[0] >= 10 for a, b in zip(displacement, displacement[1:]))
    finding = only(watcher.findings, F.LIKELIHOOD_DISPLACEMENT)
    assert finding.step == displacement[0][0] or finding.step < displacement[0][0]  # kept from when it was raised
    assert finding.last_step == displacement[-1][0] and finding.evidence == displacement[-1][2]


def test_findings_round_trip_through_the_run_folder(tmp_path):
    records = run_stream(chosen=lambda q: -0.6 * q)
    found = diagnose(records, 100)
    assert found
    save_findings(tmp_path, found)
    assert json.loads((tmp_path / F.FINDINGS_FILE).read_text())[0]["kind"] == found[0].kind
    assert load_findings(tmp_path) == found
    assert load_findings(tmp_path / "nowhere") == []
    (tmp_path / F.FINDINGS_FILE).write_text("{not json")
    assert load_findings(tmp_path) == []


def test_finding_line_and_from_dict_ignore_unknown_fields():
    finding = Finding(F.COLLAPSE, 12, "Collapse", "loss was NaN at step 12", "m", "a")
    assert finding.line() == "step 12 · Collapse (loss was NaN at step 12)"
    assert Finding.from_dict({**finding.to_dict(), "future_field": 1}) == finding


def test_every_kind_has_words_and_a_rule():
    assert set(F.WORDS) == set(F.KINDS) == set(F.RULES)
    for words in F.WORDS.values():
        assert words.severity in (F.WARNING, F.INFO) and words.meaning and words.advice


def test_every_threshold_says_why():
    source = thresholds.__file__
    with open(source, encoding="utf-8") as fh:
        text = fh.read()
    lines = text.splitlines()
    names = [
        node.targets[0].id if isinstance(node, ast.Assign) else node.target.id
        for node in ast.parse(text).body
        if isinstance(node, (ast.Assign, ast.AnnAssign))
    ]
    assert len(names) >= 20
    for name in names:
        line = next(line for line in lines if line.startswith(name))
        assert "#" in line and len(line.split("#", 1)[1].split()) >= 5, f"{name} has no reason"
    for name in names:
        assert name.isupper()


def test_a_long_run_is_replayed_quickly():
    import time

    records = run_stream(max_steps=3000, eval_every=300)
    start = time.perf_counter()
    diagnose(records, 3000)
    assert time.perf_counter() - start < 20  # 2-core CI machine; measured well below
