"""Pairs from judgements (``core.compare.human_pairs``): an append-only journal on disk, the latest judgement of
each source wins, ties are counted but make no pair, a written answer beats the answers shown, a crash mid-write
loses only that judgement -- and the pairs file loads through the real data pipeline like any preference file."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dpostudio.core.compare.human_pairs import (
    DEFAULT_SET,
    JudgementError,
    JudgementSet,
    judgements_dir,
    list_sets,
    read_journal,
    source_key,
)

ANSWERS = {"base": "Paris is in Germany.", "tuned": "Paris is the capital of France."}


def row(n: int, comparison: str = "20261202-101500") -> dict:
    return {"kind": "comparison", "run": "my-run", "comparison": comparison, "row": n}


def journal_lines(store: JudgementSet) -> list[dict]:
    return [json.loads(line) for line in store.journal_path.read_text(encoding="utf-8").splitlines() if line]


def pair_rows(store: JudgementSet) -> list[dict]:
    return [json.loads(line) for line in store.pairs_path.read_text(encoding="utf-8").splitlines() if line]


def test_a_judgement_is_appended_to_the_journal_and_becomes_a_pair(dpostudio_home):
    store = JudgementSet()
    assert store.name == DEFAULT_SET and store.journal_path.parent == dpostudio_home / "judgements"
    saved = store.judge("Where is Paris?", ANSWERS, "tuned", source=row(1))
    assert saved.line == 1 and saved.judged_by == "you" and saved.when.endswith("+00:00")
    assert journal_lines(store) == [
        {
            "v": 1,
            "key": "comparison=20261202-101500|kind=comparison|row=1|run=my-run",
            "source": row(1),
            "prompt": "Where is Paris?",
            "system": None,
            "verdict": "tuned",
            "written": False,
            "chosen": ANSWERS["tuned"],
            "rejected": [ANSWERS["base"]],
            "judged_by": "you",
            "when": saved.when,
        }
    ]
    assert pair_rows(store) == [
        {
            "prompt": "Where is Paris?",
            "chosen": ANSWERS["tuned"],
            "rejected": ANSWERS["base"],
            "judged_by": "you",
            "when": saved.when,
            "source": saved.key,
        }
    ]
    assert list_sets() == [DEFAULT_SET]


def test_judging_a_row_again_appends_and_the_latest_wins(dpostudio_home):
    store = JudgementSet()
    store.judge("Where is Paris?", ANSWERS, "tuned", source=row(1))
    store.judge("Name a colour.", {"base": "Blue.", "tuned": "Seven."}, "base", source=row(2))
    again = store.judge("Where is Paris?", ANSWERS, "base", source=row(1))  # changed my mind
    assert again.line == 3 and store.read().lines == 3
    assert [line["verdict"] for line in journal_lines(store)] == ["tuned", "base", "base"]  # history kept
    log = store.read()
    assert log.replaced == 1 and [j.key for j in log.judgements] == [source_key(row(2)), source_key(row(1))]
    assert store.latest(row(1)).verdict == "base" and store.latest(row(1)).chosen == ANSWERS["base"]
    assert [(p["chosen"], p["rejected"]) for p in pair_rows(store)] == [
        ("Blue.", "Seven."),
        (ANSWERS["base"], ANSWERS["tuned"]),
    ]
    assert JudgementSet().read().describe() == "2 pairs from 2 judgements"  # a fresh reader sees the same


def test_a_tie_is_recorded_and_counted_but_makes_no_pair(dpostudio_home):
    store = JudgementSet()
    store.judge("Where is Paris?", ANSWERS, "tuned", source=row(1))
    tie = store.judge("Say hi.", {"base": "Hi!", "tuned": "Hello!"}, "tie", source=row(2))
    assert tie.is_tie and tie.chosen is None and tie.pairs() == []
    log = store.read()
    assert log.ties == 1 and log.pair_count == 1 and len(log.judgements) == 2
    assert log.describe() == "1 pair from 2 judgements (1 tie)"
    assert len(pair_rows(store)) == 1 and journal_lines(store)[1]["verdict"] == "tie"


def test_a_written_answer_beats_the_worse_answer_or_both(dpostudio_home):
    store = JudgementSet()
    worse = store.judge(
        "Where is Paris?", ANSWERS, "tuned", written="Paris is the capital of France, on the Seine.", source=row(1)
    )
    assert worse.written and worse.verdict == "tuned" and worse.rejected == (ANSWERS["base"],)
    both = store.judge(
        "Where is Paris?", ANSWERS, "tuned", written="In France.", against="both", source=row(2), system="Be brief."
    )
    assert both.rejected == (ANSWERS["base"], ANSWERS["tuned"])
    tie_written = store.judge("Where is Paris?", ANSWERS, "tie", written="France.", source=row(3))
    assert tie_written.rejected == (ANSWERS["base"], ANSWERS["tuned"])  # after a tie there is no "worse" one
    rows = pair_rows(store)
    assert [(r["chosen"], r["rejected"]) for r in rows] == [
        ("Paris is the capital of France, on the Seine.", ANSWERS["base"]),
        ("In France.", ANSWERS["base"]),
        ("In France.", ANSWERS["tuned"]),
        ("France.", ANSWERS["base"]),
        ("France.", ANSWERS["tuned"]),
    ]
    assert rows[1]["system"] == "Be brief." and "system" not in rows[0]
    # written unchanged from the better answer, against both: only the other answer is left to beat
    same = store.judge("Where is Paris?", ANSWERS, "tuned", written=ANSWERS["tuned"], against="both", source=row(4))
    assert same.rejected == (ANSWERS["base"],)


def test_judgements_that_teach_nothing_are_refused_in_words(dpostudio_home):
    store = JudgementSet()
    same = {"base": "Hi.", "tuned": "Hi."}
    with pytest.raises(JudgementError, match="the answers are identical"):
        store.judge("Say hi.", same, "tuned", source=row(1))
    with pytest.raises(JudgementError, match="the better answer you wrote is empty"):
        store.judge("Say hi.", ANSWERS, "tuned", written="   ", source=row(1))
    with pytest.raises(JudgementError, match="the same as the answers it should beat"):
        store.judge("Say hi.", same, "tie", written="Hi.", source=row(1))
    with pytest.raises(JudgementError, match="'medium' is not one of the answers shown"):
        store.judge("Say hi.", ANSWERS, "medium", source=row(1))
    with pytest.raises(JudgementError, match="needs the prompt"):
        store.judge(" ", ANSWERS, "tuned", source=row(1))
    with pytest.raises(JudgementError, match="cannot name a judgement set"):
        JudgementSet("../escape")
    assert not store.journal_path.exists()  # nothing was written


def test_a_withdrawn_judgement_leaves_the_pairs(dpostudio_home):
    store = JudgementSet()
    store.judge("Where is Paris?", ANSWERS, "tuned", source=row(1))
    assert store.withdraw(row(1)) and not store.withdraw(row(1))
    assert store.latest(row(1)) is None and store.read().withdrawn == 1 and pair_rows(store) == []
    store.judge("Where is Paris?", ANSWERS, "base", source=row(1))
    assert store.latest(row(1)).verdict == "base" and len(journal_lines(store)) == 3


def test_a_crash_mid_write_loses_only_that_line_and_says_so(dpostudio_home):
    store = JudgementSet()
    store.judge("Where is Paris?", ANSWERS, "tuned", source=row(1))
    store.judge("Name a colour.", {"base": "Blue.", "tuned": "Seven."}, "base", source=row(2))
    whole = store.journal_path.read_bytes()
    cut = json.dumps({"v": 1, "key": source_key(row(3)), "prompt": "Say hi", "chosen": "Hel"}).encode()[:-9]
    store.journal_path.write_bytes(whole + cut)  # the app died while writing the third judgement
    log = JudgementSet().read()
    assert [j.prompt for j in log.judgements] == ["Where is Paris?", "Name a colour."]
    assert log.problems == [
        "my-judgements.journal line 3 was cut short (the app probably stopped while saving it); "
        "that judgement is lost, the others are kept"
    ]
    assert log.describe() == "2 pairs from 2 judgements (1 unreadable line)"
    # the next judgement starts on a line of its own: it is whole, and the broken line stays reported
    store.judge("Say hi.", {"base": "Hi!", "tuned": "Bye."}, "base", source=row(3))
    log = store.read()
    assert len(log.judgements) == 3 and store.latest(row(3)).line == 4
    assert log.problems == ["my-judgements.journal line 3 is not valid JSON; it was skipped"]
    assert len(pair_rows(store)) == 3


def test_a_line_that_is_not_a_judgement_is_named(dpostudio_home):
    store = JudgementSet()
    store.judge("Where is Paris?", ANSWERS, "tuned", source=row(1))
    with open(store.journal_path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"key": "x", "prompt": "p"}) + "\n")
    log = read_journal(store.journal_path)
    assert len(log.judgements) == 1
    assert log.problems == [
        "my-judgements.journal line 2 is not a judgement (it has no 'verdict', 'judged_by', 'when'); it was skipped"
    ]


def test_the_pairs_file_is_rebuilt_when_a_crash_left_it_behind(dpostudio_home):
    store = JudgementSet()
    store.judge("Where is Paris?", ANSWERS, "tuned", source=row(1))
    store.pairs_path.unlink()  # died after the journal line, before the pairs file was replaced
    assert store.refresh() == store.pairs_path and len(pair_rows(store)) == 1
    assert not [p for p in judgements_dir().iterdir() if p.name.endswith(".tmp")]


def test_a_judgement_survives_a_process_killed_right_after_it(dpostudio_home, tmp_path):
    """A separate process records a judgement and dies at once (no clean exit): the judgement is on disk."""
    code = (
        "import os\n"
        "from dpostudio.core.compare.human_pairs import JudgementSet\n"
        "JudgementSet().judge('Q?', {'base': 'a', 'tuned': 'b'}, 'base', source={'kind': 'test', 'row': 1})\n"
        "os._exit(9)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 9, proc.stderr
    store = JudgementSet()
    assert store.latest({"kind": "test", "row": 1}).chosen == "a" and len(pair_rows(store)) == 1


def test_the_pairs_file_loads_through_the_data_pipeline(dpostudio_home):
    from dpostudio.core.data.pipeline import inspect_data, load_splits
    from dpostudio.core.training.run_config import RunConfig

    store = JudgementSet()
    store.judge("Where is Paris?", ANSWERS, "tuned", source=row(1))
    store.judge("Name a colour.", {"base": "Blue.", "tuned": "Seven."}, "base", source=row(2), system="Be brief.")
    store.judge("Say hi.", {"base": "Hi!", "tuned": "Hello!"}, "tie", source=row(3))
    store.judge(
        "Count to two.", {"base": "1 2", "tuned": "one"}, "tuned", written="1, 2.", against="both", source=row(4)
    )
    config = RunConfig(dataset=str(store.refresh()), eval_ratio=0, prompt_template="none")
    report = inspect_data(config)
    assert report.detection.format == "standard" and report.detection.mapping["system"] == "system"
    assert report.rows_read == {"train": 4} and report.rows_used == {"train": 4, "eval": 0}
    assert report.problems == [] and report.source == "my-judgements.jsonl"
    first, second = report.pairs.train[0], report.pairs.train[1]
    assert first["prompt"] == [{"role": "user", "content": "Where is Paris?"}]
    assert (first["chosen"], first["rejected"]) == (ANSWERS["tuned"], ANSWERS["base"])
    assert second["prompt"][0] == {"role": "system", "content": "Be brief."}
    splits = load_splits(config)  # exactly what training is given
    assert len(splits.train) == 4 and set(splits.train.column_names) >= {"prompt", "chosen", "rejected"}
    assert [(splits.train[i]["chosen"], splits.train[i]["rejected"]) for i in (2, 3)] == [
        ("1, 2.", "1 2"),
        ("1, 2.", "one"),
    ]


def test_the_cli_inspects_the_pairs_file(dpostudio_home):
    store = JudgementSet()
    store.judge("Where is Paris?", ANSWERS, "tuned", source=row(1))
    proc = subprocess.run(
        [sys.executable, "-m", "dpostudio", "data", "inspect", str(store.pairs_path), "--eval-ratio", "0", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["rows_used"]["train"] + report["rows_used"]["eval"] == 1
    assert report["detection"]["format"] == "standard"


def test_a_conversation_prompt_loads_beside_text_prompts(dpostudio_home):
    from dpostudio.core.data.pipeline import inspect_data
    from dpostudio.core.training.run_config import RunConfig

    store = JudgementSet()
    store.judge("Where is Paris?", ANSWERS, "tuned", source=row(1))
    talk = [
        {"role": "user", "content": "I am planning a trip."},
        {"role": "assistant", "content": "Where to?"},
        {"role": "user", "content": "France. What should I see?"},
    ]
    store.judge(talk, {"base": "The Louvre.", "tuned": "Nothing."}, "base", source=row(2))
    with pytest.raises(JudgementError, match="must end with a user turn"):
        store.judge(talk[:2], ANSWERS, "base", source=row(3))
    report = inspect_data(RunConfig(dataset=str(store.pairs_path), eval_ratio=0, prompt_template="none"))
    assert report.rows_used["train"] == 2 and report.problems == []
    assert report.pairs.train[1]["prompt"] == talk and report.pairs.train[1]["chosen"] == "The Louvre."
