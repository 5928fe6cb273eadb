"""Export: adapter and merged folders that load with plain PEFT / transformers, disk-space check, no overwrite.

Most tests use a run whose adapter is built without training: a PEFT LoRA on the embedded SmolLM2 with its
weights perturbed deterministically. One slow test exports a real short run made by ``engine.train``.
"""

from __future__ import annotations

import json
import shutil
from collections import namedtuple

import pytest
from fake_runs import make_fake_run

from dpostudio.core.publish import export as export_mod
from dpostudio.core.publish.export import ExportError, checkpoint_steps, export_run
from dpostudio.core.publish.model_card import build_model_card, read_front_matter
from dpostudio.core.paths import RESOURCES_DIR
from dpostudio.core.training.run_config import RunConfig
from dpostudio.core.training.runs import create_run

PROMPT = "Write one sentence about the sea."


@pytest.fixture
def out(tmp_path):
    """Where exports go (tmp_path itself also holds the test's DPOSTUDIO_HOME)."""
    folder = tmp_path / "exports"
    folder.mkdir()
    return folder


def greedy_ids(model, tokenizer, n=12):
    import torch

    messages = [{"role": "user", "content": PROMPT}]
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                           return_dict=True)
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=n, do_sample=False)
    return out[0, inputs["input_ids"].shape[1]:].tolist()


# ---- adapter ---------------------------------------------------------------------------------------
def test_adapter_export_loads_with_plain_peft(fake_run, embedded_model, out):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    seen = []
    result = export_run(fake_run, out / "adapter", "adapter", on_progress=lambda f, m: seen.append((f, m)))
    folder = result.folder
    assert {"adapter_config.json", "adapter_model.safetensors", "README.md", "tokenizer.json"} <= set(result.files)
    assert any(name in result.files for name in ("chat_template.jinja", "tokenizer_config.json"))
    assert seen[0][0] == 0.0 and seen[-1][0] == 1.0
    assert [f for f, _ in seen] == sorted(f for f, _ in seen)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert tokenizer.chat_template
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(embedded_model.location), str(folder))
    assert any("lora_A" in n for n, _ in model.named_parameters())
    # no leftovers: only the destination exists next to it
    assert sorted(p.name for p in out.iterdir()) == ["adapter"]


def test_checkpoint_export_takes_that_checkpoint(fake_run, out):
    from safetensors.torch import load_file

    assert checkpoint_steps(fake_run) == [2]
    result = export_run(fake_run, out / "ckpt", "adapter", checkpoint=2)
    exported = load_file(str(result.folder / "adapter_model.safetensors"))
    original = load_file(str(fake_run.checkpoints_dir / "checkpoint-2" / "adapter_model.safetensors"))
    final = load_file(str(fake_run.adapter_dir / "adapter_model.safetensors"))
    key = next(k for k in exported if "lora_B" in k)
    assert exported[key].equal(original[key]) and not exported[key].equal(final[key])
    assert "checkpoint at step 2" in (result.folder / "README.md").read_text(encoding="utf-8")
    with pytest.raises(ExportError, match="no checkpoint at step 9 .*available: 2"):
        export_run(fake_run, out / "nine", "adapter", checkpoint=9)


# ---- merged ----------------------------------------------------------------------------------------
def test_merged_export_matches_base_plus_adapter(fake_run, embedded_model, out):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    result = export_run(fake_run, out / "merged", "merged", dtype="fp32")
    folder = result.folder
    assert (folder / "model.safetensors").is_file() and (folder / "generation_config.json").is_file()
    assert not list(folder.glob("adapter_*"))
    merged = AutoModelForCausalLM.from_pretrained(folder)
    assert merged.dtype == torch.float32
    assert not any("lora" in n for n, _ in merged.named_parameters())
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tuned = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(embedded_model.location),
                                      str(fake_run.adapter_dir))
    base = AutoModelForCausalLM.from_pretrained(embedded_model.location)
    expected = greedy_ids(tuned, tokenizer)
    assert greedy_ids(merged, tokenizer) == expected
    assert greedy_ids(base, tokenizer) != expected  # the perturbation is big enough to matter
    card = read_front_matter((folder / "README.md").read_text(encoding="utf-8"))
    assert card["library_name"] == "transformers" and card["license"] == "apache-2.0"


def test_merged_fp16_is_half_the_size_and_loads(fake_run, out):
    import torch
    from transformers import AutoModelForCausalLM

    result = export_run(fake_run, out / "m16", "merged", dtype="fp16")
    model = AutoModelForCausalLM.from_pretrained(result.folder, dtype="auto")
    assert model.dtype == torch.float16
    estimate = export_mod.estimate_size(fake_run, "merged", "fp16")
    weights = (result.folder / "model.safetensors").stat().st_size
    assert abs(weights - estimate) / estimate < 0.05


# ---- safety ----------------------------------------------------------------------------------------
def test_disk_space_is_checked_before_writing(fake_run, out, monkeypatch):
    Usage = namedtuple("Usage", "total used free")
    monkeypatch.setattr(export_mod.shutil, "disk_usage", lambda path: Usage(10**9, 10**9 - 1_000_000, 1_000_000))
    dest = out / "out"
    with pytest.raises(ExportError) as info:
        export_run(fake_run, dest, "merged", dtype="fp16")
    text = str(info.value)
    assert "not enough free disk space" in text and "1.0 MB is free" in text and "merged fp16 model" in text
    assert not dest.exists() and list(out.iterdir()) == []


