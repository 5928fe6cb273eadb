"""Application set-up: QApplication, light/dark palette following the system, crash-proof exception hooks.

``run_app()`` is what ``dpostudio`` with no arguments calls. Heavy libraries (torch, transformers, trl,
datasets) are not imported here; they load inside background tasks when first needed.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import cast

from PySide6.QtCore import QCoreApplication, Qt, QTimer
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

APP_NAME = "DPO Studio"
ORG_NAME = "DPO Studio"
ORG_DOMAIN = "dpostudio.org"

ReportFn = Callable[[str, str], None]  # (level, text); must be thread-safe (LogBus.report is)


def create_application(argv: list[str] | None = None) -> QApplication:
    """The QApplication (created once), with names for QSettings, the Fusion style and the system's colours."""
    from dpostudio.plugins import connect_core

    connect_core()  # the core reaches plugin: specs and judges through the plugin host
    existing = QApplication.instance()
    if existing is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication(list(argv) if argv is not None else sys.argv[:1])
    else:
        app = cast(QApplication, existing)  # this app only ever creates a QApplication
    QCoreApplication.setApplicationName(APP_NAME)
    QCoreApplication.setOrganizationName(ORG_NAME)
    QCoreApplication.setOrganizationDomain(ORG_DOMAIN)
    QGuiApplication.setApplicationDisplayName(APP_NAME)
    if not hasattr(app, "_dpostudio_gc"):
        # Python's cyclic garbage collector may otherwise run on a worker thread and delete Qt objects there,
        # which crashes Qt; collect on a timer on the GUI thread instead (pyqtgraph's helper for exactly this).
        from pyqtgraph.util.garbage_collector import GarbageCollector

        app._dpostudio_gc = GarbageCollector(interval=1.0)  # type: ignore[attr-defined]
    app.setStyle("Fusion")
    from dpostudio.ui.app_icon import app_icon
    from dpostudio.ui.wheel_guard import install_wheel_guard

    app.setWindowIcon(app_icon())  # the window's, the Dock's and the task bar's icon
    QGuiApplication.setDesktopFileName("dpostudio")
    install_wheel_guard(app)  # the wheel scrolls pages; it changes a spin/combo box only when that has focus
    apply_color_scheme(app)
    hints = QGuiApplication.styleHints()
    if hasattr(hints, "colorSchemeChanged") and not getattr(app, "_dpostudio_scheme_hooked", False):
        hints.colorSchemeChanged.connect(lambda *_: apply_color_scheme(app))
        app._dpostudio_scheme_hooked = True  # type: ignore[attr-defined]
    return app


def system_prefers_dark() -> bool:
    """Dark when the OS says so; ``DPOSTUDIO_THEME=dark|light`` overrides (screenshots, testing)."""
    forced = os.environ.get("DPOSTUDIO_THEME", "").lower()
    if forced in ("dark", "light"):
        return forced == "dark"
    try:
        return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark
    except AttributeError:  # Qt < 6.5
        return False


def dark_palette() -> QPalette:
    p = QPalette()
    window, base, alt, text = QColor(45, 45, 48), QColor(30, 30, 32), QColor(53, 53, 56), QColor(225, 225, 225)
    accent = QColor(64, 140, 230)
    roles = QPalette.ColorRole
    for which, color in (
        (roles.Window, window),
        (roles.WindowText, text),
        (roles.Base, base),
        (roles.AlternateBase, alt),
        (roles.ToolTipBase, QColor(60, 60, 64)),
        (roles.ToolTipText, text),
        (roles.Text, text),
        (roles.Button, window),
        (roles.ButtonText, text),
        (roles.BrightText, QColor(255, 90, 90)),
        (roles.Link, QColor(100, 170, 255)),
        (roles.Highlight, accent),
        (roles.HighlightedText, QColor(255, 255, 255)),
        (roles.PlaceholderText, QColor(140, 140, 140)),
        (roles.Mid, QColor(70, 70, 74)),
        (roles.Midlight, QColor(80, 80, 84)),
        (roles.Dark, QColor(25, 25, 27)),
        (roles.Light, QColor(90, 90, 94)),
        (roles.Shadow, QColor(10, 10, 10)),
    ):
        p.setColor(which, color)
    disabled = QColor(127, 127, 127)
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return p


