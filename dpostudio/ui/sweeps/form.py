"""The form that defines a sweep: name, search space (one dimension a line, each checked as typed), base
settings, sampler, objective, pruner and budget. ``spec()`` builds the ``SweepSpec`` or raises in words.

The space is written as the CLI takes it (``learning_rate=loguniform:1e-6:1e-3``); a dimension that cannot be read
says why, in words, next to its field. Presets (``PRESETS``; the published sweep is ``published-dpo``) fill it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from dpostudio.core.errors import UserError
from dpostudio.core.sweeps.space import EXAMPLES, LOGUNIFORM, ParamSpec, SpaceError, parse_param
from dpostudio.core.sweeps.spec import OBJECTIVES, PRESETS, PRUNERS, SAMPLERS, SweepError, SweepSpec, objective_of
from dpostudio.core.training.config_values import parse_override

DEFAULT_PRESET = "published-dpo"
ERROR_STYLE = "color: #c0392b;"


class SpaceRow(QWidget):
    """One search dimension: its text, a remove button, and what is wrong with it (empty when it reads)."""

    changed = Signal()
    removeRequested = Signal(object)

    def __init__(self, text: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.edit = QLineEdit(text)
        self.edit.setPlaceholderText(EXAMPLES[LOGUNIFORM])
        self.error = QLabel()
        self.error.setStyleSheet(ERROR_STYLE)
        self.error.setWordWrap(True)
        self.remove = QToolButton()
        self.remove.setText("−")
        self.remove.setAutoRaise(False)
        self.remove.setToolTip("Remove this dimension")
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setVerticalSpacing(0)
        layout.addWidget(self.edit, 0, 0)
        layout.addWidget(self.remove, 0, 1)
        layout.addWidget(self.error, 1, 0, 1, 2)
        self.error.hide()
        self.edit.textChanged.connect(self._check)
        self.remove.clicked.connect(lambda: self.removeRequested.emit(self))

    def text(self) -> str:
        return self.edit.text().strip()

    @Slot()
    def _check(self) -> None:
        self.check()
        self.changed.emit()

    def check(self):
        """The dimension, or None with the reason shown next to the field (an empty row is ignored)."""
        if not self.text():
            self.show_error("")
            return None
        try:
            param = parse_param(self.text())
        except SpaceError as exc:
            self.show_error(str(exc))
            return None
        self.show_error("")
        return param

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.setVisible(bool(text))
        self.edit.setStyleSheet("border: 1px solid #c0392b;" if text else "")


class SweepForm(QWidget):
    """Defines a new sweep. ``base_provider`` (optional) gives the base run configuration as a dict (e.g. the
    Training form's current settings); the base settings box changes fields of it."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.base_provider: Callable[[], dict[str, Any]] | None = None
        self.rows: list[SpaceRow] = []

        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("e.g. lr-beta-1")
        self.preset_combo = QComboBox()
        for name, (words, _) in PRESETS.items():
            self.preset_combo.addItem(name, name)
            self.preset_combo.setItemData(self.preset_combo.count() - 1, words, Qt.ItemDataRole.ToolTipRole)
        self.preset_button = QPushButton("Use preset")
        self.preset_button.setToolTip("Replace the search space with the preset's")
        self.preset_button.clicked.connect(lambda: self.load_preset(self.preset_combo.currentData()))
        preset_row = QHBoxLayout()
        preset_row.addWidget(self.preset_combo, 1)
        preset_row.addWidget(self.preset_button)

        self.space_box = QVBoxLayout()
        self.space_box.setSpacing(2)
        self.add_button = QPushButton("+ dimension")
        self.add_button.setToolTip("field=kind:values, kind one of " + "; ".join(EXAMPLES.values()))
        self.add_button.clicked.connect(lambda: self.add_row(""))
        space = QVBoxLayout()
        space.addLayout(self.space_box)
        space.addWidget(self.add_button)

        self.base_edit = QPlainTextEdit()
        self.base_edit.setPlaceholderText("max_steps=100\neval_steps=20   (one FIELD=VALUE a line)")
        self.base_edit.setFixedHeight(54)
        self.base_error = QLabel()
        self.base_error.setStyleSheet(ERROR_STYLE)
        self.base_error.setWordWrap(True)
        self.base_error.hide()

        self.sampler_combo = QComboBox()
        self.sampler_combo.addItems(list(SAMPLERS))
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.objective_combo = QComboBox()
        self.objective_combo.setEditable(True)
        for name, (_, _, words) in OBJECTIVES.items():
            self.objective_combo.addItem(name)
            self.objective_combo.setItemData(self.objective_combo.count() - 1, words, Qt.ItemDataRole.ToolTipRole)
        self.objective_combo.setToolTip("eval_loss, eval_accuracy, or an extra set's metric (eval_<set>_loss)")
        self.pruner_combo = QComboBox()
        self.pruner_combo.addItems(list(PRUNERS))
        self.prune_after_spin = QSpinBox()
        self.prune_after_spin.setRange(0, 1000)
        self.prune_after_spin.setValue(2)
        self.trials_spin = QSpinBox()
        self.trials_spin.setRange(0, 100_000)
        self.trials_spin.setValue(20)
        self.trials_spin.setSpecialValueText("no limit")
        self.timeout_spin = QDoubleSpinBox()
        self.timeout_spin.setRange(0, 10_000)
        self.timeout_spin.setDecimals(0)
        self.timeout_spin.setSuffix(" min")
        self.timeout_spin.setSpecialValueText("no limit")
        search = QHBoxLayout()
        search.addWidget(self.sampler_combo, 1)
        search.addWidget(QLabel("seed"))
        search.addWidget(self.seed_spin)
        pruning = QHBoxLayout()
        pruning.addWidget(self.pruner_combo, 1)
        pruning.addWidget(QLabel("after"))
        pruning.addWidget(self.prune_after_spin)
        budget = QHBoxLayout()
        budget.addWidget(self.trials_spin, 1)
        budget.addWidget(QLabel("trials, or"))
        budget.addWidget(self.timeout_spin, 1)

        self.error_label = QLabel()
        self.error_label.setStyleSheet(ERROR_STYLE)
        self.error_label.setWordWrap(True)
        self.error_label.hide()

        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Name", self.name_edit)
        form.addRow("Preset", preset_row)
        form.addRow("Space", space)
        form.addRow("Base settings", self.base_edit)
        form.addRow("", self.base_error)
        form.addRow("Sampler", search)
        form.addRow("Objective", self.objective_combo)
        form.addRow("Pruner", pruning)
        form.addRow("Budget", budget)
        form.addRow(self.error_label)
        self.load_preset(DEFAULT_PRESET)

    # ---- the space --------------------------------------------------------------------------------
    def add_row(self, text: str) -> SpaceRow:
        row = SpaceRow(text, self)
        row.changed.connect(self.changed)
        row.removeRequested.connect(self._remove_row)
        self.rows.append(row)
        self.space_box.addWidget(row)
        row.check()
        self.changed.emit()
        return row

    @Slot(object)
    def _remove_row(self, row: SpaceRow) -> None:
        if row in self.rows:
            self.rows.remove(row)
            row.hide()
            row.deleteLater()
            self.changed.emit()

    def set_space(self, texts: list[str]) -> None:
        for row in list(self.rows):
            self._remove_row(row)
        for text in texts:
            self.add_row(text)

    def space_texts(self) -> list[str]:
        return [row.text() for row in self.rows if row.text()]

    def load_preset(self, name: str) -> None:
        self.set_space(list(PRESETS[name][1]))
        index = self.preset_combo.findData(name)
        if index >= 0:
            self.preset_combo.setCurrentIndex(index)

    # ---- the spec ---------------------------------------------------------------------------------
    def base(self) -> dict[str, Any]:
        """The base configuration: the provider's (or the defaults), with the base settings box applied."""
        self.base_error.hide()
        try:
            base = dict(self.base_provider()) if self.base_provider is not None else {}
        except UserError as exc:  # e.g. the Training form has a value that does not pass its check
            self.base_error.setText(f"the Training form's settings: {exc}")
            self.base_error.show()
            raise SweepError(f"the Training form's settings: {exc}") from None
        for line in self.base_edit.toPlainText().splitlines():
            if not line.strip() or line.strip().startswith("#"):
                continue
            try:
                key, value = parse_override(line.strip())
            except UserError as exc:
                self.base_error.setText(str(exc))
                self.base_error.show()
                raise SweepError(f"base settings: {exc}") from None
            base[key] = value
        return base

    def spec(self) -> SweepSpec:
        """The sweep the form describes; raises ``SweepError`` / ``SpaceError`` in words (also shown here)."""
        try:
            space: list[ParamSpec] = []
            for row in self.rows:
                if row.text():
                    param = row.check()
                    if param is None:
                        raise SweepError(f"search space: {row.error.text()}")
                    if any(p.name == param.name for p in space):
                        row.show_error(f"{param.name} is already in the search space")
                        raise SweepError(f"search space: {param.name} is in it twice")
                    space.append(param)
            metric, direction = objective_of(self.objective_combo.currentText())
            spec = SweepSpec(
                name=self.name_edit.text().strip(),
                space=space,
                base=self.base(),
                sampler=self.sampler_combo.currentText(),
                seed=self.seed_spin.value(),
                n_trials=self.trials_spin.value() or None,
                timeout_s=self.timeout_spin.value() * 60 or None,
                metric=metric,
                direction=direction,
                pruner=self.pruner_combo.currentText(),
                prune_after_trials=self.prune_after_spin.value(),
            )
        except UserError as exc:
            self.show_error(str(exc))
            raise
        self.show_error("")
        return spec

    def show_error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.setVisible(bool(text))

    def show_spec(self, spec: dict[str, Any]) -> None:
        """Fill the form from a saved sweep's spec (to start a new sweep like it)."""
        self.set_space([_param_text(p) for p in spec.get("space") or []])
        self.sampler_combo.setCurrentText(str(spec.get("sampler", "tpe")))
        self.seed_spin.setValue(int(spec.get("seed") or 0))
        objective = next((n for n, (m, _, _) in OBJECTIVES.items() if m == spec.get("metric")), None)
        self.objective_combo.setCurrentText(objective or f"{spec.get('metric')}:{str(spec.get('direction'))[:3]}")
        self.pruner_combo.setCurrentText(str(spec.get("pruner", "median")))
        self.prune_after_spin.setValue(int(spec.get("prune_after_trials") or 0))
        self.trials_spin.setValue(int(spec.get("n_trials") or 0))
        self.timeout_spin.setValue(float(spec.get("timeout_s") or 0) / 60)


def _param_text(data: dict[str, Any]) -> str:
    return ParamSpec.from_dict(data).text()
