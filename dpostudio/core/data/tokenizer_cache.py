"""Data work that needs a model's tokenizer, done where the tokenizer lives.

The desktop app runs these in its background process (``run_task(..., in_child=True)``): loading a tokenizer
imports transformers, which would hold the window's interpreter lock for a quarter of a second. The window only
keeps the model spec; the tokenizer stays cached here, by spec, for the next call.
"""

from __future__ import annotations

from typing import Any

_cache: dict[str, Any] = {}


def tokenizer_for(spec: str | None):
    """The tokenizer of a model spec (loaded once per process), or None for no spec."""
    if not spec:
        return None
    if spec not in _cache:
        from dpostudio.core.model_store import load_tokenizer, resolve_model

        _cache.clear()  # one model's tokenizer at a time
        _cache[spec] = load_tokenizer(resolve_model(spec))
    return _cache[spec]


def load(spec: str) -> str:
    """Load (and keep) the tokenizer of ``spec``; returns the spec. Raises the model store's errors in words."""
    tokenizer_for(spec)
    return spec


def preview(pair: dict, spec: str | None, template: str, system_prompt: str | None):
    """``templates.preview_pair`` with the cached tokenizer of ``spec``."""
    from dpostudio.core.data.templates import preview_pair

    return preview_pair(pair, tokenizer_for(spec), template, system_prompt)


def inspect(config_dict: dict, spec: str | None):
    """``pipeline.inspect_data`` for a config (as a dict) with the cached tokenizer of ``spec``; returns the
    report and the config dict used."""
    from dpostudio.core.data.pipeline import inspect_data
    from dpostudio.core.training.run_config import RunConfig

    try:
        from datasets.utils.logging import disable_progress_bar

        disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass
    return inspect_data(RunConfig.from_dict(config_dict), tokenizer_for(spec)), config_dict
