"""The "Before you train" box of the Training pane: how much memory the run needs and roughly how long it takes.

Both are derived from the current form, model and device each time one of them changes (and when the pane is
shown, a run ends or the model list is read again), so a text never outlives what it describes: once the model is
imported its config is found and the estimate appears. The time comes from the step times past runs recorded on
this machine (``core.training.run_history``); without one it says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtWidgets import QGroupBox, QLabel, QVBoxLayout, QWidget

if TYPE_CHECKING:
    from dpostudio.core.training.run_history import History

    _MixinBase = QWidget  # only ever mixed into a QWidget (``TrainingPane``)
else:
    _MixinBase = object


class EstimatesMixin(_MixinBase):
    """Memory and time estimates of ``TrainingPane``."""

    hardware: Any
    history: History | None
    _estimate_timer: QTimer

    if TYPE_CHECKING:  # provided by TrainingPane and its other mixins

        def values(self) -> dict[str, Any]: ...
        def model_spec(self) -> str: ...
        def data_config(self) -> dict[str, Any]: ...

    def _build_estimates(self) -> None:
        self.memory_box = QGroupBox("Before you train", self)
        self.memory_label = QLabel("…", self.memory_box)
        self.memory_label.setObjectName("memory_estimate")
        self.time_label = QLabel("…", self.memory_box)
        self.time_label.setObjectName("time_estimate")
        layout = QVBoxLayout(self.memory_box)
        for label in (self.memory_label, self.time_label):
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            layout.addWidget(label)

    def set_hardware(self, hardware) -> None:
        """The probed ``HardwareInfo`` (from the status bar's background probe), for 'auto' device/precision."""
        self.hardware = hardware
        self._estimate_timer.start()
        maybe = getattr(self, "maybe_preselect_quick_preset", None)
        if maybe is not None:
            maybe()

    def _device(self, values: dict[str, Any]) -> tuple[str, str, str]:
        """(device, precision, a note) the run would use on this machine."""
        device, precision = values.get("device") or "auto", values.get("precision") or "auto"
        try:
            from dpostudio.core.training.device import HardwareInfo, choose_device

            choice = choose_device(self.hardware or HardwareInfo(), device, precision)
            note = " (device not probed yet: assuming the CPU)" if self.hardware is None and device == "auto" else ""
            return choice.device, choice.precision, note
        except Exception:
            return ("cpu" if device == "auto" else device), ("fp32" if precision == "auto" else precision), ""

    @Slot()
    def update_estimates(self) -> None:
        values = self.values()
        device, precision, note = self._device(values)
        self._update_memory(values, device, precision, note)
        self._update_time(values, device)

    update_memory_estimate = update_estimates  # the name callers used before the time estimate joined it

    def _update_memory(self, values: dict[str, Any], device: str, precision: str, note: str) -> None:
        from dpostudio.core.training.memory import estimate_memory, model_config_for

        spec = self.model_spec()
        try:
            model_config = model_config_for(spec)
        except Exception:
            model_config = None
        if model_config is None:
            where = (
                "the embedded model is imported on the first run"
                if spec.startswith("embedded:")
                else "it is read once the model is downloaded or imported"
            )
            self.memory_label.setText(f"Memory: cannot estimate yet — the model's config.json is not here ({where}).")
            return
        try:
            estimate = estimate_memory(
                model_config,
                precision=precision,
                device=device,
                batch_size=int(values.get("per_device_batch_size") or 1),
                max_length=int(values.get("max_length") or 256),
                lora_r=int(values.get("lora_r") or 16),
                lora_targets=values.get("lora_target_modules") or ["all-linear"],
                gradient_checkpointing=bool(values.get("gradient_checkpointing")),
            )
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            self.memory_label.setText("Memory: cannot estimate for these values.")
            return
        fit = self._fit_words(model_config, values, device, precision)
        self.memory_label.setText(
            f"Memory on {device.upper()} · {precision}{note}:\n{estimate.describe()}\n"
            f"An estimate from the model's shape, not a measurement.{fit}"
        )
        self.memory_estimate = estimate

    def _fit_words(self, model_config: dict[str, Any], values: dict[str, Any], device: str, precision: str) -> str:
        """Whether it fits on this machine (the check the engine makes before it loads anything)."""
        if self.hardware is None:
            return ""
        from dpostudio.core.training.fit import OK, TOO_BIG, check_fit

        try:
            verdict = check_fit(model_config, values, device, precision, self.hardware)
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            return ""
        self.fit_verdict = verdict
        mark = {OK: "✓", TOO_BIG: "✗ Train will refuse it:"}.get(verdict.verdict, "⚠")
        return f"\n{mark} {verdict.words()}"

    def _update_time(self, values: dict[str, Any], device: str) -> None:
        from dpostudio.core.training.run_history import History, estimate_duration

        config = {**self.data_config(), **values, "model": self.model_spec()}
        try:
            estimate = estimate_duration(self.history or History(), config, device)
        except (TypeError, ValueError):
            self.time_label.setText("Time: cannot estimate for these values.")
            return
        self.time_label.setText(estimate.words)
        self.duration_estimate = estimate
