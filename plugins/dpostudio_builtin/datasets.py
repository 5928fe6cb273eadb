"""Built-in dataset sources: local files, Hugging Face Hub ids, and the demo pairs shipped with the app.

Thin wrappers over ``dpostudio.core.data.pipeline.load_raw``; registered through the ``dpostudio``
entry-point group exactly like a community plugin.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from dpostudio.plugins import DatasetSource, LoadedDataset, PluginError, SourceOption, hookimpl

DPOSTUDIO_HOOK_API = 1

LOCAL_FILE, HUB, DEMO = "local-file", "hub", "demo"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")


@hookimpl
def dpostudio_dataset_sources():
    """The three built-in sources."""
    return [
        DatasetSource(
            id=LOCAL_FILE,
            title="Local file",
            description="A JSONL, JSON, CSV or Parquet file with prompt, chosen and rejected columns.",
            options=[
                SourceOption("path", "File", kind="path", required=True, help="a .jsonl, .json, .csv or .parquet file")
            ],
        ),
        DatasetSource(
            id=HUB,
            title="Hugging Face Hub",
            description="A dataset id such as Intel/orca_dpo_pairs, read through the datasets cache "
            "(works offline once downloaded).",
            options=[
                SourceOption("dataset", "Dataset id", required=True, help="owner/name, e.g. Anthropic/hh-rlhf"),
                SourceOption("config", "Configuration", help="the dataset's configuration (subset), if it has several"),
                SourceOption("split", "Split", default="train"),
            ],
        ),
        DatasetSource(
            id=DEMO,
            title="Demo pairs",
            description="A few preference pairs shipped with DPO Studio, for trying things out.",
        ),
    ]


def _offline() -> bool:
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on"):
            return True
    return False


@hookimpl
def dpostudio_load_dataset(source_id, options):
    """Load one of the built-in sources; None for other plugins' ids."""
    from dpostudio.core.data.pipeline import DataError, load_raw

    if source_id == LOCAL_FILE:
        path = str(options.get("path") or "").strip()
        if not path:
            raise PluginError("choose a file (JSONL, JSON, CSV or Parquet)")
        train, heldout = load_raw(path)
        return LoadedDataset(train, heldout, label=Path(path).name)
    if source_id == HUB:
        dataset = str(options.get("dataset") or "").strip()
        if not dataset:
            raise PluginError("enter a Hugging Face dataset id such as Intel/orca_dpo_pairs")
        if not _HUB_ID.match(dataset):
            raise PluginError(f"{dataset!r} is not a Hugging Face dataset id (expected owner/name)")
        config = options.get("config") or None
        split = str(options.get("split") or "train")
        try:
            train, heldout = load_raw(dataset, config_name=config, split=split)
        except DataError as exc:
            if _offline() or any(w in str(exc).lower() for w in ("offline", "couldn't reach", "connection")):
                raise PluginError(
                    f"{dataset} is not in the local Hugging Face cache and the Hub cannot be reached"
                    + (" (offline mode is on: HF_HUB_OFFLINE / HF_DATASETS_OFFLINE)" if _offline() else "")
                    + "; connect once to download it, or use a local file"
                ) from exc
            raise
        label = f"{dataset}" + (f" [{config}]" if config else "") + f" ({split})"
        return LoadedDataset(train, heldout, label=label)
    if source_id == DEMO:
        try:
            train, heldout = load_raw("builtin:demo")
        except DataError:
            raise
        except Exception as exc:
            raise PluginError(f"the demo pairs shipped with DPO Studio cannot be read: {exc}") from exc
        return LoadedDataset(train, heldout, label="Demo pairs")
    return None
