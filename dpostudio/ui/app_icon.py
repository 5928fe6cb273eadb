"""The application's icon (window, Dock, task bar), drawn from the SVG shipped in ``ui/resources``."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

ICON_FILE = Path(__file__).with_name("resources") / "dpostudio.svg"
SIZES = (16, 32, 64, 128, 256, 512)


def app_icon() -> QIcon:
    """The icon at the usual sizes (rendered here, so no image-format plugin is needed)."""
    renderer = QSvgRenderer(str(ICON_FILE))
    icon = QIcon()
    if not renderer.isValid():
        return icon
    for size in SIZES:
        pixmap = QPixmap(QSize(size, size))
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        renderer.render(painter)
        painter.end()
        icon.addPixmap(pixmap)
    return icon
