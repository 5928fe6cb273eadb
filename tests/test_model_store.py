import json
import time

import pytest

from dpostudio.core.model_store import ModelError, import_gguf, list_store, load_model, load_tokenizer, resolve_model


@pytest.mark.slow
def test_embedded_default_is_imported_once_and_loads_fast(embedded_model):
    folder = embedded_model.location
    from pathlib import Path

    folder = Path(folder)
    assert (folder / "model.safetensors").is_file()
    assert (folder / "tokenizer.json").is_file()
    assert (folder / "chat_template.jinja").is_file() or "chat_template" in (folder / "tokenizer_config.json").read_text()
    marker = folder / "dpostudio-model.json"
    before = marker.stat().st_mtime

    seen = []
    again = resolve_model("embedded:smollm2-135m-instruct", on_progress=lambda f, m: seen.append((f, m)))
    assert again.location == str(folder) and marker.stat().st_mtime == before
    assert seen == [(1.0, "already imported")]

    start = time.perf_counter()
    tokenizer = load_tokenizer(again)
    model = load_model(again)
    elapsed = time.perf_counter() - start
    print(f"reload from store took {elapsed:.2f}s")
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                           add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**prompt, max_new_tokens=12, do_sample=False)
    answer = tokenizer.decode(out[0][prompt["input_ids"].shape[1]:], skip_special_tokens=True)
    assert "Paris" in answer
    assert any(e["name"] == "SmolLM2-135M-Instruct" for e in list_store())


def write_gguf(path, arch):
    import numpy as np
    from gguf import GGUFWriter

    writer = GGUFWriter(str(path), arch)
    writer.add_tensor("token_embd.weight", np.zeros((4, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_unsupported_architecture_gets_a_clear_error(tmp_path):
    path = tmp_path / "exotic.gguf"
    write_gguf(path, "rwkv9000")
    with pytest.raises(ModelError, match="'rwkv9000' model, which transformers cannot load from GGUF"):
        import_gguf(path)
    assert not any(p.name.startswith("exotic") for p in (tmp_path.parent).iterdir() if p.is_dir())


def test_not_a_gguf_file(tmp_path):
    path = tmp_path / "notes.gguf"
    path.write_text("hello")
    with pytest.raises(ModelError, match="notes.gguf is not a readable GGUF file"):
        import_gguf(path)


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("", "no model given"),
        ("embedded:gpt-5", "unknown embedded model"),
        ("./missing-folder", "model folder not found"),
        ("/nowhere/model.gguf", "GGUF file not found"),
        ("not a model id", "is not a Hugging Face model id"),
    ],
)
def test_bad_specs(spec, words):
    with pytest.raises(ModelError, match=words):
        resolve_model(spec)


def test_folder_and_hub_specs(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    assert resolve_model(str(tmp_path)).kind == "folder"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelError, match="has no config.json"):
        resolve_model(str(empty))
    hub = resolve_model("HuggingFaceTB/SmolLM2-135M-Instruct")
    assert (hub.kind, hub.location) == ("hub", "HuggingFaceTB/SmolLM2-135M-Instruct")


def test_offline_hub_model_fails_in_words(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="cannot (download|load)"):
        load_model(resolve_model("someone/not-cached-model-xyz"))
