"""Comparison pane (pytest-qt, offscreen): lists runs, streams answers into two columns, shows the summary,
reopens the saved comparison and exports CSV; the comparison runs in a child process, which Stop ends."""

from __future__ import annotations

import os
import time

import pytest
from compare_fixtures import fake_adapter_folder_run, make_adapter_run
from fake_openai import FakeOpenAI
from PySide6.QtCore import QThread

from dpostudio.ui.comparison import pane as comparison_view
from dpostudio.ui.comparison import worker as comparison_worker
from dpostudio.ui.comparison.pane import ComparisonPane
from dpostudio.ui.comparison.worker import CompareWorker


def compare_with_canned_answers(kwargs, events, cancel):
    """Child process: the real comparison child with the model replaced by canned answers that name this process
    and take about a second each (one word every 50 ms), so that Stop lands in the middle of a prompt."""
    from types import SimpleNamespace

    from dpostudio.core.compare import comparison

    def generate(pair, inputs, settings, *, adapter, on_text, cancel):
        words = f"{'tuned' if adapter else 'base'} answer from process {os.getpid()}".split() + ["more"] * 16
        said = []
        for word in words:
            if cancel.is_set():
                break
            time.sleep(0.05)
            on_text(word + " ")
            said.append(word)
        return {
            "answer": " ".join(said),
            "tokens": len(said),
            "words": len(said),
            "seconds": 1.0,
            "stop": "cancelled" if cancel.is_set() else "eos",
        }

    comparison.load_pair = lambda run, checkpoint=None, on_stage=None: SimpleNamespace(tokenizer=None)
    comparison.model_inputs = lambda prompt, config, tokenizer: {}
    comparison.generate_streaming = generate
    comparison_worker.compare_in_child(kwargs, events, cancel)


def die_after_one_event(kwargs, events, cancel):
    """Child process: says it started, then dies without a word (as an out-of-memory kill does)."""
    events.put({"type": "stage", "message": "loading", "fraction": 0.1})
    time.sleep(0.5)
    os._exit(3)


def test_pane_without_runs_says_what_to_do(qtbot):
    pane = ComparisonPane()
    qtbot.addWidget(pane)
    assert pane.run_combo.count() == 0
    assert "train one" in pane.summary_label.text()
    assert pane.prompt_count.text() == "5 prompts"  # the built-in published set is preloaded
    ids = [pane.judge_combo.itemData(i) for i in range(pane.judge_combo.count())]
    assert ids[0] is None and {"gemini", "openai-compatible", "local-model"} <= set(ids)
    pane.select_judge("gemini")
    assert pane._option_widgets["api_key"][1].echoMode() == pane._option_widgets["api_key"][1].EchoMode.Password
    assert pane.judge_options()["model"].startswith("gemini-")


def test_the_comparison_runs_in_a_child_process_and_stop_ends_it(qtbot, monkeypatch):
    import psutil

    from dpostudio.core.compare import store

    monkeypatch.setattr(comparison_worker, "compare_in_child", compare_with_canned_answers)
    run = fake_adapter_folder_run()
    pane = ComparisonPane()
    qtbot.addWidget(pane)
    assert pane.select_run(run.id)
    pane.set_prompts(["Q1", "Q2", "Q3", "Q4"])
    messages = []
    pane.message.connect(lambda level, text: messages.append((level, text)))
    with FakeOpenAI() as server:  # a judge served from this process answers the child
        assert pane.select_judge("openai-compatible")
        pane.set_judge_option("base_url", server.base_url)
        pane.set_judge_option("model", "fake-judge")
        with qtbot.waitSignal(pane.comparisonFinished, timeout=120_000) as finished:
            pane.start()
            qtbot.waitUntil(lambda: len(pane._items) >= 1, timeout=60_000)
            pane.stop()  # while the second prompt is being answered
        requests = len(server.requests)
    result = finished.args[0]
    assert result is not None and result.status == "cancelled", messages
    assert 1 <= len(result.items) < 4 and requests == 2 * len(result.items)
    assert ("warning", f"Comparison cancelled: {result.message}") in messages
    child = store.read_meta(result.path)["pid"]
    assert child != os.getpid() and not psutil.pid_exists(child)  # it ran elsewhere, and has ended
    assert f"base answer from process {child}" in pane._boxes[0].edits["base"].toPlainText()  # streamed here
    assert result.items[0]["tuned"]["answer"].startswith(f"tuned answer from process {child}")
    qtbot.waitUntil(lambda: not pane.is_running(), timeout=10_000)
    assert pane.compare_button.isEnabled() and not pane.stop_button.isEnabled()


