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


def _dead_pid() -> int:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def _checkpoint(run, step: int, *, adapter: bool = True, trainer_state: bool = True):
    folder = run.checkpoints_dir / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    if adapter:
        (folder / "adapter_config.json").write_text("{}", encoding="utf-8")
        (folder / "adapter_model.safetensors").write_bytes(b"weights")
    if trainer_state:
        (folder / "trainer_state.json").write_text("{}", encoding="utf-8")
    return folder


def test_a_run_answers_which_checkpoints_and_adapters_it_has():
    run = create_run(RunConfig())
    assert run.checkpoints() == [] and run.latest_checkpoint() is None and run.final_adapter() is None
    ten = _checkpoint(run, 10)
    two = _checkpoint(run, 2)
    _checkpoint(run, 30, trainer_state=False)            # cut short while saving: no trainer state yet
    _checkpoint(run, 40, adapter=False)                  # no adapter weights: not a checkpoint of ours
    config_only = run.checkpoints_dir / "checkpoint-50"  # an adapter config without weights is incomplete too
    config_only.mkdir()
    (config_only / "adapter_config.json").write_text("{}", encoding="utf-8")
    (run.checkpoints_dir / "checkpoint-final").mkdir()    # not a step
    assert run.checkpoint_steps() == [2, 10, 30]  # sorted by step (as numbers, not as text)
    assert [c.step for c in run.checkpoints(resumable=True)] == [2, 10]
    assert run.checkpoints()[0].path == two and not run.checkpoints()[-1].resumable
    assert run.latest_checkpoint() == ten  # the newest one training can continue from
    assert run.adapter_for(10) == ten and run.adapter_for(30) is not None
    assert run.adapter_for(40) is None and run.adapter_for(50) is None and run.adapter_for(7) is None
    assert run.adapter_for() is None  # no final adapter yet
    run.adapter_dir.mkdir()
    (run.adapter_dir / "adapter_config.json").write_text("{}", encoding="utf-8")
    assert run.final_adapter() is None
    (run.adapter_dir / "adapter_model.safetensors").write_bytes(b"weights")
    assert run.final_adapter() == run.adapter_dir == run.adapter_for(None)


def test_status_is_the_single_truth_and_says_what_can_be_resumed():
    import os

    from dpostudio.core.training.event_types import (
        CANCELLED,
        CREATED,
        END_STATES,
        FAILED,
        FINISHED,
        INTERRUPTED,
        RESUMABLE_STATES,
        RUNNING,
    )
    from dpostudio.core.training.runs import newest_resumable_run

    assert END_STATES == (FINISHED, CANCELLED, FAILED)
    assert set(RESUMABLE_STATES) == {CANCELLED, FAILED, INTERRUPTED}
    older = create_run(RunConfig(name="older"))
    assert older.status() == CREATED and not older.resumable()
    older.update_info(status=CANCELLED)
    assert not older.resumable()  # nothing to resume from
    _checkpoint(older, 5)
    assert older.resumable() and newest_resumable_run().id == older.id

    newer = create_run(RunConfig(name="newer"))
    newer.update_info(status=RUNNING, pid=os.getpid(), started_at=newer.info()["created_at"])
    _checkpoint(newer, 3)
    assert newer.status() == RUNNING and not newer.resumable()  # alive: never offered while it trains
    assert newest_resumable_run().id == older.id
    newer.update_info(pid=_dead_pid())  # killed: run.json still says running
    assert newer.info()["status"] == RUNNING
    assert newer.status() == INTERRUPTED and newer.resumable()
    assert newest_resumable_run().id == newer.id
    newer.update_info(status=FINISHED)
    assert newer.status() == FINISHED and not newer.resumable()


def test_a_reused_process_id_does_not_keep_a_dead_run_running():
    import os
    import time

    run = create_run(RunConfig())
    # the run says its training process started an hour ago; this process is younger: the id was reused
    run.update_info(status="running", pid=os.getpid(), started_at=time.time() - 3600)
    assert run.status() == "interrupted"
    run.update_info(started_at=time.time())
    assert run.status() == "running"


def test_resuming_a_run_that_is_still_training_is_refused_before_touching_it():
    import os

    from dpostudio.core.training.engine import train

    run = create_run(RunConfig())
    run.update_info(status="running", pid=os.getpid())
    before = run.info()
    with pytest.raises(RunError, match="still training"):
        train(None, resume=run.id)
    assert run.info() == before


def test_a_killed_process_not_yet_reaped_reads_as_interrupted():
    import signal
    import subprocess
    import sys
    import time

    import psutil

    run = create_run(RunConfig())
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        run.update_info(status="running", pid=child.pid, started_at=time.time())
        assert run.status() == "running"
        child.send_signal(signal.SIGKILL)
        deadline = time.monotonic() + 10
        while psutil.Process(child.pid).status() != psutil.STATUS_ZOMBIE:  # dead, but its id still taken
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert run.status() == "interrupted"
    finally:
        child.kill()
        child.wait()


def test_a_run_has_a_short_display_name_that_renaming_changes_and_keeps():
    from dpostudio.core.training.runs import short_run_id

    assert short_run_id("20260101-120000-ultrafeedback-b0.1") == "ultrafeedback-b0.1"
    assert short_run_id("20260101-120000") == "run 01-01 12:00"
    assert short_run_id("my-own-folder") == "my-own-folder"
    named = create_run(RunConfig(name="sweep b0.1"))
    unnamed = create_run(RunConfig())
    assert named.display_name == "sweep b0.1"
    assert unnamed.display_name == f"run {unnamed.id[4:6]}-{unnamed.id[6:8]} {unnamed.id[9:11]}:{unnamed.id[11:13]}"
    assert named.rename("  beta  0.1 ") == "beta 0.1"
    again = get_run(named.id)  # read back from the run folder
    assert again.display_name == "beta 0.1" and again.info()["name"] == "beta 0.1" and again.id == named.id
    again.update_info(status="running", step=3)  # later writes of run.json keep the name
    assert get_run(named.id).display_name == "beta 0.1"
    assert again.rename("") == short_run_id(named.id)  # blank: back to the short form of the id
