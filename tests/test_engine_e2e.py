"""End-to-end: train the embedded SmolLM2 default for a few real steps on the built-in pairs."""

import json
import threading
from pathlib import Path

import pytest

from dpostudio.core.training.engine import train
from dpostudio.core.paths import RESOURCES_DIR
from dpostudio.core.training.run_config import RunConfig

pytestmark = pytest.mark.slow


@pytest.fixture
def small_pairs(tmp_path):
    """The first 24 built-in pairs as a local JSONL file (the engine splits 18/6)."""
    rows = (RESOURCES_DIR / "demo_pairs" / "train.jsonl").read_text(encoding="utf-8").splitlines()[:24]
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def quick_config(dataset, **changes):
    base = dict(dataset=str(dataset), eval_ratio=0.25, per_device_batch_size=2, max_steps=4, eval_steps=4,
                save_steps=2, learning_rate=5e-4, lr_scheduler_type="constant", max_length=192, lora_r=8,
                lora_alpha=16, seed=1)
    return RunConfig(**{**base, **changes})


def test_train_reports_trl_metrics_and_saves_a_loadable_adapter(embedded_model, small_pairs):
    events = []
    run = train(quick_config(small_pairs), events.append)

    kinds = [e["type"] for e in events]
    assert kinds[-1] == "finished", events[-1]
    assert {"started", "stage", "log", "eval", "checkpoint", "summary"} <= set(kinds)
    assert run.info()["status"] == "finished"

    logs = run.metrics("log")
    assert [m["step"] for m in logs] == [1, 2, 3, 4]
    for name in ("loss", "grad_norm", "learning_rate", "rewards/chosen", "rewards/rejected",
                 "rewards/margins", "rewards/accuracies", "logps/chosen", "logps/rejected"):
        assert name in logs[-1], name
    assert logs[0]["rewards/margins"] == pytest.approx(0.0, abs=1e-6)  # policy == reference at step 1
    assert any(abs(m["rewards/margins"]) > 1e-3 for m in logs[1:])  # training moved the rewards
    evals = run.metrics("eval")
    assert evals and "eval_rewards/accuracies" in evals[-1]
    # On the held-out pairs the tuned policy prefers the chosen answers: loss below ln 2, positive margin.
    assert evals[-1]["eval_loss"] < 0.69
    assert evals[-1]["eval_rewards/margins"] > 0

    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(embedded_model.location)
    tuned = PeftModel.from_pretrained(base, str(run.adapter_dir))
    assert (run.adapter_dir / "adapter_model.safetensors").is_file()
    assert any("lora_A" in name for name, _ in tuned.named_parameters())

    # the diagnostics read the run as it went: four steps are too few for any trend, so nothing was raised
    assert json.loads((run.path / "findings.json").read_text()) == []
    assert "finding" not in kinds

    # the text log and the resolved config are in the run folder
    assert "finished" in run.log_path.read_text(encoding="utf-8")
    assert run.config().dataset == str(small_pairs)


def test_cancel_saves_a_checkpoint_and_resume_continues_the_history(embedded_model, small_pairs):
    cancel = threading.Event()

    def stop_after_step_2(event):
        if event["type"] == "log" and event["step"] == 2:
            cancel.set()

    run = train(quick_config(small_pairs, save_steps=50, eval_steps=None), stop_after_step_2, cancel)
    info = run.info()
    assert info["status"] == "cancelled", info
    assert "dpostudio train --resume" in info["message"]
    assert run.latest_checkpoint().name == "checkpoint-2"
    stopped_at = 2
    assert not run.adapter_dir.exists()

    events = []
    resumed = train(None, events.append, resume=run.id)
    assert resumed.path == run.path
    assert resumed.info()["status"] == "finished"
    assert events[0]["type"] == "started" and events[0]["resumed_from_step"] == stopped_at
    assert any(e["type"] == "resumed" and e["from_step"] == stopped_at for e in events)
    first_new_log = next(e for e in events if e["type"] == "log")
    assert first_new_log["step"] == stopped_at + 1
    assert [m["step"] for m in run.metrics("log")] == [1, 2, 3, 4]
    assert (run.adapter_dir / "adapter_config.json").is_file()
    assert (run.path / "findings.json").is_file()  # kept by the diagnostics across the resume


def test_user_errors_end_the_run_as_failed_with_words(embedded_model, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": "hi", "answer": "hello"}) + "\n", encoding="utf-8")
    events, status_at_end = [], []

    def listen(event):
        events.append(event)
        if event["type"] == "failed":  # the status is on disk before the final event is heard
            run_dir = next(e["run_dir"] for e in events if e["type"] == "started")
            status_at_end.append(json.loads((Path(run_dir) / "run.json").read_text())["status"])

    run = train(RunConfig(dataset=str(bad), max_steps=1), listen)
    assert events[-1]["type"] == "failed"
    assert status_at_end == ["failed"]
    assert "bad.jsonl" in events[-1]["message"]
    assert run.info()["status"] == "failed"
    assert run.config_path.is_file()  # nothing already written is lost

    missing = train(RunConfig(model=str(tmp_path / "nowhere.gguf"), max_steps=1), events.append)
    assert missing.info()["status"] == "failed"
    assert "GGUF file not found" in missing.info()["message"]


def test_max_length_too_small_for_any_example(embedded_model, small_pairs):
    run = train(quick_config(small_pairs, max_length=16))
    assert run.info()["status"] == "failed"
    assert "max_length 16 is too small" in run.info()["message"]


@pytest.mark.parametrize(
    ("changes", "first_loss"),
    [
        # RPO: at step 1 the policy is the reference, so the DPO part is ln 2 and the SFT part (the chosen answers'
        # negative log-likelihood per token) comes on top of it
        ({"loss_type": "sigmoid+sft", "loss_weights": [1.0, 1.0]}, lambda loss: loss > 0.6932 + 0.1),
        # IPO: (margin - 1/(2·beta))² with a zero margin is (1/0.2)² = 25
        ({"loss_type": "ipo"}, lambda loss: loss == pytest.approx(25.0, rel=1e-3)),
    ],
    ids=["rpo", "ipo"],
)
def test_other_losses_train_and_log_trls_metrics(embedded_model, small_pairs, changes, first_loss):
    run = train(quick_config(small_pairs, max_steps=2, eval_steps=2, save_steps=2, **changes), lambda event: None)
    assert run.info()["status"] == "finished", run.info()
    logs = run.metrics("log")
    assert [m["step"] for m in logs] == [1, 2]
    for name in ("loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies",
                 "logps/chosen", "logps/rejected"):
        assert name in logs[-1], name
    assert first_loss(logs[0]["loss"]), logs[0]["loss"]  # TRL computed the loss asked for, not plain DPO
    assert run.metrics("eval") and "eval_loss" in run.metrics("eval")[-1]
    assert f"loss: {changes['loss_type']}" in run.log_path.read_text(encoding="utf-8")
    assert run.config().loss_type == changes["loss_type"]
