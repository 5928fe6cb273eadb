"""Bad local files get a message in words that names the file (and row and column), with no parser text."""

from __future__ import annotations

import json

import pytest

from dpostudio.core.data.pipeline import DataError, prepare_pairs
from dpostudio.core.training.run_config import RunConfig

LIBRARY_TEXT = ("ArrowInvalid", "codec", "StopIteration", "pyarrow", "Traceback", "Failed to load JSON")


def _error(path, capfd, **kw) -> str:
    with pytest.raises(DataError) as info:
        prepare_pairs(RunConfig(dataset=str(path), **kw))
    text = str(info.value)
    printed = capfd.readouterr()
    assert not [t for t in LIBRARY_TEXT if t in text or t in printed.err or t in printed.out], (text, printed.err)
    assert path.name in text
    return text


def test_binary_file_named_jsonl(tmp_path, capfd):
    path = tmp_path / "weights.jsonl"
    path.write_bytes(b'{"prompt": "a"}\n' + bytes(range(128, 256)) * 4)
    assert "not UTF-8 text" in _error(path, capfd) and "line 2" in _error(path, capfd)


def test_parquet_file_named_jsonl(tmp_path, capfd):
    path = tmp_path / "data.jsonl"
    path.write_bytes(b"PAR1" + bytes(300))
    assert "looks like a Parquet file" in _error(path, capfd)


@pytest.mark.parametrize("content", [b"", b"\n\n  \n", b"\xef\xbb\xbf\n"])
def test_empty_file(tmp_path, capfd, content):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(content)
    assert "the file is empty" in _error(path, capfd)


def test_number_and_null_answers_are_named_by_row_even_when_too_few_rows_remain(tmp_path, capfd):
    path = tmp_path / "pairs.jsonl"
    rows = [{"prompt": "a", "chosen": "x", "rejected": "y"}, {"prompt": "b", "chosen": 5, "rejected": None}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    text = _error(path, capfd)
    assert "only 1 usable row" in text
    assert "row 2: 'chosen' is a number (5), not text; 'rejected' is empty" in text


def test_number_answer_is_reported_and_left_out_when_enough_rows_remain(tmp_path):
    path = tmp_path / "pairs.jsonl"
    rows = [{"prompt": f"p{i}", "chosen": f"good {i}", "rejected": f"bad {i}"} for i in range(4)]
    rows.insert(1, {"prompt": "q", "chosen": "fine", "rejected": True})
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    prepared = prepare_pairs(RunConfig(dataset=str(path), eval_ratio=0.25))
    assert sorted(p["row"] for p in prepared.train + prepared.eval) == [1, 3, 4, 5]
    [problem] = prepared.problems
    assert (problem.row, problem.column) == (2, "rejected")
    assert problem.message() == "pairs.jsonl, row 2, column 'rejected': 'rejected' is true/false (True), not text"


def test_hh_transcript_without_final_assistant_turn_is_named_by_row(tmp_path, capfd):
    path = tmp_path / "hh.jsonl"
    rows = [{"chosen": "\n\nHuman: hi\n\nAssistant: hello", "rejected": "\n\nHuman: hi\n\nAssistant: go away"},
            {"chosen": "\n\nHuman: hey\n\nAssistant: yo\n\nHuman: more", "rejected": "\n\nHuman: hey\n\nAssistant: no"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    text = _error(path, capfd)
    assert "row 2: the chosen conversation ends with a user turn, not an assistant answer" in text


@pytest.mark.parametrize("sep,word", [(";", "semicolon"), ("\t", "tab")])
def test_csv_with_another_separator(tmp_path, capfd, sep, word):
    path = tmp_path / "pairs.csv"
    path.write_text(sep.join(["prompt", "chosen", "rejected"]) + "\n" + sep.join(["hi", "hello", "go away"]) + "\n")
    text = _error(path, capfd)
    assert f"looks {sep!r}-separated" in text and word in text
