"""The mouse wheel scrolls the page, not the value under the pointer: spin boxes, combo boxes and sliders take the
wheel only when they have keyboard focus (click or Tab into them first), everywhere in the app.

Installed once on the QApplication (``install_wheel_guard``). Qt gives such widgets focus *on* a wheel event
(``Qt.FocusPolicy.WheelFocus``) before any event filter sees it, so polished widgets are moved to
``StrongFocus``; an unfocused one passes the wheel to the nearest scroll area instead of changing its value.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractScrollArea, QAbstractSpinBox, QApplication, QComboBox, QSlider, QWidget

_GUARDED = (QAbstractSpinBox, QComboBox, QSlider)  # not scroll bars: they are for the wheel


def _guarded_owner(obj: QObject) -> QWidget | None:
    """The spin box / combo box / slider an event is for (itself, or the one its inner line edit belongs to)."""
    widget = obj if isinstance(obj, QWidget) else None
    for _ in range(2):
        if widget is None:
            return None
        if isinstance(widget, _GUARDED):
            return widget
        widget = widget.parentWidget()
    return None


class WheelGuard(QObject):
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        kind = event.type()
        if kind == QEvent.Type.Polish and isinstance(obj, _GUARDED):
            if obj.focusPolicy() == Qt.FocusPolicy.WheelFocus:
                obj.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        elif kind == QEvent.Type.Wheel:
            owner = _guarded_owner(obj)
            focused = QApplication.focusWidget()
            if owner is not None and not (owner.hasFocus() or (focused is not None and owner.isAncestorOf(focused))):
                scroller = _scroll_area_of(owner)
                if scroller is not None:
                    QApplication.sendEvent(scroller.viewport(), event)
                return True  # the value stays as it is
        return False


def _scroll_area_of(widget: QWidget) -> QAbstractScrollArea | None:
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent, QAbstractScrollArea):
            return parent
        parent = parent.parentWidget()
    return None


def install_wheel_guard(app: QApplication) -> WheelGuard:
    guard = getattr(app, "_dpostudio_wheel_guard", None)
    if guard is None:
        guard = WheelGuard(app)
        app.installEventFilter(guard)
        app._dpostudio_wheel_guard = guard  # type: ignore[attr-defined]
    return guard
