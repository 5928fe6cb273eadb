"""Finding, checking and registering plugins, and what the host knows about each one.

Every plugin, built-in or community, is found through the entry-point group ``dpostudio``. Each one is imported,
version-checked and registered inside its own try/except; a plugin that fails at any step is marked ``failed``
with a readable error (and its traceback for ``plugins info``) and the rest keeps loading. Which plugins load is
decided by the settings file's ``[plugins] disabled = [...]`` list and the environment (see ``manager``).
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pluggy

from dpostudio.plugins import API_ATTRIBUTE, HOOK_API_VERSION, PROJECT_NAME, SUPPORTED_HOOK_API_VERSIONS, hookspecs

log = logging.getLogger("dpostudio.plugins")

ENTRY_POINT_GROUP = "dpostudio"
ENV_NO_PLUGINS = "DPOSTUDIO_NO_PLUGINS"
ENV_DISABLE = "DPOSTUDIO_DISABLE_PLUGINS"
ENV_TRACE = "DPOSTUDIO_TRACE_PLUGINS"
BUILTIN_DISTRIBUTION = "dpostudio"

ACTIVE, DISABLED, FAILED = "active", "disabled", "failed"
BUILTIN, COMMUNITY, LOCAL = "built-in", "community", "local"

HOOK_NAMES = sorted(n for n in dir(hookspecs) if n.startswith("dpostudio_"))

_Registry = TypeVar("_Registry", bound="PluginRegistry")


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() not in ("", "0", "false", "no", "off")


def _env_list(name: str) -> list[str]:
    return [p.strip() for p in os.environ.get(name, "").split(",") if p.strip()]


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _normalise(name: str | None) -> str:
    return (name or "").lower().replace("_", "-").replace(".", "-")


@dataclass
class PluginInfo:
    """What the plugin manager (CLI ``plugins list`` / the GUI dialog) shows about one plugin."""

    name: str  # the entry-point name, used to enable/disable it
    module: str  # what the entry point points at, e.g. "dpostudio_builtin.judges"
    distribution: str | None  # the installed package that declares it (what pip uninstalls)
    version: str | None
    source: str  # "built-in" | "community" | "local" (registered in-process, e.g. by a test)
    status: str = ACTIVE  # "active" | "disabled" | "failed"
    error: str | None = None
    detail: str | None = None  # traceback of the failure, for `plugins info`
    disabled_by: str | None = None  # "settings" | DPOSTUDIO_DISABLE_PLUGINS | DPOSTUDIO_NO_PLUGINS
    hooks: list[str] = field(default_factory=list)
    api_version: Any = None
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class PluginRegistry:
    """The plugins of one host: discovery, per-plugin checks, status, enabling and disabling.

    ``entry_points``: what to load (default: the installed ``dpostudio`` entry-point group).
    ``disabled``: names to skip (default: settings + ``DPOSTUDIO_DISABLE_PLUGINS``).
    ``community``: load non-built-in plugins (default: unless ``DPOSTUDIO_NO_PLUGINS=1``).
    """

    def __init__(
        self,
        *,
        entry_points: Iterable | None = None,
        disabled: Iterable[str] | None = None,
        community: bool | None = None,
    ):
        self._entry_points = entry_points
        self._disabled_override = list(disabled) if disabled is not None else None
        self._community = community
        self._pm = pluggy.PluginManager(PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs)
        self._infos: dict[str, PluginInfo] = {}
        self._objects: dict[str, Any] = {}
        self._entry_by_name: dict[str, Any] = {}
        self._owners: dict[tuple[str, str], str] = {}  # (listing hook, id) -> plugin name
        self._lock = threading.RLock()
        self._loaded = False

    @property
    def pluggy_manager(self) -> pluggy.PluginManager:
        return self._pm

    def disabled_names(self) -> dict[str, str]:
        """Name -> what disabled it."""
        if self._disabled_override is not None:
            return {n: "settings" for n in self._disabled_override}
        names: dict[str, str] = {}
        try:
            from dpostudio.core import settings

            names.update({n: "settings" for n in settings.disabled_plugins()})
        except Exception as exc:  # an unreadable settings file must not stop the app
            log.warning("cannot read the disabled-plugins list: %s", exc)
        names.update({n: ENV_DISABLE for n in _env_list(ENV_DISABLE)})
        return names

    def community_enabled(self) -> bool:
        return self._community if self._community is not None else not _truthy(os.environ.get(ENV_NO_PLUGINS))

    def load(self: _Registry) -> _Registry:
        """Discover and register every plugin of the entry-point group (once; ``reload()`` to rescan)."""
        with self._lock:
            if self._loaded:
                return self
            self._loaded = True
            if self._entry_points is not None:
                eps = list(self._entry_points)
            else:
                importlib.invalidate_caches()
                eps = list(metadata.entry_points(group=ENTRY_POINT_GROUP))
            eps.sort(key=lambda ep: (self._source_of(ep) != BUILTIN, ep.name))
            disabled = self.disabled_names()
            for ep in eps:
                self._load_entry_point(ep, disabled)
            try:
                self._pm.check_pending()
            except pluggy.PluginValidationError as exc:  # per-plugin checks should have caught it already
                log.error("plugin check failed: %s", exc)
            return self

    def reload(self: _Registry) -> _Registry:
        """Rescan entry points: picks up newly installed plugins (already imported modules are not re-imported)."""
        with self._lock:
            for name in list(self._objects):
                self._unregister(name)
            self._infos.clear()
            self._entry_by_name.clear()
            self._owners.clear()
            self._loaded = False
        return self.load()

    @staticmethod
    def _dist_of(ep) -> tuple[str | None, str | None]:
        dist = getattr(ep, "dist", None)
        if dist is None:
            return None, None
        try:
            return dist.metadata["Name"] or getattr(dist, "name", None), dist.version
        except Exception:
            return getattr(dist, "name", None), None

    def _source_of(self, ep) -> str:
        dist_name, _ = self._dist_of(ep)
        return BUILTIN if _normalise(dist_name) == BUILTIN_DISTRIBUTION else COMMUNITY

    def _load_entry_point(self, ep, disabled: dict[str, str]) -> PluginInfo:
        dist_name, version = self._dist_of(ep)
        source = self._source_of(ep)
        info = PluginInfo(
            name=ep.name, module=getattr(ep, "value", ""), distribution=dist_name, version=version, source=source
        )
        if ep.name in self._infos:
            other = self._infos[ep.name]
            info.status, info.error = (
                FAILED,
                (
                    f"the name {ep.name!r} is already used by {other.module} "
                    f"({other.distribution or 'unknown package'}); plugin names must be unique"
                ),
            )
            self._infos[f"{ep.name} ({dist_name or ep.value})"] = info
            return info
        self._infos[ep.name] = info
        self._entry_by_name[ep.name] = ep
        if ep.name in disabled:
            info.status, info.disabled_by = DISABLED, disabled[ep.name]
            return info
        if source != BUILTIN and not self.community_enabled():
            info.status, info.disabled_by = DISABLED, ENV_NO_PLUGINS
            return info
        t0 = time.perf_counter()
        try:
            plugin = ep.load()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # includes SystemExit raised by a careless plugin
            return self._fail(info, f"could not be imported: {_one_line(exc)}", exc)
        self._trace(f"loaded plugin {ep.name} ({info.module}) in {time.perf_counter() - t0:.3f} s")
        return self._register(info, plugin)

    def register(self, plugin: Any, name: str, *, module: str = "", source: str = LOCAL) -> PluginInfo:
        """Register an in-process plugin object (tests, scripts); it gets the same checks as installed ones."""
        with self._lock:
            self.load()
            if name in self._infos:
                raise ValueError(f"a plugin named {name!r} is already registered")
            info = PluginInfo(
                name=name,
                module=module or getattr(plugin, "__name__", type(plugin).__name__),
                distribution=None,
                version=None,
                source=source,
            )
            self._infos[name] = info
            return self._register(info, plugin)

    def _register(self, info: PluginInfo, plugin: Any) -> PluginInfo:
        api = getattr(plugin, API_ATTRIBUTE, None)
        info.api_version = api
        if api is None:
            return self._fail(
                info,
                "does not say which hook API it targets: "
                f"add  {API_ATTRIBUTE} = {HOOK_API_VERSION}  "
                f"to the plugin module (this DPO Studio provides hook API {HOOK_API_VERSION})",
            )
        if api not in SUPPORTED_HOOK_API_VERSIONS:
            return self._fail(
                info,
                f"targets hook API version {api!r}, but this DPO Studio provides version "
                f"{HOOK_API_VERSION}; install a version of the plugin made for it, "
                "or update DPO Studio",
            )
        try:
            self._pm.register(plugin, name=info.name)
        except Exception as exc:  # pluggy.PluginValidationError: argument names that no hook spec has, etc.
            return self._fail(info, f"does not match the hook specs: {_one_line(exc)}", exc)
        self._objects[info.name] = plugin
        callers = self._pm.get_hookcallers(plugin) or []
        unknown = sorted(c.name for c in callers if not c.has_spec())
        if unknown:
            self._unregister(info.name)
            return self._fail(
                info,
                f"implements unknown hook(s) {', '.join(unknown)} (not in hook API "
                f"{HOOK_API_VERSION}; known hooks: {', '.join(HOOK_NAMES)})",
            )
        wrappers = sorted(
            c.name
            for c in callers
            for i in c.get_hookimpls()
            if i.plugin_name == info.name and (i.hookwrapper or getattr(i, "wrapper", False))
        )
        if wrappers:
            self._unregister(info.name)
            return self._fail(info, f"uses hook wrappers ({', '.join(wrappers)}), which DPO Studio does not support")
        info.hooks = sorted(c.name for c in callers)
        marked = set(info.hooks)
        for attr in dir(plugin):
            if attr.startswith("dpostudio_") and attr not in marked and callable(getattr(plugin, attr, None)):
                info.warnings.append(f"{attr} is not decorated with @hookimpl, so DPO Studio ignores it")
        info.status = ACTIVE
        return info

    def _unregister(self, name: str) -> None:
        plugin = self._objects.pop(name, None)
        if plugin is not None:
            try:
                self._pm.unregister(plugin=plugin, name=name)
            except Exception:  # pragma: no cover - defensive
                pass

    def _fail(self, info: PluginInfo, message: str, exc: BaseException | None = None) -> PluginInfo:
        info.status, info.error = FAILED, message
        if exc is not None:
            info.detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self._unregister(info.name)
        log.warning("plugin %s failed: %s", info.name, message)
        self._trace(f"plugin {info.name} FAILED: {message}")
        return info

    def _trace(self, message: str) -> None:
        log.debug(message)
        if _truthy(os.environ.get(ENV_TRACE)):
            print(f"[dpostudio.plugins] {message}", file=sys.stderr, flush=True)

    # --- state ----------------------------------------------------------------------------------------

    def plugins(self) -> list[PluginInfo]:
        self.load()
        return list(self._infos.values())

    def info(self, name: str) -> PluginInfo:
        self.load()
        if name in self._infos:
            return self._infos[name]
        for info in self._infos.values():  # allow the distribution name too
            if _normalise(info.distribution) == _normalise(name):
                return info
        raise KeyError(f"no plugin named {name!r}; known: {', '.join(self._infos) or 'none'}")

    def set_enabled(self, name: str, enabled: bool, *, persist: bool = True) -> PluginInfo:
        """Enable or disable a plugin now (and in settings unless ``persist=False``)."""
        info = self.info(name)
        if persist:
            from dpostudio.core import settings

            settings.set_plugin_enabled(info.name, enabled)
        with self._lock:
            if not enabled and info.status != DISABLED:
                self._unregister(info.name)
                info.status, info.disabled_by, info.hooks = DISABLED, "settings", []
            elif enabled and info.status == DISABLED and info.disabled_by == "settings":
                ep = self._entry_by_name.get(info.name)
                if ep is not None:
                    info.status, info.disabled_by, info.error = ACTIVE, None, None
                    disabled = {k: v for k, v in self.disabled_names().items() if k != info.name}
                    del self._infos[info.name]
                    info = self._load_entry_point(ep, disabled)
            self._owners.clear()
        return info
