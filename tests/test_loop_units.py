"""Generated preference data without a model: prompt sources and their errors, ranking through a real judge client
against a local HTTP server (with injected faults), pair building, the dataset folder, the self-judge parser."""

from __future__ import annotations

import json

import pytest
from fake_openai import FakeOpenAI

from dpostudio.core.compare.prompt_sets import Prompt
from dpostudio.core.loop.pairs import PairError, PairSettings, build_pairs, write_dataset
from dpostudio.core.loop.prompts import PromptError, PromptSource, load_prompts, split_prompts
from dpostudio.core.loop.rank import RankError, RankSettings, rank_candidates
from dpostudio.core.loop.records import append_jsonl, read_jsonl
from dpostudio.core.loop.self_judge import parse_score, rubric_prompt
from dpostudio.core.loop.table import format_table
from dpostudio.core.paths import RESOURCES_DIR

# --- prompts -----------------------------------------------------------------------------------------------


def test_the_demo_prompt_set_is_sizeable_and_shares_nothing_with_the_demo_pairs():
    prompts = load_prompts("set:demo")
    assert 50 <= len(prompts) <= 80
    demo = set()
    for file in (RESOURCES_DIR / "demo_pairs").glob("*.jsonl"):
        demo |= {json.loads(line)["prompt"].strip().lower() for line in file.read_text().splitlines() if line}
    assert not [p.text for p in prompts if p.text.lower() in demo]
    assert prompts[0].source.startswith("set:demo line ")


def test_first_n_and_seeded_sampling():
    everything = load_prompts("set:demo")
    assert [p.text for p in load_prompts(PromptSource("set:demo", first_n=5))] == [p.text for p in everything[:5]]
    a = load_prompts(PromptSource("set:demo", sample=7, seed=3))
    b = load_prompts(PromptSource("set:demo", sample=7, seed=3))
    c = load_prompts(PromptSource("set:demo", sample=7, seed=4))
    assert [p.text for p in a] == [p.text for p in b] != [p.text for p in c]
    assert len(a) == 7 and {p.text for p in a} <= {p.text for p in everything}


