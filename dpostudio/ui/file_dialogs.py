"""File dialogs that start where a person expects: the last folder used for that kind of file, else Documents.

    path = open_file(self, "Choose preference data", "data", "Data (*.jsonl *.json *.csv *.parquet)")
    path = save_file(self, "Export metrics as CSV", "metrics", "runs-metrics.csv", "CSV (*.csv)")
    folder = choose_folder(self, "Export into folder", "export")

Each returns the chosen path as a string, or "" when the dialog was cancelled. The last folder per ``kind`` is
kept in the window settings file (never the source checkout or the process's working directory). Dialogs are the
native ones where the platform has them.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QStandardPaths
from PySide6.QtWidgets import QFileDialog, QWidget

_GROUP = "last_folders"


def documents_folder() -> Path:
    """The user's Documents folder (home when the platform has none)."""
    location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    path = Path(location) if location else Path.home()
    return path if path.is_dir() else Path.home()


def _settings():
    from dpostudio.ui.main_window import window_settings

    return window_settings()


def last_folder(kind: str) -> Path:
    """Where a dialog for ``kind`` starts: the folder last used for it if it still exists, else Documents."""
    value = _settings().value(f"{_GROUP}/{kind}", "")
    path = Path(str(value)) if value else None
    return path if path is not None and path.is_dir() else documents_folder()


def remember_folder(kind: str, path: str | Path) -> None:
    """Remember the folder of ``path`` (or ``path`` itself when it is a folder) for the next ``kind`` dialog."""
    p = Path(path)
    folder = p if p.is_dir() else p.parent
    settings = _settings()
    settings.setValue(f"{_GROUP}/{kind}", str(folder))
    settings.sync()


def _start(kind: str, name: str = "") -> str:
    folder = last_folder(kind)
    return str(folder / name) if name else str(folder)


def open_file(parent: QWidget | None, title: str, kind: str, name_filter: str = "") -> str:
    path, _ = QFileDialog.getOpenFileName(parent, title, _start(kind), name_filter)
    if path:
        remember_folder(kind, path)
    return path


def save_file(parent: QWidget | None, title: str, kind: str, suggested_name: str, name_filter: str = "") -> str:
    path, _ = QFileDialog.getSaveFileName(parent, title, _start(kind, suggested_name), name_filter)
    if path:
        remember_folder(kind, path)
    return path


def choose_folder(parent: QWidget | None, title: str, kind: str, start: str | Path | None = None) -> str:
    begin = str(start) if start and Path(start).is_dir() else _start(kind)
    folder = QFileDialog.getExistingDirectory(parent, title, begin)
    if folder:
        remember_folder(kind, folder)
    return folder
