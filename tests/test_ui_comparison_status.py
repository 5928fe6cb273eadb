"""Comparison pane texts that follow the state (pytest-qt, offscreen): the run-list hint after runs appear, the
newest stored comparison shown when the pane is built (as after a relaunch), and the judge's reasoning condensed
to one line with the full text on demand."""

from __future__ import annotations

import time

from compare_fixtures import fake_adapter_folder_run
from PySide6.QtWidgets import QSpinBox

from dpostudio.core.compare import store
from dpostudio.ui.comparison.pane import ComparisonPane
from dpostudio.ui.comparison.widgets import condense_reasoning

LONG_BASE_FIRST = (
    "Response B is more accurate because it names the correct capital and explains why. "
    "Response A is vague. Response A is vague and repeats itself. Response A is vague and repeats itself again."
)
LONG_TUNED_FIRST = "Response A (the tuned one) is clearly better: it is correct, concise and complete. " * 3


def judged_item(index: int, prompt: str, verdict: str = "tuned") -> dict:
    answer = {"words": 4, "tokens": 6, "seconds": 0.5, "stop": "eos"}
    return {
        "index": index,
        "prompt": prompt,
        "base": dict(answer, answer=f"base answer {index}"),
        "tuned": dict(answer, answer=f"tuned answer {index}"),
        "judge": "openai-compatible",
        "verdict": verdict,
        "scores": {c: {"base": 4.0, "tuned": 7.5} for c in ("coherence", "relevance", "depth")},
        "reasoning": f"base first: {LONG_BASE_FIRST} | tuned first: {LONG_TUNED_FIRST}",
        "judgements": [
            {"order": "base_first", "winner": verdict, "reasoning": LONG_BASE_FIRST},
            {"order": "tuned_first", "winner": verdict, "reasoning": LONG_TUNED_FIRST},
        ],
        "judge_error": None,
        "position_disagreement": False,
    }


def stored_comparison(run, prompts: list[str], *, status: str = "finished", created_at: float | None = None):
    """A comparison folder as the core writes it (meta, items, summary), without running a model."""
    folder = store.new_folder(run)
    criteria = ["coherence", "relevance", "depth"]
    items = [judged_item(i, p) for i, p in enumerate(prompts)] if status == "finished" else []
    store.write_meta(
        folder,
        {
            "run": run.id,
            "criteria": criteria,
            "prompts": [{"text": p} for p in prompts],
            "status": status,
            "created_at": time.time() if created_at is None else created_at,
            "judge": "openai-compatible",
            "adapter_label": "final adapter",
        },
    )
    for item in items:
        store.append_item(folder, item)
    store.write_summary(folder, store.summarize(items, criteria, total=len(prompts)))
    return folder


def test_the_run_hint_follows_the_run_list(qtbot):
    pane = ComparisonPane()
    qtbot.addWidget(pane)
    assert pane.run_combo.count() == 0
    assert pane.summary_label.text().startswith("No run with an adapter yet")
    fake_adapter_folder_run("first")
    fake_adapter_folder_run("second")  # two trainings finish while the pane is open
    pane.refresh_runs()
    assert pane.run_combo.count() == 2
    assert "No run" not in pane.summary_label.text()
    assert pane.summary_label.text() == "2 runs with an adapter: pick one and press Compare."
    assert not pane.open_button.isEnabled()  # no past comparison to open yet


def test_the_newest_stored_comparison_is_shown_on_a_new_pane(qtbot):
    run = fake_adapter_folder_run("judged")
    older = stored_comparison(run, ["Q1"], created_at=1000.0)
    newest = stored_comparison(run, ["Capital of France?", "Name a colour."], created_at=2000.0)
    stored_comparison(run, ["never answered"], status="cancelled", created_at=3000.0)  # empty: not shown
    pane = ComparisonPane()
    qtbot.addWidget(pane)
    assert older != newest and pane._current_dir == str(newest)
    assert pane.past_combo.currentData() == str(newest)
    assert "tuned better in 2/2" in pane.summary_label.text()
    assert pane.table.rowCount() == 2
    assert pane.table.item(0, pane.table_column("prompt")).text() == "Capital of France?"
    assert pane.table.item(1, pane.table_column("verdict")).text() == "Tuned better"
    assert pane._boxes[1].edits["tuned"].toPlainText() == "tuned answer 1"
    pane.refresh_runs()  # a later run-list refresh keeps the comparison on screen
    assert "tuned better in 2/2" in pane.summary_label.text()


def test_reasoning_is_one_line_with_the_full_text_on_demand(qtbot):
    run = fake_adapter_folder_run("judged")
    stored_comparison(run, ["Capital of France?"])
    pane = ComparisonPane()
    qtbot.addWidget(pane)
    pane.resize(1280, 800)
    pane.show()
    col = pane.table_column("reasoning")
    cell = pane.table.item(0, col)
    short = cell.text()
    assert short == "Response B is more accurate because it names the correct capital and explains why."
    assert "\n" not in short and len(short) <= 110
    assert "repeats itself again" in cell.toolTip() and "tuned first" in cell.toolTip()
    # clicking the row shows the whole reasoning, each judging order in its own paragraph
    pane.table.setCurrentCell(0, col)
    full = pane.reason_view.toPlainText()
    assert full.startswith("Prompt 1: Tuned better")
    assert f"base first: {LONG_BASE_FIRST}" in full and "tuned first: Response A (the tuned one)" in full
    # the answer box shows one line and expands on request
    box = pane._boxes[0]
    assert short in box.verdict.text() and "repeats itself" not in box.verdict.text()
    assert not box.reasoning.isVisible() and box.why_button.isVisible()
    box.why_button.click()
    assert box.reasoning.isVisible() and "repeats itself again" in box.reasoning.text()
    assert box.why_button.text() == "Hide reasoning"
    # the verdict column is on screen: it comes before the long texts
    header = pane.table.horizontalHeader()
    verdict = pane.table_column("verdict")
    assert header.sectionViewportPosition(verdict) + header.sectionSize(verdict) <= pane.table.viewport().width()
    # the headers fit their columns (no "erence (base / tur")
    metrics = header.fontMetrics()
    for c in range(pane.table.columnCount()):
        title = pane.table.horizontalHeaderItem(c).text()
        widest = max(metrics.horizontalAdvance(line) for line in title.split("\n"))
        assert header.sectionSize(c) >= widest, title


def test_condensed_reasoning_of_a_changed_mind_and_of_a_judge_error():
    item = judged_item(0, "Q", verdict="tie")
    item["position_disagreement"] = True
    short, full = condense_reasoning(item)
    assert short == "Changed its mind when the answers swapped places (a tie)."
    assert full.startswith("The verdict changed when the answers swapped places")
    error = dict(judged_item(0, "Q", verdict="error"), judgements=[], reasoning="", judge_error="timed out")
    assert condense_reasoning(error) == ("Judge error: timed out", "Judge error: timed out")


def test_spin_and_combo_boxes_do_not_take_focus_from_the_wheel(qtbot):
    pane = ComparisonPane()
    qtbot.addWidget(pane)
    pane.select_judge("openai-compatible")
    boxes = pane.findChildren(QSpinBox) + [pane.run_combo, pane.judge_combo]
    assert boxes and all(b.focusPolicy() == b.focusPolicy().StrongFocus for b in boxes)
