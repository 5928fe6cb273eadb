"""Preference pairs for training: load, select first N, split train/eval, apply the prompt template.

The contract the engine relies on: ``load_splits(config, tokenizer)`` returns ``PreferenceSplits`` whose
``train``/``eval`` are ``datasets.Dataset`` objects with ``prompt``/``chosen``/``rejected`` columns in a shape
TRL's ``DPOTrainer`` accepts (conversational message lists for the chat template, plain strings otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .paths import RESOURCES_DIR

BUILTIN_DEMO_DIR = RESOURCES_DIR / "demo_pairs"
REQUIRED_COLUMNS = ("prompt", "chosen", "rejected")
ALPACA_TEMPLATE = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{}\n\n### Response:\n"
)
LOCAL_FORMATS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


class DataError(ValueError):
    """Preference data cannot be used; the message names the source, row and column where known."""


@dataclass
class PreferenceSplits:
    train: Any  # datasets.Dataset
    eval: Any | None  # datasets.Dataset or None
    source: str
    notes: list[str] = field(default_factory=list)


def load_raw(source: str, *, config_name: str | None = None, split: str = "train"):
    """Load a source into ``(train, heldout_or_None)`` raw ``datasets.Dataset`` objects."""
    from datasets import load_dataset

    if source == "builtin:demo":
        files = {"train": str(BUILTIN_DEMO_DIR / "train.jsonl"), "eval": str(BUILTIN_DEMO_DIR / "eval.jsonl")}
        ds = load_dataset("json", data_files=files)
        return ds["train"], ds["eval"]
    path = Path(source).expanduser()
    if path.suffix.lower() in LOCAL_FORMATS or path.exists():
        if not path.is_file():
            raise DataError(f"data file not found: {path}")
        builder = LOCAL_FORMATS.get(path.suffix.lower())
        if builder is None:
            raise DataError(f"{path.name}: unsupported file type {path.suffix!r} (use JSONL, JSON, CSV or Parquet)")
        try:
            return load_dataset(builder, data_files=str(path), split="train"), None
        except Exception as exc:
            raise DataError(f"{path.name}: cannot be read as {builder.upper()}: {_first_line(exc)}") from exc
    try:
        return load_dataset(source, config_name, split=split), None
    except Exception as exc:
        raise DataError(f"cannot load dataset {source!r} (split {split!r}): {_first_line(exc)}") from exc


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def check_columns(ds, source: str) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in ds.column_names]
    if missing:
        raise DataError(
            f"{source}: missing column(s) {', '.join(missing)}; found {', '.join(ds.column_names) or 'none'}"
        )
    for i, row in enumerate(ds.select(range(min(len(ds), 1000)))):
        for col in REQUIRED_COLUMNS:
            if not isinstance(row[col], str) or not row[col].strip():
                raise DataError(f"{source}: row {i + 1}, column {col!r} is empty or not text")


def apply_template(ds, template: str, system_prompt: str | None = None):
    """Shape rows for TRL: the chat template as message lists, Alpaca or raw as strings."""
    if template == "chat":
        def to_messages(row):
            prompt = ([{"role": "system", "content": system_prompt}] if system_prompt else [])
            prompt.append({"role": "user", "content": row["prompt"]})
            return {
                "prompt": prompt,
                "chosen": [{"role": "assistant", "content": row["chosen"]}],
                "rejected": [{"role": "assistant", "content": row["rejected"]}],
            }
        return ds.map(to_messages, remove_columns=[c for c in ds.column_names if c in REQUIRED_COLUMNS])
    if template == "alpaca":
        return ds.map(lambda row: {"prompt": ALPACA_TEMPLATE.format(row["prompt"])})
    return ds


def load_splits(config, tokenizer=None) -> PreferenceSplits:
    """Load ``config.dataset``, keep the first N rows, split off evaluation rows, apply the template."""
    train, heldout = load_raw(config.dataset, config_name=config.dataset_config, split=config.dataset_split)
    check_columns(train, config.dataset)
    notes = []
    if config.first_n:
        train = train.select(range(min(config.first_n, len(train))))
    if heldout is None and config.eval_ratio > 0:
        if len(train) < 4:
            raise DataError(f"{config.dataset}: only {len(train)} rows; need at least 4 to split off evaluation rows")
        parts = train.train_test_split(test_size=config.eval_ratio, seed=config.split_seed)
        train, heldout = parts["train"], parts["test"]
        notes.append(f"split {len(train)}/{len(heldout)} rows with seed {config.split_seed}")
    keep = list(REQUIRED_COLUMNS)
    train = train.select_columns(keep)
    heldout = heldout.select_columns(keep) if heldout is not None else None
    train = apply_template(train, config.prompt_template, config.system_prompt)
    if heldout is not None:
        heldout = apply_template(heldout, config.prompt_template, config.system_prompt)
    return PreferenceSplits(train, heldout, config.dataset, notes)
