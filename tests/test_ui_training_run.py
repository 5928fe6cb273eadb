"""Real (tiny) training runs driven from the window: events reach the charts on the GUI thread; stop and resume."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import Qt

from dpostudio.core.paths import RESOURCES_DIR
from dpostudio.core.training.event_types import CHECKPOINT, FAILED, FINISHED, INTERRUPTED, RUNNING
from dpostudio.core.training.runs import get_run
from dpostudio.ui.app import create_application
from dpostudio.ui.main_window import MainWindow

pytestmark = pytest.mark.slow


@pytest.fixture
def demo_subset(tmp_path):
    """The first 16 built-in demo pairs as a local file: builtin:demo ships its own eval split, which would
    evaluate 40 rows at the end of every run; a train-only file with eval_ratio 0 keeps evaluation off."""
    lines = (RESOURCES_DIR / "demo_pairs" / "train.jsonl").read_text(encoding="utf-8").splitlines()[:16]
    path = tmp_path / "demo-subset.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def window(qtbot, embedded_model, demo_subset):
    create_application()
    win = MainWindow(probe_device=False)
    qtbot.addWidget(win)
    win.show()
    win.set_data_config({"dataset": str(demo_subset), "eval_ratio": 0.0})
    yield win
    win.training_pane.controller.stop()
    win.training_pane.controller.wait(120_000)


def _tiny(win, steps: int, **extra):
    win.training_pane.set_values({"max_steps": steps, "per_device_batch_size": 2, "max_length": 128,
                                  "eval_steps": None, "logging_steps": 1, "save_steps": 1000, **extra})


def test_training_from_the_pane_feeds_the_charts_and_finishes(window, qtbot):
    _tiny(window, 2, name="ui-e2e")
    pane, metrics = window.training_pane, window.metrics_pane
    event_threads = set()  # where the window receives the worker's events (as the metrics pane does)
    pane.controller.event.connect(lambda _event: event_threads.add(threading.get_ident()))
    with qtbot.waitSignal(pane.controller.finished, timeout=600_000) as blocker:
        assert pane.start_training()
        assert not window.actions_by_name["train"].isEnabled() and window.actions_by_name["stop"].isEnabled()
    final = blocker.args[0]
    assert final["type"] == "finished", final
    run = get_run(final["run_id"])
    assert run.info()["status"] == "finished" and run.adapter_dir.is_dir()
    config = run.config()
    assert (config.max_steps, config.per_device_batch_size, config.max_length, config.eval_ratio) == (2, 2, 128, 0.0)
    assert not run.metrics("eval")
    # events were delivered on the GUI thread, and the charts drew their points
    assert event_threads == {threading.main_thread().ident}
    assert metrics.live_run_id == run.id
    qtbot.waitUntil(lambda: metrics.charts.drawn_points(run.id, "loss") == 2, timeout=5_000)
    steps, losses = metrics.charts.series(run.id, "loss")
    assert list(steps) == [1, 2]
    assert metrics.charts.drawn_points(run.id, "rewards/margins") == 2
    assert pane.progress.value() == pane.progress.maximum() == 2
    assert "finished" in pane.status.text().lower()
    assert "training finished" in window.log_panel.text()
    assert window.actions_by_name["train"].isEnabled() and not window.actions_by_name["stop"].isEnabled()
    # the run history lists it, and the comparison placeholder follows
    qtbot.waitUntil(lambda: any(r["id"] == run.id and r["status"] == "finished" for r in metrics.rows), timeout=10_000)
    qtbot.waitUntil(lambda: window.comparison_pane.run_combo.count() >= 1, timeout=5_000)
    # a past run's curves read back from disk
    metrics.charts.clear()
    metrics.live_run_id = None
    metrics.select_runs([run.id])
    qtbot.waitUntil(lambda: metrics.charts.drawn_points(run.id, "loss") == 2, timeout=10_000)
    csv_path = window.metrics_pane.export_csv(run.id, str(run.path / "export.csv"))
    assert csv_path == 2


def test_stop_then_resume(window, qtbot):
    _tiny(window, 3, name="ui-stop")
    pane = window.training_pane
    stopped = []

    def on_event(event):
        if event["type"] == "log" and not stopped:
            stopped.append(event["step"])
            pane.stop_training()  # as if the user pressed Stop after the first step

    pane.controller.event.connect(on_event)
    with qtbot.waitSignal(pane.controller.finished, timeout=600_000) as blocker:
        assert pane.start_training()
    pane.controller.event.disconnect(on_event)
    final = blocker.args[0]
    assert final["type"] == "cancelled", final
    run = get_run(final["run_id"])
    assert run.info()["status"] == "cancelled"
    assert run.latest_checkpoint() is not None
    stop_step = final["step"]
    assert 1 <= stop_step < 3
    assert pane.resumable_run_id() == run.id and pane.resume_button.isEnabled()

    with qtbot.waitSignal(pane.controller.finished, timeout=600_000) as blocker:
        window.actions_by_name["resume"].trigger()
    final = blocker.args[0]
    assert final["type"] == "finished", final
    assert final["run_id"] == run.id
    assert run.info()["status"] == "finished"
    steps = [m["step"] for m in run.metrics("log")]
    assert steps == [1, 2, 3]
    charts = window.metrics_pane.charts
    qtbot.waitUntil(lambda: charts.drawn_points(run.id, "loss") == 3, timeout=10_000)


def test_a_killed_training_process_is_reported_and_resumable_after_a_restart(window, qtbot):
    """The engine runs in a child process: if the OS kills it (say, out of memory), the window reports it in
    words and keeps what was written. run.json still says "running", but the run reads as interrupted: a new
    window (the app restarted) lists it so and offers Resume, which continues it from its last checkpoint."""
    import multiprocessing

    _tiny(window, 4, name="ui-killed", save_steps=1)
    pane = window.training_pane
    killed = []

    def on_event(event):
        if event["type"] == CHECKPOINT and not killed:  # the first checkpoint is on disk: kill -9 the child
            children = [p for p in multiprocessing.active_children() if p.name == "dpostudio-training"]
            for child in children:
                child.kill()
            killed.append((len(children), event["step"]))

    pane.controller.event.connect(on_event)
    with qtbot.waitSignal(pane.controller.finished, timeout=600_000) as blocker:
        assert pane.start_training()
    pane.controller.event.disconnect(on_event)
    final = blocker.args[0]
    assert killed and killed[0] == (1, 1)
    assert final["type"] == FAILED
    assert "training process ended unexpectedly" in final["message"]
    run = get_run(final["run_id"])
    assert run.info()["status"] == RUNNING  # what the killed process last wrote
    assert run.status() == INTERRUPTED      # ... but its process is gone
    logged = [m["step"] for m in run.metrics("log")]
    assert logged == list(range(1, len(logged) + 1)) and len(logged) < 4
    assert run.latest_checkpoint() is not None
    assert window.actions_by_name["train"].isEnabled()
    assert pane.resumable_run_id() == run.id and window.actions_by_name["resume"].isEnabled()

    # the app restarts: a new window lists the run as interrupted and offers to resume it
    window.close()
    assert not window.isVisible()
    again = MainWindow(probe_device=False)
    qtbot.addWidget(again)
    again.show()
    metrics, pane = again.metrics_pane, again.training_pane
    qtbot.waitUntil(lambda: any(r["id"] == run.id for r in metrics.rows), timeout=30_000)
    row = next(r for r in metrics.rows if r["id"] == run.id)
    assert row["status"] == INTERRUPTED and row["resumable"], row
    listed = [metrics.table.topLevelItem(i) for i in range(metrics.table.topLevelItemCount())]
    assert [item.text(1) for item in listed if item.data(0, Qt.UserRole) == run.id] == [INTERRUPTED]
    qtbot.waitUntil(lambda: again.actions_by_name["resume"].isEnabled(), timeout=30_000)
    assert pane.resumable_run_id() == run.id and pane.resume_button.isEnabled()

    # and Resume continues it to the end, one continuous history
    resumed_from = int(run.latest_checkpoint().name.rsplit("-", 1)[-1])
    try:
        with qtbot.waitSignal(pane.controller.finished, timeout=600_000) as blocker:
            again.actions_by_name["resume"].trigger()
        final = blocker.args[0]
        assert final["type"] == FINISHED and final["run_id"] == run.id, final
        assert run.status() == FINISHED and run.final_adapter() is not None
        assert [m["step"] for m in run.metrics("log")] == [1, 2, 3, 4]
        assert any(e["type"] == "resumed" and e["from_step"] == resumed_from for e in run.events())
        qtbot.waitUntil(lambda: any(r["id"] == run.id and r["status"] == FINISHED for r in metrics.rows),
                        timeout=30_000)
        assert pane.resumable_run_id() != run.id
    finally:
        pane.controller.stop()
        pane.controller.wait(120_000)
