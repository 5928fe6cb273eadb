import json

import pytest

from dpostudio.core.training.run_config import RunConfig
from dpostudio.core.training.runs import RunError, create_run, get_run, list_runs


def test_create_list_and_find_runs(dpostudio_home):
    first = create_run(RunConfig(name="first try"))
    second = create_run(RunConfig(name="first try"))
    assert first.path.parent == dpostudio_home / "runs"
    assert first.id != second.id and "first-try" in first.id
    assert first.config() == RunConfig(name="first try")
    assert {r.id for r in list_runs()} == {first.id, second.id}
    assert get_run(first.id).path == first.path
    assert get_run(str(first.path)).path == first.path
    with pytest.raises(RunError, match="no run called"):
        get_run("nope")
    with pytest.raises(RunError, match="matches several runs"):
        get_run(first.id[:8])


def test_metrics_log_survives_a_cut_line_and_resume_replaces_later_steps():
    run = create_run(RunConfig())
    for step in (1, 2, 3):
        run.append_event({"type": "log", "step": step, "metrics": {"loss": 1.0 / step}})
    run.append_event({"type": "eval", "step": 3, "metrics": {"eval_loss": 0.5}})
    with open(run.metrics_path, "a", encoding="utf-8") as fh:
        fh.write('{"type": "log", "step": 4, "metr')  # a crash mid-write
    run.append_event({"type": "resumed", "from_step": 2})
    run.append_event({"type": "log", "step": 3, "metrics": {"loss": 0.3}})
    steps = [(m["step"], m["loss"]) for m in run.metrics("log")]
    assert steps == [(1, 1.0), (2, 0.5), (3, 0.3)]
    assert run.metrics("eval") == []
    lines = run.metrics_path.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0])["type"] == "log"


def test_status_updates_are_atomic_json():
    run = create_run(RunConfig())
    run.update_info(status="running", step=3)
    assert run.info()["status"] == "running" and run.info()["step"] == 3
    assert not (run.path / "run.json.tmp").exists()


def test_a_run_whose_process_died_reads_as_interrupted():
    import os
    import subprocess
    import sys

    run = create_run(RunConfig())
    run.update_info(status="running", pid=os.getpid())
    assert run.status() == "running"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    run.update_info(pid=int(dead.stdout))
    assert run.status() == "interrupted"
