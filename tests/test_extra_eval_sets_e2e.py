"""End-to-end: extra held-out sets (``extra_eval_sets``) are evaluated beside the main split at every evaluation."""

import pytest

from dpostudio.core.paths import RESOURCES_DIR
from dpostudio.core.training.engine import train
from dpostudio.core.training.run_config import RunConfig

pytestmark = pytest.mark.slow


@pytest.fixture
def pair_files(tmp_path):
    """The first 16 built-in pairs as the training data (split 12/4) and 4 others as an extra eval set."""
    rows = (RESOURCES_DIR / "demo_pairs" / "train.jsonl").read_text(encoding="utf-8").splitlines()
    main, styled = tmp_path / "pairs.jsonl", tmp_path / "styled.jsonl"
    main.write_text("\n".join(rows[:16]) + "\n", encoding="utf-8")
    styled.write_text("\n".join(rows[30:34]) + "\n", encoding="utf-8")
    return main, styled


def quick_config(dataset, **changes):
    base = dict(dataset=str(dataset), eval_ratio=0.25, per_device_batch_size=2, max_steps=2, eval_steps=2,
                save_steps=50, learning_rate=5e-4, lr_scheduler_type="constant", max_length=96, lora_r=8,
                lora_alpha=16, seed=1)
    return RunConfig(**{**base, **changes})


def test_extra_eval_set_is_logged_under_its_own_prefix(embedded_model, pair_files):
    main, styled = pair_files
    events = []
    run = train(quick_config(main, extra_eval_sets=[f"styled={styled}"]), events.append)

    assert events[-1]["type"] == "finished", events[-1]
    evals = run.metrics("eval")
    assert len(evals) == 1  # one eval event per evaluation, holding every set
    record = evals[-1]
    # the main split keeps the names it has without extra sets; the extra set gets eval_<name>_*
    for key in ("eval_loss", "eval_rewards/accuracies", "eval_rewards/margins", "eval_runtime",
                "eval_styled_loss", "eval_styled_rewards/accuracies", "eval_styled_rewards/margins"):
        assert key in record, (key, sorted(record))
    assert not any(key.startswith("eval_eval_") for key in record), sorted(record)
    assert run.info()["extra_eval_rows"] == {"styled": 4}
    assert run.info()["final_eval"]["eval_styled_loss"] == record["eval_styled_loss"]


def test_an_extra_set_that_cannot_load_fails_the_run_before_training(embedded_model, pair_files, tmp_path):
    main, _ = pair_files
    events = []
    run = train(quick_config(main, extra_eval_sets=[f"gone={tmp_path / 'missing.jsonl'}"]), events.append)

    assert events[-1]["type"] == "failed"
    assert "extra eval set 'gone'" in events[-1]["message"] and "not found" in events[-1]["message"]
    assert "log" not in [e["type"] for e in events]
    assert run.info()["status"] == "failed"
