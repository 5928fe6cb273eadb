"""LoRA adapters between MLX (mlx-lm) and PEFT: attach, save and load, and convert folders both ways.

An MLX run saves its adapters as PEFT adapter folders (``adapter_config.json`` + ``adapter_model.safetensors``), so
Comparison, Export (adapter and merged) and Push treat MLX runs like any other; it resumes by loading such a folder
back into MLX. ``mlx_adapter_to_peft`` and ``peft_to_mlx_adapter`` convert whole folders (an mlx-lm adapter folder:
``adapters.safetensors`` + its ``adapter_config.json``, usable with ``mlx_lm.generate --adapter-path``).

The two layouts hold the same numbers. For a linear layer ``W`` (out × in), mlx-lm computes
``W x + scale · (x A) B`` with ``lora_a`` (in × r) and ``lora_b`` (r × out); PEFT computes ``W x + s · B' A' x`` with
``lora_A.weight`` (r × in) and ``lora_B.weight`` (out × r). So ``lora_A.weight = lora_a.T``, ``lora_B.weight =
lora_b.T`` and ``scale = s = lora_alpha / r`` (``/ sqrt(r)`` with rsLoRA). mlx-lm names modules as Transformers does
(``model.layers.0.self_attn.q_proj``); PEFT prefixes them with ``base_model.model.``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PEFT_CONFIG = "adapter_config.json"
PEFT_WEIGHTS = "adapter_model.safetensors"
MLX_WEIGHTS = "adapters.safetensors"
PEFT_PREFIX = "base_model.model."
_TO_PEFT = {"lora_a": "lora_A.weight", "lora_b": "lora_B.weight"}
_TO_MLX = {peft: mlx for mlx, peft in _TO_PEFT.items()}


class AdapterError(ValueError):
    """An adapter folder that cannot be converted (the message says why)."""


@dataclass(frozen=True)
class LoraShape:
    rank: int
    alpha: float
    dropout: float
    keys: tuple[str, ...]  # module paths inside a transformer block, e.g. "self_attn.q_proj"

    @property
    def scale(self) -> float:
        return self.alpha / self.rank


def flat(tree: Any) -> list[tuple[str, Any]]:
    """``mlx.utils.tree_flatten`` (typed for the checker: its stubs allow a string)."""
    from mlx.utils import tree_flatten

    pairs: Any = tree_flatten(tree)
    return list(pairs)


def load_arrays(path: Path) -> dict[str, Any]:
    """A safetensors file as ``{name: mx.array}``."""
    import mlx.core as mx

    arrays: Any = mx.load(str(path))
    return dict(arrays)


def block_linear_keys(model: Any, targets: list[str]) -> tuple[str, ...]:
    """The linear layers inside each transformer block that get adapters: every one for ``["all-linear"]`` (as
    PEFT: the output head is outside the blocks), else those whose name or path ends with one of ``targets``."""
    import mlx.nn as nn

    found: set[str] = set()
    for layer in model.layers:
        for path, module in layer.named_modules():
            if not isinstance(module, (nn.Linear, nn.QuantizedLinear)):
                continue
            if targets == ["all-linear"] or any(path == t or path.endswith("." + t) for t in targets):
                found.add(path)
    if not found:
        raise AdapterError(f"no linear layer of this model matches the LoRA target modules {', '.join(targets)}")
    return tuple(sorted(found))


def attach_lora(model: Any, shape: LoraShape) -> None:
    """Freeze ``model`` and put fresh LoRA layers (B = 0, as PEFT) on ``shape.keys`` in every block."""
    from mlx_lm.tuner.utils import linear_to_lora_layers

    model.freeze()
    linear_to_lora_layers(
        model,
        len(model.layers),
        {"rank": shape.rank, "scale": shape.scale, "dropout": shape.dropout, "keys": list(shape.keys)},
    )


def lora_weights(model: Any) -> dict[str, Any]:
    """The adapter's arrays under mlx-lm's names (``model.layers.0.self_attn.q_proj.lora_a``)."""
    return {k: v for k, v in flat(model.trainable_parameters()) if k.rsplit(".", 1)[-1] in _TO_PEFT}


def to_peft_weights(weights: dict[str, Any]) -> dict[str, Any]:
    import mlx.core as mx

    out = {}
    for name, value in weights.items():
        module, leaf = name.rsplit(".", 1)
        out[f"{PEFT_PREFIX}{module}.{_TO_PEFT[leaf]}"] = mx.array(value.T.astype(mx.float32))
    return out


def save_peft_adapter(weights: dict[str, Any], folder: Path, shape: LoraShape, base_model: str) -> Path:
    """Write mlx-lm LoRA ``weights`` as a PEFT adapter folder that ``PeftModel.from_pretrained`` loads."""
    import mlx.core as mx

    folder.mkdir(parents=True, exist_ok=True)
    peft = to_peft_weights(weights)
    mx.eval(list(peft.values()))
    mx.save_safetensors(str(folder / PEFT_WEIGHTS), peft, metadata={"format": "pt"})
    config = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base_model,
        "r": shape.rank,
        "lora_alpha": shape.alpha,
        "lora_dropout": shape.dropout,
        "target_modules": sorted({key.rsplit(".", 1)[-1] for key in shape.keys}),
        "bias": "none",
        "fan_in_fan_out": False,
        "inference_mode": True,
        "init_lora_weights": True,
        "use_rslora": False,
        "use_dora": False,
        "modules_to_save": None,
        "layers_to_transform": None,
    }
    (folder / PEFT_CONFIG).write_text(json.dumps(config, indent=2), encoding="utf-8")
    return folder


def read_peft_adapter(folder: Path) -> tuple[dict[str, Any], LoraShape]:
    """A PEFT LoRA adapter folder as mlx-lm weights and the LoRA shape to attach them with."""

    try:
        config = json.loads((folder / PEFT_CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AdapterError(f"{folder} has no readable {PEFT_CONFIG}: {exc}") from None
    if config.get("peft_type") != "LORA" or config.get("use_dora") or config.get("rank_pattern"):
        raise AdapterError(f"{folder} is not a plain LoRA adapter (DoRA and per-layer ranks are not converted)")
    if not (folder / PEFT_WEIGHTS).is_file():
        raise AdapterError(f"{folder} has no {PEFT_WEIGHTS}")
    weights, keys = {}, set()
    for name, value in load_arrays(folder / PEFT_WEIGHTS).items():
        leaf = next((peft for peft in _TO_MLX if name.endswith("." + peft)), None)
        if leaf is None or not name.startswith(PEFT_PREFIX):
            raise AdapterError(f"{folder}: {name} is not a LoRA weight of a causal language model")
        module = name[len(PEFT_PREFIX) : -len(leaf) - 1]
        weights[f"{module}.{_TO_MLX[leaf]}"] = value.T
        keys.add(module.split(".", 3)[-1] if module.startswith("model.layers.") else module)
    rank = int(config["r"])
    alpha = float(config.get("lora_alpha", rank))
    if config.get("use_rslora"):
        alpha *= math.sqrt(rank)  # rsLoRA scales by alpha / sqrt(r): the same scale as plain LoRA with this alpha
    shape = LoraShape(rank, alpha, float(config.get("lora_dropout", 0.0)), tuple(sorted(keys)))
    return weights, shape


def load_peft_into_mlx(model: Any, folder: Path) -> LoraShape:
    """Attach LoRA layers to an mlx-lm ``model`` and fill them from a PEFT adapter folder."""
    weights, shape = read_peft_adapter(folder)
    attach_lora(model, shape)
    expected = lora_weights(model)
    missing = sorted(set(expected) - set(weights))
    extra = sorted(set(weights) - set(expected))
    if missing or extra:
        raise AdapterError(
            f"{folder} does not fit this model: {(missing or extra)[0]} is {'missing' if missing else 'unknown'}"
        )
    for name, value in weights.items():
        if value.shape != expected[name].shape:
            raise AdapterError(
                f"{folder}: {name} has shape {tuple(value.shape)}, the model needs {expected[name].shape}"
            )
    model.load_weights(list(weights.items()), strict=False)
    return shape


def save_mlx_adapter(weights: dict[str, Any], folder: Path, shape: LoraShape, num_layers: int) -> Path:
    """Write an mlx-lm adapter folder (what ``mlx_lm.lora`` writes and ``mlx_lm.load(adapter_path=...)`` reads)."""
    import mlx.core as mx

    folder.mkdir(parents=True, exist_ok=True)
    mx.save_safetensors(str(folder / MLX_WEIGHTS), dict(weights))
    config = {
        "fine_tune_type": "lora",
        "num_layers": num_layers,
        "lora_parameters": {
            "rank": shape.rank,
            "scale": shape.scale,
            "dropout": shape.dropout,
            "keys": list(shape.keys),
        },
    }
    (folder / PEFT_CONFIG).write_text(json.dumps(config, indent=2), encoding="utf-8")
    return folder


def mlx_adapter_to_peft(mlx_folder: Path, peft_folder: Path, base_model: str) -> Path:
    """Convert an mlx-lm LoRA adapter folder into a PEFT adapter folder."""

    try:
        config = json.loads((mlx_folder / PEFT_CONFIG).read_text(encoding="utf-8"))
        params = config["lora_parameters"]
    except (OSError, ValueError, KeyError) as exc:
        raise AdapterError(f"{mlx_folder} is not an mlx-lm adapter folder: {exc}") from None
    if config.get("fine_tune_type", "lora") != "lora":
        raise AdapterError(f"{mlx_folder} holds a {config['fine_tune_type']} adapter; only LoRA converts to PEFT")
    weights = load_arrays(mlx_folder / MLX_WEIGHTS)
    rank = int(params["rank"])
    shape = LoraShape(rank, float(params["scale"]) * rank, float(params.get("dropout", 0.0)), tuple(params["keys"]))
    return save_peft_adapter(weights, peft_folder, shape, base_model)


def peft_to_mlx_adapter(peft_folder: Path, mlx_folder: Path, num_layers: int) -> Path:
    """Convert a PEFT LoRA adapter folder into an mlx-lm adapter folder."""
    weights, shape = read_peft_adapter(peft_folder)
    return save_mlx_adapter(weights, mlx_folder, shape, num_layers)
