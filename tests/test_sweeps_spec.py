"""Sweeps without training: the search-space syntax and its errors in words, the spec, the storage, the budget and
the recovery of a trial whose process died (the trials here are made by hand; tests/test_sweeps.py trains)."""

import os
import subprocess
import sys

import optuna
import pytest
from optuna.trial import TrialState

from dpostudio.cli import main
from dpostudio.core.sweeps import (
    PRESETS,
    SpaceError,
    SweepError,
    SweepSpec,
    create_sweep,
    objective_of,
    open_sweep,
    parse_param,
    parse_space,
    preset_space,
    recover,
)
from dpostudio.core.sweeps.report import columns, rows, to_csv, top
from dpostudio.core.sweeps.store import (
    FAILED,
    MESSAGE,
    OUTCOME,
    PID,
    RUN_ID,
    budget_left,
    counted,
    outcome_of,
    owner_attrs,
)


def test_dimensions_read_in_every_kind_and_write_back():
    assert parse_param("lr=loguniform:1e-6:1e-3").text() == "learning_rate=loguniform:1e-06:0.001"
    batch = parse_param("batch=choice:2,4,8")
    assert (batch.name, batch.choices) == ("per_device_batch_size", (2, 4, 8))
    steps = parse_param("steps=int:100:500:100")
    assert steps.values() == [100, 200, 300, 400, 500]
    assert parse_param("loss_type=choice:sigmoid,ipo").choices == ("sigmoid", "ipo")
    assert parse_param("lora_dropout=uniform:0:0.2").kind == "uniform"
    for text in ("learning_rate=loguniform:1e-06:0.001", "beta=choice:0.01,0.1", "max_steps=int:1:9:2"):
        assert parse_param(text).text() == text


@pytest.mark.parametrize(
    "text, words",
    [
        ("lr loguniform", "write a search dimension as field=kind:values"),
        ("lr=logunif:1e-6:1e-3", "unknown kind 'logunif'; expected one of choice, uniform, loguniform, int"),
        ("learning_rat=loguniform:1e-6:1e-3", "unknown run setting 'learning_rat' (did you mean 'learning_rate'?)"),
        ("lr=loguniform:1e-6", "loguniform takes low:high"),
        ("lr=loguniform:0:1e-3", "loguniform needs a low above 0"),
        ("lr=uniform:1e-3:1e-6", "low (1e-3) must be below high (1e-6)"),
        ("lr=uniform:a:1", "low must be a number, not 'a'"),
        ("batch=uniform:1:8", "per_device_batch_size is a whole number: use int:LOW:HIGH or choice"),
        ("beta=int:1:3", "beta is not a whole number"),
        ("beta=choice:0,0.1", "beta: must be greater than 0, not 0"),
        ("beta=choice:0.1,0.1", "a value is listed twice"),
        ("precision=choice:fp64", "precision: must be one of"),
        ("name=choice:a,b", "cannot be swept"),
        ("lora_target_modules=choice:q_proj", "holds a list"),
        ("steps=int:1:10:0", "a step of at least 1"),
    ],
)
def test_a_bad_dimension_names_the_token_and_what_was_expected(text, words):
    with pytest.raises(SpaceError) as caught:
        parse_param(text)
    assert str(caught.value).startswith(repr(text))
    assert words in str(caught.value)


