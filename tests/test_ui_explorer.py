"""The per-pair reward explorer (pytest-qt, offscreen): scoring in a child process fills the table, the filters
and the search follow the scores, swap/drop/mark are pending until saved as a new dataset version (which the data
pipeline loads, the source untouched), Cancel leaves a usable table, and bad inputs are answered in words."""

from __future__ import annotations

import hashlib
import json

import pytest
from PySide6.QtCore import Qt

from compare_fixtures import fake_adapter_folder_run
from dpostudio.core.data.pipeline import prepare_pairs
from dpostudio.core.data.sources import BUILTIN_DEMO_DIR
from dpostudio.core.data.versions import config_for_version, read_version
from dpostudio.core.diagnostics.pair_scores import PairScore, PairScores
from dpostudio.ui.explorer import ExplorerWindow, open_explorer
from dpostudio.ui.explorer.model import COLUMN, DISAGREE, DISPLACED, EDITED, NOTHING

MAX_LENGTH = 64  # short sequences keep the forward passes fast


@pytest.fixture
def run(fake_run):
    """The fake run (real LoRA weights on SmolLM2) on the built-in pairs, with a short max_length."""
    fake_run.config().replace(data_filters=[], max_length=MAX_LENGTH).save(fake_run.config_path)
    return fake_run


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _demo(split: str, row: int) -> dict:
    return json.loads((BUILTIN_DEMO_DIR / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()[row - 1])


def _scores(run_id: str) -> PairScores:
    """Six made-up scores of the run's first evaluation pairs: (delta chosen, delta rejected) per row."""
    deltas = {1: (2.0, -2.0), 2: (-8.0, -2.0), 3: (0.02, 0.0), 4: (-1.0, -3.0), 5: (-0.5, 1.5), 6: (1.0, 0.0)}
    scores = []
    for row, (dc, dr) in deltas.items():
        raw = _demo("eval", row)
        scores.append(
            PairScore("eval", row, raw["prompt"], raw["chosen"], raw["rejected"], 0.25, -10 + dc, -12 + dr, -10.0,
                      -12.0, 20, 20)
        )
    return PairScores(scores, run_id=run_id, adapter="final adapter", beta=0.25)


def _window(qtbot, run_id: str | None = None) -> ExplorerWindow:
    window = open_explorer(None, run_id)
    qtbot.addWidget(window)
    return window


def test_filters_search_and_sorting_follow_the_scores(qtbot, run):
    window = _window(qtbot, run.id)
    view = window.view
    view.set_scores(_scores(run.id))
    assert view.model.rowCount() == 6 and view.count_label.text() == "6 of 6 pairs"
    assert "Run " in view.status_text() and "Model agrees with 4/6 labels" in view.status_text()
    view.set_view(DISAGREE)  # margins: row 2 -1.5, row 5 -0.5
    assert view.shown_keys() == [("eval", 2), ("eval", 5)]
    view.set_view(NOTHING)
    assert view.shown_keys() == [("eval", 3)]
    view.set_view(DISPLACED)  # chosen less likely, the largest fall first
    assert view.shown_keys() == [("eval", 2), ("eval", 4), ("eval", 5)]
    view.set_view("all")
    view.table.sortByColumn(COLUMN["margin"], Qt.SortOrder.DescendingOrder)
    assert view.shown_keys()[0] == ("eval", 1) and view.shown_keys()[-1] == ("eval", 2)
    index = view.proxy.index(0, COLUMN["agrees"])
    assert index.data() == "yes" and view.proxy.index(0, COLUMN["margin"]).data() == "+1.000"
    word = _demo("eval", 4)["prompt"].split()[-1].strip("?.").lower()
    view.search_edit.setText(word)
    assert ("eval", 4) in view.shown_keys() and len(view.shown_keys()) < 6
    view.search_edit.clear()
    assert len(view.shown_keys()) == 6

    view.select_keys([("eval", 2)])
    assert view.detail.prompt_edit.toPlainText() == _demo("eval", 2)["prompt"]
    assert view.detail.rejected_edit.toPlainText() == _demo("eval", 2)["rejected"]
    assert "disagrees with the label" in view.detail.heading.text()
    view.swap_selected()
    assert "becomes the rejected answer" in view.detail.chosen_label.text()
    view.select_keys([("eval", 3), ("eval", 5)])
    view.drop_selected()
    view.select_keys([("eval", 1)])
    assert view.mark_selected("typo in the chosen answer")
    view.set_view(EDITED)
    assert view.shown_keys() == [("eval", 1), ("eval", 2), ("eval", 3), ("eval", 5)]
    row_3 = view.proxy.index(2, COLUMN["edit"])
    assert row_3.data() == "dropped" and row_3.data(Qt.ItemDataRole.FontRole).strikeOut()
    assert view.proxy.index(0, COLUMN["edit"]).data() == "marked: typo in the chosen answer"
    assert view.edits_label.text() == "Pending: 1 swapped, 2 dropped, 1 marked"
    view.search_edit.setText("typo in the")  # notes are searched too
    assert view.shown_keys() == [("eval", 1)]
    view.search_edit.clear()
    view.select_keys([("eval", 3), ("eval", 5)])
    view.drop_selected()  # again: keep them
    view.select_keys([("eval", 2)])
    view.clear_selected()
    assert view.shown_keys() == [("eval", 1)] and view.edits_label.text() == "Pending: 1 marked"


def test_scoring_fills_the_table_and_edits_are_saved_as_a_new_version(qtbot, run):
    source = BUILTIN_DEMO_DIR / "eval.jsonl"
    before = _digest(source)
    window = _window(qtbot, run.id)
    view = window.view
    assert view.checkpoint_combo.currentText() == "final adapter" and view.checkpoint_combo.count() == 2
    view.limit_spin.setValue(3)
    events = []
    view.progress.valueChanged.connect(events.append)
    with qtbot.waitSignal(view.scoringFinished, timeout=120_000) as finished:
        assert view.start_scoring()
        assert not view.score_button.isEnabled() and view.cancel_button.isEnabled()
    scores = finished.args[0]
    assert scores is not None and not scores.cancelled and len(scores) == 3
    assert view.model.rowCount() == 3 and 3 in events
    assert view.score_button.isEnabled() and not view.cancel_button.isEnabled()
    assert [k for k in view.shown_keys()] == [("eval", r) for r in range(1, 4)]
    first = scores[0]
    assert view.proxy.index(0, COLUMN["margin"]).data() == f"{first.margin:+.3f}"
    assert view.proxy.index(0, COLUMN["agrees"]).data() == ("yes" if first.agrees else "no")
    assert "final adapter, beta 0.25: 3 pairs" in view.status_text()

    view.select_keys([("eval", 1)])
    view.swap_selected()
    view.select_keys([("eval", 2)])
    view.drop_selected()
    view.select_keys([("eval", 3)])
    view.mark_selected("check this one")
    with qtbot.waitSignal(view.versionSaved, timeout=120_000) as saved:
        assert view.save_version("from the explorer test")
    version = saved.args[0]
    assert version.path.parent == run.path / "data_versions" and version.path.is_file()
    assert str(version.path) in view.status_text() and "source dataset is unchanged" in view.saved_label.text()
    assert read_version(version.path).swapped == [("eval", 1)]
    assert version.dropped == [("eval", 2)] and version.marked == [("eval", 3, "check this one")]
    assert _digest(source) == before

    config = config_for_version(run.config(), version).replace(eval_ratio=0.0)
    prepared = prepare_pairs(config)
    assert len(prepared.train) == version.total == 320 + 39
    by_prompt = {p["prompt"][-1]["content"]: p for p in prepared.train}
    raw1, raw2 = _demo("eval", 1), _demo("eval", 2)
    assert by_prompt[raw1["prompt"]]["chosen"] == raw1["rejected"]  # swapped
    assert raw2["prompt"] not in by_prompt  # dropped

    assert view.train_button.isEnabled()
    with qtbot.waitSignal(window.trainRequested, timeout=5_000) as train:
        view.train_button.click()
    assert train.args == [str(version.path)]


def test_a_runs_extra_eval_set_is_offered_scored_and_only_looked_at(qtbot, run):
    run.config().replace(extra_eval_sets=["styled=builtin:demo-styled"]).save(run.config_path)
    window = _window(qtbot, run.id)
    view = window.view
    combo = view.split_combo
    assert [combo.itemData(i) for i in range(combo.count())] == ["eval", "train", "both", "styled"]
    assert combo.itemText(3) == "Held-out set “styled”"
    combo.setCurrentIndex(3)
    view.limit_spin.setValue(2)
    with qtbot.waitSignal(view.scoringFinished, timeout=120_000) as finished:
        assert view.start_scoring()
    scores = finished.args[0]
    assert scores is not None and [(s.split, s.row) for s in scores] == [("styled", 1), ("styled", 2)]
    assert view.shown_keys() == [("styled", 1), ("styled", 2)]
    assert "extra held-out set" in view.status_text()
    view.select_keys([("styled", 1)])
    assert view.detail.prompt_edit.toPlainText()  # the pair is shown
    assert not view.swap_button.isEnabled() and not view.drop_button.isEnabled()  # no edits of a held-out set

    view.set_scores(_scores(run.id))  # the run's own pairs again: editable
    view.select_keys([("eval", 1)])
    assert view.swap_button.isEnabled() and "extra held-out set" not in view.status_text()
    view.refresh_runs()  # the choice survives re-reading the runs
    assert combo.currentData() == "styled"


def test_cancel_stops_scoring_and_leaves_the_table_usable(qtbot, run):
    window = _window(qtbot, run.id)
    view = window.view
    view.split_combo.setCurrentIndex(view.split_combo.findData("train"))
    view.batch_size = 2
    progress = []

    def on_value(value):
        progress.append(value)
        if value > 0:
            view.cancel()

    view.progress.valueChanged.connect(on_value)
    with qtbot.waitSignal(view.scoringFinished, timeout=120_000) as finished:
        assert view.start_scoring()
    scores = finished.args[0]
    assert scores is not None and scores.cancelled and 0 < len(scores) < 319
    assert view.model.rowCount() == len(scores)
    assert "Stopped early" in view.status_text()
    assert view.score_button.isEnabled() and view.run_combo.isEnabled()
    view.select_keys([("train", 1)])
    view.swap_selected()
    assert view.edits_label.text() == "Pending: 1 swapped"
    assert view.wait(10_000)


def test_bad_inputs_are_answered_in_words(qtbot, run):
    window = _window(qtbot)
    view = window.view
    assert view.run_combo.count() == 1
    assert not view.select_run("no-such-run")
    assert "no run called 'no-such-run'" in view.status_text()
    assert not view.save_version("x")
    assert "Score a run's pairs first" in view.status_text()
    view.set_scores(_scores(run.id))
    assert not view.mark_selected("note")
    assert "Select one or more pairs" in view.status_text()
    assert not view.save_version("x")
    assert "Nothing to save yet" in view.status_text()
    bogus = PairScores([PairScore("eval", 999, "p", "c", "r", 0.25, -1, -2, -1, -2, 3, 3)], run_id=run.id)
    view.set_scores(bogus)
    view.select_keys([("eval", 999)])
    view.drop_selected()
    assert view.save_version("")
    qtbot.waitUntil(lambda: "Could not save" in view.status_text(), timeout=60_000)
    assert "has no such pair: eval row 999" in view.status_text()

    broken = fake_adapter_folder_run("broken")
    broken.config_path.write_text("beta = [oops", encoding="utf-8")
    assert view.select_run(broken.id)
    with qtbot.waitSignal(view.scoringFinished, timeout=120_000) as finished:
        view.start_scoring()
    assert finished.args[0] is None
    assert "Scoring failed: cannot read the configuration of run" in view.status_text()
    assert view.model.rowCount() == 1 and view.score_button.isEnabled()  # the table is kept


def test_a_folder_without_runs_says_what_to_do(qtbot):
    window = _window(qtbot)
    view = window.view
    assert view.run_combo.count() == 0
    assert "No run with an adapter yet" in view.status_text()
    assert not view.start_scoring()
    assert "Pick a run with an adapter first" in view.status_text()
