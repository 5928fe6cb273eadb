"""Refuse to start on Qt bindings known to corrupt the interpreter, with a message in words instead of a crash.

PySide6 / shiboken6 6.12.0 lower the reference count of ``None`` by one on every call of a ``void`` Qt method
(``QPainter.setPen``, ``QPoint.setX`` ...). From Python 3.12 on ``None`` is immortal and nothing happens; on 3.10
and 3.11 the count drains at thousands per second while charts redraw, and the interpreter aborts with
"Fatal Python error: none_dealloc" within a minute of live charts. The project's metadata excludes those versions
on those Pythons; this guard catches whatever still slips through (an environment set up by hand, a future
release with the same fault) by *measuring* the fault, not by trusting a list of versions.
"""

from __future__ import annotations

import sys

# Calls made by the probe: enough to tell a leak of one reference per call from noise, few enough to be harmless.
PROBE_CALLS = 200


def none_refcount_drift(calls: int = PROBE_CALLS) -> int:
    """How much ``sys.getrefcount(None)`` changes over ``calls`` calls of a void Qt method (0 when healthy).

    Needs only QtCore (no QApplication). On Python 3.12+ ``None`` is immortal, so the figure is always 0 there.
    """
    from PySide6.QtCore import QPoint

    point = QPoint()
    set_x = point.setX
    before = sys.getrefcount(None)
    for _ in range(calls):
        set_x(1)
    return sys.getrefcount(None) - before


def bindings_problem() -> str | None:
    """A message in words when the installed Qt bindings would crash the app on this Python, else None."""
    if sys.version_info >= (3, 12):
        return None
    drift = none_refcount_drift()
    if drift > -PROBE_CALLS // 2:
        return None
    try:
        import PySide6

        version = PySide6.__version__
    except Exception:  # pragma: no cover - PySide6 imported above
        version = "unknown"
    python = ".".join(map(str, sys.version_info[:3]))
    return (
        f"DPO Studio cannot start: the installed Qt bindings (PySide6 {version}) have a known fault on Python "
        f"{python} that would crash the window within a minute of live charts (each Qt call loses a reference to "
        f"None: {drift} over {PROBE_CALLS} calls). Install a tested version with "
        "'python3 packaging/bootstrap.py app' (it uses packaging/constraints.txt), or "
        "'pip install \"PySide6-Essentials<6.12\"', or use Python 3.12 or newer."
    )
