"""The Plugins dialog: see every plugin and its state, enable or disable it, install or uninstall community ones.

Listing and enabling go through the application's plugin manager (``dpostudio.plugins.manager``); installing
and uninstalling run pip as a subprocess (``dpostudio.plugins.installer``) in a background task whose output
streams into the dialog. A new plugin becomes active after a restart.
"""

from __future__ import annotations

from importlib import metadata
from types import SimpleNamespace

import shiboken6
from PySide6.QtCore import QMetaMethod, Qt, Signal
from PySide6.QtGui import QColor, QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from dpostudio.ui.file_dialogs import choose_folder, open_file
from dpostudio.ui.tasks import Task, run_task

UNINSTALLED = "uninstalled"  # the package is gone; its code stays loaded in this process until a restart
RESTART_NEEDED = "installed"  # the package is there; it loads at the next start
_STATUS_COLOURS = {
    "active": "#2e7d32",
    "disabled": "#757575",
    "failed": "#b00020",
    UNINSTALLED: "#757575",
    RESTART_NEEDED: "#1565c0",
}
_STATUS_TEXT = {UNINSTALLED: "uninstalled (restart to unload)", RESTART_NEEDED: "installed (restart to load)"}
_DISABLED_BY = {
    "settings": "disabled in DPO Studio's settings",
    "DPOSTUDIO_DISABLE_PLUGINS": "disabled by the DPOSTUDIO_DISABLE_PLUGINS environment variable",
    "DPOSTUDIO_NO_PLUGINS": "community plugins are switched off by the DPOSTUDIO_NO_PLUGINS environment variable",
}


def _install(target: str, allow_changes: bool, progress):
    from dpostudio.plugins.installer import install

    return install(target, allow_changes=allow_changes, on_line=lambda line: progress(0.0, line))


def _uninstall(name: str, progress):
    from dpostudio.plugins.installer import uninstall

    return uninstall(name, on_line=lambda line: progress(0.0, line))


def _distribution_installed(name: str) -> bool:
    """Whether a package of this name is installed in DPO Studio's environment now."""
    try:
        metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def _short_hooks(hooks: list[str]) -> str:
    return ", ".join(h.removeprefix("dpostudio_") for h in hooks) or "—"


