"""A tiny random-weight Llama (SmolLM2's shape, 2 layers, hidden 64) with the embedded model's tokenizer.

MLX on a Linux CPU trains SmolLM2-135M at minutes per step, so the MLX tests use this model: same architecture
family, same tokenizer and chat template, a few MB of safetensors, random weights (seeded).
"""

from __future__ import annotations

from pathlib import Path


def make_tiny_llama(source_model: str, out: Path) -> Path:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(source_model)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    with (
        torch.no_grad()
    ):  # larger than the default init, so logits differ from uniform and the log-probs mean something
        model.model.embed_tokens.weight.normal_(0.0, 0.5)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out
