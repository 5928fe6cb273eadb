"""Per-pair rewards (``core.diagnostics.pair_rewards``, ``dpostudio pairs``): each pair scored by a run's adapter
(policy) and the base model (reference), on the shared fake run (real perturbed LoRA weights on SmolLM2)."""

from __future__ import annotations

import csv
import json
import threading

import pytest

from dpostudio.cli import main
from dpostudio.core.data.sources import BUILTIN_DEMO_DIR
from dpostudio.core.diagnostics.pair_rewards import (
    CSV_COLUMNS,
    PairScore,
    PairScoreError,
    disagreeing,
    displaced,
    learned_nothing,
    score_pairs,
    sort_scores,
    summarize,
)

MAX_LENGTH = 64  # short sequences keep the forward passes fast; most answers are cut, which truncation must follow


@pytest.fixture
def run(fake_run):
    """The fake run, on the built-in pairs (its filter names a column they lack) with a short max_length."""
    fake_run.config().replace(data_filters=[], max_length=MAX_LENGTH).save(fake_run.config_path)
    return fake_run


def _score(split, row, margin_parts, beta=0.5, tokens=(10, 10)):
    """A PairScore with policy/reference log-probs chosen so delta chosen/rejected are ``margin_parts``."""
    dc, dr = margin_parts
    return PairScore(split, row, f"prompt {row}", "c", "r", beta, -10 + dc, -12 + dr, -10.0, -12.0, *tokens)


def test_sorting_filters_and_summary_follow_the_margins():
    scores = [
        _score("eval", 1, (1.0, -1.0)),  # margin +1
        _score("eval", 2, (-8.0, -2.0)),  # margin -3, chosen fell most
        _score("train", 3, (0.02, 0.0)),  # margin +0.01: learned nothing
        _score("train", 4, (-1.0, -2.0)),  # margin +0.5, chosen fell a little
    ]
    assert [s.agrees for s in scores] == [s.margin > 0 for s in scores] == [True, False, True, True]
    assert scores[0].chosen_reward == pytest.approx(0.5) and scores[0].rejected_reward == pytest.approx(-0.5)
    assert scores[1].delta_chosen_logp_per_token == pytest.approx(-0.8)
    assert [s.row for s in sort_scores(scores, "row")] == [3, 4, 1, 2]
    assert [s.row for s in sort_scores(scores, "disagree")] == [2, 3, 4, 1]
    assert [s.row for s in sort_scores(scores, "displacement")] == [2, 4, 3, 1]
    assert [s.row for s in sort_scores(scores, "margin")] == [1, 4, 3, 2]
    assert [s.row for s in disagreeing(scores)] == [2]
    assert [s.row for s in learned_nothing(scores)] == [3]
    assert [s.row for s in displaced(scores)] == [2, 4]
    line = summarize(scores).line()
    assert line.startswith("model agrees with 3/4 labels; 1 pair learned nothing")
    assert "largest displacement: eval row 2, chosen log-prob -8.00 nats" in line
    with pytest.raises(PairScoreError, match="sort must be one of"):
        sort_scores(scores, "loudest")


def test_runs_without_the_adapter_asked_for_are_explained(fake_run, capsys):
    from dpostudio.core.training.run_config import RunConfig
    from dpostudio.core.training.runs import create_run

    untrained = create_run(RunConfig(name="untrained"))
    with pytest.raises(PairScoreError, match="has no final adapter and no checkpoints"):
        score_pairs(untrained.id)
    with pytest.raises(PairScoreError, match=r"no adapter checkpoint at step 7 \(available: 2\)"):
        score_pairs(fake_run.id, checkpoint=7)
    with pytest.raises(PairScoreError, match="split must be one of eval, train, both"):
        score_pairs(fake_run.id, split="test")
    assert main(["pairs", untrained.id]) == 1
    assert "error: run " in capsys.readouterr().err
    assert main(["pairs", "no-such-run"]) == 1
    assert "no run called 'no-such-run'" in capsys.readouterr().err


def _demo_row(split: str, row: int) -> dict:
    lines = (BUILTIN_DEMO_DIR / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
    return json.loads(lines[row - 1])


def _plain_logp(model, tokenizer, prompt: str, answer: str) -> float:
    """log p(answer | prompt) with a loop over the tokens of one unpadded sequence, truncated at MAX_LENGTH."""
    import torch

    messages = [{"role": "user", "content": prompt}]
    context = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)
    full = tokenizer.apply_chat_template(
        messages + [{"role": "assistant", "content": answer}], tokenize=True, return_dict=True
    )
    context, full = list(context["input_ids"]), list(full["input_ids"])
    assert full[: len(context)] == context
    full = full[:MAX_LENGTH]
    with torch.no_grad():
        logits = model(torch.tensor([full])).logits[0]
    total = 0.0
    for position in range(len(context), len(full)):
        total += float(torch.log_softmax(logits[position - 1].double(), dim=-1)[full[position]])
    return total


