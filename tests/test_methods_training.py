"""ORPO, CPO, SimPO and KTO train the embedded SmolLM2 for a few real steps through the engine: the metric names in
each run's metric log are the ones that method's TRL trainer produces (names absent, never zero), no reference model
or reference cache is used by the reference-free methods, a run stops and resumes, and the diagnostics, the run
list and the CLI read the runs without tripping over the names a method does not log."""

import json
import threading

import pytest

from dpostudio.core.diagnostics.findings import diagnose
from dpostudio.core.paths import RESOURCES_DIR
from dpostudio.core.training.engine import train
from dpostudio.core.training.method_choices import get_method
from dpostudio.core.training.run_config import RunConfig

pytestmark = pytest.mark.slow

ALWAYS = {"loss", "grad_norm", "learning_rate"}
PAIR_METRICS = {
    "rewards/chosen",
    "rewards/rejected",
    "rewards/accuracies",
    "rewards/margins",
    "logps/chosen",
    "logps/rejected",
    "logits/chosen",
    "logits/rejected",
}
# What each TRL trainer logs besides loss / grad_norm / learning_rate, written out from the installed TRL's code
# (ORPOTrainer / CPOTrainer.get_batch_loss_metrics, KTOTrainer._compute_loss), not read from our own table.
EXPECTED = {
    "orpo": PAIR_METRICS | {"nll_loss", "log_odds_ratio", "log_odds_chosen"},
    "cpo": PAIR_METRICS | {"nll_loss"},
    "simpo": PAIR_METRICS | {"nll_loss"},
    "kto": PAIR_METRICS - {"rewards/accuracies"} | {"kl", "entropy", "num_tokens"},
}


@pytest.fixture
def eight_pairs(tmp_path):
    """The first 8 built-in pairs (the engine splits 6/2)."""
    rows = (RESOURCES_DIR / "demo_pairs" / "train.jsonl").read_text(encoding="utf-8").splitlines()[:8]
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def tiny(dataset, **changes):
    base = dict(dataset=str(dataset), eval_ratio=0.25, per_device_batch_size=2, max_steps=2, eval_steps=2,
                save_steps=1, learning_rate=5e-4, lr_scheduler_type="constant", max_length=80, lora_r=4,
                lora_alpha=8, seed=1)
    return RunConfig(**{**base, **changes})


def logged_names(records):
    return set().union(*(set(r) for r in records)) - {"step", "epoch", "type", "time", "t"}


@pytest.mark.parametrize("method", ["orpo", "cpo", "simpo", "kto"])
def test_each_method_trains_and_logs_its_own_metrics(embedded_model, eight_pairs, method, capsys):
    events = []
    run = train(tiny(eight_pairs, method=method), events.append)
    assert events[-1]["type"] == "finished", events[-1]
    assert (run.adapter_dir / "adapter_model.safetensors").is_file()

    logs = run.metrics("log")
    assert [m["step"] for m in logs] == [1, 2]
    names = logged_names(logs)
    assert names - ALWAYS == EXPECTED[method], sorted(names)
    assert names - ALWAYS == set(get_method(method).metrics)  # the plain-words table says the same
    if method == "kto":
        assert "rewards/accuracies" not in names  # absent, not written as 0
    if method == "orpo":
        assert all(m["log_odds_ratio"] < 0 and m["nll_loss"] > 0 for m in logs)
    if method == "simpo":
        assert all(m["nll_loss"] == 0 for m in logs)  # SimPO: no SFT term (cpo_alpha 0)
    if method == "cpo":
        assert all(m["nll_loss"] > 0 for m in logs)
    evals = run.metrics("eval")
    assert evals, "evaluated at step 2"
    eval_names = logged_names(evals) - {"eval_loss", "eval_runtime", "eval_samples_per_second",
                                        "eval_steps_per_second"}
    assert eval_names == {f"eval_{name}" for name in EXPECTED[method]}, sorted(eval_names)

    log_text = run.log_path.read_text(encoding="utf-8")
    trainer = {"orpo": "ORPOTrainer", "cpo": "CPOTrainer", "simpo": "CPOTrainer", "kto": "KTOTrainer"}[method]
    assert f"method: {method} ({trainer}" in log_text
    # the DPO reference cache is never asked: nothing recorded in run.json, no cache uses logged
    assert "reference_cache" not in run.info()
    assert "reference log-probs" not in log_text
    assert run.config().method == method
    if method == "kto":  # 6 training pairs became 12 single answers, 2 evaluation pairs 4
        assert run.info()["train_rows"] == 12 and run.info()["eval_rows"] == 4
        assert "split into 12 single answers for KTO" in log_text
    else:
        assert run.info()["train_rows"] == 6

    # the diagnostics read the real stream without tripping over absent names (too few steps for a finding)
    assert diagnose(run.records(), max_steps=2) == []
    assert json.loads((run.path / "findings.json").read_text()) == []

    # so do `runs show` and the run list: KTO's missing reward accuracy is absent there too, not 0
    from dpostudio.cli import main
    from dpostudio.ui.metrics.run_rows import load_run_rows

    assert main(["runs", "show", run.id]) == 0
    out = capsys.readouterr().out
    assert run.id in out and f'method = "{method}"' in out
    [row] = [r for r in load_run_rows() if r["id"] == run.id]
    assert row["eval_loss"] is not None
    assert (row["eval_acc"] is None) == (method == "kto")


