"""A rough estimate of the memory a LoRA-DPO run needs, from the model's ``config.json`` alone (no torch).

It is an estimate, not a measurement: it counts the frozen base weights at the precision they are held in,
the trainable LoRA parameters with their gradients and AdamW state, the activations kept for the backward pass
(chosen and rejected sequences, so twice the batch) and the logits. The reference model of LoRA-DPO is the base
with the adapter switched off, so it costs no extra weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BYTES_PER_PARAM = {"fp32": 4, "bf16": 2, "fp16": 2}
# Bytes kept per hidden-state element per layer for the backward pass (attention + MLP intermediates),
# in units of one element at the compute precision; ~17 elements per token per hidden unit per layer
# (after Korthikanti et al., "Reducing Activation Recomputation", 34·s·b·h bytes at 16 bits).
ACTIVATION_ELEMENTS_PER_LAYER = 17
# With gradient checkpointing only each layer's input is kept, plus one layer's full activations at a time.
CHECKPOINTED_ELEMENTS_PER_LAYER = 1
LINEAR_NAMES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class ModelShape:
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    tied_embeddings: bool
    gated_mlp: bool = True

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(in, out) of each linear projection in one transformer block."""
        h, q = self.hidden, self.heads * self.head_dim
        shapes = {
            "q_proj": (h, q),
            "k_proj": (h, self.kv_dim),
            "v_proj": (h, self.kv_dim),
            "o_proj": (q, h),
            "up_proj": (h, self.intermediate),
            "down_proj": (self.intermediate, h),
        }
        if self.gated_mlp:
            shapes["gate_proj"] = (h, self.intermediate)
        return shapes

    def parameters(self) -> int:
        block = sum(i * o for i, o in self.linear_shapes().values()) + 2 * self.hidden
        embeddings = self.vocab * self.hidden * (1 if self.tied_embeddings else 2)
        return self.layers * block + embeddings + self.hidden


