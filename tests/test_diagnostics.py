"""Diagnostics: each kind of finding on a small synthetic metric stream that shows it, and the negatives that matter
(a healthy run, noise alone, short runs, NaN) on the same streams."""

import ast
import json
import math
import random

import pytest

from dpostudio.core.diagnostics import findings as F
from dpostudio.core.diagnostics import thresholds
from dpostudio.core.diagnostics.findings import Finding, RunWatcher, diagnose, load_findings, save_findings


def run_stream(max_steps=100, seed=0, noise=1.0, eval_every=20, **shape):
    """A DPO run's log (and eval) records, one log per step, with small-batch noise. By default a healthy run: the
    loss falls gently, the margins rise then plateau, accuracy settles near 0.8, the chosen log-probs stay put.
    ``shape`` overrides the curves: functions of the run's progress ``q`` (0..1) giving the noiseless value."""
    rnd = random.Random(seed)
    curves = {
        "loss": lambda q: 0.69 - 0.22 * (1 - math.exp(-5 * q)),
        "margin": lambda q: 1.0 * (1 - math.exp(-5 * q)),
        "accuracy": lambda q: 0.5 + 0.3 * (1 - math.exp(-5 * q)),
        "chosen": lambda q: 0.1 * (1 - math.exp(-5 * q)),  # rewards/chosen
        "logps_chosen": lambda q: -120.0,
        "grad_norm": lambda q: 2.0,
        "eval_loss": lambda q: 0.69 - 0.15 * q**0.5,
        "eval_accuracy": lambda q: 0.6 + 0.15 * q**0.5,
        "eval_margin": lambda q: 0.8 * q**0.5,
        "eval_logps_chosen": lambda q: -118.0,
    }
    curves.update(shape)
    records = []
    for step in range(1, max_steps + 1):
        q = step / max_steps
        if step == 1:  # the policy is the reference at the first log: a tie on every pair
            margin, accuracy, chosen, loss = 0.0, 0.0, 0.0, 0.6931
        else:
            margin = curves["margin"](q) + rnd.gauss(0, 0.15 * noise)
            p = min(max(curves["accuracy"](q), 0.0), 1.0)
            accuracy = sum(rnd.random() < p for _ in range(8)) / 8  # a batch of 8 pairs
            chosen = curves["chosen"](q) + rnd.gauss(0, 0.05 * noise)
            loss = curves["loss"](q) + rnd.gauss(0, 0.05 * noise)
        records.append(
            {
                "step": step,
                "epoch": q,
                "loss": loss,
                "rewards/margins": margin,
                "rewards/accuracies": accuracy,
                "rewards/chosen": chosen,
                "rewards/rejected": chosen - margin,
                "logps/chosen": curves["logps_chosen"](q) + rnd.gauss(0, 15 * noise),  # batches differ in length
                "logps/rejected": -130.0 + rnd.gauss(0, 15 * noise),
                "grad_norm": curves["grad_norm"](q) * math.exp(rnd.gauss(0, 0.3 * noise)),
                "learning_rate": 5e-5 * (1 - q),
            }
        )
        if eval_every and step % eval_every == 0:
            records.append(
                {
                    "step": step,
                    "epoch": q,
                    "eval_loss": curves["eval_loss"](q),
                    "eval_rewards/accuracies": curves["eval_accuracy"](q),
                    "eval_rewards/margins": curves["eval_margin"](q),
                    "eval_logps/chosen": curves["eval_logps_chosen"](q) + rnd.gauss(0, 0.3),
                }
            )
    return records


def kinds(found):
    return sorted(f.kind for f in found)


def only(found, kind):
    matching = [f for f in found if f.kind == kind]
    assert len(matching) == 1, [(f.kind, f.evidence) for f in found]
    return matching[0]


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


# ---- the engine, the run folder and the CLI ---------------------------------------------------------------
DISPLACEMENT = dict(logps_chosen=lambda q: -120 - 40 * q, chosen=lambda q: -0.4 * q, margin=lambda q: 1.5 * q)


