"""The ranker hook and the built-in reward-model ranker, with a tiny sequence-classification model made here
(random weights, the embedded model's tokenizer), called through the plugin manager as the loop calls it."""

from __future__ import annotations

import pytest

from dpostudio.plugins import Ranking, ShapeError

RM = "reward-model"


@pytest.fixture(scope="module")
def tiny_reward_model(embedded_model, tmp_path_factory):
    """A 2-layer Llama reward model (one output) with random weights, saved with the embedded tokenizer."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

    folder = tmp_path_factory.mktemp("tiny-rm")
    tokenizer = AutoTokenizer.from_pretrained(embedded_model.location)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        num_labels=1,
        pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    LlamaForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def manager(monkeypatch):
    """The application's manager, with the ranker plugin registered as a built-in (as pyproject's entry point
    ``builtin-rankers = "dpostudio_builtin.rankers"`` does once it is there)."""
    from test_loop_fixtures import manager_with_rankers

    return manager_with_rankers(monkeypatch)


def test_the_reward_model_ranker_scores_every_answer_and_is_deterministic(manager, tiny_reward_model):
    answers = ["Paris.", "The capital of France is Paris.", "I like trains."]
    options = {"model": str(tiny_reward_model), "batch_size": 2}
    ranking = manager.rank_candidates(RM, "What is the capital of France?", answers, options)
    assert isinstance(ranking, Ranking) and ranking.method == "reward-logit"
    assert len(ranking.scores) == 3 and len(set(ranking.scores)) == 3  # random weights, but distinct answers differ
    again = manager.rank_candidates(RM, "What is the capital of France?", answers, {**options, "batch_size": "3"})
    assert again.scores == pytest.approx(ranking.scores, abs=1e-4)  # batching (and padding) does not change scores


def test_reward_model_problems_are_said_in_words_and_the_plugin_stays_active(manager, tmp_path):
    from dpostudio.plugins.manager import HookCallError

    for options, words in (
        ({}, "name the reward model folder"),
        ({"model": str(tmp_path / "nope")}, "reward model folder not found"),
        ({"model": str(tmp_path)}, "has no config.json"),
    ):
        with pytest.raises(HookCallError, match=words) as exc:
            manager.rank_candidates(RM, "q", ["a", "b"], options)
        assert exc.value.user_error
    with pytest.raises(HookCallError, match="batch_size: expected an integer"):
        manager.rank_candidates(RM, "q", ["a", "b"], {"model": str(tmp_path), "batch_size": "many"})
    assert manager.info("builtin-rankers").status == "active"
    with pytest.raises(HookCallError, match="unknown ranker 'nope'; available: reward-model"):
        manager.rank_candidates("nope", "q", ["a", "b"])


def test_a_ranking_with_the_wrong_number_of_scores_is_refused():
    with pytest.raises(ShapeError, match="2 scores for 3 candidates"):
        Ranking([1.0, 2.0]).validate(3)
    with pytest.raises(ShapeError, match="finite number"):
        Ranking([1.0, float("nan")]).validate(2)


def test_the_loop_ranks_with_a_ranker_plugin(manager, tiny_reward_model, tmp_path):
    from dpostudio.core.loop.rank import RankSettings, rank_candidates
    from dpostudio.core.loop.records import append_jsonl, read_jsonl

    path = tmp_path / "candidates.jsonl"
    append_jsonl(path, {"index": 0, "prompt": "Say hi.", "candidates": [{"text": "hi"}, {"text": "hello there"}]})
    settings = RankSettings(kind="ranker", id=RM, options={"model": str(tiny_reward_model)})
    result = rank_candidates(path, tmp_path / "rankings.jsonl", settings)
    assert result["marked"] == 0
    (ranked,) = read_jsonl(tmp_path / "rankings.jsonl")
    assert ranked["status"] == "ok" and len(ranked["scores"]) == 2 and ranked["details"]["method"] == "reward-logit"
