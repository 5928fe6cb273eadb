"""The Dataset pane, driven offscreen: loads in the background, detects formats, keeps old data on errors."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from dpostudio.ui.dataset.pane import DATA_FIELDS, DatasetPane  # noqa: E402

DATA = Path(__file__).parent / "fixtures" / "data"
LOAD_TIMEOUT = 30_000


@pytest.fixture
def pane(qtbot):
    widget = DatasetPane()
    qtbot.addWidget(widget)
    widget.resize(1200, 800)
    yield widget
    qtbot.waitUntil(lambda: not widget.is_busy(), timeout=LOAD_TIMEOUT)


def _load(qtbot, pane, config=None):
    if config is not None:
        pane.set_data_config(config)
    with qtbot.waitSignal(pane.dataLoaded, timeout=LOAD_TIMEOUT) as blocker:
        pane.load()
    return blocker.args[0]


def test_demo_loads_in_the_background_and_shows_rows(qtbot, pane):
    assert pane.report() is None
    with qtbot.waitSignal(pane.dataLoaded, timeout=LOAD_TIMEOUT):
        pane.load()
        assert pane.is_busy() and pane.progress.isVisibleTo(pane)  # the work is not done on the GUI thread
    report = pane.report()
    assert report.detection.format == "standard"
    assert "TRL standard" in pane.detected_label.text()
    assert pane.pair_model.rowCount() == report.rows_used["train"] + report.rows_used["eval"] > 0
    pane.table.selectRow(2)
    split, pair = pane.pair_model.pair(2)
    assert pane.chosen_view.toPlainText() == pair["chosen"]
    assert pane.rejected_view.toPlainText() == pair["rejected"]
    # without a tokenizer the chat template cannot be shown: said in words, not raised
    assert "tokenizer" in pane.templated_label.text()
    pane.template_combo.setCurrentIndex(pane.template_combo.findData("alpaca"))
    assert "### Instruction:" in pane.templated_view.toPlainText()
    config = pane.data_config()
    assert set(config) == set(DATA_FIELDS)
    assert config["dataset"] == "builtin:demo" and config["prompt_template"] == "alpaca"


def test_fixture_files_are_detected_and_mapping_changes_redetect(qtbot, pane):
    report = _load(qtbot, pane, {"dataset": str(DATA / "hh_rlhf.jsonl")})
    assert pane.source_combo.currentData() == "local-file"
    assert report.detection.format == "hh_rlhf"
    report = _load(qtbot, pane, {"dataset": str(DATA / "quoted_multiline.csv")})
    assert report.detection.format == "standard" and report.rows_used["train"] >= 1
    assert "\n" in pane.pair_model.pair(0)[1]["chosen"]  # quoted newline kept

    report = _load(qtbot, pane, {"dataset": str(DATA / "distilabel_orca.jsonl")})
    assert report.detection.format == "distilabel"
    suggested = [pane.filter_list.item(i).text() for i in range(pane.filter_list.count())]
    assert "status != tie" in suggested
    assert pane.data_config()["data_filters"] == []  # offered, not applied
    # swapping the answer columns re-runs detection with the new mapping (automatically, in the background)
    with qtbot.waitSignal(pane.dataLoaded, timeout=LOAD_TIMEOUT) as blocker:
        chosen, rejected = pane.column_combos["chosen"], pane.column_combos["rejected"]
        chosen.setCurrentIndex(chosen.findData("rejected"))
        rejected.setCurrentIndex(rejected.findData("chosen"))
    assert blocker.args[0].detection.mapping["chosen"] == "rejected"
    assert pane.data_config()["column_chosen"] == "rejected"
    # forcing a format that needs a missing column says so in words; mapping the column then works
    with qtbot.waitSignal(pane.loadFailed, timeout=LOAD_TIMEOUT) as failed:
        pane.format_combo.setCurrentIndex(pane.format_combo.findData("standard"))
    assert "needs a 'prompt' column" in failed.args[0]
    with qtbot.waitSignal(pane.dataLoaded, timeout=LOAD_TIMEOUT) as blocker:
        pane.column_combos["prompt"].setCurrentIndex(pane.column_combos["prompt"].findData("input"))
    assert blocker.args[0].detection.format == "standard" and blocker.args[0].detection.forced
    # checking a suggested filter applies it
    used_before = sum(blocker.args[0].rows_used.values())
    with qtbot.waitSignal(pane.dataLoaded, timeout=LOAD_TIMEOUT) as blocker:
        item = next(
            pane.filter_list.item(i)
            for i in range(pane.filter_list.count())
            if pane.filter_list.item(i).text() == "status != tie"
        )
        from PySide6.QtCore import Qt

        item.setCheckState(Qt.CheckState.Checked)
    assert pane.data_config()["data_filters"] == ["status != tie"]
    assert sum(blocker.args[0].rows_used.values()) < used_before


def test_a_broken_file_shows_an_error_in_words_and_keeps_the_previous_data(qtbot, pane):
    _load(qtbot, pane)
    rows = pane.pair_model.rowCount()
    messages = []
    pane.message.connect(lambda level, text: messages.append((level, text)))
    pane.set_data_config({"dataset": str(DATA / "broken.jsonl")})
    with qtbot.waitSignal(pane.loadFailed, timeout=LOAD_TIMEOUT) as blocker:
        pane.load()
    assert "broken.jsonl" in blocker.args[0] and "line 3" in blocker.args[0]
    assert "Traceback" not in blocker.args[0]
    assert pane.error_label.isVisibleTo(pane) and "line 3" in pane.error_label.text()
    assert "previous" in pane.error_label.text()
    assert ("error", blocker.args[0]) in messages
    assert pane.pair_model.rowCount() == rows and pane.report().source == "builtin:demo"
    # a missing column is reported the same way
    pane.set_data_config({"dataset": str(DATA / "custom_columns.jsonl")})
    with qtbot.waitSignal(pane.loadFailed, timeout=LOAD_TIMEOUT) as blocker:
        pane.load()
    assert "no column for the chosen answer" in blocker.args[0]


def test_config_round_trip_and_change_signal(qtbot, pane):
    seen = []
    pane.dataConfigChanged.connect(seen.append)
    pane.set_data_config(
        {
            "dataset": "Anthropic/hh-rlhf",
            "dataset_config": "harmless-base",
            "first_n": 1000,
            "eval_ratio": 0.05,
            "split_seed": 7,
            "eval_split": "test",
            "drop_problems": ["empty"],
            "system_prompt": "Be brief.",
            "column_prompt": "question",
        }
    )
    config = pane.data_config()
    assert pane.source_combo.currentData() == "hub"
    assert config["dataset"] == "Anthropic/hh-rlhf" and config["dataset_config"] == "harmless-base"
    assert config["first_n"] == 1000 and config["eval_ratio"] == 0.05 and config["split_seed"] == 7
    assert config["eval_split"] == "test" and config["drop_problems"] == ["empty"]
    assert config["system_prompt"] == "Be brief." and config["column_prompt"] == "question"
    assert seen and seen[-1] == config
    pane.eval_ratio_spin.setValue(0.2)
    assert seen[-1]["eval_ratio"] == 0.2
    from dpostudio.core.training.run_config import RunConfig

    RunConfig.from_dict(pane.data_config())  # what the pane produces is a valid run config


@pytest.mark.slow
def test_preview_shows_the_models_chat_template(qtbot, pane, embedded_model):
    _load(qtbot, pane)
    pane.set_model(embedded_model.spec)
    pane.load_tokenizer()
    qtbot.waitUntil(lambda: pane._tokenizer is not None and not pane.is_busy(), timeout=300_000)
    assert pane.report().stats.unit == "tokens"
    pane.table.selectRow(0)
    _, pair = pane.pair_model.pair(0)
    # the tokenizer lives in the app's background process: the preview arrives from there
    qtbot.waitUntil(lambda: "prompt tokens" in pane.templated_label.text(), timeout=60_000)
    text = pane.templated_view.toPlainText()
    assert "<|im_start|>user\n" + pair["prompt"][-1]["content"] in text
    assert "<|im_end|>" in text
    assert "prompt tokens" in pane.templated_label.text()


def test_a_dataset_source_plugin_feeds_the_pane(qtbot, monkeypatch, dpostudio_home):
    from dpostudio.plugins import DatasetSource, LoadedDataset, SourceOption, hookimpl
    from dpostudio.plugins.manager import get_manager

    class TextsPlugin:
        DPOSTUDIO_HOOK_API = 1

        @hookimpl
        def dpostudio_dataset_sources(self):
            return [
                DatasetSource(
                    "test-texts",
                    "Test texts",
                    "pairs made up by a test plugin",
                    [SourceOption("rows", "Rows", kind="int", default=4)],
                )
            ]

        @hookimpl
        def dpostudio_load_dataset(self, source_id, options):
            if source_id != "test-texts":
                return None
            rows = [{"prompt": f"Say {i}.", "chosen": f"{i}", "rejected": f"{i + 1}"} for i in range(options["rows"])]
            return LoadedDataset(rows, [{"prompt": "Say x.", "chosen": "x", "rejected": "y"}], label="texts")

    get_manager().register(TextsPlugin(), "test-texts-plugin")
    pane = DatasetPane()
    qtbot.addWidget(pane)
    qtbot.waitUntil(lambda: pane.source_combo.findData("test-texts") >= 0, timeout=LOAD_TIMEOUT)
    pane.source_combo.setCurrentIndex(pane.source_combo.findData("test-texts"))
    assert "Rows" in [
        pane.plugin_form.itemAt(i).widget().text()
        for i in range(pane.plugin_form.count())
        if hasattr(pane.plugin_form.itemAt(i).widget(), "text")
    ]
    with qtbot.waitSignal(pane.dataLoaded, timeout=LOAD_TIMEOUT) as blocker:
        pane.load()
    report = blocker.args[0]
    assert report.rows_used == {"train": 4, "eval": 1}  # the plugin's held-out rows are the eval split
    config = pane.data_config()
    # recorded exactly as the CLI takes it (one route, one record): the spec, not a copy of the rows
    assert config["dataset"] == "plugin:test-texts?rows=4" and config["eval_split"] is None
    qtbot.waitUntil(lambda: not pane.is_busy(), timeout=LOAD_TIMEOUT)
    assert "own held-out rows" in pane.split_note.text()
    # the same record trains the same rows from the CLI's side (options typed as the source declares them)
    from dpostudio.core.data.pipeline import prepare_pairs
    from dpostudio.core.training.run_config import RunConfig

    prepared = prepare_pairs(RunConfig.from_dict(config))
    assert len(prepared.train) == 4 and len(prepared.eval) == 1 and prepared.eval_from_source
