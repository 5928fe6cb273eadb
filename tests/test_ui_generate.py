"""The Generate pane: the form says what is wrong in words, the candidate browser shows a dataset folder in the
core's format (written by the core's own writers), marking a candidate saves a judgement in the person's store,
and a real generation child (the embedded model, no training) runs, stops and resumes."""

from __future__ import annotations

import json

import pytest

from dpostudio.core.compare.human_pairs import JudgementSet
from dpostudio.core.loop import PairSettings, write_dataset
from dpostudio.core.loop.pairs import CANDIDATES_FILE, RANKINGS_FILE
from dpostudio.core.loop.records import append_jsonl
from dpostudio.ui.generate import GeneratePane
from dpostudio.ui.generate.browser import source_of
from dpostudio.ui.generate.form import generated_dir

PROMPTS = ["Name a primary colour.", "Say hello in French.", "What is 2 + 2?"]
ANSWERS = [
    ["Red.", "Blue is one.", "Colours are nice."],
    ["Bonjour.", "Salut !", "Hello."],
    ["4", "Four.", "5"],
]
SCORES = [[3.0, 4.0, 1.0], [2.0, 2.0, 2.0], None]  # prompt 2: a tie; prompt 3: the judge failed


def make_dataset(folder):
    """A dataset folder as ``run_job`` leaves it, through the core's own writers."""
    folder.mkdir(parents=True)
    for i, (prompt, answers) in enumerate(zip(PROMPTS, ANSWERS)):
        candidates = [{"text": a, "tokens": len(a), "stop": "eos"} for a in answers]
        append_jsonl(
            folder / CANDIDATES_FILE,
            {"index": i, "prompt": prompt, "messages": None, "source": "test", "candidates": candidates},
        )
        ranked = {"index": i, "prompt": prompt, "method": "self", "details": {}}
        if SCORES[i] is None:
            ranked.update(status="marked", reason="the judge answered 503 three times", scores=[None] * 3)
        else:
            ranked.update(status="ok", reason=None, scores=SCORES[i])
        append_jsonl(folder / RANKINGS_FILE, ranked)
    card = write_dataset(folder, PairSettings(), {"generator": {"model": "embedded:test", "system_prompt": None}})
    assert card["counts"]["pairs"] == 1 and card["counts"]["ties"] == 1 and card["counts"]["unjudged"] == 1
    return folder


@pytest.fixture
def pane(qtbot):
    widget = GeneratePane()
    qtbot.addWidget(widget)
    widget.resize(1280, 760)
    return widget


def test_form_says_what_is_wrong_in_words_and_keeps_the_input(pane, qtbot):
    form = pane.form
    form.folder_edit.setText("")
    messages = []
    pane.message.connect(lambda level, text: messages.append((level, text)))
    pane.start()
    assert messages and "Output folder" in messages[-1][1] and "name" in messages[-1][1]
    assert form.error_label.isVisibleTo(pane) and "Output folder" in form.error_label.text()

    form.folder_edit.setText("my data")
    form.temperature_spin.setValue(0.0)
    pane.start()
    assert "Sampling" in messages[-1][1] and "temperature above 0" in messages[-1][1]
    assert form.folder_edit.text() == "my data"  # nothing typed is lost

    form.temperature_spin.setValue(0.7)
    form.prompts.kind_combo.setCurrentIndex(form.prompts.kind_combo.findData("file"))
    form.prompts.path_edit.setText("")
    pane.start()
    assert "Prompts" in messages[-1][1] and "Source box is empty" in messages[-1][1]

    form.prompts.path_edit.setText("notes.docx")
    pane.start()
    assert ".txt, .jsonl or .json" in messages[-1][1]

    form.prompts.kind_combo.setCurrentIndex(form.prompts.kind_combo.findData("set"))
    form.pair_combo.setCurrentIndex(1)  # every pair above a gap, with a gap of 0
    pane.start()
    assert "Pairs" in messages[-1][1] and "min_gap above 0" in messages[-1][1]
    assert not pane.is_running()

    form.pair_combo.setCurrentIndex(0)
    (generated_dir() / "taken").mkdir(parents=True)
    (generated_dir() / "taken" / "x.txt").write_text("x")
    form.folder_edit.setText("taken")
    pane.start()
    assert "already exists and is not empty" in messages[-1][1]

    form.folder_edit.setText("fresh")
    folder, job = form.build()
    assert folder == generated_dir() / "fresh" and job.sampling.k == 5 and job.ranker.kind == "self"
    assert not form.error_label.isVisibleTo(pane)


