"""The demo's second held-out set: another surface style, never trained on, evaluated by the Quick demo preset."""

from __future__ import annotations

import json

from dpostudio.core.data.sources import BUILTIN_DEMO_DIR, BUILTIN_DEMO_STYLED, load_raw
from dpostudio.core.training.presets import PRESETS


def test_the_styled_set_is_balanced_and_shares_no_prompt_with_the_training_data():
    rows, heldout = load_raw(BUILTIN_DEMO_STYLED)
    assert heldout is None and len(rows) == 40
    styles = [r["style"] for r in rows]
    assert styles.count("terse-correct") == styles.count("fluent-correct") == 20
    for row in rows:  # terse vs a full sentence on both sides: style does not say which answer is right
        short, long = (row["chosen"], row["rejected"]) if row["style"] == "terse-correct" else (row["rejected"], row["chosen"])
        assert len(short.split()) <= 4 < len(long.split()), row
    seen = {json.loads(line)["prompt"] for name in ("train.jsonl", "eval.jsonl")
            for line in (BUILTIN_DEMO_DIR / name).read_text(encoding="utf-8").splitlines()}
    assert not {r["prompt"] for r in rows} & seen


def test_the_quick_demo_evaluates_it_as_an_extra_set():
    from dpostudio.core.data.pipeline import load_extra_eval_sets

    config = next(p for p in PRESETS if p.name == "Quick demo (CPU)").apply()
    sets = load_extra_eval_sets(config)
    assert list(sets) == ["styled"] and len(sets["styled"]) == 40
