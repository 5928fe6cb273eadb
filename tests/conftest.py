"""Shared test set-up: every test gets its own empty DPO Studio home; imported models are shared.

The embedded model is converted from GGUF once into ``.dpostudio-test-home/models`` (git-ignored), so
only the first test run on a machine pays the ~40 s import.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_MODELS = REPO / ".dpostudio-test-home" / "models"

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def dpostudio_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("DPOSTUDIO_HOME", str(home))
    monkeypatch.setenv("DPOSTUDIO_MODELS", str(SHARED_MODELS))
    return home


@pytest.fixture(scope="session")
def embedded_model():
    """The embedded SmolLM2 default, imported into the shared store (once per machine)."""
    os.environ["DPOSTUDIO_MODELS"] = str(SHARED_MODELS)
    from dpostudio.core.model_store import resolve_model

    return resolve_model("embedded:smollm2-135m-instruct")