def test_browser_shows_candidates_scores_and_the_pick(pane, qtbot, tmp_path):
    folder = make_dataset(tmp_path / "gen")
    pane.show_folder(str(folder))
    browser = pane.browser
    assert browser.prompt_list.count() == 3
    texts = [browser.prompt_list.item(i).text() for i in range(3)]
    assert "[pair]" in texts[0] and "[tie]" in texts[1] and "[left out]" in texts[2]
    assert "1 pairs, 1 ties and 1 unjudged" in browser.summary.text()
    headers = [card.header.text() for card in browser.cards]
    assert "score 4" in headers[1] and "chosen" in headers[1]
    assert "score 1" in headers[2] and "rejected" in headers[2]
    assert "chosen" not in headers[0] and "rejected" not in headers[0]
    assert [card.body.text() for card in browser.cards] == ANSWERS[0]
    browser.prompt_list.setCurrentRow(2)
    assert "503 three times" in browser.prompt_label.text()
    assert all("no score" in card.header.text() for card in browser.cards)


def test_marking_best_and_worst_saves_a_judgement(pane, qtbot, tmp_path):
    folder = make_dataset(tmp_path / "gen")
    pane.show_folder(str(folder))
    browser = pane.browser
    browser.prompt_list.setCurrentRow(1)  # the tie: the person breaks it
    browser.cards[0].best_button.click()
    store = JudgementSet()
    judgement = store.latest(source_of(folder, 1))
    assert judgement is not None and judgement.chosen == "Bonjour."
    assert sorted(judgement.rejected) == ["Hello.", "Salut !"]  # no worst yet: every other answer
    browser.cards[2].worst_button.click()
    judgement = store.latest(source_of(folder, 1))
    assert judgement.rejected == ("Hello.",) and judgement.source["kind"] == "candidates"
    rows = [json.loads(line) for line in store.pairs_path.read_text().splitlines()]
    assert rows == [
        {
            "prompt": "Say hello in French.",
            "chosen": "Bonjour.",
            "rejected": "Hello.",
            "judged_by": "you",
            "when": rows[0]["when"],
            "source": rows[0]["source"],
        }
    ]
    assert "your pick" in browser.prompt_list.item(1).text()
    assert "answer 1 preferred to answer 3" in browser.mine_label.text()

    # shown again (a fresh pane): the marks come back from the store
    again = GeneratePane()
    qtbot.addWidget(again)
    again.show_folder(str(folder))
    again.browser.prompt_list.setCurrentRow(1)
    assert again.browser.cards[0].best_button.isChecked() and again.browser.cards[2].worst_button.isChecked()

    # unmarking the best withdraws the judgement
    browser.cards[0].best_button.click()
    assert store.latest(source_of(folder, 1)) is None
    assert store.pairs_path.read_text().strip() == ""


def test_open_in_dataset_pane_hands_over_the_folder(pane, qtbot, tmp_path):
    folder = make_dataset(tmp_path / "gen")
    pane.show_folder(str(folder))
    with qtbot.waitSignal(pane.datasetRequested) as got:
        pane.dataset_button.click()
    assert got.args == [str(folder)]


@pytest.mark.slow
def test_a_real_generation_child_runs_stops_and_resumes(pane, qtbot, embedded_model, tmp_path):
    """The embedded model answers 3 built-in prompts twice each and judges them itself (no training): Stop after
    the first prompt keeps it, Resume finishes the rest, and the browser shows the built dataset."""
    form = pane.form
    form.prompts.first_n_spin.setValue(3)
    form.k_spin.setValue(2)
    form.max_tokens_spin.setValue(6)
    form.batch_spin.setValue(1)
    form.folder_edit.setText("tiny")
    stopped = []

    def stop_after_first(event):
        if event.get("type") == "prompt_done" and not stopped:
            stopped.append(event["index"])
            pane.stop()

    pane.controller.event.connect(stop_after_first)
    with qtbot.waitSignal(pane.jobEnded, timeout=300_000) as ended:
        pane.start()
    assert ended.args[0]["type"] == "cancelled", ended.args[0]
    folder = generated_dir() / "tiny"
    assert 1 <= len((folder / CANDIDATES_FILE).read_text().splitlines()) < 3
    assert pane.resume_button.isEnabled()
    with qtbot.waitSignal(pane.jobEnded, timeout=300_000) as ended:
        pane.resume()
    assert ended.args[0]["type"] == "finished", ended.args[0]
    assert pane.browser.prompt_list.count() == 3
    assert len(pane.browser.cards) == 2
    assert "prompts answered" in pane.browser.summary.text()
