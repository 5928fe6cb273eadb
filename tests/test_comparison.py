"""Comparison core: prompt sets, settings, summaries, the adapter toggle on real weights, and a real end-to-end run
(train 2 tiny steps, compare on two prompts with the local judge, get a summary)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from compare_fixtures import make_adapter_run
from fake_openai import FakeOpenAI

from dpostudio.core.compare import store as comparison_store

from dpostudio.core.compare import prompt_sets
from dpostudio.core.compare.comparison import (
    ComparisonError, GenerationSettings, adapter_path, compare, load_pair, model_inputs,
)

REPO = Path(__file__).resolve().parents[1]


def test_builtin_prompt_set_is_the_published_five():
    prompts = prompt_sets.builtin_set()
    texts = " | ".join(p.text.lower() for p in prompts)
    assert len(prompts) == 5
    for topic in ("quantum computing", "ai in healthcare", "time traveler", "machine learning", "climate change"):
        assert topic in texts
    assert prompts[0].messages == [{"role": "user", "content": prompts[0].text}]


def test_prompt_files_txt_and_jsonl(tmp_path):
    txt = tmp_path / "p.txt"
    txt.write_text("# comment\nFirst prompt\n\nSecond prompt\n", encoding="utf-8")
    assert [p.text for p in prompt_sets.from_file(txt)] == ["First prompt", "Second prompt"]
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text(json.dumps({"prompt": "Plain"}) + "\n"
                     + json.dumps({"prompt": [{"role": "system", "content": "Be brief."},
                                              {"role": "user", "content": "Hi"}]}) + "\n", encoding="utf-8")
    prompts = prompt_sets.from_file(jsonl)
    assert prompts[0].text == "Plain" and prompts[1].messages[0]["role"] == "system"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "x"}\n', encoding="utf-8")
    with pytest.raises(prompt_sets.PromptSetError, match="no \"prompt\" field"):
        prompt_sets.from_file(bad)
    with pytest.raises(prompt_sets.PromptSetError, match="empty"):
        prompt_sets.from_lines("\n  \n# only a comment")


def test_eval_prompts_come_from_the_held_out_split(tmp_path):
    from dpostudio.core.training.run_config import RunConfig

    prompts = prompt_sets.eval_prompts(RunConfig())
    assert len(prompts) >= 10 and all(p.source.startswith("eval row") for p in prompts)
    data = tmp_path / "tiny.jsonl"
    data.write_text("\n".join((REPO / "resources" / "demo_pairs" / "train.jsonl").read_text(encoding="utf-8")
                              .splitlines()[:20]) + "\n", encoding="utf-8")
    assert len(prompt_sets.eval_prompts(RunConfig(dataset=str(data), eval_ratio=0.1))) == 2
    with pytest.raises(prompt_sets.PromptSetError, match="no held-out"):
        prompt_sets.eval_prompts(RunConfig(dataset=str(data), eval_ratio=0))


@pytest.mark.parametrize("settings, words", [
    (GenerationSettings(max_new_tokens=0), "max_new_tokens"), (GenerationSettings(temperature=-1), "temperature"),
    (GenerationSettings(top_p=0), "top_p"), (GenerationSettings(seed=-2), "seed"),
])
def test_bad_generation_settings_are_refused_in_words(settings, words):
    with pytest.raises(ComparisonError, match=words):
        settings.validate()


def test_summary_counts_wins_ties_losses_and_lengths():
    def item(i, verdict, base_words, tuned_words, error=None):
        return {"index": i, "prompt": f"q{i}", "verdict": verdict, "judge_error": error,
                "scores": {} if error else {"depth": {"base": 4.0, "tuned": 8.0}},
                "base": {"answer": "b", "words": base_words, "tokens": base_words + 2},
                "tuned": {"answer": "t", "words": tuned_words, "tokens": tuned_words + 2}}
    items = [item(0, "tuned", 10, 30), item(1, "tuned", 10, 30), item(2, "tuned", 10, 30), item(3, "tuned", 10, 30),
             item(4, "base", 10, 30)]
    s = comparison_store.summarize(items, ["depth"])
    assert s["headline"] == "tuned better in 4/5 (base better in 1, 0 ties)"
    assert s["mean_scores"]["depth"] == {"base": 4.0, "tuned": 8.0}
    assert s["mean_words"] == {"base": 10.0, "tuned": 30.0} and s["length_ratio"] == 3.0
    assert any("verbosity" in n for n in s["notes"])


def test_missing_adapter_and_checkpoint_are_explained(tmp_path):
    from compare_fixtures import fake_adapter_folder_run

    from dpostudio.core.training.run_config import RunConfig
    from dpostudio.core.training.runs import create_run

    run = create_run(RunConfig(name="untrained"))
    with pytest.raises(ComparisonError, match="no final adapter.*finish"):
        adapter_path(run)
    run = fake_adapter_folder_run()
    with pytest.raises(ComparisonError, match="no adapter checkpoint at step 7"):
        adapter_path(run, 7)
    with pytest.raises(ComparisonError, match="no prompts"):
        compare(run.id, [])
    with pytest.raises(ComparisonError, match="no run called"):
        compare("does-not-exist", ["q"])
    with pytest.raises(ComparisonError, match="unknown judge"):
        compare(run.id, ["q"], judge_id="nobody")


@pytest.mark.slow
def test_adapter_toggle_on_one_copy_of_the_weights(embedded_model):
    """Base = adapter disabled on the same PeftModel (equal to a fresh base model); tuned = adapter enabled."""
    import torch

    from dpostudio.core.model_store import load_model
    from dpostudio.core.compare.prompt_sets import Prompt

    run = make_adapter_run(embedded_model)
    assert run.checkpoint_steps() == [1]
    pair = load_pair(run)
    assert load_pair(run) is pair  # loaded once, reused
    inputs = model_inputs(Prompt("What is a monopoly?"), run.config(), pair.tokenizer)
    assert pair.tokenizer.decode(inputs["input_ids"][0]).rstrip().endswith("assistant")  # the chat template
    with torch.inference_mode():
        tuned = pair.model(**inputs).logits[0, -1]
        with pair.model.disable_adapter():
            base = pair.model(**inputs).logits[0, -1]
        fresh = load_model(embedded_model, dtype=torch.float32)(**inputs).logits[0, -1]
    assert torch.allclose(base, fresh, atol=1e-4)  # adapter off == the base model
    assert (tuned - base).abs().max() > 1e-2  # adapter on changes the model


@pytest.mark.slow
def test_streamed_comparison_with_a_fake_server_judge(embedded_model):
    run = make_adapter_run(embedded_model)
    events = []
    with FakeOpenAI() as server:
        result = compare(run.id, ["What is a monopoly?", "Name a primary colour."],
                         GenerationSettings(max_new_tokens=16), "openai-compatible",
                         {"base_url": server.base_url, "model": "fake"}, events.append, checkpoint=1)
    assert result.status == "finished", result.message
    for item in result.items:
        for side in ("base", "tuned"):
            streamed = "".join(e["text"] for e in events if e["type"] == "token"
                               and e["prompt_index"] == item["index"] and e["side"] == side)
            assert streamed.strip() == item[side]["answer"] and 0 < item[side]["tokens"] <= 16
        assert item["verdict"] in ("tuned", "base", "tie")
    meta = comparison_store.read_meta(result.path)
    assert meta["adapter_label"] == "checkpoint 1" and meta["settings"]["decoding"] == "greedy"
    types = [e["type"] for e in events]
    assert types[0] == "started" and types[-1] == "finished" and "summary" in types


@pytest.mark.slow
def test_end_to_end_train_then_compare_with_the_local_judge(embedded_model, tmp_path):
    """A real run: 2 DPO steps on 16 demo pairs, then 2 prompts judged by the local model."""
    from dpostudio.core.training.engine import train
    from dpostudio.core.training.run_config import RunConfig

    data = tmp_path / "tiny.jsonl"
    lines = (REPO / "resources" / "demo_pairs" / "train.jsonl").read_text(encoding="utf-8").splitlines()[:16]
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = train(RunConfig(model=embedded_model.spec, dataset=str(data), max_steps=2, per_device_batch_size=2,
                          max_length=128, eval_ratio=0, save_steps=100, name="e2e-compare"))
    assert run.status() == "finished", run.info().get("message")
    result = compare(run.id, ["What is a monopoly?", "Give one tip for better sleep."],
                     GenerationSettings(max_new_tokens=16), "local-model",
                     {"model": embedded_model.spec, "method": "loglik"})
    assert result.status == "finished", result.message
    s = result.summary
    assert s["items"] == 2 and s["judge_errors"] == 0
    assert s["tuned_wins"] + s["base_wins"] + s["ties"] == 2
    assert s["headline"].startswith("tuned better in ") and s["headline"].split()[3].endswith("/2")
    assert set(s["mean_scores"]) == {"coherence", "relevance", "depth"}
    assert all(0 <= v <= 10 for c in s["mean_scores"].values() for v in c.values())
    assert s["mean_words"]["base"] > 0 and s["mean_tokens"]["tuned"] > 0
    for name in ("items.jsonl", "log.txt", "summary.json", "comparison.csv", "meta.json"):
        assert (result.path / name).is_file()
    assert comparison_store.list_comparisons(run)[0]["id"] == result.id
