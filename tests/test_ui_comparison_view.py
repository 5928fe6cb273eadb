"""Comparison pane (pytest-qt, offscreen): lists runs, streams answers into two columns, shows the summary,
reopens the saved comparison and exports CSV."""

from __future__ import annotations

import os

import pytest
from compare_fixtures import make_adapter_run
from fake_openai import FakeOpenAI

from dpostudio.ui.comparison import pane as comparison_view
from dpostudio.ui.comparison.pane import ComparisonPane


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


@pytest.mark.slow
def test_pane_runs_a_streaming_comparison_and_shows_the_summary(qtbot, embedded_model, tmp_path, monkeypatch):
    run = make_adapter_run(embedded_model, name="ui-compare")
    appended = []
    original = comparison_view.AnswerBox.append
    monkeypatch.setattr(comparison_view.AnswerBox, "append",
                        lambda self, side, text: (appended.append(side), original(self, side, text)))
    pane = ComparisonPane()
    qtbot.addWidget(pane)
    pane.resize(1400, 900)
    assert pane.run_combo.count() == 1 and pane.select_run(run.id)
    assert [pane.checkpoint_combo.itemText(i) for i in range(pane.checkpoint_combo.count())] == \
        ["final adapter", "checkpoint 1"]
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
    assert pane.table.rowCount() == 2 and pane.table.item(0, 2).text() == result.items[0]["base"]["answer"]
    assert pane.table.item(1, 4 + 3).text() in ("Tuned better", "Base better", "Tie")
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
