"""Dataset versions (``core.data.versions``): a run's pairs with swap/drop/mark edits saved next to the run as a
new JSONL dataset that the data pipeline loads; the source file is never changed."""

from __future__ import annotations

import hashlib
import json

import pytest

from dpostudio.core.data.pipeline import load_splits, prepare_pairs
from dpostudio.core.data.versions import (
    PairEdit,
    VersionError,
    config_for_version,
    create_version,
    list_versions,
    read_version,
    run_pairs,
)
from dpostudio.core.training.run_config import RunConfig
from dpostudio.core.training.runs import create_run

ROWS = [
    {"prompt": f"Question {i}?", "chosen": f"Good answer {i}.", "rejected": f"Bad answer {i}.", "system": ""}
    for i in range(1, 13)
]
ROWS[2]["system"] = "Be brief."


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    return path


@pytest.fixture
def run(source):
    return create_run(RunConfig(name="versions", dataset=str(source), eval_ratio=0.25, split_seed=3))


def test_a_version_applies_swap_drop_and_mark_and_loads_as_a_dataset(run, source):
    before = _digest(source)
    pairs = run_pairs(run)
    train_rows = [p["row"] for p in pairs["train"]]
    eval_rows = [p["row"] for p in pairs["eval"]]
    assert len(train_rows) == 9 and len(eval_rows) == 3 and 3 in train_rows + eval_rows
    system_key = ("train" if 3 in train_rows else "eval", 3)
    others = [r for r in train_rows if r != 3]
    swapped, marked = ("train", others[0]), ("train", others[1])
    dropped = ("eval", next(r for r in eval_rows if r != 3))
    edits = {
        swapped: PairEdit(swap=True),
        dropped: PairEdit(drop=True, note="ignored: dropped"),
        marked: PairEdit(note="check the facts"),
        system_key: PairEdit(swap=True, note="system prompt kept"),
        ("train", others[2]): PairEdit(),  # nothing to change: ignored
    }
    version = create_version(run, edits, description="first cleanup")

    assert _digest(source) == before  # the source is never changed
    assert version.path == run.path / "data_versions" / "v1.jsonl" and version.number == 1
    assert version.rows == {"train": 9, "eval": 2}
    assert version.swapped == sorted([swapped, system_key]) and version.dropped == [dropped]
    assert (marked[0], marked[1], "check the facts") in version.marked
    assert "11 pairs (2 swapped, 1 dropped, 2 marked)" in version.summary()
    meta = json.loads(version.meta_path.read_text(encoding="utf-8"))
    assert meta["source"] == str(source) and meta["run_id"] == run.id and meta["description"] == "first cleanup"
    assert read_version(version.path).to_dict() == version.to_dict()
    assert [v.number for v in list_versions(run)] == [1]

    lines = [json.loads(line) for line in version.path.read_text(encoding="utf-8").splitlines()]
    by_key = {(line["source_split"], line["source_row"]): line for line in lines}
    assert dropped not in by_key and len(lines) == 11
    assert by_key[swapped]["chosen"][0]["content"] == f"Bad answer {swapped[1]}."
    assert by_key[swapped]["rejected"][0]["content"] == f"Good answer {swapped[1]}."
    assert by_key[swapped]["edit"] == "swapped" and by_key[marked]["note"] == "check the facts"
    assert by_key[system_key]["prompt"][0] == {"role": "system", "content": "Be brief."}

    # the version is a dataset spec a new run trains on: the pipeline loads it like any local file
    config = config_for_version(run.config(), version)
    assert config.dataset == str(version.path) and config.data_filters == [] and config.first_n is None
    prepared = prepare_pairs(config.replace(eval_ratio=0.0))
    loaded = {(p["prompt"][-1]["content"]): p for p in prepared.train}
    assert len(prepared.train) == 11 and prepared.detection.format == "conversational"
    assert loaded[f"Question {swapped[1]}?"]["chosen"] == f"Bad answer {swapped[1]}."
    assert loaded["Question 3?"]["prompt"][0]["role"] == "system"
    splits = load_splits(config)
    assert len(splits.train) + len(splits.eval) == 11

    second = create_version(run.id, {dropped: PairEdit(swap=True)})
    assert second.path.name == "v2.jsonl" and second.rows == {"train": 9, "eval": 3}
    assert [v.number for v in list_versions(run)] == [1, 2]


def test_bad_edits_are_refused_in_words_and_nothing_is_written(run):
    folder = run.path / "data_versions"
    with pytest.raises(VersionError, match=r"has no such pair: train row 99"):
        create_version(run, {("train", 99): PairEdit(drop=True)})
    with pytest.raises(VersionError, match="pairs are in 'train' or 'eval'"):
        create_version(run, {("test", 1): PairEdit(drop=True)})
    with pytest.raises(VersionError, match="rows are numbered from 1"):
        create_version(run, {("train", 0): PairEdit(drop=True)})
    pairs = run_pairs(run)
    everything = {(s, p["row"]): PairEdit(drop=True) for s in ("train", "eval") for p in pairs[s]}
    with pytest.raises(VersionError, match="every pair is dropped"):
        create_version(run, everything, pairs=pairs)
    assert not folder.exists() or not list(folder.iterdir())
    with pytest.raises(VersionError, match="no dataset version file"):
        read_version(folder / "v7.jsonl")


def test_versions_of_the_builtin_demo_keep_its_evaluation_pairs(dpostudio_home):
    run = create_run(RunConfig(name="demo-version"))
    version = create_version(run, {("eval", 1): PairEdit(swap=True), ("train", 2): PairEdit(drop=True)})
    assert version.rows == {"train": 319, "eval": 40} and version.source == "builtin:demo"
    first_eval = json.loads(version.path.read_text(encoding="utf-8").splitlines()[319])
    assert (first_eval["source_split"], first_eval["source_row"], first_eval["edit"]) == ("eval", 1, "swapped")
