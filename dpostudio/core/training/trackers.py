"""Experiment trackers a run can also report to, through TRL's (transformers') ``report_to``.

DPO Studio's own metric log in the run folder stays the source of truth; a tracker gets a copy of the same numbers.
Each tracker writes inside the run folder unless the user has pointed it elsewhere with the tracker's own
environment variable, and Weights & Biases runs offline unless the user has logged in (an API key or ``WANDB_MODE``
set), so nothing leaves the machine by surprise. A tracker whose package is missing stops the run before the model
loads, with the command that installs it.

Qt-free and torch-free: the run config checks names with it at start-up.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dpostudio.core.training.config_values import ConfigError


@dataclass(frozen=True)
class Tracker:
    name: str  # transformers' name for it (``report_to``)
    title: str
    modules: tuple[str, ...]  # any one of these importable means installed
    install: str  # the pip command that installs it
    where: str  # where its files go, in words


TRACKERS: tuple[Tracker, ...] = (
    Tracker(
        "tensorboard",
        "TensorBoard",
        ("tensorboard", "tensorboardX"),
        "pip install tensorboard",
        "event files in the run folder's 'tensorboard' folder (open with: tensorboard --logdir RUN_FOLDER)",
    ),
    Tracker(
        "wandb",
        "Weights & Biases",
        ("wandb",),
        "pip install wandb",
        "offline in the run folder's 'wandb' folder unless you are logged in (sync later with: wandb sync)",
    ),
    Tracker(
        "mlflow",
        "MLflow",
        ("mlflow",),
        "pip install mlflow",
        "the run folder's 'mlruns' store unless MLFLOW_TRACKING_URI points elsewhere",
    ),
    Tracker(
        "trackio",
        "Trackio",
        ("trackio",),
        "pip install trackio",
        "trackio's local store (project 'dpostudio')",
    ),
)
TRACKER_NAMES: tuple[str, ...] = tuple(t.name for t in TRACKERS)
_BY_NAME = {t.name: t for t in TRACKERS}
TRACKER_HELP = {"none": "No tracker: DPO Studio's own metric log only."} | {
    t.name: f"{t.title}: {t.where}." for t in TRACKERS
}
TRACKER_SUGGESTIONS: tuple[str, ...] = ("none", *TRACKER_NAMES)


def check_tracker_names(name: str, value: Any) -> list[str]:
    """A list of tracker names (a string is split on commas, as ``--set report_to=tensorboard,mlflow`` gives)."""
    if value is None:
        return []
    if isinstance(value, str):  # "tensorboard, mlflow" or a list as text ("[]", "['wandb']")
        value = [v.strip().strip("'\"") for v in value.strip().strip("[]").split(",")]
        value = [v for v in value if v]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ConfigError(name, f"must be a list of tracker names such as ['tensorboard'], not {value!r}")
    chosen: list[str] = []
    for raw in value:
        tracker = raw.strip().lower()
        if tracker in ("none", ""):
            continue
        if tracker not in _BY_NAME:
            known = ", ".join(TRACKER_NAMES)
            raise ConfigError(name, f"{raw!r} is not a tracker DPO Studio knows; choose from {known}")
        if tracker not in chosen:
            chosen.append(tracker)
    return chosen


def installed(tracker: str) -> bool:
    return any(importlib.util.find_spec(module) is not None for module in _BY_NAME[tracker].modules)


def missing_trackers(names: list[str]) -> list[Tracker]:
    return [_BY_NAME[n] for n in names if not installed(n)]


def check_installed(names: list[str]) -> None:
    """Stop with the install command when a chosen tracker's package is missing."""
    missing = missing_trackers(names)
    if missing:
        titles = " and ".join(t.title for t in missing)
        commands = "; ".join(t.install for t in missing)
        verb = "is" if len(missing) == 1 else "are"
        raise ConfigError(
            "report_to",
            f"{titles} {verb} not installed in DPO Studio's environment. Install with: {commands} "
            "(in the app's virtual environment), or take it off 'report to'.",
        )


def tracker_arguments(names: list[str], run_dir: Path, run_name: str) -> dict[str, Any]:
    """The ``TrainingArguments`` entries for the chosen trackers, after pointing each at the run folder (through
    the trackers' own environment variables, only where the user has not set them)."""
    if not names:
        return {"report_to": "none"}
    check_installed(names)
    defaults: dict[str, str] = {}
    if "tensorboard" in names:
        defaults["TENSORBOARD_LOGGING_DIR"] = str(run_dir / "tensorboard")
    if "wandb" in names:
        defaults["WANDB_DIR"] = str(run_dir)
        defaults["WANDB_PROJECT"] = "dpostudio"
        if not os.environ.get("WANDB_API_KEY"):
            defaults["WANDB_MODE"] = "offline"
    if "mlflow" in names:
        defaults["MLFLOW_TRACKING_URI"] = (run_dir / "mlruns").as_uri()
        defaults["MLFLOW_EXPERIMENT_NAME"] = "dpostudio"
    if "trackio" in names:
        defaults["TRACKIO_PROJECT_NAME"] = "dpostudio"
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    return {"report_to": list(names), "run_name": run_name}


def describe(names: list[str]) -> str:
    """One line for the run log: where each tracker's copy of the metrics goes."""
    return "; ".join(f"{_BY_NAME[n].title}: {_BY_NAME[n].where}" for n in names)
