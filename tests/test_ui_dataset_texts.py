"""Dataset pane texts that follow the state (pytest-qt, offscreen): summaries render as rich text (no literal
tags), and the tokenizer hint and button sit with the preview and say what is true now."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6 import QtGui
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QLabel, QSpinBox

from dpostudio.ui.dataset.pane import DatasetPane

DATA = Path(__file__).parent / "fixtures" / "data"
LOAD_TIMEOUT = 30_000


@pytest.fixture
def pane(qtbot):
    widget = DatasetPane()
    qtbot.addWidget(widget)
    widget.resize(1280, 800)
    yield widget
    qtbot.waitUntil(lambda: not widget.is_busy(), timeout=LOAD_TIMEOUT)


def _shown(label: QLabel) -> str:
    """What a label puts on screen: its text as Qt renders it (tags interpreted only when rich text)."""
    rich = label.textFormat() == Qt.TextFormat.RichText or (
        label.textFormat() == Qt.TextFormat.AutoText and QtGui.Qt.mightBeRichText(label.text())
    )
    if not rich:
        return label.text()
    doc = QTextDocument()
    doc.setHtml(label.text())
    return doc.toPlainText()


@pytest.mark.parametrize("dataset", ["builtin:demo", str(DATA / "distilabel_orca.jsonl")])
def test_no_label_shows_a_literal_tag(qtbot, pane, dataset):
    pane.set_data_config({"dataset": dataset})
    with qtbot.waitSignal(pane.dataLoaded, timeout=LOAD_TIMEOUT):
        pane.load()
    report = pane.report()
    assert report.notes and any("<-" in n for n in report.notes)  # the text that made Qt guess "plain"
    for label in pane.findChildren(QLabel):
        shown = _shown(label)
        assert "<br>" not in shown and "<b>" not in shown and "&lt;" not in shown, (label.text(), shown)
    assert "chosen <- 'chosen'" in _shown(pane.notes_label)  # the data's own "<" shown as it is


def test_notes_keep_one_line_each(qtbot, pane):
    pane.set_data_config({"dataset": str(DATA / "distilabel_orca.jsonl")})
    with qtbot.waitSignal(pane.dataLoaded, timeout=LOAD_TIMEOUT):
        pane.load()
    notes = pane.report().notes
    lines = _shown(pane.notes_label).splitlines()
    assert len(lines) == len(notes) and lines[0] == notes[0]


def test_the_tokenizer_hint_follows_the_state(qtbot, pane, monkeypatch):
    # the model box and button sit on the "What the model sees" tab, beside the preview they change
    seen_tab = pane.detail_tabs.widget(1)
    assert seen_tab.isAncestorOf(pane.model_edit) and seen_tab.isAncestorOf(pane.tokenizer_button)
    with qtbot.waitSignal(pane.dataLoaded, timeout=LOAD_TIMEOUT):
        pane.load()
    pane.table.selectRow(0)
    model = pane.model_edit.text()
    assert model  # a model is named (the default one)
    assert "pick a model" not in pane.templated_label.text()
    assert f"load {model}'s" in pane.templated_label.text()
    assert pane.tokenizer_status.text().startswith("No tokenizer loaded")

    pane.model_edit.setText("")
    assert "name a model above" in pane.templated_label.text()
    pane.set_model("some/model")
    assert "some/model" in pane.templated_label.text()
    assert pane.tokenizer_status.text() == "No tokenizer loaded: lengths are counted in characters."

    # loading (in the background), then loaded: the texts say so and the button offers a reload
    from dpostudio.ui.dataset import pane as pane_module

    started = []
    monkeypatch.setattr(pane_module, "run_task", lambda *a, **k: started.append(k) or None)
    pane.tokenizer_button.click()
    assert pane.tokenizer_status.text() == "Loading the tokenizer of some/model…"
    assert not pane.tokenizer_button.isEnabled()
    pane._tokenizer_loading = None
    pane._tokenizer, pane._tokenizer_spec = "some/model", "some/model"
    pane._update_tokenizer_hint()
    assert pane.tokenizer_status.text().startswith("Using the tokenizer of some/model")
    assert pane.tokenizer_button.text() == "Reload tokenizer" and pane.tokenizer_button.isEnabled()
    pane._tokenizer = None  # the fixture waits for no real task


def test_spin_and_combo_boxes_take_focus_by_click_not_by_wheel(pane):
    boxes = pane.findChildren(QSpinBox) + [pane.format_combo, pane.template_combo, pane.source_combo]
    assert boxes and all(b.focusPolicy() == Qt.FocusPolicy.StrongFocus for b in boxes)
