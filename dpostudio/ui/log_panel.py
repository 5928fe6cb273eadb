"""The log/notification area: one dockable place where messages and background errors land, in words.

Anything may report through ``LogBus.report(level, text)`` from any thread: the bus is a QObject living on
the GUI thread, so the signal is queued and the panel is only ever touched on the GUI thread.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QColor, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

LEVELS = ("info", "warning", "error")


class LogBus(QObject):
    """Thread-safe entry point: ``report`` may be called from any thread (it only emits a signal)."""

    message = Signal(str, str)  # level, text

    def report(self, level: str, text: str) -> None:
        self.message.emit(level if level in LEVELS else "info", str(text))


class LogPanel(QDockWidget):
    """A dock with a read-only message list; errors are coloured and counted."""

    countsChanged = Signal(int, int)  # warnings, errors

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Log", parent)
        self.setObjectName("LogDock")
        area = Qt.DockWidgetArea
        self.setAllowedAreas(area.BottomDockWidgetArea | area.RightDockWidgetArea | area.LeftDockWidgetArea)
        self.entries: list[tuple[float, str, str]] = []
        self.warnings = 0
        self.errors = 0

        body = QWidget(self)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 2, 4, 4)
        self.view = QPlainTextEdit(body)
        self.view.setReadOnly(True)
        self.view.setObjectName("LogView")
        self.view.setMaximumBlockCount(5000)
        self.view.setPlaceholderText("Messages and background errors appear here.")
        bar = QHBoxLayout()
        self.summary = QLabel("", body)
        clear = QPushButton("Clear", body)
        clear.clicked.connect(self.clear)
        bar.addWidget(self.summary, 1)
        bar.addWidget(clear)
        layout.addWidget(self.view, 1)
        layout.addLayout(bar)
        self.setWidget(body)
        self._update_summary()

    @Slot(str, str)
    def add(self, level: str, text: str) -> None:
        level = level if level in LEVELS else "info"
        stamp = time.time()
        self.entries.append((stamp, level, text))
        fmt = QTextCharFormat()
        if level == "error":
            self.errors += 1
            fmt.setForeground(QColor("#d9534f"))
        elif level == "warning":
            self.warnings += 1
            fmt.setForeground(QColor("#c98a00"))
        # info lines carry no colour of their own, so they follow the palette when light/dark switches
        cursor = self.view.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.End)
        if not self.view.document().isEmpty():
            cursor.insertBlock()
        prefix = {"error": "Error", "warning": "Warning", "info": ""}[level]
        line = f"{time.strftime('%H:%M:%S', time.localtime(stamp))}  {prefix + ': ' if prefix else ''}{text}"
        cursor.insertText(line, fmt)
        self.view.setTextCursor(cursor)
        self.view.ensureCursorVisible()
        self._update_summary()
        if level == "error" and not self.isVisible() and self.parent() is not None:
            self.show()

    def text(self) -> str:
        return self.view.toPlainText()

    @Slot()
    def clear(self) -> None:
        self.entries.clear()
        self.warnings = self.errors = 0
        self.view.clear()
        self._update_summary()

    def _update_summary(self) -> None:
        parts = []
        if self.errors:
            parts.append(f"{self.errors} error{'s' if self.errors != 1 else ''}")
        if self.warnings:
            parts.append(f"{self.warnings} warning{'s' if self.warnings != 1 else ''}")
        self.summary.setText(", ".join(parts) or "No problems")
        self.countsChanged.emit(self.warnings, self.errors)
