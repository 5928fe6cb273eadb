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
    def fail():
        raise ValueError("data.csv: row 3, column 'chosen' is empty")

    errors = []
    task = run_task(None, fail, on_error=lambda msg, tb: errors.append((msg, tb)))
    with qtbot.waitSignal(task.finished, timeout=10_000):
        pass
    assert errors[0][0] == "data.csv: row 3, column 'chosen' is empty"
    assert "Traceback" in errors[0][1]
