"""Preference data with the real SmolLM2 tokenizer: templates, exact previews, token stats, truncation, and
the engine contract (load_splits output accepted by TRL's DPOTrainer, tokenized exactly as previewed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dpostudio.core.data.sources import BUILTIN_DEMO_DIR
from dpostudio.core.data.stats import compute_stats, format_stats
from dpostudio.core.data.templates import ALPACA_TEMPLATE, template_pair, token_ids
from dpostudio.core.data.pipeline import (
    DataError, inspect_data, load_splits, prepare_pairs, preview_row,
)
from dpostudio.core.training.run_config import RunConfig

DATA = Path(__file__).parent / "fixtures" / "data"


@pytest.fixture(scope="module")
def tok(embedded_model):
    from dpostudio.core.model_store import load_tokenizer

    return load_tokenizer(embedded_model)


def cfg(name: str, **kw) -> RunConfig:
    kw.setdefault("eval_ratio", 0.0)
    return RunConfig(dataset=str(DATA / name), **kw)


def test_chat_preview_is_the_rendered_multi_turn_conversation(tok):
    preview = preview_row(cfg("hh_rlhf.jsonl"), 2, tok)
    assert preview.prompt_text == (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\nCan you recommend a book?<|im_end|>\n"
        "<|im_start|>assistant\nSure, what genres do you like?<|im_end|>\n"
        "<|im_start|>user\nScience fiction, mostly.<|im_end|>\n<|im_start|>assistant\n")
    assert preview.chosen_text == "Try 'The Left Hand of Darkness' by Ursula K. Le Guin.<|im_end|>\n"
    assert preview.rejected_text == "Books are boring.<|im_end|>\n"
    assert preview.prompt_tokens == len(tok(preview.prompt_text)["input_ids"])


def test_chat_preview_with_system_prompt_and_row_system(tok):
    preview = preview_row(cfg("trl_standard.jsonl", system_prompt="Answer briefly."), 1, tok)
    assert preview.prompt_text.startswith("<|im_start|>system\nAnswer briefly.<|im_end|>\n<|im_start|>user\nWrite a haiku")
    # a row's own system message (orca) wins over the configured one
    preview = preview_row(cfg("orca_dpo_pairs.jsonl", system_prompt="Answer briefly."), 3, tok)
    assert preview.prompt_text.startswith("<|im_start|>system\nYou are a helpful assistant, who always provide")


def test_alpaca_preview_appends_eos_to_both_answers(tok):
    preview = preview_row(cfg("llmtwin_dpo.json", prompt_template="alpaca"), 1, tok)
    assert preview.prompt_text == ALPACA_TEMPLATE.format("Write a paragraph about RAG pipelines.")
    assert preview.chosen_text.endswith("as context." + tok.eos_token)
    assert preview.rejected_text.endswith("for cleaning." + tok.eos_token)


def test_template_pair_eos_is_not_doubled():
    pair = {"row": 1, "prompt": [{"role": "user", "content": "q"}], "chosen": "a</s>", "rejected": "b"}
    row = template_pair(pair, "none", eos_token="</s>")
    assert row == {"prompt": "q", "chosen": "a</s>", "rejected": "b</s>"}


def test_truncation_is_reported_per_row_with_survival(tok):
    report = inspect_data(cfg("hh_rlhf.jsonl", max_length=64, drop_problems=[]), tok)
    truncated = [p for p in report.problems if p.kind == "truncated"]
    assert truncated, "rows longer than 64 tokens must be reported"
    lengths = report.pairs.lengths
    for p in truncated:
        pl, cl, rl = lengths[("train", p.row)]
        assert pl + max(cl, rl) > 64
        assert f"row {p.row}" in p.message() and ("survive" in p.reason or "leaves the row out" in p.reason)
    assert report.stats.over_max_length == len({p.row for p in truncated})
    assert 0 <= report.stats.chosen_survival <= 1
    # the user may drop them; nothing else changes
    dropped = prepare_pairs(cfg("hh_rlhf.jsonl", max_length=64, drop_problems=["truncated"]), tok)
    assert dropped.dropped["truncated"] == len({p.row for p in truncated})


def test_token_stats_percentiles_and_length_bias(tok):
    report = inspect_data(cfg("ultrafeedback_binarized.jsonl", max_length=1024), tok)
    stats = report.stats
    assert stats.unit == "tokens" and stats.rows == 4 and stats.measured_rows == 4
    assert stats.prompt.min > 0 and stats.chosen.percentiles[50] <= stats.chosen.max
    assert stats.chosen_longer_share == 1.0
    assert any("length bias" in w for w in stats.warnings)
    assert stats.over_max_length == 0
    text = "\n".join(format_stats(stats))
    assert "p50" in text and "chosen longer than rejected in 100% of rows" in text


def test_compute_stats_balanced_data_has_no_bias_warning():
    stats = compute_stats([(10, 5, 6), (10, 6, 5), (10, 7, 7)], unit="tokens", max_length=16)
    assert stats.chosen_longer_share == 0.5 and not any("bias" in w for w in stats.warnings)
    assert stats.over_max_length == 1


@pytest.mark.parametrize("template", ["chat", "alpaca"])
def test_load_splits_output_is_accepted_by_dpo_trainer_and_matches_preview(tok, embedded_model, template, tmp_path):
    from trl import DPOConfig, DPOTrainer

    from dpostudio.core.model_store import load_model

    config = cfg("hh_rlhf.jsonl", prompt_template=template, eval_ratio=0.34, max_length=128)
    splits = load_splits(config, tok)
    assert splits.format == "hh_rlhf" and splits.dropped == {"unusable": 2, "empty": 1}
    model = _model(embedded_model, load_model)
    trainer = DPOTrainer(model=model, args=DPOConfig(output_dir=str(tmp_path), max_length=128, report_to=[],
                                                     per_device_train_batch_size=2, max_steps=1, use_cpu=True),
                         train_dataset=splits.train, eval_dataset=splits.eval, processing_class=tok)
    prepared = trainer.train_dataset
    for i, row_no in enumerate(splits.train_rows):
        preview = preview_row(config, row_no, tok)
        assert tok.decode(prepared[i]["prompt_ids"]) == preview.prompt_text
        assert tok.decode(prepared[i]["chosen_ids"]) == preview.chosen_text
        assert tok.decode(prepared[i]["rejected_ids"]) == preview.rejected_text


_MODEL = {}


def _model(embedded_model, load_model):
    if "m" not in _MODEL:
        _MODEL["m"] = load_model(embedded_model)
    return _MODEL["m"]


def test_token_ids_match_trl_for_conversational_rows(tok):
    row = {"prompt": [{"role": "user", "content": "hi"}], "chosen": [{"role": "assistant", "content": "hello"}],
           "rejected": [{"role": "assistant", "content": "bye"}]}
    p, c, r = token_ids(row, tok)
    assert tok.decode(c) == "hello<|im_end|>\n" and tok.decode(r) == "bye<|im_end|>\n"


def test_chat_template_missing_is_an_error_in_words(tok):
    import copy

    plain = copy.copy(tok)
    plain.chat_template = None
    with pytest.raises(DataError, match="no chat template"):
        load_splits(cfg("llmtwin_dpo.json"), plain)


@pytest.mark.skipif(not (BUILTIN_DEMO_DIR / "train.jsonl").is_file(), reason="demo pairs not installed")
def test_builtin_demo_still_feeds_the_engine(tok):
    splits = load_splits(RunConfig(), tok)
    assert len(splits.train) > 0 and splits.eval is not None and len(splits.eval) > 0
    assert splits.train.column_names == ["prompt", "chosen", "rejected"]
    first = splits.train[0]
    assert first["prompt"][-1]["role"] == "user" and first["chosen"][0]["role"] == "assistant"
    alpaca = load_splits(RunConfig(prompt_template="alpaca"), tok)
    assert alpaca.train[0]["prompt"].startswith("Below is an instruction")
    assert alpaca.train[0]["chosen"].endswith(tok.eos_token)