def test_the_spec_checks_its_space_budget_and_objective():
    with pytest.raises(SpaceError, match="already in the search space"):
        parse_space(["lr=choice:1e-4", "learning_rate=choice:1e-3"])
    space = parse_space(["beta=choice:0.1,0.5"])
    with pytest.raises(SweepError, match="give the sweep a budget"):
        SweepSpec("s", space)
    with pytest.raises(SweepError, match="not a sweep name"):
        SweepSpec("no spaces", space, n_trials=1)
    with pytest.raises(SweepError, match="grid sampler needs listed values"):
        SweepSpec("s", parse_space(["lr=loguniform:1e-5:1e-3"]), sampler="grid")
    assert SweepSpec("s", parse_space(["beta=choice:0.1,0.5", "steps=int:1:3"]), sampler="grid").n_trials == 6
    with pytest.raises(SweepError, match="base configuration: lerning_rate: unknown setting"):
        SweepSpec("s", space, n_trials=1, base={"lerning_rate": 1e-4})
    with pytest.raises(SweepError, match="evaluates nothing"):
        SweepSpec("s", space, n_trials=1, base={"eval_ratio": 0.0})
    assert objective_of("eval_loss") == ("eval_loss", "minimize")
    assert objective_of("eval_accuracy") == ("eval_rewards/accuracies", "maximize")
    assert objective_of("eval_styled_loss") == ("eval_styled_loss", "minimize")
    assert objective_of("eval_styled_logps/chosen:max") == ("eval_styled_logps/chosen", "maximize")
    with pytest.raises(SweepError, match="say whether lower or higher is better"):
        objective_of("eval_styled_logps/chosen")


def test_the_published_sweep_is_a_preset():
    text = {p.text() for p in preset_space("published-dpo")}
    assert text == {
        "learning_rate=loguniform:1e-06:0.001",
        "per_device_batch_size=choice:2,4,8",
        "gradient_accumulation_steps=choice:1,2,4",
        "max_steps=choice:100,200,500",
        "beta=choice:0.01,0.1,0.2,0.5",
    }
    assert "published-dpo" in PRESETS
    with pytest.raises(SweepError, match="no preset called 'nope'"):
        preset_space("nope")


def test_a_sweep_is_kept_in_its_study_and_reopens(dpostudio_home):
    spec = SweepSpec("keep", parse_space(["lr=loguniform:1e-5:1e-3", "beta=choice:0.1,0.5"]), n_trials=4,
                     sampler="random", seed=3, base={"max_steps": 2})
    create_sweep(spec)
    assert (dpostudio_home / "sweeps" / "keep.sqlite").is_file()
    again = open_sweep("keep")
    assert again.spec.to_dict() == spec.to_dict()
    assert again.spec.base["max_steps"] == 2
    with pytest.raises(SweepError, match="already exists; continue it with: dpostudio sweep resume keep"):
        create_sweep(spec)
    with pytest.raises(SweepError, match=r"no sweep called 'gone' .*sweeps here: keep"):
        open_sweep("gone")
    with pytest.raises(SweepError, match="is not in the sweep's search space"):
        again.enqueue({"lora_r": 4})


def test_cli_errors_are_words(capsys):
    assert main(["sweep", "start", "x", "--space", "lr=logunif:1e-6:1e-3", "--trials", "2"]) == 1
    assert "'lr=logunif:1e-6:1e-3': unknown kind 'logunif'" in capsys.readouterr().err
    assert main(["sweep", "start", "x", "--space", "foo=choice:1", "--trials", "2"]) == 1
    assert "unknown run setting 'foo'" in capsys.readouterr().err
    assert main(["sweep", "start", "x", "--trials", "2"]) == 1
    assert "give a search space" in capsys.readouterr().err
    assert main(["sweep", "status", "missing"]) == 1
    assert "no sweep called 'missing'" in capsys.readouterr().err
    assert main(["sweep", "resume", "missing"]) == 1
    assert main(["sweep", "start", "p", "--preset", "published-dpo", "--trials", "3", "--no-run"]) == 0
    out = capsys.readouterr().out
    assert "per_device_batch_size=choice:2,4,8" in out and "dpostudio sweep resume p" in out
    assert main(["sweep", "list"]) == 0
    assert "  p" in capsys.readouterr().out


