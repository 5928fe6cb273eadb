"""The main window: panes, menus, shortcuts, status bar, geometry, and errors landing in the log area."""

from __future__ import annotations

import sys
import threading

import pytest
from PySide6.QtGui import QKeySequence

from dpostudio.ui.app import create_application, install_excepthooks, uninstall_excepthooks
from dpostudio.ui.main_window import PANES, MainWindow


@pytest.fixture
def window(qtbot):
    create_application()
    win = MainWindow(probe_device=False)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.training_pane.controller.stop()
    win.training_pane.controller.wait(60_000)


def test_window_has_all_panes_menus_and_shortcuts(window):
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == list(PANES)
    menus = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert menus == ["File", "Run", "View", "Tools", "Help"]
    actions = window.actions_by_name
    for name in ("open_config", "save_config", "quit", "train", "stop", "resume", "plugins", "about",
                 "view_dataset", "view_training", "view_metrics", "view_comparison", "view_settings", "view_log"):
        assert name in actions, name
    assert actions["open_config"].shortcut() == QKeySequence(QKeySequence.Open)
    assert actions["save_config"].shortcut() == QKeySequence(QKeySequence.Save)
    assert actions["quit"].shortcut() == QKeySequence(QKeySequence.Quit)
    assert not actions["train"].shortcut().isEmpty() and not actions["stop"].shortcut().isEmpty()
    # every shortcut is distinct
    keys = [a.shortcut().toString() for a in actions.values() if not a.shortcut().isEmpty()]
    assert len(keys) == len(set(keys))
    # View shortcuts switch panes; Stop is disabled while nothing runs
    actions["view_metrics"].trigger()
    assert window.current_pane() == "Metrics"
    assert not actions["stop"].isEnabled() and actions["train"].isEnabled()
    assert window.log_panel.isVisible()
    assert "Memory:" in window.memory_label.text()


def test_device_is_probed_in_the_background(qtbot):
    create_application()
    win = MainWindow(probe_device=True)
    qtbot.addWidget(win)
    assert "probing" in win.device_label.text()  # the window does not wait for torch
    with qtbot.waitSignal(win.deviceProbed, timeout=120_000):
        pass
    assert any(name in win.device_label.text() for name in ("CPU", "CUDA", "MPS"))


def test_geometry_is_remembered(qtbot, dpostudio_home):
    create_application()
    win = MainWindow(probe_device=False)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    win.resize(800, 650)  # the offscreen screen is 800x800; restoring clamps to the screen
    qtbot.wait(50)
    height = win.height()
    assert height == 650
    win.show_pane("Metrics")
    win.close()
    again = MainWindow(probe_device=False)
    qtbot.addWidget(again)
    assert again.height() == height  # (the width is clamped to the 800-pixel offscreen screen)
    assert again.current_pane() == "Metrics"
    assert (dpostudio_home / "window.ini").is_file()


def test_background_task_error_lands_in_the_log(window, qtbot, tmp_path):
    window.training_pane.import_gguf(str(tmp_path / "missing.gguf"))
    qtbot.waitUntil(lambda: "could not import the GGUF model" in window.log_panel.text(), timeout=30_000)
    assert "not found" in window.log_panel.text()
    assert window.log_panel.errors == 1

    def boom():
        raise PermissionError("the data folder is read-only")

    window.run_background(boom, what="saving")
    qtbot.waitUntil(lambda: "saving failed: the data folder is read-only" in window.log_panel.text(), timeout=10_000)


def test_excepthooks_route_uncaught_errors_to_the_log(window, qtbot):
    install_excepthooks(window.log_bus.report)
    try:
        try:
            raise RuntimeError("something broke in a slot")
        except RuntimeError:
            sys.excepthook(*sys.exc_info())
        assert "something broke in a slot" in window.log_panel.text()

        def worker():
            raise KeyError("missing-thing")

        thread = threading.Thread(target=worker, name="helper")
        thread.start()
        thread.join()
        qtbot.waitUntil(lambda: "missing-thing" in window.log_panel.text(), timeout=5_000)
        assert "in thread helper" in window.log_panel.text()
        assert window.isVisible()
    finally:
        uninstall_excepthooks()


def test_config_round_trip_through_file_menu(window, tmp_path):
    pane = window.training_pane
    pane.apply_preset("Recipe: GPT-2 sweep winner")
    path = tmp_path / "run.toml"
    assert window.save_config(str(path))
    pane.apply_preset("Quick demo (CPU)")
    assert pane.values()["beta"] == 0.1
    assert window.open_config(str(path))
    assert pane.values()["beta"] == 0.2 and pane.values()["max_steps"] == 500
    assert pane.model_spec() == "openai-community/gpt2"
    bad = tmp_path / "bad.toml"
    bad.write_text("beta = -1\n")
    assert not window.open_config(str(bad))
    assert "beta" in window.log_panel.text()


def test_start_up_does_not_import_heavy_libraries():
    import subprocess

    code = (
        "import os, sys; os.environ['QT_QPA_PLATFORM']='offscreen'\n"
        "from dpostudio.ui.app import create_application\n"
        "from dpostudio.ui.main_window import MainWindow\n"
        "app = create_application(); w = MainWindow(probe_device=False); w.show(); app.processEvents()\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'transformers', 'trl', 'datasets', 'peft'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr


def test_application_names_and_colour_scheme(monkeypatch):
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtGui import QPalette

    from dpostudio.ui.app import apply_color_scheme, is_dark, run_app  # noqa: F401  (the CLI's entry point exists)

    app = create_application()
    assert QCoreApplication.applicationName() == "DPO Studio" and QCoreApplication.organizationName()
    assert app.style().name().lower() == "fusion"
    monkeypatch.setenv("DPOSTUDIO_THEME", "dark")
    apply_color_scheme(app)
    assert is_dark() and app.palette().color(QPalette.Window).lightness() < 100
    assert app.palette().color(QPalette.WindowText).lightness() > 180  # light text on dark: readable
    monkeypatch.setenv("DPOSTUDIO_THEME", "light")
    apply_color_scheme(app)
    assert not is_dark() and app.palette().color(QPalette.Window).lightness() > 150


def test_tools_menu_opens_export_and_plugins_dialogs(window, qtbot):
    window.actions_by_name["export"].trigger()
    qtbot.waitUntil(lambda: window.export_dialog.isVisible(), timeout=5_000)
    assert "Export" in window.export_dialog.windowTitle()
    window.export_dialog.close()
    window.actions_by_name["plugins"].trigger()
    qtbot.waitUntil(lambda: window.plugins_dialog.isVisible(), timeout=5_000)
    window.plugins_dialog.close()
