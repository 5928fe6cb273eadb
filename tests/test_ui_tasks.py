import threading

import pytest

pytest.importorskip("PySide6")

from dpostudio.ui.tasks import run_task  # noqa: E402


def test_result_and_progress_arrive_on_the_gui_thread(qtbot):
    gui_thread = threading.get_ident()
    seen = {}

    def work(x, progress):
        seen["worker_thread"] = threading.get_ident()
        progress(0.5, "half")
        return x * 2

    results, progress = [], []
    task = run_task(None, work, 21, with_progress=True,
                    on_result=lambda r: results.append((r, threading.get_ident())),
                    on_progress=lambda f, m: progress.append((f, m)))
    with qtbot.waitSignal(task.finished, timeout=10_000):
        pass
    assert results == [(42, gui_thread)]
    assert progress == [(0.5, "half")]
    assert seen["worker_thread"] != gui_thread


def test_errors_come_back_in_words(qtbot):
    from dpostudio.core.data import DataError

    def fail(exc):
        raise exc

    errors = []
    for exc in (DataError("data.csv: row 3, column 'chosen' is empty"), ValueError("unexpected")):
        task = run_task(None, fail, exc, on_error=lambda msg, tb: errors.append((msg, tb)))
        with qtbot.waitSignal(task.finished, timeout=10_000):
            pass
    assert errors[0][0] == "data.csv: row 3, column 'chosen' is empty"  # a UserError: its words
    assert errors[1][0] == "ValueError: unexpected"  # anything else is a bug: named by its type
    assert "Traceback" in errors[0][1]


def test_in_child_runs_in_the_background_process_and_errors_come_back_in_words(qtbot):
    import os

    from dpostudio.core.training.runs import get_run

    results, errors = [], []
    for fn, arg in ((os.getpid, None), (get_run, "no-such-run")):
        args = () if arg is None else (arg,)
        task = run_task(None, fn, *args, in_child=True, on_result=results.append,
                        on_error=lambda msg, tb: errors.append(msg))
        with qtbot.waitSignal(task.finished, timeout=60_000):
            pass
    assert results and results[0] != os.getpid()
    assert errors and "no-such-run" in errors[0] and not errors[0].startswith("RunError")


def test_a_task_outlives_its_parent_widget_and_its_thread_is_joined_then_released(qtbot):
    """The parent widget is deleted while the task runs: no crash, the thread ends, and the module lets go of it
    (and of its worker) on the GUI thread only after it has ended."""
    import time

    from PySide6.QtWidgets import QWidget

    from dpostudio.ui.tasks import kept_threads

    started, release = threading.Event(), threading.Event()

    def work():
        started.set()
        release.wait(10)
        time.sleep(0.05)
        return sum(range(10_000))

    before = kept_threads()
    parent = QWidget()
    task = run_task(parent, work)
    thread = task.worker_thread
    assert started.wait(10) and kept_threads() == before + 1
    parent.deleteLater()
    del parent, task
    qtbot.wait(50)  # the parent (and the task with it) are gone now; the thread still runs
    assert thread.isRunning()
    release.set()
    qtbot.waitUntil(lambda: kept_threads() == before, timeout=10_000)
    assert thread.isFinished()


def test_the_process_exits_cleanly_while_a_task_still_runs(tmp_path):
    """A task still running when the interpreter exits is waited for; Qt would otherwise abort the process
    ("QThread: Destroyed while thread is still running") when PySide cleans up at exit."""
    import subprocess
    import sys

    script = tmp_path / "exit_while_running.py"
    script.write_text(
        "import time\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from dpostudio.ui.tasks import run_task\n"
        "def slow():\n"
        "    time.sleep(1.0)\n"
        "    return 1\n"
        "run_task(None, slow)\n"
        "print('leaving')\n"
    )
    import os

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert "leaving" in out.stdout and "Destroyed while thread" not in out.stderr
