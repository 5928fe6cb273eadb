"""Training that starts from an existing LoRA adapter (``RunConfig.init_adapter``): an iterative round goes on
from the previous round's adapter instead of a new one.

The adapter is attached trainable (``PeftModel.from_pretrained(..., is_trainable=True)``) and handed to TRL without
a ``peft_config``; TRL then keeps a frozen copy of it as the DPO reference (its "ref" adapter), so the reference
is the model the round starts from, as in Self-Rewarding Language Models (M_t is the reference of M_t+1). The
adapter's own LoRA settings (rank, alpha, target modules) apply; the run config's are not used. The reference
cache is scoped to the base weights *and* this adapter (``scope_fingerprint``), so it never mixes references.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dpostudio.core.training.config_values import ConfigError
from dpostudio.core.training.ref_cache import model_fingerprint
from dpostudio.core.training.runs import has_adapter

FIELD = "init_adapter"


def adapter_folder(value: str) -> Path:
    """The adapter folder ``value`` names, checked; ``ConfigError`` in words when it holds no adapter."""
    folder = Path(value).expanduser()
    if not folder.is_dir():
        raise ConfigError(FIELD, f"the adapter folder {folder} does not exist")
    if not has_adapter(folder):
        raise ConfigError(
            FIELD,
            f"{folder} holds no LoRA adapter (adapter_config.json and adapter_model.safetensors); pick a run's "
            "adapter folder or one of its checkpoints",
        )
    return folder


def start_from_adapter(model: Any, value: str, base_name: str) -> Any:
    """``model`` (the loaded base) with the adapter in folder ``value`` attached and trainable."""
    from peft import PeftModel

    folder = adapter_folder(value)
    try:
        peft_model = PeftModel.from_pretrained(model, str(folder), is_trainable=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(FIELD, f"the adapter in {folder} does not fit the base model {base_name}: {first}") from exc
    return peft_model


def scope_fingerprint(model_dir: str, init_adapter: str | None) -> str:
    """The reference cache's model identity: the base weights, plus the starting adapter when there is one."""
    base = model_fingerprint(model_dir)
    return base if not init_adapter else f"{base}+{model_fingerprint(Path(init_adapter).expanduser())}"