def test_a_dataset_column_gives_prompts_and_conversations_lose_their_answer(tmp_path):
    rows = [
        {"instruction": "Name a colour.", "n": 1},
        {"instruction": [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello."}], "n": 2},
        {"instruction": "Name a colour.", "n": 3},  # a repeat: kept once
    ]
    file = tmp_path / "data.jsonl"
    file.write_text("\n".join(json.dumps(r) for r in rows[:1] + rows[2:]) + "\n")
    prompts = load_prompts(PromptSource(str(file), column="instruction"))
    assert [p.text for p in prompts] == ["Name a colour."] and prompts[0].source == "data.jsonl row 1"
    chat = tmp_path / "chat.jsonl"
    chat.write_text(json.dumps({"conversations": rows[1]["instruction"]}) + "\n")
    (prompt,) = load_prompts(PromptSource(str(chat), column="conversations"))
    assert prompt.messages == [{"role": "user", "content": "Hi?"}]


def test_the_built_in_demo_dataset_has_a_prompt_column():
    prompts = load_prompts(PromptSource("builtin:demo", column="prompt", first_n=4))
    assert len(prompts) == 4 and all(p.text for p in prompts)


@pytest.mark.parametrize(
    "name, text, spec, words",
    [
        ("p.jsonl", '{"prompt": "a"}\n{"prompt": \n', {}, "p.jsonl line 2 is not valid JSON"),
        ("p.jsonl", '{"prompt": "a"}\n{"text": "b"}\n', {}, 'p.jsonl row 2 has no "prompt" field'),
        ("p.txt", "# only a comment\n", {}, "p.txt holds no prompts"),
        ("p.csv", "q\nhello\n", {"column": "prompt"}, "p.csv has no column 'prompt'; its columns: q"),
        ("missing.txt", None, {}, "prompt file not found"),
        ("p.txt", "a\n", {"first_n": 0}, "first_n must be a whole number of at least 1"),
    ],
)
def test_bad_prompt_input_is_said_in_words_with_the_file_and_line(tmp_path, name, text, spec, words):
    if text is not None:
        (tmp_path / name).write_text(text)
    with pytest.raises(PromptError, match=words):
        load_prompts(PromptSource(str(tmp_path / name), **spec))
    with pytest.raises(PromptError, match="no built-in prompt set called 'nope'"):
        load_prompts("set:nope")


def test_a_loop_splits_prompts_into_held_out_and_disjoint_rounds():
    prompts = [Prompt(f"q{i}") for i in range(20)]
    split = split_prompts(prompts, heldout=4, per_round=5, rounds=3, seed=1)
    held = {p["text"] for p in split["heldout"]}
    rounds = [{p["text"] for p in r} for r in split["rounds"]]
    assert len(held) == 4 and all(len(r) == 5 for r in rounds)
    assert not held & set().union(*rounds) and not rounds[0] & rounds[1] and not split["reused"]
    with pytest.raises(PromptError, match="too few"):
        split_prompts(prompts[:5], heldout=4, per_round=5, rounds=1, seed=1)


# --- pairs ------------------------------------------------------------------------------------------------


def _candidates(n: int, k: int = 3) -> list[dict]:
    return [
        {
            "index": i,
            "prompt": f"q{i}",
            "messages": [{"role": "user", "content": f"q{i}"}],
            "candidates": [{"text": f"answer {i}.{j}"} for j in range(k)],
        }
        for i in range(n)
    ]


def test_best_vs_worst_pairs_leave_out_ties_and_unjudged_prompts():
    rankings = [
        {"index": 0, "status": "ok", "scores": [0.2, 0.9, 0.5]},
        {"index": 1, "status": "ok", "scores": [0.5, 0.5, 0.5]},  # a tie
        {"index": 2, "status": "marked", "scores": [None] * 3, "reason": "judge failed"},
        {"index": 3, "status": "ok", "scores": [4.0, None, None]},  # one score only: unjudged
    ]  # prompt 4 has no ranking at all: unjudged
    pairs, counts = build_pairs(_candidates(5), rankings, PairSettings())
    assert counts == {"prompts": 5, "judged": 2, "pairs": 1, "prompts_with_pairs": 1, "ties": 1, "unjudged": 3}
    (pair,) = pairs
    assert (pair["prompt"], pair["chosen"], pair["rejected"]) == ("q0", "answer 0.1", "answer 0.0")
    assert (pair["chosen_score"], pair["rejected_score"], pair["chosen_index"]) == (0.9, 0.2, 1)


def test_gap_mode_keeps_every_pair_above_the_gap():
    rankings = [{"index": 0, "status": "ok", "scores": [1.0, 3.0, 5.0]}]
    pairs, counts = build_pairs(_candidates(1), rankings, PairSettings("gap", 2.0))
    assert sorted((p["chosen_index"], p["rejected_index"]) for p in pairs) == [(1, 0), (2, 0), (2, 1)]
    pairs, _ = build_pairs(_candidates(1), rankings, PairSettings("gap", 3.0))
    assert [(p["chosen_index"], p["rejected_index"]) for p in pairs] == [(2, 0)]
    with pytest.raises(PairError, match="needs min_gap above 0"):
        PairSettings("gap", 0).validate()


def test_the_dataset_folder_loads_by_path_with_its_card(tmp_path):
    from dpostudio.core.data.sources import load_raw

    for record in _candidates(3):
        append_jsonl(tmp_path / "candidates.jsonl", record)
    for i, scores in enumerate(([1, 2, 3], [2, 2, 2], [3, 1, 2])):
        append_jsonl(tmp_path / "rankings.jsonl", {"index": i, "status": "ok", "scores": scores})
    card = write_dataset(tmp_path, PairSettings(), {"generator": {"model": "m"}, "sampling": {"k": 3}})
    assert card["counts"]["pairs"] == 2 and card["counts"]["ties"] == 1
    assert json.loads((tmp_path / "card.json").read_text())["generator"] == {"model": "m"}
    train, _ = load_raw(str(tmp_path))  # the folder itself: README.md's configs point at pairs.jsonl
    assert train.num_rows == 2 and {"prompt", "chosen", "rejected"} <= set(train.column_names)
    assert "2 pairs from 3 prompts (1 ties" in (tmp_path / "README.md").read_text()


# --- ranking through a real judge client ------------------------------------------------------------------


@pytest.fixture
def fast_retries(monkeypatch):
    from dpostudio_builtin import remote_judging

    monkeypatch.setattr(remote_judging, "BACKOFF_BASE", 0.01)


def _openai(server, **extra) -> RankSettings:
    options = {"base_url": server.base_url, "model": "judge", "retries": 0, "timeout": 5}
    return RankSettings(kind="judge", id="openai-compatible", options=options, retry_wait=0, **extra)


def _lengths(tmp_path, n: int = 2):
    path = tmp_path / "candidates.jsonl"
    for i in range(n):  # answers of clearly different lengths: the fake judge prefers the longer one
        append_jsonl(
            path,
            {
                "index": i,
                "prompt": f"q{i}",
                "candidates": [{"text": "short"}, {"text": "a much longer answer " * 3}, {"text": "medium length"}],
            },
        )
    return path


def test_all_pairs_in_both_orders_retry_faults_and_mark_a_prompt_when_retries_run_out(tmp_path, fast_retries):
    path = _lengths(tmp_path)
    with FakeOpenAI() as server:
        # every attempt asks both orders. Prompt 0: its three pairs meet a 429, a 500 and two unreadable replies
        # (the plugin asks once more itself) on the first attempt, then pass on the second; prompt 1 meets 503s
        # until its first pair has used both attempts, and is marked
        server.script += ["429", "ok", "ok", "ok", "500", "ok", "ok", "ok", "malformed", "malformed", "ok", "ok", "ok"]
        server.script += ["503"] * 4
        events = []
        result = rank_candidates(path, tmp_path / "rankings.jsonl", _openai(server, retries=1), on_event=events.append)
    assert result == {"status": "finished", "done": 2, "total": 2, "marked": 1}
    first, second = read_jsonl(tmp_path / "rankings.jsonl")
    assert first["status"] == "ok" and first["scores"] == [0.0, 1.0, 0.5]  # longest wins both matches
    assert len(first["details"]["matches"]) == 3
    assert second["status"] == "marked" and "gave up after 2 attempt(s)" in second["reason"]
    assert "HTTP 503" in second["reason"]
    assert any(e["type"] == "prompt_marked" and e["index"] == 1 for e in events)
    assert [e["done"] for e in events if e["type"] == "progress"] == [0, 1, 2]


def test_a_tournament_asks_fewer_pairs_and_ranking_resumes(tmp_path, fast_retries):
    path = _lengths(tmp_path, 3)
    with FakeOpenAI() as server:
        settings = _openai(server, mode="tournament")
        rank_candidates(path, tmp_path / "rankings.jsonl", settings)
        asked = len(server.requests)
        again = rank_candidates(path, tmp_path / "rankings.jsonl", settings)  # all done: nothing asked
        assert len(server.requests) == asked == 3 * 3 * 2  # 2K-3 = 3 pairs per prompt, both orders
    assert again["done"] == 3
    for ranked in read_jsonl(tmp_path / "rankings.jsonl"):
        assert ranked["scores"] == [0.0, 1.0, None]


def test_an_unknown_judge_or_ranker_is_refused_in_words(tmp_path):
    with pytest.raises(RankError, match="unknown judge 'nope'"):
        rank_candidates(_lengths(tmp_path), tmp_path / "r.jsonl", RankSettings(kind="judge", id="nope"))
    with pytest.raises(RankError, match="unknown ranker 'nope'"):
        rank_candidates(_lengths(tmp_path), tmp_path / "r.jsonl", RankSettings(kind="ranker", id="nope"))
    with pytest.raises(RankError, match="cannot score single answers"):
        rank_candidates(
            _lengths(tmp_path),
            tmp_path / "r.jsonl",
            RankSettings(kind="judge", id="openai-compatible", mode="pointwise"),
        )


def test_secret_options_are_not_saved_and_come_back_empty():
    settings = RankSettings(kind="judge", id="openai-compatible", options={"api_key": "sk-1", "model": "m"})
    saved = settings.to_dict(safe=True)
    assert saved["options"] == {"api_key": "(hidden)", "model": "m"}
    assert RankSettings.from_dict(saved).options == {"model": "m"}


# --- the self-judge's parser and the table -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text, score",
    [
        ("The answer is relevant and direct.\nScore: 4", 4.0),
        ("Score: 2 ... on reflection, Score: 3", 3.0),
        ("**Score:** 5/5", 5.0),
        ("Score: **5**", 5.0),
        ("I would give it four points.", None),
        ("Score: 7", None),  # out of the 0-5 range
    ],
)
def test_the_self_judge_reads_only_a_score_line(text, score):
    assert parse_score(text) == score


def test_the_rubric_is_the_papers_additive_five_point_prompt():
    text = rubric_prompt("What is 2+2?", "4")
    assert (
        "additive 5-point scoring system" in text and 'Conclude with the score using the format: "Score: <total' in text
    )
    assert "User: What is 2+2?" in text and "<response>4</response>" in text


def test_the_table_prints_dashes_for_what_is_not_known():
    rows = [
        {"round": 0, "step": "start", "run_id": "(base model)"},
        {"round": 1, "step": "done", "run_id": "r1", "pairs": 5, "ties": 1, "win_vs_previous": 0.625},
    ]
    text = format_table(rows)
    assert "win vs prev" in text.splitlines()[0] and "62%" in text and "—" in text