def apply_color_scheme(app: QApplication) -> None:
    dark = system_prefers_dark()
    app.setPalette(dark_palette() if dark else app.style().standardPalette())
    app.setProperty("dpostudio_dark", dark)


def is_dark() -> bool:
    app = QApplication.instance()
    return bool(app and app.property("dpostudio_dark"))


# ---- exception hooks ----------------------------------------------------------------------------------
_previous_hooks: tuple | None = None


def install_excepthooks(report: ReportFn, log_file=None) -> None:
    """Route uncaught exceptions (GUI thread, Qt slots, worker threads) to ``report`` instead of ending the app.

    ``report`` must be safe to call from any thread (``LogBus.report`` only emits a queued signal).
    The full traceback goes to stderr (and ``log_file`` when given) for bug reports.
    """
    global _previous_hooks
    if _previous_hooks is None:
        _previous_hooks = (sys.excepthook, threading.excepthook)

    def handle(exc_type, exc, tb, where: str) -> None:
        if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
            QTimer.singleShot(0, QApplication.quit)
            return
        text = "".join(traceback.format_exception(exc_type, exc, tb))
        try:
            sys.stderr.write(text)
        except Exception:
            pass
        if log_file is not None:
            try:
                with open(log_file, "a", encoding="utf-8") as fh:
                    fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')}  {where}\n{text}\n")
            except OSError:
                pass
        try:
            from dpostudio.ui.tasks import describe_error

            words = describe_error(exc) if exc is not None else str(exc_type)
            report("error", f"unexpected error{where}: {words} (details on the console)")
        except Exception:
            pass

    def sys_hook(exc_type, exc, tb):
        handle(exc_type, exc, tb, "")

    def thread_hook(args):
        if args.exc_type is SystemExit:
            return
        name = f" in thread {args.thread.name}" if args.thread is not None else " in a background thread"
        handle(args.exc_type, args.exc_value, args.exc_traceback, name)

    sys.excepthook = sys_hook
    threading.excepthook = thread_hook


def uninstall_excepthooks() -> None:
    global _previous_hooks
    if _previous_hooks is not None:
        sys.excepthook, threading.excepthook = _previous_hooks
        _previous_hooks = None


# ---- entry point -------------------------------------------------------------------------------------
def run_app(argv: list[str] | None = None) -> int:
    """Open the main window and run the event loop; returns the exit code (3: the Qt bindings are unsafe)."""
    t0 = time.perf_counter()
    from dpostudio.ui.qt_guard import bindings_problem

    problem = bindings_problem()
    if problem:
        return refuse_to_start(problem, argv)
    app = create_application(argv)
    from dpostudio.ui.main_window import MainWindow

    window = MainWindow()
    install_excepthooks(window.log_bus.report)
    app.aboutToQuit.connect(window.save_geometry)  # also when quitting from the Dock/taskbar, not the window
    window.show()
    window.log_bus.report("info", f"DPO Studio ready ({time.perf_counter() - t0:.1f} s to open the window)")
    try:
        return app.exec()
    finally:
        _wait_for_tasks()
        uninstall_excepthooks()


def refuse_to_start(problem: str, argv: list[str] | None = None) -> int:
    """Say why the app cannot start (console and, briefly, a dialog: a few Qt calls are still safe) and give up."""
    print(problem, file=sys.stderr)
    if os.environ.get("QT_QPA_PLATFORM") != "offscreen":
        from PySide6.QtWidgets import QMessageBox

        app = QApplication.instance() or QApplication(list(argv) if argv is not None else sys.argv[:1])
        QMessageBox.critical(None, APP_NAME, problem)
        del app
    return 3


def _wait_for_tasks(msecs: int = 30_000) -> None:
    """Let short background tasks end before Python tears the threads down (Qt aborts on a running QThread)."""
    from dpostudio.ui import tasks

    tasks.shutdown_child()
    for task in list(tasks._alive):
        # the worker's done->quit connection is queued to the GUI loop, which has stopped: quit directly
        # (thread-safe; the thread's loop ends as soon as the running call returns)
        task.worker_thread.quit()
        task.wait(msecs)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(run_app())
