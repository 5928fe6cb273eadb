"""The main window's menus: every action with its shortcut (and status tip), also added to the window so shortcuts
work with the menu bar hidden. ``window.actions_by_name`` holds them for the window and the tests."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence


def _action(window, menu, text: str, slot, shortcut=None, tip: str = "") -> QAction:
    action = QAction(text, window)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    if tip:
        action.setStatusTip(tip)
        action.setToolTip(tip)
    action.triggered.connect(slot)
    menu.addAction(action)
    window.addAction(action)  # shortcuts work even when the menu bar is hidden (offscreen, full screen)
    return action


def _import_run_folder(window) -> None:
    from dpostudio.ui.training.bundle_dialog import import_run_folder

    import_run_folder(window)


def build_menus(window) -> None:
    """File, Run, View, Tools and Help, with shortcuts; About, Settings and Quit carry the roles macOS moves into
    the application menu."""
    bar = window.menuBar()
    window.actions_by_name.clear()
    file_menu = bar.addMenu("&File")
    window.actions_by_name["open_config"] = _action(
        window,
        file_menu,
        "&Open Config…",
        window.open_config,
        QKeySequence.StandardKey.Open,
        "Load a run configuration (.toml or .yaml)",
    )
    window.actions_by_name["save_config"] = _action(
        window,
        file_menu,
        "&Save Config…",
        window.save_config,
        QKeySequence.StandardKey.Save,
        "Save the current run configuration",
    )
    window.actions_by_name["import_run"] = _action(
        window,
        file_menu,
        "&Import Run Folder…",
        lambda: _import_run_folder(window),
        tip="Copy a run folder trained elsewhere (a cluster, a launch bundle) into your runs",
    )
    file_menu.addSeparator()
    quit_action = _action(window, file_menu, "&Quit", window.close, QKeySequence.StandardKey.Quit, "Quit DPO Studio")
    quit_action.setMenuRole(QAction.MenuRole.QuitRole)
    window.actions_by_name["quit"] = quit_action

    run_menu = bar.addMenu("&Run")
    window.actions_by_name["train"] = _action(
        window,
        run_menu,
        "&Train",
        window.training_pane.start_training,
        QKeySequence(Qt.Modifier.CTRL | Qt.Key.Key_Return),
        "Start training with the current settings",
    )
    window.actions_by_name["stop"] = _action(
        window,
        run_menu,
        "&Stop",
        window.training_pane.stop_training,
        QKeySequence(Qt.Modifier.CTRL | Qt.Key.Key_Period),
        "Stop at the next step and save a checkpoint",
    )
    window.actions_by_name["resume"] = _action(
        window,
        run_menu,
        "&Resume",
        lambda: window.training_pane.resume_training(),
        QKeySequence(Qt.Modifier.CTRL | Qt.Modifier.SHIFT | Qt.Key.Key_Return),
        "Continue the last stopped, failed or interrupted run from its checkpoint",
    )
    window.actions_by_name["launch_bundle"] = _action(
        window,
        run_menu,
        "Export &Launch Bundle…",
        window.training_pane.export_launch_bundle,
        tip="Write a folder that trains the current settings with accelerate on a cluster or another machine",
    )

    view_menu = bar.addMenu("&View")
    for i, name in enumerate(window.panes):  # in tab order
        window.actions_by_name[f"view_{name.lower()}"] = _action(
            window,
            view_menu,
            f"&{name}",
            lambda checked=False, n=name: window.show_pane(n),
            QKeySequence(Qt.Modifier.CTRL | getattr(Qt.Key, f"Key_{i + 1}")),
            f"Show the {name} pane",
        )
    view_menu.addSeparator()
    log_toggle = window.log_panel.toggleViewAction()
    log_toggle.setText("&Log")
    log_toggle.setShortcut(QKeySequence(Qt.Modifier.CTRL | Qt.Key.Key_L))
    view_menu.addAction(log_toggle)
    window.addAction(log_toggle)
    window.actions_by_name["view_log"] = log_toggle
    window.actions_by_name["refresh_runs"] = _action(
        window, view_menu, "&Refresh Runs", window.metrics_pane.refresh_runs, QKeySequence.StandardKey.Refresh
    )

    tools_menu = bar.addMenu("&Tools")
    window.actions_by_name["plugins"] = _action(
        window,
        tools_menu,
        "&Plugins…",
        window.open_plugins,
        QKeySequence(Qt.Modifier.CTRL | Qt.Modifier.SHIFT | Qt.Key.Key_P),
        "List, enable, disable and install plugins",
    )
    window.actions_by_name["export"] = _action(
        window,
        tools_menu,
        "&Export or Publish…",
        window.open_export,
        QKeySequence(Qt.Modifier.CTRL | Qt.Key.Key_E),
        "Export a run's adapter or merged model, or push it to the Hugging Face Hub",
    )
    window.actions_by_name["explorer"] = _action(
        window,
        tools_menu,
        "Pair &Explorer…",
        window.open_explorer,
        QKeySequence(Qt.Modifier.CTRL | Qt.Modifier.SHIFT | Qt.Key.Key_E),
        "Score every pair of a run, find the ones the model disagrees with, and fix them in a new dataset version",
    )
    window.actions_by_name["settings"] = _action(
        window, tools_menu, "&Settings", lambda: window.show_pane("Settings"), QKeySequence.StandardKey.Preferences
    )
    window.actions_by_name["settings"].setMenuRole(QAction.MenuRole.PreferencesRole)

    help_menu = bar.addMenu("&Help")
    window.actions_by_name["about"] = _action(
        window, help_menu, "&About DPO Studio", window.show_about, QKeySequence.StandardKey.HelpContents
    )
    window.actions_by_name["about"].setMenuRole(QAction.MenuRole.AboutRole)
