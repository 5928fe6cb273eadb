"""A small TOML settings store in ``settings_file()`` (Qt-free; the GUI and the CLI share it).

Keys are dotted paths into nested tables: ``get("plugins.disabled")`` reads ``[plugins] disabled = [...]``.
Writes go to a temporary file that replaces the old one, so a crash never leaves half a file. Secrets never
go here (they live in the OS keyring); store only flags such as "remember token".
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from dpostudio.core.errors import UserError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

import tomli_w

from dpostudio.core.paths import settings_file

SCHEMA_VERSION = 1  # bump when a key changes meaning; stored in the file as schema_version
_lock = threading.Lock()
_MISSING = object()


class SettingsError(UserError, ValueError):
    """The settings file cannot be read or written; the message says which file and why."""


def _path(path: str | Path | None) -> Path:
    return Path(path) if path is not None else settings_file()


def load(path: str | Path | None = None) -> dict:
    """The whole settings document (an empty dict when there is no file yet)."""
    file = _path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise SettingsError(f"cannot read settings file {file}: {exc.strerror or exc}") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"settings file {file} is not valid TOML ({exc}); fix or delete it") from exc


def save(data: dict, path: str | Path | None = None) -> None:
    file = _path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(f"{file.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    data = {"schema_version": SCHEMA_VERSION, **{k: v for k, v in data.items() if k != "schema_version"}}
    try:
        tmp.write_text(tomli_w.dumps(data), encoding="utf-8")
        os.replace(tmp, file)
    except (OSError, TypeError, ValueError) as exc:
        tmp.unlink(missing_ok=True)
        raise SettingsError(f"cannot write settings file {file}: {exc}") from exc


def get(key: str, default: Any = None, path: str | Path | None = None) -> Any:
    """The value at a dotted key, or ``default`` when it is unset (or the file is unreadable)."""
    try:
        node: Any = load(path)
    except SettingsError:
        return default
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def set(key: str, value: Any, path: str | Path | None = None) -> None:  # noqa: A001 (mirrors get)
    """Store ``value`` at a dotted key; ``None`` removes the key. Refuses to overwrite an unreadable file."""
    parts = key.split(".")
    with _lock:
        data = load(path)
        node = data
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        if value is None:
            node.pop(parts[-1], None)
        else:
            node[parts[-1]] = value
        save(data, path)


DISABLED_PLUGINS_KEY = "plugins.disabled"


def disabled_plugins(path: str | Path | None = None) -> list[str]:
    value = get(DISABLED_PLUGINS_KEY, [], path)
    return [str(v) for v in value] if isinstance(value, list) else []


def set_plugin_enabled(name: str, enabled: bool, path: str | Path | None = None) -> None:
    names = [n for n in disabled_plugins(path) if n != name]
    if not enabled:
        names.append(name)
    set(DISABLED_PLUGINS_KEY, sorted(names), path)