def as_events(records, max_steps):
    for record in records:
        metrics = {k: v for k, v in record.items() if k not in ("step", "epoch")}
        if any(k.startswith("eval_") for k in metrics):
            yield {"type": "eval", "step": record["step"], "epoch": record["epoch"], "metrics": metrics}
        else:
            yield {"type": "log", "step": record["step"], "max_steps": max_steps, "epoch": record["epoch"],
                   "metrics": metrics, "elapsed_s": 1.0, "eta_s": 1.0}


def fake_training(records, max_steps, before=()):
    """An engine ``_run`` that emits ``records`` as the TRL callback would (no model, no TRL)."""

    def _run(config, run, emit, cancel, resuming):
        for event in before:
            emit(event)
        for event in as_events(records, max_steps):
            emit(event)
        return records[-1]["step"] if records else 0

    return _run


def test_the_engine_emits_finding_events_and_keeps_findings_json(monkeypatch):
    from dpostudio.core.training import engine
    from dpostudio.core.training.run_config import RunConfig

    records = run_stream(**DISPLACEMENT)
    monkeypatch.setattr(engine, "_run", fake_training(records, 100))
    events = []
    run = engine.train(RunConfig(max_steps=100), events.append)

    finding_events = [(i, e) for i, e in enumerate(events) if e["type"] == "finding"]
    assert finding_events
    for i, event in finding_events:  # right after the record that raised it, at its step
        assert events[i - 1]["type"] in ("log", "eval", "finding") and event["step"] == events[i - 1]["step"]
        assert Finding.from_dict(event["finding"]).kind in F.KINDS
    latest = {e["finding"]["kind"]: Finding.from_dict(e["finding"]) for _, e in finding_events}
    assert sorted(latest) == kinds(diagnose(records, 100))
    assert {f.kind: f for f in load_findings(run.path)} == latest
    # the finding events are in metrics.jsonl, and the metric records are as before
    written = [json.loads(line) for line in run.metrics_path.read_text().splitlines()]
    assert sum(e["type"] == "finding" for e in written) == len(finding_events)
    assert len(run.metrics("log")) == 100 and len(run.metrics("eval")) == 5
    assert run.records()[-1]["step"] == 100 and "eval_loss" in run.records()[-1]
    assert run.max_steps() == 100
    assert run.findings() == load_findings(run.path)


def test_a_fresh_run_has_an_empty_findings_file_and_a_resumed_one_keeps_its_findings(monkeypatch):
    from dpostudio.core.training import engine
    from dpostudio.core.training.run_config import RunConfig

    records = run_stream(max_steps=100, eval_every=0, **DISPLACEMENT)
    first_part = [r for r in records if r["step"] <= 60]
    monkeypatch.setattr(engine, "_run", fake_training(first_part, 100))
    run = engine.train(RunConfig(max_steps=100))
    raised = {f.kind: f for f in load_findings(run.path)}
    assert F.LIKELIHOOD_DISPLACEMENT in raised
    checkpoint = run.checkpoints_dir / "checkpoint-50"  # the run went on to step 60 but resumes from step 50
    checkpoint.mkdir(parents=True)
    for name in ("adapter_config.json", "adapter_model.safetensors", "trainer_state.json"):
        (checkpoint / name).write_text("{}", encoding="utf-8")

    rest = [r for r in records if r["step"] > 50]
    resumed = {"type": "resumed", "from_step": 50, "checkpoint": str(checkpoint)}
    monkeypatch.setattr(engine, "_run", fake_training(rest, 100, before=[resumed]))
    events = []
    engine.train(None, events.append, resume=run.id)
    again = [Finding.from_dict(e["finding"]) for e in events if e["type"] == "finding"]
    for finding in again:  # updates of what the replay raised, never a second raise from scratch
        if finding.kind in raised:
            assert finding.step == raised[finding.kind].step
    assert {f.kind for f in load_findings(run.path)} == set(kinds(diagnose(records, 100)))
    # the finding events written after step 50 before the resume are superseded, like the records
    kept = [e for e in run.events() if e["type"] == "finding"]
    resumed_at = next(i for i, e in enumerate(run.events()) if e["type"] == "resumed")
    assert all(e["step"] <= 50 for e in run.events()[:resumed_at] if e["type"] == "finding")
    assert len(kept) >= 1

    fresh = engine.train(RunConfig(max_steps=100))  # (the fake emits the same records: only the file matters here)
    assert (fresh.path / F.FINDINGS_FILE).is_file()


