"""Preference data without a tokenizer: sources, format detection, normalisation, filters, validation, split."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dpostudio.core.data.filters import parse_filter, suggest_filters
from dpostudio.core.data.formats import RowError, as_messages, parse_hh
from dpostudio.core.data.pipeline import (
    DataError, inspect_data, load_raw, load_splits, prepare_pairs, preview_row, split_pairs,
)
from dpostudio.core.training.run_config import RunConfig

DATA = Path(__file__).parent / "fixtures" / "data"


def cfg(name: str, **kw) -> RunConfig:
    kw.setdefault("eval_ratio", 0.0)
    return RunConfig(dataset=str(DATA / name), **kw)


def rows_by_number(prepared):
    return {p["row"]: p for p in prepared.train}


def kinds(problems):
    return {(p.row, p.kind) for p in problems}


# ---- detection + normalisation per format ---------------------------------------------------------------------
def test_trl_standard_unicode_and_problems():
    prepared = prepare_pairs(cfg("trl_standard.jsonl", drop_problems=[]))
    assert prepared.detection.format == "standard"
    assert kinds(prepared.problems) == {(3, "empty"), (4, "identical"), (5, "duplicate"), (6, "missing_prompt")}
    pairs = rows_by_number(prepared)
    assert len(pairs) == 8  # keep everything when nothing is dropped
    assert pairs[2]["chosen"].startswith("Japanese: おはようございます")
    assert pairs[7]["prompt"] == [{"role": "user", "content": "Give me an emoji for joy 🎉 and explain it."}]


def test_default_drop_leaves_rows_out_and_counts_them():
    prepared = prepare_pairs(cfg("trl_standard.jsonl"))
    assert sorted(rows_by_number(prepared)) == [1, 2, 7, 8]
    assert prepared.dropped == {"empty": 1, "identical": 1, "duplicate": 1, "missing_prompt": 1}
    problem = next(p for p in prepared.problems if p.kind == "empty")
    assert problem.message() == "trl_standard.jsonl, row 3, column 'chosen': the chosen answer is empty or only whitespace"


def test_trl_conversational_multi_turn_prompt_and_system():
    prepared = prepare_pairs(cfg("trl_conversational.jsonl"))
    assert prepared.detection.format == "conversational"
    row2 = rows_by_number(prepared)[2]
    assert [m["role"] for m in row2["prompt"]] == ["system", "user", "assistant", "user"]
    assert row2["chosen"] == "Rome."


def test_implicit_prompt_reports_rows_without_shared_prefix():
    prepared = prepare_pairs(cfg("implicit_prompt.jsonl"))
    assert prepared.detection.format == "implicit_prompt"
    pairs = rows_by_number(prepared)
    assert sorted(pairs) == [1, 3]
    assert pairs[1] == {"row": 1, "prompt": [{"role": "user", "content": "What colour is the sky?"}],
                        "chosen": "Blue.", "rejected": "Green."}
    assert len(pairs[3]["prompt"]) == 3
    [bad] = prepared.problems
    assert (bad.row, bad.kind, bad.column) == (2, "unusable", "chosen")
    assert "do not share a prompt" in bad.message()


def test_hh_rlhf_transcripts_split_into_multi_turn_prompt_and_final_answers():
    prepared = prepare_pairs(cfg("hh_rlhf.jsonl"))
    assert prepared.detection.format == "hh_rlhf"
    pairs = rows_by_number(prepared)
    assert pairs[2]["prompt"] == [
        {"role": "user", "content": "Can you recommend a book?"},
        {"role": "assistant", "content": "Sure, what genres do you like?"},
        {"role": "user", "content": "Science fiction, mostly."},
    ]
    assert pairs[2]["chosen"] == "Try 'The Left Hand of Darkness' by Ursula K. Le Guin."
    assert pairs[2]["rejected"] == "Books are boring."
    # CRLF transcript parsed, no carriage returns left
    assert pairs[5]["prompt"] == [{"role": "user", "content": "Wie sagt man 'danke' auf Französisch?"}]
    assert pairs[5]["chosen"] == "Man sagt « merci »."
    # reported, not silently dropped
    messages = {p.row: p.message() for p in prepared.problems}
    assert "row 3" in messages[3] and "do not share a prompt" in messages[3] and "turn 2" in messages[3]
    assert "ends with a user turn, not an assistant answer" in messages[4]
    assert "rejected answer is empty" in messages[6]
    assert prepared.dropped == {"unusable": 2, "empty": 1}


def test_parse_hh_rejects_text_before_first_turn():
    with pytest.raises(RowError, match="before the first"):
        parse_hh("Preamble\n\nHuman: hi\n\nAssistant: hello", "chosen")


def test_orca_dpo_pairs_system_becomes_system_message():
    prepared = prepare_pairs(cfg("orca_dpo_pairs.jsonl"))
    assert prepared.detection.format == "orca"
    assert prepared.detection.mapping == {"prompt": "question", "chosen": "chosen", "rejected": "rejected",
                                          "system": "system"}
    pairs = rows_by_number(prepared)
    assert [m["role"] for m in pairs[1]["prompt"]] == ["user"]  # empty system column -> no system message
    assert pairs[2]["prompt"][0]["role"] == "system"
    assert pairs[2]["prompt"][1]["content"].startswith("Generate an approximately fifteen-word sentence")


def test_distilabel_detection_suggests_and_applies_filters():
    prepared = prepare_pairs(cfg("distilabel_orca.jsonl"))
    assert prepared.detection.format == "distilabel"
    assert prepared.detection.mapping["prompt"] == "input"
    assert prepared.suggested_filters == ["status != tie", "chosen_score >= 8", "in_gsm8k_train == false"]
    filtered = prepare_pairs(cfg("distilabel_orca.jsonl", data_filters=prepared.suggested_filters))
    assert sorted(rows_by_number(filtered)) == [1, 4]
    assert any("status != tie" in n and "removed 1" in n for n in filtered.notes)


def test_ultrafeedback_message_lists_lose_the_repeated_prompt():
    prepared = prepare_pairs(cfg("ultrafeedback_binarized.jsonl"))
    assert prepared.detection.format == "ultrafeedback"
    row = rows_by_number(prepared)[4]
    assert row == {"row": 4, "prompt": [{"role": "user", "content": "What is 15% of 80?"}],
                   "chosen": "12.", "rejected": "15."}
    filtered = prepare_pairs(cfg("ultrafeedback_binarized.jsonl", data_filters=["score_chosen >= 8.5"]))
    assert sorted(rows_by_number(filtered)) == [1, 2, 4]


def test_csv_with_bom_crlf_and_quoted_newlines():
    prepared = prepare_pairs(cfg("quoted_multiline.csv", drop_problems=[]))
    assert prepared.columns == ["prompt", "chosen", "rejected"]  # BOM stripped from the first column name
    pairs = rows_by_number(prepared)
    assert pairs[1]["chosen"] == "1. Apple\n2. Banana"
    assert pairs[1]["rejected"] == "Apple, banana"
    assert pairs[2]["chosen"] == '"To be, or not to be" — Hamlet.'
    assert pairs[3]["chosen"] == "Roses are red,\nviolets are blue."
    assert pairs[4]["chosen"] == "42"
    assert kinds(prepared.problems) == {(5, "empty")}
    assert prepared.problems[0].column == "rejected"


def test_mixed_message_shapes_and_malformed_messages():
    prepared = prepare_pairs(cfg("mixed_shapes.jsonl"))
    pairs = rows_by_number(prepared)
    assert pairs[1]["chosen"] == "Hello!" and pairs[1]["prompt"][0]["content"] == "Say hello."
    assert pairs[2]["rejected"] == "Yo."
    assert pairs[3]["chosen"] == "Hello from ShareGPT!"
    assert pairs[4]["chosen"] == "Hello!"
    reasons = {p.row: (p.kind, p.column, p.reason) for p in prepared.problems}
    assert reasons[5] == ("unusable", "chosen", "message 1 has no role")
    assert reasons[6] == ("unusable", "chosen", "message 1 content is a number, not text")
    assert reasons[7][0] == "empty"


def test_as_messages_reports_bad_roles():
    with pytest.raises(RowError, match="role 'narrator'"):
        as_messages([{"role": "narrator", "content": "x"}], "chosen")
    with pytest.raises(RowError, match="not a \\{role, content\\} object"):
        as_messages(["just text"], "chosen")


def test_missing_columns_explain_how_to_map():
    with pytest.raises(DataError) as err:
        prepare_pairs(cfg("custom_columns.jsonl"))
    text = str(err.value)
    assert "custom_columns.jsonl" in text and "'good'" in text and "--map chosen=COLUMN" in text


def test_manual_mapping_overrides_detection():
    config = cfg("custom_columns.jsonl", column_prompt="instruction_text", column_chosen="good", column_rejected="bad")
    prepared = prepare_pairs(config)
    assert prepared.detection.mapping["chosen"] == "good"
    assert rows_by_number(prepared)[1] == {"row": 1, "prompt": [{"role": "user", "content": "Name a planet."}],
                                           "chosen": "Mars.", "rejected": "The Sun."}
    with pytest.raises(DataError, match="column 'nope' \\(mapped to chosen\\) not found"):
        prepare_pairs(cfg("custom_columns.jsonl", column_chosen="nope", column_rejected="bad"))


def test_forced_format_overrides_detection():
    prepared = prepare_pairs(cfg("distilabel_orca.jsonl", data_format="standard", column_prompt="input"))
    assert prepared.detection.format == "standard" and prepared.detection.forced
    with pytest.raises(DataError, match="needs a 'question' column"):
        prepare_pairs(cfg("trl_standard.jsonl", data_format="orca"))


def test_broken_json_names_file_and_line():
    with pytest.raises(DataError, match="broken.jsonl: line 3 is not valid JSON"):
        load_raw(str(DATA / "broken.jsonl"))


def test_json_array_and_parquet_and_first_n(tmp_path):
    train, held = load_raw(str(DATA / "llmtwin_dpo.json"))
    assert len(train) == 4 and held is None
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [json.loads(line) for line in (DATA / "ultrafeedback_binarized.jsonl").read_text(encoding="utf-8").splitlines()]
    path = tmp_path / "uf.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    prepared = prepare_pairs(RunConfig(dataset=str(path), eval_ratio=0, first_n=2))
    assert prepared.detection.format == "ultrafeedback"
    assert prepared.rows_read == {"train": 2}


def test_source_file_is_never_modified(tmp_path):
    path = tmp_path / "data.jsonl"
    shutil.copy(DATA / "trl_standard.jsonl", path)
    before = path.read_bytes()
    inspect_data(RunConfig(dataset=str(path)))
    load_splits(RunConfig(dataset=str(path), prompt_template="none"))
    assert path.read_bytes() == before


def test_unknown_file_type_and_missing_file(tmp_path):
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(DataError, match="unsupported file type"):
        load_raw(str(tmp_path / "x.txt"))
    with pytest.raises(DataError, match="not found"):
        load_raw(str(tmp_path / "missing.jsonl"))


# ---- Hub ids: the same load_dataset path on local folders laid out like the Hub -------------------------------
def test_hub_layout_folder_with_subset_folder_split_and_first_n():
    config = RunConfig(dataset=str(DATA / "hub_hh_rlhf"), dataset_config="harmless-base", eval_split="test",
                       first_n=2)
    prepared = prepare_pairs(config)
    assert prepared.detection.format == "hh_rlhf"
    assert prepared.rows_read == {"train": 2, "eval": 2} and prepared.eval_from_source
    assert [p["row"] for p in prepared.train] == [1, 2]
    helpful = prepare_pairs(RunConfig(dataset=str(DATA / "hub_hh_rlhf"), dataset_config="helpful-base", eval_ratio=0))
    [problem] = [p for p in helpful.problems if p.kind == "unusable"]
    assert problem.row == 1 and "ends with a user turn" in problem.reason


def test_hub_layout_with_declared_configs_and_custom_split(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [json.loads(line) for line in (DATA / "ultrafeedback_binarized.jsonl").read_text(encoding="utf-8").splitlines()]
    repo = tmp_path / "ultrafeedback_binarized"
    (repo / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), repo / "data" / "train_prefs-00000-of-00001.parquet")
    pq.write_table(pa.Table.from_pylist(rows[:2]), repo / "data" / "test_prefs-00000-of-00001.parquet")
    (repo / "README.md").write_text(
        "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train_prefs\n"
        "    path: data/train_prefs-*\n  - split: test_prefs\n    path: data/test_prefs-*\n---\n# UltraFeedback\n")
    splits = load_splits(RunConfig(dataset=str(repo), dataset_split="train_prefs", eval_split="test_prefs",
                                   prompt_template="none"))
    assert len(splits.train) == 4 and len(splits.eval) == 2
    assert splits.format == "ultrafeedback"
    with pytest.raises(DataError, match="no split 'nope'"):
        load_raw(str(repo), split="nope")


# ---- split, filters, config -----------------------------------------------------------------------------------
def test_split_is_reproducible_and_recorded():
    config = cfg("llmtwin_dpo.json", eval_ratio=0.25, split_seed=7)
    a, b = load_splits(config, None), load_splits(config, None)
    assert a.train_rows == b.train_rows and a.eval_rows == b.eval_rows
    assert sorted(a.train_rows + a.eval_rows) == [1, 2, 3, 4] and len(a.eval_rows) == 1
    assert any("seed 7" in n for n in a.notes)
    pairs = [{"row": i} for i in range(1, 101)]
    seeds = {tuple(p["row"] for p in split_pairs(pairs, 0.1, s)[1]) for s in (1, 2)}
    assert len(seeds) == 2


def test_split_too_small_says_so():
    with pytest.raises(DataError, match="need at least 2"):
        split_pairs([{"row": 1}], 0.5, 1)


def test_no_usable_rows_is_an_error_in_words():
    with pytest.raises(DataError, match="no usable training rows"):
        prepare_pairs(cfg("distilabel_orca.jsonl", data_filters=["chosen_score > 100"]))


def test_filter_parsing_and_errors():
    f = parse_filter("in_gsm8k_train == false")
    assert f.matches(False) and not f.matches(True)
    assert parse_filter("status != tie").matches(None)  # a missing status is not a tie
    assert parse_filter("chosen_score>=8").matches("8.5")
    with pytest.raises(DataError, match="column OP value"):
        parse_filter("status tie")
    with pytest.raises(DataError, match="not in the data"):
        prepare_pairs(cfg("trl_standard.jsonl", data_filters=["status != tie"]))
    assert suggest_filters(["prompt", "chosen"]) == []


def test_run_config_records_data_choices(tmp_path):
    config = RunConfig(data_format="hh_rlhf", column_chosen="good", data_filters=["status != tie"],
                       drop_problems=["empty"], eval_split="test", split_seed=3)
    path = tmp_path / "run.toml"
    config.save(path)
    loaded = RunConfig.load(path)
    assert loaded == config
    assert RunConfig().drop_problems == ["empty", "missing_prompt", "identical", "duplicate"]
    with pytest.raises(DataError, match="unknown problem kind"):
        prepare_pairs(cfg("trl_standard.jsonl", drop_problems=["bogus"]))


def test_preview_without_tokenizer_for_alpaca_and_refusal_for_chat():
    config = cfg("orca_dpo_pairs.jsonl", prompt_template="alpaca")
    preview = preview_row(config, 3, None)
    assert preview.prompt_text.startswith("Below is an instruction")
    assert "You are a helpful assistant, who always provide explanation" in preview.prompt_text
    assert preview.prompt_text.endswith("What is photosynthesis?\n\n### Response:\n")
    with pytest.raises(DataError, match="needs the model's tokenizer"):
        preview_row(cfg("orca_dpo_pairs.jsonl"), 1, None)
    with pytest.raises(DataError, match="there is no row 9"):
        preview_row(config, 9, None)
    with pytest.raises(DataError, match="row 4, column 'chosen'"):
        preview_row(cfg("hh_rlhf.jsonl", prompt_template="none"), 4, None)


def test_role_content_and_sharegpt_rows_merged_by_arrow(tmp_path):
    path = tmp_path / "merged.jsonl"
    path.write_text(
        json.dumps({"prompt": "a", "chosen": [{"role": "assistant", "content": "x"}],
                    "rejected": [{"role": "assistant", "content": "y"}]}) + "\n"
        + json.dumps({"prompt": "b", "chosen": [{"from": "gpt", "value": "x2"}],
                      "rejected": [{"from": "gpt", "value": "y2"}]}) + "\n", encoding="utf-8")
    prepared = prepare_pairs(RunConfig(dataset=str(path), eval_ratio=0))
    assert [(p["chosen"], p["rejected"]) for p in prepared.train] == [("x", "y"), ("x2", "y2")]
    assert prepared.problems == []