def _dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_trial_left_running_by_a_dead_process_is_marked_retried_once_and_not_counted(dpostudio_home):
    sweep = create_sweep(SweepSpec("crash", parse_space(["beta=choice:0.1,0.5"]), n_trials=2, sampler="random"))
    study = sweep.study
    done = study.ask()
    done.suggest_categorical("beta", [0.1, 0.5])
    done.set_user_attr(RUN_ID, "run-a")
    study.tell(done, 0.6)
    failed = study.ask()
    failed.suggest_categorical("beta", [0.1, 0.5])
    failed.set_user_attr(OUTCOME, FAILED)
    failed.set_user_attr(MESSAGE, "out of memory")
    study.tell(failed, state=TrialState.FAIL)
    orphan = study.ask()
    beta = orphan.suggest_categorical("beta", [0.1, 0.5])
    for key, value in (owner_attrs() | {PID: _dead_pid()}).items():
        orphan.set_user_attr(key, value)
    live = study.ask()  # this process's own trial: left alone
    live.suggest_categorical("beta", [0.1, 0.5])
    for key, value in owner_attrs().items():
        live.set_user_attr(key, value)

    assert budget_left(sweep) == (0, None)  # the finished one and the one that failed in words
    notes = recover(sweep)
    assert any("marked interrupted" in n for n in notes), notes
    trials = study.get_trials()
    assert trials[2].state == TrialState.FAIL and outcome_of(trials[2]) == "interrupted"
    assert trials[3].state == TrialState.RUNNING
    retry = trials[4]
    assert retry.state == TrialState.WAITING and retry.params == {"beta": beta}
    assert optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(retry) == 2
    assert [counted(t) for t in trials] == [True, True, False, False, False]
    assert recover(sweep) == []  # once: a second recovery queues nothing more

    table = rows(sweep)
    assert [r["state"] for r in table] == ["finished", "failed", "interrupted (retried as trial 4)", "running",
                                           "waiting"]
    assert [r["trial"] for r in top(sweep, "value")][0] == 0
    csv_text = to_csv(table, columns(sweep))
    assert csv_text.splitlines()[0].startswith("trial,run_id,state,value,eval_loss,eval_accuracy,learning_rate,beta")
    assert "out of memory" in csv_text


def test_top_sorts_by_either_objective(dpostudio_home):
    sweep = create_sweep(SweepSpec("rank", parse_space(["beta=choice:0.1,0.2,0.5"]), n_trials=3))
    for beta, loss, acc in ((0.1, 0.62, 0.70), (0.2, 0.55, 0.65), (0.5, 0.70, 0.90)):
        sweep.study.enqueue_trial({"beta": beta})
        trial = sweep.study.ask()
        trial.suggest_categorical("beta", [0.1, 0.2, 0.5])
        trial.set_user_attr("eval_loss", loss)
        trial.set_user_attr("eval_accuracy", acc)
        sweep.study.tell(trial, loss)
    assert [r["beta"] for r in top(sweep, "eval_loss")] == [0.2, 0.1, 0.5]
    assert [r["beta"] for r in top(sweep, "eval_accuracy")] == [0.5, 0.1, 0.2]
    assert [r["beta"] for r in top(sweep, "value", limit=1)] == [0.2]
    assert top(sweep)[0]["learning_rate"] == sweep.spec.base["learning_rate"]  # unswept columns show the base


def test_the_sweep_modules_stay_free_of_qt_and_the_plugin_host():
    code = ("import sys, dpostudio.core.sweeps, dpostudio.core.sweeps.runner, dpostudio.core.sweeps.report, "
            "dpostudio.core.sweeps.views; "
            "bad = [m for m in sys.modules "
            "if m.startswith(('PySide6', 'pyqtgraph', 'dpostudio.plugins', 'dpostudio.ui', 'torch'))]; "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ.copy())
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_sweep_kept_at_a_storage_url_opens_from_the_url_alone(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    spec = SweepSpec("shared", parse_space(["beta=choice:0.1,0.5"]), n_trials=2, sampler="grid")
    create_sweep(spec, url)
    opened = open_sweep(url=url)  # what `dpostudio sweep worker --study URL` does
    assert opened.name == "shared" and opened.spec.to_dict() == spec.to_dict()
    with pytest.raises(SweepError, match=r"no sweep called 'other' in sqlite:///.*it holds: shared"):
        open_sweep("other", url)
    assert main(["sweep", "status", "shared", "--storage", url]) == 0
    assert "grid search over beta=choice:0.1,0.5" in capsys.readouterr().out
    assert main(["sweep", "worker", "--study", "postgresql://user:secret@127.0.0.1:9/none"]) == 1
    err = capsys.readouterr().err
    assert "secret" not in err and ("cannot open the sweep storage" in err or "database driver" in err)
