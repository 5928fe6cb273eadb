"""Real (tiny) training runs driven from the window: events reach the charts on the GUI thread; stop and resume."""

from __future__ import annotations

import threading

import pytest

from dpostudio.core.paths import RESOURCES_DIR
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
    assert metrics.event_threads == {threading.main_thread().ident}
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


def test_a_killed_training_process_is_reported_and_the_window_survives(window, qtbot):
    """The engine runs in a child process: if the OS kills it (say, out of memory), the window reports it in
    words, keeps what was written, and can train again."""
    import multiprocessing

    _tiny(window, 50, name="ui-killed")
    pane = window.training_pane
    killed = []

    def on_event(event):
        if event["type"] == "log" and not killed:
            children = [p for p in multiprocessing.active_children() if p.name == "dpostudio-training"]
            for child in children:
                child.kill()
            killed.append(len(children))

    pane.controller.event.connect(on_event)
    with qtbot.waitSignal(pane.controller.finished, timeout=600_000) as blocker:
        assert pane.start_training()
    pane.controller.event.disconnect(on_event)
    final = blocker.args[0]
    assert killed and killed[0] >= 1
    assert final["type"] == "failed"
    assert "training process ended unexpectedly" in final["message"]
    run = get_run(final["run_id"])
    assert run.status() == "interrupted"  # marked running, but its process is gone
    assert [m["step"] for m in run.metrics("log")] == [1]
    assert window.actions_by_name["train"].isEnabled()