def test_a_reference_free_run_has_no_reference_model(embedded_model, eight_pairs):
    """Build (not train) an ORPO and a KTO trainer: ORPO keeps no reference model at all; KTO's reference is the base
    model with the adapter switched off (TRL's PEFT path), not a second model in memory."""
    from dpostudio.core.training.device import choose_device, probe_hardware
    from dpostudio.core.training.engine import build_trainer
    from dpostudio.core.training.runs import create_run

    from trl import KTOTrainer
    from trl.experimental.orpo import ORPOTrainer

    choice = choose_device(probe_hardware(), "cpu", "fp32")
    for method in ("orpo", "kto"):
        config = tiny(eight_pairs, method=method)
        trainer, _callback = build_trainer(config, create_run(config), choice, lambda e: None, threading.Event())
        assert getattr(trainer, "ref_model", None) is None
        assert not hasattr(trainer, "cache_uses")  # not the reference-cache DPO subclass
        assert isinstance(trainer, {"orpo": ORPOTrainer, "kto": KTOTrainer}[method])
        assert len(trainer.train_dataset) == {"orpo": 6, "kto": 12}[method]  # KTO: each pair is two answers

    # ORPO (and CPO) keep rows whose prompt fills max_length, with no answer token (NaN log-probabilities): they are
    # left out as DPO and KTO do, and a run with none left is refused in words
    from dpostudio.core.training.engine import RunFailed

    with pytest.raises(RunFailed, match="max_length 16 is too small: every prompt fills it"):
        config = tiny(eight_pairs, method="orpo", max_length=16)
        build_trainer(config, create_run(config), choice, lambda e: None, threading.Event())


def test_an_orpo_run_stops_and_resumes_with_its_history(embedded_model, eight_pairs):
    cancel = threading.Event()

    def stop_after_step_1(event):
        if event["type"] == "log" and event["step"] == 1:
            cancel.set()

    config = tiny(eight_pairs, method="orpo", max_steps=3, eval_steps=None, save_steps=50)
    run = train(config, stop_after_step_1, cancel)
    assert run.info()["status"] == "cancelled"
    assert run.latest_checkpoint() is not None

    events = []
    train(None, events.append, resume=run.id)
    assert events[-1]["type"] == "finished", events[-1]
    logs = run.metrics("log")
    assert [m["step"] for m in logs] == [1, 2, 3]
    assert all("log_odds_ratio" in m for m in logs)
    assert any(e["type"] == "resumed" for e in events)


def test_kto_trains_on_a_native_unpaired_file(embedded_model, tmp_path):
    rows = [
        {"prompt": f"Name colour {i}.", "completion": "Blue." if i % 2 else "I will not.", "label": bool(i % 2)}
        for i in range(8)
    ]
    rows.append({"prompt": "Bad row", "completion": "x", "label": "maybe"})
    path = tmp_path / "thumbs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    run = train(tiny(path, method="kto", eval_ratio=0.0))
    assert run.info()["status"] == "finished", run.info().get("message")
    assert run.info()["train_rows"] == 8
    assert run.info()["rows_dropped"] == {"unusable": 1}
    log_text = run.log_path.read_text(encoding="utf-8")
    assert "4 marked good, 4 marked bad" in log_text
    assert logged_names(run.metrics("log")) - ALWAYS == EXPECTED["kto"]