@dataclass
class MemoryEstimate:
    total_bytes: int
    parts: dict[str, int] = field(default_factory=dict)
    parameters: int = 0
    lora_parameters: int = 0
    note: str = "estimate"

    def describe(self) -> str:
        """One paragraph in words for the Training pane."""
        lines = [f"≈ {format_bytes(self.total_bytes)} (estimate)"]
        lines += [f"  {name}: {format_bytes(size)}" for name, size in self.parts.items()]
        lines.append(
            f"  model {self.parameters / 1e6:,.0f} M parameters, LoRA {self.lora_parameters / 1e6:,.2f} M trainable"
        )
        if self.note and self.note != "estimate":
            lines.append(self.note)
        return "\n".join(lines)


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit in ("B", "KiB") else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def model_shape(config: dict[str, Any]) -> ModelShape:
    """Read the sizes from a transformers ``config.json`` (Llama/Mistral/Qwen style or GPT-2 style)."""

    def pick(*names: str, default: Any = None) -> Any:
        for name in names:
            if config.get(name) is not None:
                return config[name]
        text = config.get("text_config")
        if isinstance(text, dict):
            for name in names:
                if text.get(name) is not None:
                    return text[name]
        if default is not None:
            return default
        raise KeyError(names[0])

    hidden = int(pick("hidden_size", "n_embd", "d_model"))
    layers = int(pick("num_hidden_layers", "n_layer", "num_layers"))
    heads = int(pick("num_attention_heads", "n_head"))
    kv_heads = int(pick("num_key_value_heads", default=heads))
    head_dim = int(pick("head_dim", default=hidden // heads))
    gpt2_style = "n_embd" in config or config.get("model_type") == "gpt2"
    intermediate = int(pick("intermediate_size", "n_inner", "ffn_dim", default=4 * hidden))
    vocab = int(pick("vocab_size"))
    tied = bool(config.get("tie_word_embeddings", True))
    return ModelShape(hidden, layers, heads, kv_heads, head_dim, intermediate, vocab, tied, gated_mlp=not gpt2_style)


def lora_parameters(shape: ModelShape, r: int, targets: list[str]) -> int:
    """Trainable parameters of LoRA adapters of rank ``r`` on ``targets`` ('all-linear' or projection names)."""
    shapes = shape.linear_shapes()
    if not targets or "all-linear" in targets:
        chosen = list(shapes.values())
    else:
        chosen = [shapes[t] for t in targets if t in shapes]
    return shape.layers * sum(r * (i + o) for i, o in chosen)


def estimate_memory(
    config: dict[str, Any],
    *,
    precision: str = "fp32",
    device: str = "cpu",
    batch_size: int = 1,
    max_length: int = 256,
    lora_r: int = 16,
    lora_targets: list[str] | None = None,
    gradient_checkpointing: bool = False,
) -> MemoryEstimate:
    """Estimate peak memory of one LoRA-DPO training step.

    ``precision`` is the resolved one (fp32/bf16/fp16). On the CPU the engine keeps the base in fp32 and runs
    bf16 as autocast, so the weights count 4 bytes there; on GPUs they are held in the half type.
    """
    shape = model_shape(config)
    params = shape.parameters()
    weight_bytes = BYTES_PER_PARAM["fp32" if device == "cpu" else precision] if precision in BYTES_PER_PARAM else 4
    compute_bytes = BYTES_PER_PARAM.get(precision, 4)
    lora = lora_parameters(shape, lora_r, lora_targets or ["all-linear"])
    sequences = 2 * batch_size  # chosen and rejected are run through the model together
    per_layer = CHECKPOINTED_ELEMENTS_PER_LAYER if gradient_checkpointing else ACTIVATION_ELEMENTS_PER_LAYER
    activations = (
        sequences
        * max_length
        * shape.hidden
        * compute_bytes
        * (per_layer * shape.layers + (ACTIVATION_ELEMENTS_PER_LAYER if gradient_checkpointing else 0))
    )
    logits = sequences * max_length * shape.vocab * 4 * 2  # fp32 logits and their log-softmax
    parts = {
        "base weights (frozen)": params * weight_bytes,
        "LoRA weights, gradients and AdamW state": lora * 16,
        "activations": activations,
        "logits": logits,
    }
    total = int(sum(parts.values()) * 1.1)  # allocator slack, buffers, CUDA/MPS context not counted separately
    return MemoryEstimate(total, parts, params, lora)


def find_model_config(spec: str) -> dict[str, Any] | None:
    """The ``config.json`` of a model spec when it is on this machine without downloading; None otherwise.

    Reads only files: the model store (embedded and imported GGUF models), a local folder, or the Hugging Face
    cache for a Hub id. Never imports torch or transformers.
    """
    spec = (spec or "").strip()
    if not spec:
        return None
    candidates: list[Path] = []
    from dpostudio.core.model_store import EMBEDDED_MODELS
    from dpostudio.core.paths import models_dir

    if spec.startswith("embedded:"):
        entry = EMBEDDED_MODELS.get(spec.split(":", 1)[1])
        if entry:
            candidates.append(models_dir() / entry[2] / "config.json")
    else:
        path = Path(spec).expanduser()
        if path.suffix.lower() == ".gguf":
            candidates.append(models_dir() / path.stem / "config.json")
        elif path.is_dir():
            candidates.append(path / "config.json")
        elif "/" in spec:
            candidates += _hub_cache_configs(spec)
    for candidate in candidates:
        try:
            return json.loads(candidate.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
    return None


def _hub_cache_configs(repo_id: str) -> list[Path]:
    import os

    root = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface"), "hub"
    )
    folder = Path(root) / ("models--" + repo_id.replace("/", "--")) / "snapshots"
    try:
        return sorted(folder.glob("*/config.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return []


# Shapes of the recipe models, so the estimate works before they are downloaded.
KNOWN_CONFIGS: dict[str, dict[str, Any]] = {
    "mistralai/Mistral-7B-Instruct-v0.3": {
        "hidden_size": 4096,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "intermediate_size": 14336,
        "vocab_size": 32768,
        "tie_word_embeddings": False,
    },
    "mlabonne/TwinLlama-3.1-8B": {
        "hidden_size": 4096,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "intermediate_size": 14336,
        "vocab_size": 128256,
        "tie_word_embeddings": False,
    },
    "openai-community/gpt2": {
        "model_type": "gpt2",
        "n_embd": 768,
        "n_layer": 12,
        "n_head": 12,
        "vocab_size": 50257,
        "tie_word_embeddings": True,
    },
    "gpt2": {
        "model_type": "gpt2",
        "n_embd": 768,
        "n_layer": 12,
        "n_head": 12,
        "vocab_size": 50257,
        "tie_word_embeddings": True,
    },
}


def model_config_for(spec: str) -> dict[str, Any] | None:
    """``find_model_config`` with the recipe models' known shapes as a fallback."""
    return find_model_config(spec) or KNOWN_CONFIGS.get((spec or "").strip())