@pytest.mark.slow
def test_rewards_are_beta_times_policy_minus_reference_and_batching_changes_nothing(run):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    seen = []
    scores = score_pairs(run.id, split="eval", limit=4, batch_size=4, on_progress=lambda d, t: seen.append((d, t)))
    assert seen == [(0, 4), (4, 4)]
    assert (scores.adapter, scores.beta, scores.skipped, scores.cancelled) == ("final adapter", 0.25, 0, False)
    assert [(s.split, s.row) for s in scores] == [("eval", 1), ("eval", 2), ("eval", 3), ("eval", 4)]
    assert all(s.agrees == (s.margin > 0) for s in scores)
    assert any(s.truncated for s in scores) and all(s.chosen_tokens >= 1 for s in scores)

    location = run.config().model
    tokenizer = AutoTokenizer.from_pretrained(location)
    reference = AutoModelForCausalLM.from_pretrained(location, dtype=torch.float32).eval()
    policy = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(location, dtype=torch.float32), str(run.adapter_dir)
    ).eval()
    for score in (scores[0], scores[3]):  # the first pair, and a shorter one that is padded in its batch
        raw = _demo_row("eval", score.row)
        assert score.prompt == raw["prompt"] and score.chosen == raw["chosen"]
        for answer, policy_logp, ref_logp, reward in (
            ("chosen", score.policy_chosen_logp, score.ref_chosen_logp, score.chosen_reward),
            ("rejected", score.policy_rejected_logp, score.ref_rejected_logp, score.rejected_reward),
        ):
            expected_policy = _plain_logp(policy, tokenizer, raw["prompt"], raw[answer])
            expected_ref = _plain_logp(reference, tokenizer, raw["prompt"], raw[answer])
            assert policy_logp == pytest.approx(expected_policy, abs=2e-3)
            assert ref_logp == pytest.approx(expected_ref, abs=2e-3)
            assert reward == pytest.approx(0.25 * (expected_policy - expected_ref), abs=1e-3)
        assert abs(score.delta_chosen_logp) > 1e-2  # the adapter really moves the answers

    one_by_one = score_pairs(run.id, split="eval", limit=4, batch_size=1)
    for batched, single in zip(scores, one_by_one, strict=True):
        for name in ("policy_chosen_logp", "policy_rejected_logp", "ref_chosen_logp", "ref_rejected_logp"):
            assert getattr(batched, name) == pytest.approx(getattr(single, name), abs=1e-3)


def test_cancel_stops_after_the_current_batch_and_checkpoints_score_too(run):
    cancel = threading.Event()

    def on_progress(done, total):
        if done:
            cancel.set()

    scores = score_pairs(
        run.id, split="train", checkpoint=2, limit=6, batch_size=2, on_progress=on_progress, cancel=cancel
    )
    assert scores.cancelled and scores.adapter == "checkpoint 2"
    assert [(s.split, s.row) for s in scores] == [("train", 1), ("train", 2)]


def test_cli_prints_a_table_and_a_summary_and_writes_csv(run, tmp_path, capsys):
    out_file = tmp_path / "scores.csv"
    code = main(["pairs", run.id, "--split", "both", "--limit", "1", "--sort", "disagree", "--csv", str(out_file)])
    out = capsys.readouterr().out
    assert code == 0
    assert "final adapter, beta 0.25: 2 pairs (both)" in out
    assert "margin" in out and "agrees" in out and "Δlogp chosen" in out
    assert "model agrees with " in out and "/2 labels" in out and "learned nothing" in out
    with open(out_file, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 3
    assert {(r[0], r[1]) for r in rows[1:]} == {("train", "1"), ("eval", "1")}
    margins = [float(r[CSV_COLUMNS.index("margin")]) for r in rows[1:]]
    assert margins == sorted(margins)  # the --sort order


def test_an_extra_eval_set_is_scored_by_its_name_and_an_unknown_name_is_refused_in_words(run, capsys):
    from dpostudio.core.data.sources import BUILTIN_DEMO_STYLED

    run.config().replace(extra_eval_sets=[f"styled={BUILTIN_DEMO_STYLED}"]).save(run.config_path)
    scores = score_pairs(run.id, split="styled", limit=3, batch_size=3)
    styled = [json.loads(line) for line in (BUILTIN_DEMO_DIR / "styled.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(s.split, s.row) for s in scores] == [("styled", 1), ("styled", 2), ("styled", 3)]
    assert [(s.prompt, s.chosen, s.rejected) for s in scores] == [
        (r["prompt"], r["chosen"], r["rejected"]) for r in styled[:3]
    ]
    assert all(s.chosen_tokens >= 1 and s.policy_chosen_logp < 0 for s in scores)

    with pytest.raises(PairScoreError, match="split must be one of eval, train, both, styled .* not 'stiled'"):
        score_pairs(run.id, split="stiled")
    assert main(["pairs", run.id, "--split", "styled", "--limit", "2"]) == 0
    assert "2 pairs (styled)" in capsys.readouterr().out
