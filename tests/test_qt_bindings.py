"""The Qt bindings must not corrupt the interpreter: PySide6 6.12.0 on Python < 3.12 drained None's refcount
on every void Qt call and aborted the app after ~25 s of live charts. These tests fail on such a combination."""

from __future__ import annotations

import sys

import pytest

needs_mortal_none = pytest.mark.skipif(
    sys.version_info >= (3, 12), reason="None is immortal from Python 3.12 on: its refcount cannot drain")


_RETURNED_TO_NONE: list[None] = []


@needs_mortal_none
def test_void_qt_calls_keep_the_refcount_of_none():
    from PySide6.QtCore import QLineF, QPointF, Qt
    from PySide6.QtGui import QColor, QImage, QPainter, QPen
    from PySide6.QtWidgets import QApplication

    QApplication.instance() or QApplication([])  # (the app's own kind: later tests reuse it)
    image = QImage(64, 64, QImage.Format_ARGB32)
    painter = QPainter(image)
    pen = QPen(QColor("#3b82f6"))
    line = QLineF(QPointF(0, 0), QPointF(63, 63))
    before = sys.getrefcount(None)
    for _ in range(300):  # calls pyqtgraph makes on every axis repaint, 1,200 in all
        painter.setPen(pen)
        painter.setRenderHint(QPainter.Antialiasing, True)
        painter.drawLine(line)
        pen.setStyle(Qt.DashLine)
    after = sys.getrefcount(None)
    painter.end()
    if after < before:  # give the references back so the rest of the suite is not aborted by this fault
        _RETURNED_TO_NONE.extend([None] * (before - after))
    assert after - before > -100, (
        f"None lost {before - after} references over 1,200 void Qt calls: these Qt bindings would crash the app")


@needs_mortal_none
def test_start_up_guard_finds_no_problem_with_the_installed_bindings():
    from dpostudio.ui.qt_guard import bindings_problem, none_refcount_drift

    drift = none_refcount_drift(500)
    _RETURNED_TO_NONE.extend([None] * max(0, -drift))
    assert drift > -250
    assert bindings_problem() is None


def test_app_refuses_to_start_in_words_on_faulty_bindings(monkeypatch, capsys):
    from dpostudio.ui import app, qt_guard

    monkeypatch.setattr(qt_guard, "bindings_problem", lambda: "DPO Studio cannot start: faulty Qt bindings")
    assert app.run_app([]) == 3
    assert "DPO Studio cannot start: faulty Qt bindings" in capsys.readouterr().err