def test_refuses_to_overwrite_a_non_empty_folder(fake_run, out):
    dest = out / "taken"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    with pytest.raises(ExportError, match="not empty.*--force"):
        export_run(fake_run, dest, "adapter")
    assert (dest / "keep.txt").read_text() == "mine"
    export_run(fake_run, dest, "adapter", force=True)
    assert not (dest / "keep.txt").exists() and (dest / "adapter_config.json").is_file()
    empty = out / "empty"
    empty.mkdir()
    export_run(fake_run, empty, "adapter")  # an empty folder is fine without force
    assert (empty / "adapter_config.json").is_file()


def test_failure_mid_export_leaves_nothing(fake_run, out, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("simulated crash while writing")

    monkeypatch.setattr(export_mod, "_write_merged", broken)
    with pytest.raises(ExportError, match="simulated crash"):
        export_run(fake_run, out / "dest", "merged")
    assert list(out.iterdir()) == []


def test_run_without_final_adapter_suggests_checkpoints(embedded_model, tmp_path):
    run = make_fake_run(embedded_model.location, checkpoints=(1, 3), final=False)
    with pytest.raises(ExportError, match=r"no final adapter.*available: 1, 3"):
        export_run(run, tmp_path / "x", "adapter")


# ---- model card ------------------------------------------------------------------------------------
def test_model_card_has_hyperparameters_metrics_license_and_comparison(fake_run):
    comparisons = fake_run.path / "comparisons"
    (comparisons / "2024-01-01").mkdir(parents=True)
    (comparisons / "2024-01-01" / "summary.json").write_text(json.dumps(
        {"prompts": 5, "tuned_wins": 4, "base_wins": 1, "judge": "gemini-2.0-flash",
         "mean_scores": {"base": 6.1, "tuned": 7.4}}))
    (comparisons / "broken").mkdir()
    (comparisons / "broken" / "summary.json").write_text("{not json")
    text = build_model_card(fake_run, kind="adapter", repo_id="alice/smol-dpo")
    meta = read_front_matter(text)
    assert meta["library_name"] == "peft"
    assert meta["license"] == "apache-2.0"  # from the embedded GGUF's general.license
    assert {"dpo", "trl", "dpostudio"} <= set(meta["tags"])
    assert "base_model" not in meta  # a local import has no Hub id to claim
    assert "| DPO beta | 0.25 |" in text and "| learning rate | 3e-05 |" in text and "| LoRA rank (r) | 4 |" in text
    assert "`chosen_score >= 8`" in text
    assert "| train loss (step 4) | 0.47 |" in text and "| eval_loss (step 4) | 0.5123 |" in text
    assert "tuned_wins | 4" in text and "tuned: 7.4" in text
    assert 'PeftModel.from_pretrained(base, "alice/smol-dpo")' in text


def test_model_card_for_hub_base_and_dataset(dpostudio_home):
    config = RunConfig(model="HuggingFaceTB/SmolLM2-135M-Instruct", dataset="Intel/orca_dpo_pairs", first_n=1000)
    run = create_run(config)
    text = build_model_card(run, kind="merged", dtype="bf16")
    meta = read_front_matter(text)
    assert meta["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert meta["datasets"] == ["Intel/orca_dpo_pairs"] and meta["library_name"] == "transformers"
    assert "No metrics were recorded" in text and "First rows used:** 1000" in text


def test_license_is_read_from_a_base_folder_readme(embedded_model, tmp_path):
    base = tmp_path / "base"
    shutil.copytree(embedded_model.location, base)
    (base / "dpostudio-model.json").unlink()
    (base / "README.md").write_text("---\nlicense: llama3.1\nbase_model: meta-llama/Llama-3.1-8B\n---\n# Base\n")
    run = create_run(RunConfig(model=str(base)))
    meta = read_front_matter(build_model_card(run, kind="adapter"))
    assert meta["license"] == "llama3.1" and meta["base_model"] == "meta-llama/Llama-3.1-8B"


# ---- a real short run --------------------------------------------------------------------------------
@pytest.mark.slow
def test_real_run_adapter_and_merged_generate_identically(embedded_model, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from dpostudio.core.training.engine import train

    rows = (RESOURCES_DIR / "demo_pairs" / "train.jsonl").read_text(encoding="utf-8").splitlines()[:8]
    data = tmp_path / "pairs.jsonl"
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = RunConfig(dataset=str(data), eval_ratio=0.25, per_device_batch_size=2, max_steps=2, eval_steps=None,
                       save_steps=1, learning_rate=2e-3, lr_scheduler_type="constant", max_length=128,
                       lora_r=8, lora_alpha=16, seed=1, precision="fp32")
    run = train(config)
    assert run.info()["status"] == "finished", run.info()
    adapter = export_run(run, tmp_path / "adapter", "adapter").folder
    merged = export_run(run, tmp_path / "merged", "merged", dtype="fp32").folder

    tokenizer = AutoTokenizer.from_pretrained(adapter)
    base_plus_adapter = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(embedded_model.location, dtype=torch.float32), str(adapter))
    merged_model = AutoModelForCausalLM.from_pretrained(merged, dtype=torch.float32)
    assert greedy_ids(merged_model, AutoTokenizer.from_pretrained(merged), 16) == \
        greedy_ids(base_plus_adapter, tokenizer, 16)
    card = (merged / "README.md").read_text(encoding="utf-8")
    assert "| steps trained | 2 |" in card and "train loss (step 2)" in card
