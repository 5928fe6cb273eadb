"""The judge picker of the Comparison pane: pairwise judge plugins and a form for their options.

The option editors are drawn from the plugin's ``JudgeInfo.options``. ``JudgeOptionsMixin`` is mixed into
``ComparisonPane``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from dpostudio.ui.tasks import describe_error

if TYPE_CHECKING:
    _MixinBase = QWidget  # only ever mixed into a QWidget (``ComparisonPane``)
else:
    _MixinBase = object

# the editors a judge option can have (one per ``JudgeOption.kind``)
OptionWidget: TypeAlias = QComboBox | QSpinBox | QDoubleSpinBox | QCheckBox | QLineEdit


class JudgeOptionsMixin(_MixinBase):
    """Lists the judges in ``judge_combo`` and builds, reads and sets their option widgets in ``judge_form``."""

    if TYPE_CHECKING:  # provided by ComparisonPane
        message = Signal(str, str)
        judge_combo: QComboBox
        judge_help: QLabel
        judge_form_host: QWidget
        judge_form: QFormLayout
        _judges: dict[str, Any]
        _option_widgets: dict[str, tuple[str, OptionWidget]]

    @Slot()
    def refresh_judges(self) -> None:
        from dpostudio.plugins.manager import get_manager

        current = self.judge_combo.currentData()
        self.judge_combo.blockSignals(True)
        self.judge_combo.clear()
        self.judge_combo.addItem("No judge (answers only)", None)
        try:
            judges = [j for j in get_manager().judges() if "pairwise" in j.modes]
        except Exception as exc:
            judges = []
            self.message.emit("warning", f"Judges could not be listed: {describe_error(exc)}")
        self._judges = {j.id: j for j in judges}
        for j in judges:
            self.judge_combo.addItem(j.title, j.id)
        i = self.judge_combo.findData(current) if current else -1
        self.judge_combo.setCurrentIndex(i if i >= 0 else 0)
        self.judge_combo.blockSignals(False)
        self._on_judge_changed()

    def select_judge(self, judge_id: str | None) -> bool:
        i = self.judge_combo.findData(judge_id)
        if i >= 0:
            self.judge_combo.setCurrentIndex(i)
        return i >= 0

    @Slot()
    def _on_judge_changed(self, *_args) -> None:
        while self.judge_form.rowCount():
            self.judge_form.removeRow(0)
        self._option_widgets = {}
        info = self._judges.get(self.judge_combo.currentData())
        self.judge_help.setText(info.description if info else "Only the answers are shown and saved.")
        if info is None:
            return
        for opt in info.options:
            widget: OptionWidget
            if opt.kind == "choice":
                widget = QComboBox(self.judge_form_host)
                widget.addItems(opt.choices)
                if opt.default in opt.choices:
                    widget.setCurrentText(str(opt.default))
            elif opt.kind == "int":
                widget = QSpinBox(self.judge_form_host)
                widget.setRange(0, 1_000_000)
                widget.setValue(int(opt.default or 0))
            elif opt.kind == "float":
                widget = QDoubleSpinBox(self.judge_form_host)
                widget.setRange(0.0, 1_000_000.0)
                widget.setDecimals(2)
                widget.setValue(float(opt.default or 0))
            elif opt.kind == "bool":
                widget = QCheckBox(self.judge_form_host)
                widget.setChecked(bool(opt.default))
            else:
                widget = QLineEdit(self.judge_form_host)
                widget.setText("" if opt.default is None else str(opt.default))
                if opt.kind == "secret":
                    widget.setEchoMode(QLineEdit.EchoMode.Password)
                    widget.setPlaceholderText("saved key from Settings")
            widget.setObjectName(f"judge_option_{opt.name}")
            if widget.focusPolicy() == Qt.FocusPolicy.WheelFocus:  # the wheel scrolls the form, not the value
                widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            widget.setToolTip(opt.help)
            self.judge_form.addRow(opt.label or opt.name, widget)
            self._option_widgets[opt.name] = (opt.kind, widget)

    def set_judge_option(self, name: str, value: Any) -> None:
        kind, widget = self._option_widgets[name]
        if isinstance(widget, QComboBox):
            widget.setCurrentText(str(value))
        elif isinstance(widget, (QSpinBox, QDoubleSpinBox)):
            widget.setValue(value)
        elif isinstance(widget, QCheckBox):
            widget.setChecked(bool(value))
        else:
            widget.setText(str(value))

    def judge_options(self) -> dict:
        options: dict[str, Any] = {}
        for name, (_kind, widget) in self._option_widgets.items():
            value: str | int | float | bool
            if isinstance(widget, QComboBox):
                value = widget.currentText()
            elif isinstance(widget, (QSpinBox, QDoubleSpinBox)):
                value = widget.value()
            elif isinstance(widget, QCheckBox):
                value = widget.isChecked()
            else:
                value = widget.text().strip()
            if value not in ("", None):
                options[name] = value
        return options
