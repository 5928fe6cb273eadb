"""Where DPO Studio keeps its files: models, runs, settings.

Everything lives under one data directory chosen by platformdirs (for example
``~/Library/Application Support/DPO Studio`` on macOS). ``DPOSTUDIO_HOME`` overrides it,
which tests and portable installs use.
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "DPO Studio"
REPO_ROOT = Path(__file__).resolve().parents[2]
RESOURCES_DIR = REPO_ROOT / "resources"


def data_dir() -> Path:
    override = os.environ.get("DPOSTUDIO_HOME")
    if override:
        path = Path(override).expanduser()
    else:
        import platformdirs

        path = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def models_dir() -> Path:
    """Imported models. ``DPOSTUDIO_MODELS`` moves them elsewhere (tests share one store across runs)."""
    override = os.environ.get("DPOSTUDIO_MODELS")
    path = Path(override).expanduser() if override else data_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def runs_dir() -> Path:
    path = data_dir() / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_dir() -> Path:
    """Settings live in the platform's config folder (``<DPOSTUDIO_HOME>/config`` when that is set)."""
    override = os.environ.get("DPOSTUDIO_HOME")
    if override:
        path = Path(override).expanduser() / "config"
    else:
        import platformdirs

        path = Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def settings_file() -> Path:
    return config_dir() / "settings.toml"
