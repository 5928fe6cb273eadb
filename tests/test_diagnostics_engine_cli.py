"""Diagnostics in the engine (finding events, findings.json, resume), and in the CLI (live lines, runs show)."""

from __future__ import annotations

import json

from metric_streams import kinds, only, run_stream

from dpostudio.core.diagnostics import findings as F
from dpostudio.core.diagnostics.findings import Finding, RunWatcher, diagnose, load_findings, save_findings

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

    def _run(config, run, emit, cancel, resuming, *_more):
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


def test_the_cli_bar_says_when_an_evaluation_or_a_checkpoint_runs():
    import io

    from dpostudio.cli.train import TrainingDisplay

    stream = io.StringIO()
    display = TrainingDisplay(stream)
    for event in as_events(run_stream(max_steps=100, eval_every=0)[:3], 100):
        display(event)
    display({"type": "phase", "phase": "evaluating", "step": 3, "done": 4, "total": 10})
    assert display.bar.postfix == "evaluating: batch 4/10"
    display({"type": "phase", "phase": "evaluating", "step": 3, "done": 1, "total": None, "eval_set": "styled"})
    assert display.bar.postfix == "evaluating styled: batch 1"
    display({"type": "phase", "phase": "saving", "step": 3, "done": 0, "total": 1})
    assert display.bar.postfix == "saving a checkpoint"
    display.bar.close()
    assert "evaluating: batch 4/10" in stream.getvalue()


def test_the_engine_quotes_the_training_pairs_length_bias_and_reads_the_method(monkeypatch):
    """run.json's length_bias (written by the engine once the data is loaded) reaches the saturation finding; a
    reference-free method (ORPO) is not told that its rewards fall below the starting model."""
    import math

    from dpostudio.core.training import engine
    from dpostudio.core.training.run_config import RunConfig

    bias = {"chosen_longer_share": 0.82, "chosen_mean": 210.0, "rejected_mean": 95.0, "unit": "characters"}
    saturating = run_stream(max_steps=200, accuracy=lambda q: 1.0, margin=lambda q: 1 + 8 * q)
    falling = run_stream(chosen=lambda q: -0.6 * q, margin=lambda q: 1.0 * (1 - math.exp(-5 * q)))

    def with_bias(records, max_steps):
        inner = fake_training(records, max_steps)

        def _run(config, run, emit, cancel, resuming, *more):
            run.update_info(length_bias=bias)  # what the engine records after loading the data
            return inner(config, run, emit, cancel, resuming, *more)

        return _run

    monkeypatch.setattr(engine, "_run", with_bias(saturating, 200))
    run = engine.train(RunConfig(max_steps=200), lambda event: None)
    found = only(load_findings(run.path), F.SATURATED)
    assert "the chosen answer is the longer one in 82% of pairs (mean 210 vs 95 characters)" in found.evidence
    (run.path / F.FINDINGS_FILE).unlink()  # a replay (runs show on a run without findings.json) quotes it too
    assert only(run.findings(), F.SATURATED).evidence == found.evidence

    monkeypatch.setattr(engine, "_run", fake_training(falling, 100))
    dpo = engine.train(RunConfig(max_steps=100), lambda event: None)
    assert F.BOTH_REWARDS_FALLING in kinds(load_findings(dpo.path))
    orpo = engine.train(RunConfig(max_steps=100, method="orpo"), lambda event: None)
    assert F.BOTH_REWARDS_FALLING not in kinds(load_findings(orpo.path))
