"""The Training form's backend line: "Backend: mlx — because …", and the options that backend does not use greyed.

It asks ``core.training.backends.selection.choose_backend`` (no torch, no MLX import: cheap enough for every edit)
with the form's values and model, writes the answer under the Backend field, and disables the fields the chosen
backend leaves out, each with the reason in its tooltip. MLX chosen where it cannot run shows why, in red.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PySide6.QtWidgets import QLabel, QWidget

from dpostudio.core.training.backends.selection import BackendError, choose_backend
from dpostudio.core.training.run_config import ConfigError, RunConfig

UNUSED_PREFIX = "Not used by the {backend} backend: {reason}.\n\n"


def config_from_form(values: Mapping[str, Any], model: str) -> RunConfig:
    """The form's values as a RunConfig, leaving out any value that does not validate (its field shows why)."""
    try:
        return RunConfig.from_dict({**values, "model": model})
    except (ConfigError, TypeError, ValueError):
        pass
    good = {}
    for name, value in values.items():
        try:
            RunConfig.from_dict({name: value})
        except (ConfigError, TypeError, ValueError):
            continue
        good[name] = value
    try:
        return RunConfig.from_dict({**good, "model": model})
    except (ConfigError, TypeError, ValueError):
        return RunConfig.from_dict({"model": model}) if model else RunConfig()


class BackendLine:
    """The label under the Backend field and the greying of unused fields (``editors``: the form's FieldEditors)."""

    def __init__(self, parent: QWidget):
        self.label = QLabel(parent)
        self.label.setObjectName("backend_line")
        self.label.setWordWrap(True)
        self.greyed: dict[str, str] = {}

    def refresh(self, values: Mapping[str, Any], model: str, editors: Mapping[str, Any]) -> None:
        config = config_from_form({k: v for k, v in values.items() if v is not None}, model)
        try:
            choice = choose_backend(config)
        except BackendError as exc:
            self.label.setText(f"Backend: {config.backend} — cannot run here: {exc}")
            self.label.setStyleSheet("color: #d9534f;")
            self._grey({}, editors, config.backend)
            return
        self.label.setText(choice.describe())
        self.label.setStyleSheet("color: palette(mid);" if choice.name == "torch" else "")
        self._grey(choice.unused, editors, choice.name)

    def _grey(self, unused: Mapping[str, str], editors: Mapping[str, Any], backend: str) -> None:
        for name in list(self.greyed):
            if name not in unused and name in editors:
                editors[name].widget.setEnabled(True)
                editors[name].widget.setToolTip(self.greyed.pop(name))
        for name, reason in unused.items():
            if name in editors and name not in self.greyed:
                widget = editors[name].widget
                self.greyed[name] = widget.toolTip()
                widget.setEnabled(False)
                widget.setToolTip(UNUSED_PREFIX.format(backend=backend, reason=reason) + self.greyed[name])
