"""``dpostudio data inspect``: the dataset pane's functions, printed."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dpostudio.cli.data import add_parser

DATA = Path(__file__).parent / "fixtures" / "data"


def run(argv, capsys):
    parser = argparse.ArgumentParser(prog="dpostudio")
    subparsers = parser.add_subparsers(dest="command")
    add_parser(subparsers)
    args = parser.parse_args(argv)
    code = args.func(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_inspect_prints_format_mapping_counts_problems_and_stats(capsys):
    code, out, _ = run(["data", "inspect", str(DATA / "hh_rlhf.jsonl"), "--eval-ratio", "0"], capsys)
    assert code == 0
    assert "format: hh_rlhf (detected" in out
    assert "mapping: chosen <- 'chosen', rejected <- 'rejected'" in out
    assert "rows read: train 6; rows used: train 3, eval 0" in out
    assert "problems: 3 (unusable 2, empty 1)" in out
    assert "hh_rlhf.jsonl, row 3, column 'chosen': chosen and rejected do not share a prompt" in out
    assert "row 4, column 'chosen': the chosen conversation ends with a user turn" in out
    assert "lengths in characters" in out and "length bias" in out


def test_inspect_with_mapping_filters_keep_and_json(capsys):
    code, out, _ = run(["data", "inspect", str(DATA / "custom_columns.jsonl"), "--map", "prompt=instruction_text",
                        "--map", "chosen=good", "--map", "rejected=bad", "--json"], capsys)
    assert code == 0
    report = json.loads(out)
    assert report["detection"]["mapping"]["chosen"] == "good"
    assert report["rows_used"] == {"train": 2, "eval": 1}
    code, out, _ = run(["data", "inspect", str(DATA / "distilabel_orca.jsonl"), "--filter", "status != tie",
                        "--filter", "in_gsm8k_train == false", "--eval-ratio", "0"], capsys)
    assert code == 0
    assert "suggested filters: --filter 'status != tie'" in out
    assert "filter 'status != tie' removed 1 row(s)" in out and "rows used: train 3" in out
    code, out, _ = run(["data", "inspect", str(DATA / "trl_standard.jsonl"), "--drop", "empty", "--eval-ratio", "0"],
                       capsys)
    assert "rows used: train 7" in out and "[kept]" in out


def test_inspect_with_model_measures_tokens_checks_truncation_and_previews(capsys, embedded_model):
    code, out, _ = run(["data", "inspect", str(DATA / "hh_rlhf.jsonl"), "--model", "embedded:smollm2-135m-instruct",
                        "--max-length", "48", "--preview", "2", "--eval-ratio", "0"], capsys)
    assert code == 0
    assert "lengths in tokens" in out and "rows over max length 48:" in out
    assert "truncated: hh_rlhf.jsonl, row 2" in out
    assert "--- prompt ---\n<|im_start|>system" in out
    assert "--- chosen ---\nTry 'The Left Hand of Darkness' by Ursula K. Le Guin.<|im_end|>" in out


def test_inspect_errors_are_words_and_exit_code_2(capsys):
    code, _, err = run(["data", "inspect", str(DATA / "custom_columns.jsonl")], capsys)
    assert code == 2 and "no column for the chosen answer" in err and "--map chosen=COLUMN" in err
    code, _, err = run(["data", "inspect", str(DATA / "broken.jsonl")], capsys)
    assert code == 2 and "line 3 is not valid JSON" in err
    code, _, err = run(["data", "inspect", str(DATA / "trl_standard.jsonl"), "--map", "answer=x"], capsys)
    assert code == 2 and "PART=COLUMN" in err
    code, _, err = run(["data", "inspect", str(DATA / "trl_standard.jsonl"), "--drop", "bogus"], capsys)
    assert code == 2 and "unknown problem kind 'bogus'" in err