class PluginsDialog(QDialog):
    """List, enable/disable, install and uninstall plugins. Signal ``message(level, text)`` reports outcomes."""

    message = Signal(str, str)
    restartRequested = Signal()  # "Restart now" after an install: the main window restarts DPO Studio

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Plugins — DPO Studio")
        self.resize(980, 720)
        self._infos: list = []
        self._task: Task | None = None
        self._uninstalled: set[str] = set()  # distributions uninstalled while this process runs
        self._installed: dict[str, str] = {}  # entry-point name -> distribution, installed while this process runs
        self._build()
        self.refresh()

    # ---- layout -----------------------------------------------------------------------------------------

    def _build(self) -> None:
        from dpostudio.plugins.installer import INSTALL_WARNING

        layout = QVBoxLayout(self)
        splitter = QSplitter(Qt.Orientation.Vertical)
        layout.addWidget(splitter, 1)

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        intro = QLabel(
            "Dataset sources, model sources and judges are plugins. DPO Studio's own ones are "
            "<b>built-in</b>; others are <b>community</b> packages you install."
        )
        intro.setWordWrap(True)
        top_layout.addWidget(intro)
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["Plugin", "Version", "Source", "Hooks", "Status"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        for col in range(5):
            header.setSectionResizeMode(
                col, QHeaderView.ResizeMode.Stretch if col == 3 else QHeaderView.ResizeMode.ResizeToContents
            )
        self.table.setWordWrap(False)
        self.table.itemSelectionChanged.connect(self._show_selected)
        top_layout.addWidget(self.table, 1)
        self.details = QLabel("Select a plugin to see its details.")
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setMinimumHeight(48)
        self.details.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        top_layout.addWidget(self.details)
        buttons = QHBoxLayout()
        self.enable_button = QPushButton("Enable")
        self.enable_button.clicked.connect(lambda: self.set_selected_enabled(True))
        self.disable_button = QPushButton("Disable")
        self.disable_button.clicked.connect(lambda: self.set_selected_enabled(False))
        self.uninstall_button = QPushButton("Uninstall")
        self.uninstall_button.setToolTip("Remove the community package that provides this plugin")
        self.uninstall_button.clicked.connect(self.uninstall_selected)
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        for b in (self.enable_button, self.disable_button, self.uninstall_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(refresh)
        top_layout.addLayout(buttons)
        splitter.addWidget(top)

        box = QGroupBox("Install a community plugin")
        box_layout = QVBoxLayout(box)
        warning = QLabel("⚠ " + INSTALL_WARNING)
        warning.setWordWrap(True)
        warning.setStyleSheet(
            "QLabel { background: #fff4e5; color: #663c00; border: 1px solid #ffd8a8;"
            " border-radius: 4px; padding: 6px; }"
        )
        box_layout.addWidget(warning)
        row = QHBoxLayout()
        self.target_edit = QLineEdit()
        self.target_edit.setPlaceholderText(
            "a PyPI name (e.g. dpostudio-keyword-judge), a .whl file or a project folder"
        )
        self.target_edit.returnPressed.connect(self.install)
        row.addWidget(self.target_edit, 1)
        wheel = QPushButton("Wheel…")
        wheel.clicked.connect(self._browse_wheel)
        folder = QPushButton("Folder…")
        folder.clicked.connect(self._browse_folder)
        self.install_button = QPushButton("Install")
        self.install_button.clicked.connect(self.install)
        for b in (wheel, folder, self.install_button):
            row.addWidget(b)
        box_layout.addLayout(row)
        self.allow_changes = QCheckBox(
            "Allow it to upgrade or downgrade packages DPO Studio already uses (not recommended)"
        )
        box_layout.addWidget(self.allow_changes)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(12)
        self.progress.hide()
        box_layout.addWidget(self.progress)
        self.output = QPlainTextEdit(readOnly=True)
        self.output.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.output.setPlaceholderText("pip's output appears here while installing or uninstalling.")
        self.output.setMaximumBlockCount(5000)
        box_layout.addWidget(self.output, 1)
        self.result_label = QLabel()
        self.result_label.setWordWrap(True)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.result_label.hide()
        box_layout.addWidget(self.result_label)
        splitter.addWidget(box)
        splitter.setSizes([330, 360])

        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout.addWidget(close)

    # ---- listing ----------------------------------------------------------------------------------------

    def _manager(self):
        from dpostudio.plugins.manager import get_manager

        return get_manager()

    def refresh(self) -> None:
        try:
            self._infos = [self._as_now(i) for i in self._manager().plugins()]
        except Exception as exc:  # the dialog must open even if plugin discovery breaks
            self._infos = []
            self.details.setText(f"<span style='color:#b00020'>Plugins could not be listed: {exc}</span>")
            self.message.emit("error", f"Plugins could not be listed: {exc}")
        listed = {i.name for i in self._infos}
        for name, dist in self._installed.items():
            if name not in listed and dist not in self._uninstalled:
                self._infos.append(
                    SimpleNamespace(
                        name=name, module="", distribution=dist, version=None, source="community",
                        status=RESTART_NEEDED, error=None, disabled_by=None, hooks=[], warnings=[],
                    )
                )  # fmt: skip
        selected = self.selected_name()
        self.table.setRowCount(len(self._infos))
        for r, info in enumerate(self._infos):
            status = _STATUS_TEXT.get(info.status, info.status)
            cells = [info.name, info.version or "—", info.source, _short_hooks(info.hooks), status]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c == 4:
                    item.setForeground(QColor(_STATUS_COLOURS.get(info.status, "#000")))
                    if info.error:
                        item.setText(f"{info.status} (see below)")
                        item.setToolTip(info.error)
                    elif info.status == "disabled" and info.disabled_by:
                        item.setToolTip(_DISABLED_BY.get(info.disabled_by, info.disabled_by))
                if c == 0:
                    item.setToolTip(info.module)
                self.table.setItem(r, c, item)
        row = next((r for r, i in enumerate(self._infos) if i.name == selected), 0 if self._infos else -1)
        if row >= 0:
            self.table.selectRow(row)
        self._show_selected()

    def _as_now(self, info):
        """The manager's view of a plugin, corrected for what happened since it loaded: a community plugin whose
        package has been uninstalled is not "active" any more, even though its code stays loaded until a restart."""
        dist = info.distribution
        if info.source != "built-in" and dist and (dist in self._uninstalled or not _distribution_installed(dist)):
            return SimpleNamespace(**dict(vars(info), status=UNINSTALLED, error=None))
        return info

    def plugin_names(self) -> list[str]:
        return [i.name for i in self._infos]

    def selected_name(self) -> str | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if rows and rows[0].row() < len(self._infos):
            return self._infos[rows[0].row()].name
        return None

    def select(self, name: str) -> None:
        for r, info in enumerate(self._infos):
            if info.name == name:
                self.table.selectRow(r)
                return
        raise KeyError(name)

    def _selected_info(self):
        name = self.selected_name()
        return next((i for i in self._infos if i.name == name), None)

    def _show_selected(self) -> None:
        info = self._selected_info()
        busy = self._task is not None
        if info is None:
            self.details.setText("Select a plugin to see its details.")
            for b in (self.enable_button, self.disable_button, self.uninstall_button):
                b.setEnabled(False)
            return
        lines = [
            f"<b>{info.name}</b> — {info.module}"
            + (f" (package {info.distribution} {info.version or ''})" if info.distribution else "")
        ]
        if info.status == UNINSTALLED:
            lines.append("Its package has been uninstalled; its code stays loaded until DPO Studio restarts.")
        elif info.status == RESTART_NEEDED:
            lines.append("Installed; it loads when DPO Studio restarts.")
        elif info.status == "failed":
            lines.append(
                f"<span style='color:#b00020'><b>Failed:</b> {info.error}</span> "
                "The rest of DPO Studio keeps working without it."
            )
        elif info.status == "disabled":
            lines.append(_DISABLED_BY.get(info.disabled_by or "", f"disabled ({info.disabled_by})").capitalize() + ".")
        else:
            lines.append(f"Active; hooks: {_short_hooks(info.hooks)}.")
        lines.extend(f"<span style='color:#b26a00'>Note: {w}</span>" for w in info.warnings)
        self.details.setText("<br>".join(lines))
        can_enable = info.status == "disabled" and info.disabled_by == "settings"
        self.enable_button.setEnabled(can_enable and not busy)
        self.enable_button.setToolTip(
            ""
            if can_enable or info.status != "disabled"
            else "Disabled outside the app (environment variable); change it there"
        )
        settled = info.status not in (UNINSTALLED, RESTART_NEEDED)
        self.disable_button.setEnabled(info.status != "disabled" and settled and not busy)
        self.uninstall_button.setEnabled(
            info.source != "built-in" and info.distribution is not None and info.status != UNINSTALLED and not busy
        )

    def set_selected_enabled(self, enabled: bool) -> None:
        info = self._selected_info()
        if info is None:
            return
        self.set_enabled(info.name, enabled)

    def set_enabled(self, name: str, enabled: bool) -> None:
        try:
            info = self._manager().set_enabled(name, enabled)
        except Exception as exc:
            self.message.emit("error", f"Could not {'enable' if enabled else 'disable'} {name}: {exc}")
            self.details.setText(f"<span style='color:#b00020'>Could not change {name}: {exc}</span>")
            return
        if enabled and info.status == "failed":
            self.message.emit("error", f"{name} was enabled but failed to load: {info.error}")
        else:
            self.message.emit("info", f"Plugin {name} {'enabled' if enabled else 'disabled'}")
        self.refresh()

    # ---- install / uninstall ------------------------------------------------------------------------------

    def _browse_wheel(self) -> None:
        path = open_file(
            self, "Choose a plugin wheel", "plugins", "Python wheels (*.whl);;Source archives (*.tar.gz *.zip)"
        )
        if path:
            self.target_edit.setText(path)

    def _browse_folder(self) -> None:
        path = choose_folder(self, "Choose a plugin project folder", "plugins")
        if path:
            self.target_edit.setText(path)

    def is_busy(self) -> bool:
        return self._task is not None

    def _set_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.install_button.setEnabled(not busy)
        self.target_edit.setEnabled(not busy)
        self._show_selected()

    def _append(self, _fraction: float, line: str) -> None:
        if shiboken6.isValid(self.output):
            self.output.appendPlainText(line)

    def _start(self, fn, *args, what: str, after=None) -> None:
        self.output.clear()
        self.result_label.hide()

        def done(result):
            self._task = None
            if not shiboken6.isValid(self):
                return
            self._set_busy(False)
            self._show_result(result.ok, result.message)
            if after is not None and result.ok:
                after(result)
            self.refresh()

        def failed(text, _tb):
            self._task = None
            if not shiboken6.isValid(self):
                return
            self._set_busy(False)
            self._show_result(False, f"{what} failed: {text}")

        # parentless: the task must outlive the dialog if it is closed while pip runs
        self._task = run_task(
            None, fn, *args, with_progress=True, on_result=done, on_error=failed, on_progress=self._append
        )
        self._set_busy(True)

    def _show_result(self, ok: bool, text: str) -> None:
        self.output.appendPlainText(("" if ok else "✗ ") + text)
        colour = "#2e7d32" if ok else "#b00020"
        self.result_label.setText(f"<span style='color:{colour}'>{text}</span>")
        self.result_label.show()
        self.message.emit("info" if ok else "error", text)

    def install(self) -> None:
        target = self.target_edit.text().strip()
        if self._task is not None:
            return
        if not target:
            self._show_result(False, "Nothing to install: give a PyPI name, a .whl file or a project folder.")
            return
        self._start(_install, target, self.allow_changes.isChecked(), what="Installing", after=self._installed_now)

    def _installed_now(self, result) -> None:
        """A package was installed: list its plugins as waiting for a restart, and offer the restart."""
        dist = (result.added[0].split()[0] if result.added else "") or self.target_edit.text().strip()
        for name in result.plugins:
            self._installed[name] = dist
        self._uninstalled.discard(dist)
        if not self.isSignalConnected(QMetaMethod.fromSignal(self.restartRequested)):
            return  # nobody here can restart the app; the result line already says a restart is needed
        names = ", ".join(result.plugins) or dist
        box = QMessageBox(
            QMessageBox.Icon.Information,
            "Plugin installed",
            f"{names} is installed. It becomes active when DPO Studio restarts.",
            parent=self,
        )
        restart = box.addButton("Restart now", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(restart)
        box.exec()
        if box.clickedButton() is restart:
            self.restartRequested.emit()

    def uninstall_selected(self) -> None:
        info = self._selected_info()
        if info is None or self._task is not None:
            return
        if info.source == "built-in":
            self._show_result(
                False, f"{info.name} is built into DPO Studio and cannot be uninstalled; disable it instead."
            )
            return
        dist = info.distribution or info.name
        answer = QMessageBox.question(
            self,
            "Uninstall plugin",
            f"Uninstall the package {dist}, which provides the plugin {info.name}?\n\n"
            "pip removes it from DPO Studio's environment; its code stays loaded until DPO Studio restarts.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        self._start(_uninstall, dist, what="Uninstalling", after=lambda _result: self._uninstalled.add(dist))

    def reject(self) -> None:
        if self._task is not None:
            self.result_label.setText("pip is still running; wait for it to finish before closing.")
            self.result_label.show()
            return
        super().reject()
