"""The dialog behind "Export charts…": which charts, and PNG (print resolution) or SVG."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QVBoxLayout,
    QWidget,
)

from dpostudio.ui.metrics.chart_export import PRINT_SCALE


class ChartExportDialog(QDialog):
    """Pick the charts to export (all checked at first) and the format."""

    def __init__(self, titles: list[str], chosen: list[str] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export charts")
        grid = QGridLayout()
        self.boxes: dict[str, QCheckBox] = {}
        for i, title in enumerate(titles):
            box = QCheckBox(title, self)
            box.setChecked(chosen is None or title in chosen)
            box.toggled.connect(self._update_ok)
            grid.addWidget(box, i // 2, i % 2)
            self.boxes[title] = box
        self.format = QComboBox(self)
        self.format.addItem(f"PNG, {PRINT_SCALE:g}× screen resolution (print)", "png")
        self.format.addItem("SVG (vector, for papers and slides)", "svg")
        form = QFormLayout()
        form.addRow("Format", self.format)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel, parent=self
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(grid)
        layout.addLayout(form)
        layout.addWidget(self.buttons)

    def chosen(self) -> list[str]:
        return [title for title, box in self.boxes.items() if box.isChecked()]

    def file_format(self) -> str:
        return str(self.format.currentData())

    def _update_ok(self) -> None:
        button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        if button is not None:
            button.setEnabled(bool(self.chosen()))
