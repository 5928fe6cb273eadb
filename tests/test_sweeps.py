"""Sweeps end to end: real trials of the embedded SmolLM2 on 24 built-in pairs (2-3 steps each), through the CLI
and the core: a random sweep completes and ranks, a pruner prunes a bad trial, a sweep killed mid-trial resumes."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from optuna.trial import TrialState

from dpostudio.cli import main
from dpostudio.core.paths import REPO_ROOT, RESOURCES_DIR
from dpostudio.core.sweeps import SweepSpec, create_sweep, open_sweep, parse_space
from dpostudio.core.sweeps.report import top
from dpostudio.core.sweeps.runner import run_sweep
from dpostudio.core.sweeps.store import counted, outcome_of
from dpostudio.core.training.runs import get_run, list_runs

pytestmark = pytest.mark.slow


@pytest.fixture
def small_pairs(tmp_path):
    """The first 24 built-in pairs as a local JSONL file (the engine splits 18/6)."""
    rows = (RESOURCES_DIR / "demo_pairs" / "train.jsonl").read_text(encoding="utf-8").splitlines()[:24]
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def base_settings(dataset, steps=2):
    return dict(dataset=str(dataset), eval_ratio=0.25, per_device_batch_size=2, max_steps=steps, eval_steps=steps,
                save_steps=steps, learning_rate=5e-4, lr_scheduler_type="constant", max_length=192, lora_r=8,
                lora_alpha=16, seed=1)


def set_flags(settings):
    return [arg for key, value in settings.items() for arg in ("--set", f"{key}={value}")]


def sweep_runs(name):
    return [run for run in list_runs() if run.info().get("sweep") == name]


def test_a_random_sweep_runs_its_trials_as_tagged_runs_and_ranks_them(embedded_model, small_pairs, tmp_path, capsys):
    started = time.monotonic()
    code = main(["sweep", "start", "demo", "--space", "lr=loguniform:1e-4:1e-3", "--space", "beta=choice:0.1,0.5",
                 "--trials", "3", "--sampler", "random", "--seed", "7", "--pruner", "none",
                 *set_flags(base_settings(small_pairs))])
    elapsed = time.monotonic() - started
    out = capsys.readouterr()
    assert code == 0, out.err[-3000:]
    print(f"3 trials in {elapsed:.0f} s", file=sys.stderr)

    sweep = open_sweep("demo")
    trials = sweep.trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    runs = {run.info()["sweep_trial"]: run for run in sweep_runs("demo")}
    assert sorted(runs) == [0, 1, 2]  # one tagged run folder per trial
    for trial in trials:
        run = runs[trial.number]
        assert trial.user_attrs["run_id"] == run.id and run.id.endswith(f"demo-t{trial.number}")
        assert run.status() == "finished"
        config = run.config()
        assert config.learning_rate == pytest.approx(trial.params["learning_rate"])
        assert config.beta == trial.params["beta"] and config.max_steps == 2
        assert trial.value == pytest.approx(run.metrics("eval")[-1]["eval_loss"])

    by_loss = top(sweep, "eval_loss")
    assert [r["eval_loss"] for r in by_loss] == sorted(r["eval_loss"] for r in by_loss)
    by_acc = top(sweep, "eval_accuracy")
    assert [r["eval_accuracy"] for r in by_acc] == sorted((r["eval_accuracy"] for r in by_acc), reverse=True)
    assert "EVAL LOSS" in out.out and "demo-t0" in out.out  # the table printed at the end of the sweep

    csv_path = tmp_path / "top.csv"
    assert main(["sweep", "top", "demo", "--by", "eval_accuracy", "--csv", str(csv_path)]) == 0
    lines = csv_path.read_text().splitlines()
    assert lines[0].startswith("trial,run_id,state,value,eval_loss,eval_accuracy,learning_rate,beta,")
    assert len(lines) == 4 and all(",finished," in line for line in lines[1:])
    shown = capsys.readouterr().out
    assert "Parameter importance" in shown  # three finished trials: Optuna's importance is shown
    assert main(["sweep", "status", "demo"]) == 0
    status = capsys.readouterr().out
    assert "3 finished" in status and "0 to go" in status and "best: trial" in status
    assert main(["sweep", "resume", "demo"]) == 0  # the budget is spent: nothing more runs
    assert len(open_sweep("demo").trials()) == 3


def test_the_pruner_stops_a_trial_with_a_ruinous_learning_rate(embedded_model, small_pairs):
    settings = base_settings(small_pairs, steps=2) | {"eval_steps": 1, "save_steps": 50}
    spec = SweepSpec("prune", parse_space(["lr=loguniform:1e-5:1.0"]), base=settings, n_trials=3,
                     sampler="random", pruner="median", prune_after_trials=1)
    sweep = create_sweep(spec)
    sweep.enqueue({"learning_rate": 5e-4})
    sweep.enqueue({"learning_rate": 1.0})  # one Adam step of size 1 on every LoRA weight: a ruined model
    sweep.enqueue({"learning_rate": 5e-4})  # the first again: no worse than the median, so it runs to the end
    events = []
    cancel = threading.Event()
    started = time.monotonic()
    assert run_sweep(sweep, events.append, cancel) == [0, 1, 2]  # a pruned trial does not stop the sweep
    print(f"3 trials in {time.monotonic() - started:.0f} s", file=sys.stderr)
    assert not cancel.is_set()  # pruning stops the trial's run only, never the caller's Stop

    good, bad, after = sweep.trials()
    assert after.state == TrialState.COMPLETE, after.user_attrs
    assert good.state == TrialState.COMPLETE, good.user_attrs
    assert bad.state == TrialState.PRUNED, bad.user_attrs
    assert bad.intermediate_values and min(bad.intermediate_values) == 1
    run = get_run(bad.user_attrs["run_id"])
    info = run.info()
    assert run.status() == "cancelled" and info["stop_reason"] == "pruned"
    assert info["message"].startswith("pruned at step 1: eval loss")
    assert info["sweep"] == "prune" and info["sweep_trial"] == 1
    assert [r["step"] for r in run.metrics("log")] == [1]  # stopped after the first evaluation: curves kept
    assert run.metrics("eval")
    end = [e for e in events if e.get("type") == "cancelled"]
    assert end and end[-1]["reason"] == "pruned" and end[-1]["trial"] == 1
    trial_ends = [e for e in events if e.get("type") == "trial" and e["state"] != "running"]
    assert [(e["trial"], e["state"]) for e in trial_ends] == [(0, "finished"), (1, "pruned"), (2, "finished")]
    assert [counted(t) for t in sweep.trials()] == [True, True, True]
    assert [r["state"] for r in top(sweep)] == ["finished", "finished", "pruned"]


def test_a_sweep_killed_mid_trial_resumes_and_accounts_for_every_trial_once(embedded_model, small_pairs,
                                                                             dpostudio_home, capsys):
    args = ["sweep", "start", "crash", "--space", "lr=loguniform:1e-4:1e-3", "--trials", "2", "--sampler", "random",
            "--pruner", "none", *set_flags(base_settings(small_pairs))]
    child = subprocess.Popen([sys.executable, "-m", "dpostudio", *args], cwd=REPO_ROOT, env=os.environ.copy(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    runs_dir = dpostudio_home / "runs"
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:  # kill it once its first trial has trained a step
            logs = list(runs_dir.glob("*/metrics.jsonl"))
            if logs and '"type": "log"' in logs[0].read_text(encoding="utf-8"):
                break
            assert child.poll() is None, child.stderr.read().decode()[-3000:]
            time.sleep(0.2)
        else:
            pytest.fail("the sweep's first trial never logged a step")
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
        child.stderr.close()

    killed = open_sweep("crash")
    assert [t.state for t in killed.trials()] == [TrialState.RUNNING]  # what a dead process leaves behind
    killed_run = get_run(killed.trials()[0].user_attrs["run_id"])
    assert killed_run.status() == "interrupted"

    started = time.monotonic()
    assert main(["sweep", "resume", "crash"]) == 0
    print(f"resume: 2 trials in {time.monotonic() - started:.0f} s", file=sys.stderr)
    assert "trial 0: its process" in capsys.readouterr().err

    sweep = open_sweep("crash")
    trials = sweep.trials()
    assert [outcome_of(t) for t in trials] == ["interrupted", "finished", "finished"]
    assert trials[1].params == trials[0].params  # the interrupted trial's values were tried again, once
    assert trials[1].system_attrs["failed_trial"] == 0
    assert sum(map(counted, trials)) == 2  # the budget counts the two finished trials only
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    tagged = sorted((run.info()["sweep_trial"], run.id) for run in sweep_runs("crash"))
    assert [number for number, _ in tagged] == [0, 1, 2]  # every trial has its own run folder, none twice
    assert {t.user_attrs["run_id"] for t in trials} == {run_id for _, run_id in tagged}
    states = [r["state"] for r in top(sweep)]
    assert states == ["finished", "finished", "interrupted (retried as trial 1)"]
    assert json.loads((killed_run.path / "run.json").read_text())["status"] == "running"  # reads as interrupted
