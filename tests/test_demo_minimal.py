"""The demo's minimal pairs (builtin:demo-minimal): same style on both sides, only correctness differs."""

from __future__ import annotations

import json

from dpostudio.core.data.sources import BUILTIN_DEMO_DIR, BUILTIN_DEMO_MINIMAL, load_raw


def _rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (BUILTIN_DEMO_DIR / name).read_text(encoding="utf-8").splitlines()]


def test_minimal_pairs_differ_only_in_correctness_and_share_no_prompt_with_the_other_demo_files():
    rows = _rows("minimal.jsonl")
    assert len(rows) == 120
    assert [r["style"] for r in rows].count("terse") == 60
    for row in rows:
        chosen, rejected = row["chosen"].split(), row["rejected"].split()
        assert row["chosen"] != row["rejected"] and row["rejected_kind"] == "wrong", row
        if row["style"] == "terse":
            assert len(chosen) <= 4 and len(rejected) <= 4, row
        else:
            assert row["style"] == "fluent" and abs(len(chosen) - len(rejected)) <= 2, row
    prompts = [r["prompt"].strip().lower() for r in rows]
    assert len(set(prompts)) == len(prompts)
    others = {
        r["prompt"].strip().lower() for name in ("train.jsonl", "eval.jsonl", "styled.jsonl") for r in _rows(name)
    }
    assert not set(prompts) & others


def test_the_minimal_source_adds_them_to_the_demo_training_pairs_with_the_same_eval_split():
    train, heldout = load_raw(BUILTIN_DEMO_MINIMAL)
    assert len(train) == 320 + 120 and heldout is not None and len(heldout) == 40
    assert "style" not in train.column_names  # the demo's columns only
    assert train[320]["prompt"] == _rows("minimal.jsonl")[0]["prompt"]