def test_diagnostics_never_stop_a_run(monkeypatch):
    from dpostudio.core.training import engine
    from dpostudio.core.training.run_config import RunConfig

    def broken(self, record):
        raise RuntimeError("a bug in a rule")

    monkeypatch.setattr(RunWatcher, "feed", broken)
    monkeypatch.setattr(engine, "_run", fake_training(run_stream(max_steps=20), 20))
    events = []
    run = engine.train(RunConfig(max_steps=20), events.append)
    assert sum(e["type"] == "log" for e in events) == 20
    assert not any(e["type"] in ("finding", "failed") for e in events)
    assert "diagnostics stopped" in run.log_path.read_text()


def test_the_cli_prints_a_finding_once_with_its_advice():
    import io

    from dpostudio.cli.train import TrainingDisplay

    stream = io.StringIO()
    display = TrainingDisplay(stream)
    events = list(as_events(run_stream(max_steps=100, eval_every=0)[:3], 100))
    finding = only(diagnose(run_stream(**DISPLACEMENT), 100), F.LIKELIHOOD_DISPLACEMENT)
    for event in events:
        display(event)
    display({"type": "finding", "step": 40, "finding": finding.to_dict()})
    display({"type": "finding", "step": 45, "finding": {**finding.to_dict(), "evidence": "fresher"}})
    display({"type": "finding", "step": 46, "finding": {"kind": "x"}})  # unreadable: ignored
    display.bar.close()
    text = stream.getvalue()
    assert f"⚠ step {finding.step} · {finding.title} ({finding.evidence})" in text
    assert f"\n    {finding.advice}" in text
    assert "fresher" not in text


def test_runs_show_prints_the_findings_with_meaning_and_advice(capsys):
    from dpostudio.cli import main
    from dpostudio.core.training.run_config import RunConfig
    from dpostudio.core.training.runs import create_run

    run = create_run(RunConfig(name="old", max_steps=100))
    for event in as_events(run_stream(**DISPLACEMENT), 100):
        run.append_event(event)
    assert main(["runs", "show", run.id]) == 0  # no findings.json (an older run): its records are replayed
    shown = capsys.readouterr().out
    assert "Findings (replayed from its metrics):" in shown
    assert "⚠ step" in shown and "Likelihood displacement" in shown
    assert "What it means:" in shown and "What to try:" in shown

    save_findings(run.path, [])
    assert main(["runs", "show", run.id]) == 0
    assert "Findings: none" in capsys.readouterr().out
    save_findings(run.path, diagnose(run.records(), 100))
    assert main(["runs"]) == 0
    listing = capsys.readouterr().out
    warnings = sum(f.severity == F.WARNING for f in load_findings(run.path))
    assert f" {warnings}  " in listing.splitlines()[1] and "dpostudio runs show RUN" in listing


def test_findings_print_on_a_legacy_code_page():
    import io

    from dpostudio.cli.train import TrainingDisplay

    stream = io.TextIOWrapper(io.BytesIO(), encoding="cp1252")
    finding = only(diagnose(run_stream(**DISPLACEMENT), 100), F.LIKELIHOOD_DISPLACEMENT)
    TrainingDisplay(stream)({"type": "finding", "step": 40, "finding": finding.to_dict()})
    stream.seek(0)
    assert stream.read().startswith(f"? step {finding.step} · Likelihood displacement")
