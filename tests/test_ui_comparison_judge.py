"""Pairs from your own judgement in the Comparison pane (pytest-qt, offscreen): the real buttons, keys and the
"Write a better answer…" dialog on a comparison saved by the real comparison code (a run from compare_fixtures,
the model replaced by canned answers); the judgements land in "my-judgements", reopen with the comparison, and
the Dataset pane lists and loads them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from compare_fixtures import fake_adapter_folder_run
from PySide6.QtCore import Qt

from dpostudio.core.compare.human_pairs import JudgementSet
from dpostudio.ui.comparison.pane import ComparisonPane

ANSWERS = {
    "Where is Paris?": ("Paris is in Germany.", "Paris is the capital of France."),
    "Name a primary colour.": ("Red.", "Red is a primary colour."),
    "What is 2 + 2?": ("5", "4"),
}


def saved_comparison(monkeypatch, prompts=tuple(ANSWERS), answers=ANSWERS):
    """A finished comparison made by ``comparison.compare`` with canned answers instead of a model."""
    from dpostudio.core.compare import comparison

    def generate(pair, inputs, settings, *, adapter, on_text, cancel):
        text = answers[inputs["prompt"]][1 if adapter else 0]
        on_text(text)
        return {"answer": text, "tokens": len(text.split()), "words": len(text.split()), "seconds": 0.1, "stop": "eos"}

    monkeypatch.setattr(
        comparison, "load_pair", lambda run, checkpoint=None, on_stage=None: SimpleNamespace(tokenizer=None)
    )
    monkeypatch.setattr(comparison, "model_inputs", lambda prompt, config, tokenizer: {"prompt": prompt.text})
    monkeypatch.setattr(comparison, "generate_streaming", generate)
    run = fake_adapter_folder_run()
    result = comparison.compare(run.id, list(prompts))
    assert result.status == "finished" and len(result.items) == len(prompts)
    return run, result


def pairs(store: JudgementSet | None = None) -> list[dict]:
    path = (store or JudgementSet()).pairs_path
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def click(qtbot, button) -> None:
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


@pytest.fixture
def pane(qtbot, monkeypatch):
    run, result = saved_comparison(monkeypatch)
    pane = ComparisonPane()  # opens the newest comparison, as a relaunched app does
    qtbot.addWidget(pane)
    pane.resize(1280, 800)
    pane.show()
    qtbot.waitExposed(pane)
    pane.messages = []
    pane.message.connect(lambda level, text: pane.messages.append((level, text)))
    assert pane._current_dir == str(result.path) and len(pane._items) == 3
    return pane


def test_the_buttons_make_pairs_and_the_latest_judgement_wins(qtbot, pane):
    bars = pane._judge_bars
    assert all(bar.isEnabled() for bar in bars.values()) and bars[0].state.text().endswith("not judged yet</span>")
    assert pane.judgement_count.text().startswith("<b>0 pairs from your judgements</b>")
    assert not pane.open_judgements_button.isEnabled()

    click(qtbot, bars[0].buttons["tuned"])
    assert bars[0].buttons["tuned"].isChecked() and not bars[0].buttons["base"].isChecked()
    assert "tuned better" in bars[0].state.text()
    assert pairs() == [
        {
            "prompt": "Where is Paris?",
            "chosen": "Paris is the capital of France.",
            "rejected": "Paris is in Germany.",
            "judged_by": "you",
            "when": bars[0].judgement.when,
            "source": f"comparison={Path(pane._current_dir).name}|kind=comparison|row=1|run={pane._run().id}",
        }
    ]
    click(qtbot, bars[1].buttons["tie"])
    assert "tie (counted, no pair)" in bars[1].state.text() and bars[1].buttons["tie"].isChecked()
    assert pane.judgement_count.text() == (
        "<b>1 pair from your judgements</b> (1 tie, 2 of 3 answered prompts here judged)"
    )
    click(qtbot, bars[0].buttons["base"])  # changed my mind: the new judgement replaces the old one
    assert bars[0].buttons["base"].isChecked() and not bars[0].buttons["tuned"].isChecked()
    assert [(p["chosen"], p["rejected"]) for p in pairs()] == [
        ("Paris is in Germany.", "Paris is the capital of France.")
    ]
    assert len(JudgementSet().journal_path.read_text(encoding="utf-8").splitlines()) == 3  # the history is kept
    assert pane.open_judgements_button.isEnabled() and pane.messages == []

    click(qtbot, bars[0].clear_button)  # take it back
    assert bars[0].judgement is None and pairs() == [] and not bars[0].buttons["base"].isChecked()
    assert "not judged yet" in bars[0].state.text()


def test_judgements_come_back_when_the_comparison_is_reopened(qtbot, pane):
    click(qtbot, pane._judge_bars[2].buttons["tuned"])
    again = ComparisonPane()
    qtbot.addWidget(again)
    assert again._current_dir == pane._current_dir
    assert again._judge_bars[2].buttons["tuned"].isChecked() and "tuned better" in again._judge_bars[2].state.text()
    assert again._judge_bars[0].judgement is None
    assert "1 of 3 answered prompts here judged" in again.judgement_count.text()


def test_keys_judge_the_focused_pair_and_move_to_the_next(qtbot, pane):
    edit = pane._boxes[0].edits["base"]
    edit.setFocus()
    qtbot.waitUntil(edit.hasFocus)
    qtbot.keyClick(edit, Qt.Key.Key_B)
    assert pane._judge_bars[0].judgement.verdict == "base"
    assert edit.toPlainText() == "Paris is in Germany."  # a read-only answer: the key judged, it typed nothing
    focused = pane.focusWidget()
    assert focused is pane._judge_bars[1].buttons["tie"]  # the next pair is ready for its key
    qtbot.keyClick(focused, Qt.Key.Key_Equal)
    assert pane._judge_bars[1].judgement.is_tie
    qtbot.keyClick(pane.focusWidget(), Qt.Key.Key_T)
    assert pane._judge_bars[2].judgement.verdict == "tuned" and len(pairs()) == 2


def test_write_a_better_answer_in_the_dialog(qtbot, pane):
    bar = pane._judge_bars[0]
    click(qtbot, bar.buttons["tuned"])
    click(qtbot, bar.write_button)
    dialog = pane.better_dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.edit.toPlainText() == "Paris is the capital of France."  # starts as the answer judged better
    assert dialog.against_combo.currentData() == "base"  # preferred to the worse one unless told otherwise
    assert not bar.write_button.isChecked()  # nothing written yet

    dialog.edit.setPlainText("   ")
    click(qtbot, dialog.save_button)
    assert dialog.isVisible() and "The answer is empty" in dialog.problem_label.text()
    assert bar.judgement.verdict == "tuned" and not bar.judgement.written  # nothing lost, nothing changed

    dialog.edit.setPlainText("Paris is the capital of France, on the Seine.")
    dialog.against_combo.setCurrentIndex(dialog.against_combo.findData("both"))
    with qtbot.waitSignal(dialog.finished):
        click(qtbot, dialog.save_button)
    assert bar.write_button.isChecked() and not bar.buttons["tuned"].isChecked()
    assert "you wrote a better answer, preferred to both answers" in bar.state.text()
    assert [(p["chosen"], p["rejected"]) for p in pairs()] == [
        ("Paris is the capital of France, on the Seine.", "Paris is in Germany."),
        ("Paris is the capital of France, on the Seine.", "Paris is the capital of France."),
    ]
    assert "2 pairs from your judgements" in pane.judgement_count.text()

    click(qtbot, bar.write_button)  # editing again starts from what was written
    again = pane.better_dialog
    assert again.edit.toPlainText() == "Paris is the capital of France, on the Seine."
    assert again.against_combo.currentData() == "both"
    with qtbot.waitSignal(again.finished):
        again.reject()
    assert bar.write_button.isChecked() and len(pairs()) == 2  # cancelling changes nothing


def test_identical_answers_are_refused_in_words(qtbot, monkeypatch):
    saved_comparison(monkeypatch, ["Say hi."], {"Say hi.": ("Hi!", "Hi!")})
    pane = ComparisonPane()
    qtbot.addWidget(pane)
    messages = []
    pane.message.connect(lambda level, text: messages.append((level, text)))
    click(qtbot, pane._judge_bars[0].buttons["tuned"])
    assert pane._judge_bars[0].judgement is None and not pane._judge_bars[0].buttons["tuned"].isChecked()
    assert messages == [
        (
            "warning",
            "Prompt 1: not saved: the answers are identical, so preferring one teaches nothing; "
            "call it a tie or write a better answer",
        )
    ]
    click(qtbot, pane._judge_bars[0].buttons["tie"])
    assert pane._judge_bars[0].judgement.is_tie


def test_a_journal_line_cut_short_is_reported_under_the_answers(qtbot, pane):
    click(qtbot, pane._judge_bars[0].buttons["tuned"])
    store = JudgementSet()
    with open(store.journal_path, "ab") as fh:
        fh.write(b'{"v": 1, "key": "comparison=x|row=9", "prompt": "cut sh')  # the app died mid-write
    again = ComparisonPane()
    qtbot.addWidget(again)
    text = again.judgement_count.text()
    assert "<b>1 pair from your judgements</b>" in text
    assert "my-judgements.journal line 2 was cut short (the app probably stopped while saving it)" in text
    assert again._judge_bars[0].buttons["tuned"].isChecked()


def test_my_judgements_open_in_the_dataset_pane(qtbot, pane):
    from dpostudio.ui.dataset.pane import DatasetPane

    for i, verdict in ((0, "tuned"), (1, "base"), (2, "tuned")):
        click(qtbot, pane._judge_bars[i].buttons[verdict])
    requested = []
    pane.datasetRequested.connect(requested.append)
    click(qtbot, pane.open_judgements_button)
    assert requested == [str(JudgementSet().pairs_path)]

    dataset = DatasetPane()
    qtbot.addWidget(dataset)
    dataset.show()
    source = dataset.my_judgements
    assert source.count_label.text() == "3 pairs from 3 judgements, in my-judgements.jsonl"
    assert source.use_button.isEnabled()
    dataset.set_data_config({"eval_ratio": 0.0})
    with qtbot.waitSignal(dataset.dataLoaded, timeout=60_000) as loaded:
        click(qtbot, source.use_button)
    report = loaded.args[0]
    assert report.source == "my-judgements.jsonl" and report.rows_used == {"train": 3, "eval": 0}
    assert report.detection.format == "standard" and report.problems == []
    assert dataset.data_config()["dataset"] == str(JudgementSet().pairs_path)
    assert dataset.source_combo.currentData() == "local-file"


def test_open_in_dataset_pane_from_the_main_window_at_1280x800(qtbot, monkeypatch):
    from dpostudio.ui.main_window import MainWindow

    saved_comparison(monkeypatch)
    win = MainWindow(probe_device=False)
    qtbot.addWidget(win)
    win.resize(1280, 800)
    win.show()
    win.show_pane("Comparison")
    qtbot.waitExposed(win)
    pane = win.comparison_pane
    pane.tabs.setCurrentIndex(0)
    for i, verdict in ((0, "tuned"), (1, "tie")):
        click(qtbot, pane._judge_bars[i].buttons[verdict])
    click(qtbot, pane._judge_bars[2].write_button)
    pane.better_dialog.edit.setPlainText("2 + 2 = 4.")
    with qtbot.waitSignal(pane.better_dialog.finished):
        click(qtbot, pane.better_dialog.save_button)
    qtbot.wait(50)
    # nothing wider than the window: the answers need no sideways scrolling, the judge bar fits its box
    scroll = pane.answers_scroll
    assert scroll.widget().minimumSizeHint().width() <= scroll.viewport().width()
    for bar in pane._judge_bars.values():
        assert bar.minimumSizeHint().width() <= bar.width()
    shot = os.environ.get("DPOSTUDIO_SCREENSHOT_DIR")
    if shot:  # docs/screenshots/comparison-judge.png is made with this
        win.resizeDocks([win.log_panel], [110], Qt.Orientation.Vertical)  # the log as a first start shows it
        qtbot.wait(50)
        pane.answers_scroll.verticalScrollBar().setValue(0)
        win.grab().save(os.path.join(shot, "comparison-judge.png"))

    with qtbot.waitSignal(win.dataset_pane.dataLoaded, timeout=60_000) as loaded:
        win.dataset_pane.set_data_config({"eval_ratio": 0.0})
        click(qtbot, pane.open_judgements_button)
    assert win.current_pane() == "Dataset"
    assert (
        loaded.args[0].source == "my-judgements.jsonl" and loaded.args[0].rows_used["train"] == 3
    )  # 1 + the written answer against both