def _run_worker(qtbot, worker: CompareWorker):
    """Run a worker on its own thread as the pane does; returns (what ``done`` carried, ``failed`` texts, events)."""
    thread = QThread()
    worker.moveToThread(thread)
    thread.started.connect(worker.run)
    failed, events = [], []
    worker.failed.connect(failed.append)
    worker.event.connect(events.append)
    with qtbot.waitSignal(worker.done, timeout=120_000) as done:
        thread.start()
    assert thread.wait(10_000)
    return done.args[0], failed, events


def test_a_comparison_that_cannot_start_says_why_in_words(qtbot):
    result, failed, _ = _run_worker(qtbot, CompareWorker({"run_id": "no-such-run", "prompts": ["Q"]}))
    assert result is None and len(failed) == 1 and failed[0].startswith("no run called 'no-such-run'")


def test_a_comparison_process_that_dies_is_reported(qtbot, monkeypatch):
    monkeypatch.setattr(comparison_worker, "compare_in_child", die_after_one_event)
    result, failed, events = _run_worker(qtbot, CompareWorker({}))
    assert result is None and [e["type"] for e in events] == ["stage"]
    assert failed == [
        "the comparison process ended unexpectedly (exit code 3; possibly out of memory); files written so far are kept"
    ]


@pytest.mark.slow
def test_pane_runs_a_streaming_comparison_and_shows_the_summary(qtbot, embedded_model, tmp_path, monkeypatch):
    run = make_adapter_run(embedded_model, name="ui-compare")
    appended = []
    original = comparison_view.AnswerBox.append
    monkeypatch.setattr(
        comparison_view.AnswerBox,
        "append",
        lambda self, side, text: (appended.append(side), original(self, side, text)),
    )
    pane = ComparisonPane()
    qtbot.addWidget(pane)
    pane.resize(1400, 900)
    assert pane.run_combo.count() == 1 and pane.select_run(run.id)
    assert [pane.checkpoint_combo.itemText(i) for i in range(pane.checkpoint_combo.count())] == [
        "final adapter",
        "checkpoint 1",
    ]
    pane.set_prompts(["What is a monopoly?", "Name a primary colour."])
    assert pane.prompt_source.currentData() == "custom" and pane.prompt_count.text() == "2 prompts"
    pane.max_new_tokens.setValue(12)
    messages = []
    pane.message.connect(lambda level, text: messages.append((level, text)))
    with FakeOpenAI() as server:
        assert pane.select_judge("openai-compatible")
        pane.set_judge_option("base_url", server.base_url)
        pane.set_judge_option("model", "fake-judge")
        with qtbot.waitSignal(pane.comparisonFinished, timeout=600_000) as finished:
            pane.start()
            assert pane.is_running() and pane.stop_button.isEnabled()
        assert len(server.requests) == 4  # two prompts, two orders each
    result = finished.args[0]
    assert result is not None and result.status == "finished", messages
    assert {"base", "tuned"} <= set(appended)  # tokens streamed into both columns
    for item in result.items:
        box = pane._boxes[item["index"]]
        assert box.edits["base"].toPlainText() == item["base"]["answer"]
        assert box.edits["tuned"].toPlainText() == item["tuned"]["answer"]
    assert "tuned better in" in pane.summary_label.text() and "/2" in pane.summary_label.text()
    assert pane.table.rowCount() == 2 and pane.table.item(0, pane.table_column("base")).text() == " ".join(
        result.items[0]["base"]["answer"].split()
    )
    assert pane.table.item(1, pane.table_column("verdict")).text() in ("Tuned better", "Base better", "Tie")
    qtbot.waitUntil(lambda: not pane.is_running(), timeout=10_000)
    assert pane.compare_button.isEnabled() and not pane.stop_button.isEnabled()
    assert ("info", f"Comparison finished: {result.message}") in messages

    assert pane.past_combo.count() == 1
    pane.summary_label.setText("")
    pane.open_comparison(pane.past_combo.currentData())
    assert "tuned better in" in pane.summary_label.text()
    assert pane._boxes[0].edits["tuned"].toPlainText() == result.items[0]["tuned"]["answer"]
    exported = pane.export_csv(tmp_path / "out.csv")
    assert exported.read_text(encoding="utf-8").startswith("index,prompt,base_answer")

    shot = os.environ.get("DPOSTUDIO_SCREENSHOT_DIR")
    if shot:  # docs/screenshots/comparison.png is made with this
        pane.grab().save(os.path.join(shot, "comparison.png"))
