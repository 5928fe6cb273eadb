"""Discovery, isolation and calling of DPO Studio plugins.

Every plugin, built-in or community, is found through the entry-point group ``dpostudio``. Each one is
imported, version-checked and registered inside its own try/except; each hook call goes to one plugin at a
time, its result is checked for shape, and listing hooks run under a timeout. A plugin that fails at any of
these steps is marked ``failed`` with a readable error and skipped from then on; the rest keeps working.

Environment:
  ``DPOSTUDIO_NO_PLUGINS=1``                 do not load community plugins (built-ins still load)
  ``DPOSTUDIO_DISABLE_PLUGINS=name1,name2``  do not load these plugins (entry-point names)
  ``DPOSTUDIO_TRACE_PLUGINS=1``              log every hook call (plugin, time, result) to stderr
  ``DPOSTUDIO_PLUGIN_TIMEOUT=10``            seconds a listing hook may take before its plugin is marked failed
The ``[plugins] disabled = [...]`` list in the settings file disables plugins persistently.
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
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import pluggy

from dpostudio.plugins import API_ATTRIBUTE, HOOK_API_VERSION, PROJECT_NAME, SUPPORTED_HOOK_API_VERSIONS, PluginError, hookspecs
from dpostudio.plugins.types import (
    DatasetSource, JudgeInfo, LoadedDataset, ModelEntry, ModelSource, ScoreCard, ShapeError, Verdict,
)

log = logging.getLogger("dpostudio.plugins")

ENTRY_POINT_GROUP = "dpostudio"
ENV_NO_PLUGINS = "DPOSTUDIO_NO_PLUGINS"
ENV_DISABLE = "DPOSTUDIO_DISABLE_PLUGINS"
ENV_TRACE = "DPOSTUDIO_TRACE_PLUGINS"
ENV_TIMEOUT = "DPOSTUDIO_PLUGIN_TIMEOUT"
DEFAULT_LIST_TIMEOUT = 10.0
BUILTIN_DISTRIBUTION = "dpostudio"

ACTIVE, DISABLED, FAILED = "active", "disabled", "failed"
BUILTIN, COMMUNITY, LOCAL = "built-in", "community", "local"

HOOK_NAMES = sorted(n for n in dir(hookspecs) if n.startswith("dpostudio_"))


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


class HookCallError(RuntimeError):
    """A hook could not deliver: unknown id, a user-fixable problem, a timeout or a failed plugin."""

    def __init__(self, message: str, plugin: str | None = None, hook: str | None = None, *,
                 user_error: bool = False, timed_out: bool = False):
        super().__init__(message)
        self.plugin = plugin
        self.hook = hook
        self.user_error = user_error
        self.timed_out = timed_out


class _Timeout(Exception):
    pass


def _user_error_types() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = [PluginError]
    for module, name in (("dpostudio.core.data.pipeline", "DataError"), ("dpostudio.core.model_store", "ModelError")):
        try:
            types.append(getattr(importlib.import_module(module), name))
        except Exception:  # pragma: no cover - the core is part of the app
            pass
    return tuple(types)


def _check_list(value: Any, cls: type, hook: str) -> list:
    if not isinstance(value, (list, tuple)):
        raise ShapeError(f"{hook} must return a list of {cls.__name__}, got {type(value).__name__}")
    for item in value:
        if not isinstance(item, cls):
            raise ShapeError(f"{hook} must return a list of {cls.__name__}, found a {type(item).__name__}: {item!r:.80}")
        item.validate()
    return list(value)


class PluginManager:
    """Loads plugins and calls their hooks one plugin at a time.

    ``entry_points``: what to load (default: the installed ``dpostudio`` entry-point group).
    ``disabled``: names to skip (default: settings + ``DPOSTUDIO_DISABLE_PLUGINS``).
    ``community``: load non-built-in plugins (default: unless ``DPOSTUDIO_NO_PLUGINS=1``).
    ``list_timeout``: seconds a listing hook may take (default ``DPOSTUDIO_PLUGIN_TIMEOUT`` or 10).
    """

    def __init__(self, *, entry_points: Iterable | None = None, disabled: Iterable[str] | None = None,
                 community: bool | None = None, list_timeout: float | None = None):
        self._entry_points = entry_points
        self._disabled_override = list(disabled) if disabled is not None else None
        self._community = community
        if list_timeout is None:
            try:
                list_timeout = float(os.environ.get(ENV_TIMEOUT, DEFAULT_LIST_TIMEOUT))
            except ValueError:
                list_timeout = DEFAULT_LIST_TIMEOUT
        self.list_timeout = list_timeout
        self._pm = pluggy.PluginManager(PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs)
        self._infos: dict[str, PluginInfo] = {}
        self._objects: dict[str, Any] = {}
        self._entry_by_name: dict[str, Any] = {}
        self._owners: dict[tuple[str, str], str] = {}  # (listing hook, id) -> plugin name
        self._lock = threading.RLock()
        self._loaded = False

    # --- discovery ------------------------------------------------------------------------------------

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

    def load(self) -> "PluginManager":
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

    def reload(self) -> "PluginManager":
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
        info = PluginInfo(name=ep.name, module=getattr(ep, "value", ""), distribution=dist_name, version=version,
                          source=source)
        if ep.name in self._infos:
            other = self._infos[ep.name]
            info.status, info.error = FAILED, (
                f"the name {ep.name!r} is already used by {other.module} ({other.distribution or 'unknown package'}); "
                "plugin names must be unique")
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
            info = PluginInfo(name=name, module=module or getattr(plugin, "__name__", type(plugin).__name__),
                              distribution=None, version=None, source=source)
            self._infos[name] = info
            return self._register(info, plugin)

    def _register(self, info: PluginInfo, plugin: Any) -> PluginInfo:
        api = getattr(plugin, API_ATTRIBUTE, None)
        info.api_version = api
        if api is None:
            return self._fail(info, f"does not say which hook API it targets: add  {API_ATTRIBUTE} = {HOOK_API_VERSION}  "
                                    f"to the plugin module (this DPO Studio provides hook API {HOOK_API_VERSION})")
        if api not in SUPPORTED_HOOK_API_VERSIONS:
            return self._fail(info, f"targets hook API version {api!r}, but this DPO Studio provides version "
                                    f"{HOOK_API_VERSION}; install a version of the plugin made for it, or update DPO Studio")
        try:
            self._pm.register(plugin, name=info.name)
        except Exception as exc:  # pluggy.PluginValidationError: argument names that no hook spec has, etc.
            return self._fail(info, f"does not match the hook specs: {_one_line(exc)}", exc)
        self._objects[info.name] = plugin
        callers = self._pm.get_hookcallers(plugin) or []
        unknown = sorted(c.name for c in callers if not c.has_spec())
        if unknown:
            self._unregister(info.name)
            return self._fail(info, f"implements unknown hook(s) {', '.join(unknown)} (not in hook API "
                                    f"{HOOK_API_VERSION}; known hooks: {', '.join(HOOK_NAMES)})")
        wrappers = sorted(c.name for c in callers for i in c.get_hookimpls()
                          if i.plugin_name == info.name and (i.hookwrapper or getattr(i, "wrapper", False)))
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

    # --- calling --------------------------------------------------------------------------------------

    def _trace(self, message: str) -> None:
        log.debug(message)
        if _truthy(os.environ.get(ENV_TRACE)):
            print(f"[dpostudio.plugins] {message}", file=sys.stderr, flush=True)

    def _active_impls(self, hook: str, plugin: str | None = None) -> list:
        """Active implementations in load order (built-ins first, so a community plugin cannot shadow their ids);
        ``tryfirst`` ones go first, ``trylast`` ones last."""
        caller = getattr(self._pm.hook, hook)
        ordered = caller.get_hookimpls()  # pluggy keeps registration order, trylast at the front, tryfirst at the end
        ordered = ([i for i in ordered if i.tryfirst] + [i for i in ordered if not i.tryfirst and not i.trylast]
                   + [i for i in ordered if i.trylast])
        impls = [i for i in ordered
                 if self._infos.get(i.plugin_name) is not None and self._infos[i.plugin_name].status == ACTIVE]
        if plugin is not None:
            impls = [i for i in impls if i.plugin_name == plugin]
        return impls

    def _run(self, impl, hook: str, kwargs: dict, timeout: float | None) -> Any:
        args = {name: kwargs[name] for name in impl.argnames}
        if timeout is None:
            return impl.function(**args)
        box: dict[str, Any] = {}

        def target():
            try:
                box["value"] = impl.function(**args)
            except BaseException as exc:  # handed to the caller's thread
                box["error"] = exc

        worker = threading.Thread(target=target, name=f"dpostudio-plugin-{impl.plugin_name}-{hook}", daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            raise _Timeout()
        if "error" in box:
            raise box["error"]
        return box.get("value")

    def _call_one(self, impl, hook: str, kwargs: dict, timeout: float | None, check: Callable[[Any], Any],
                  *, listing: bool) -> Any:
        """Call one plugin's implementation; returns the checked result, or raises HookCallError."""
        name = impl.plugin_name
        info = self._infos[name]
        t0 = time.perf_counter()
        try:
            value = self._run(impl, hook, kwargs, timeout)
        except _Timeout:
            message = f"did not answer {hook} within {timeout:g} s"
            self._trace(f"{hook} -> {name}: TIMEOUT after {timeout:g} s")
            if listing:
                self._fail(info, message)
                raise HookCallError(f"plugin {name} {message}", name, hook, timed_out=True)
            raise HookCallError(f"{name}: {message} (the work may still be running in the background)",
                                name, hook, timed_out=True)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            elapsed = time.perf_counter() - t0
            if not listing and isinstance(exc, _user_error_types()):
                self._trace(f"{hook} -> {name}: user error after {elapsed:.3f} s: {_one_line(exc)}")
                raise HookCallError(str(exc) or type(exc).__name__, name, hook, user_error=True) from exc
            self._trace(f"{hook} -> {name}: raised after {elapsed:.3f} s: {_one_line(exc)}")
            self._fail(info, f"{hook} raised {_one_line(exc)}", exc)
            raise HookCallError(f"plugin {name} failed in {hook}: {_one_line(exc)}", name, hook) from exc
        elapsed = time.perf_counter() - t0
        try:
            checked = check(value)
        except ShapeError as exc:
            self._trace(f"{hook} -> {name}: bad result after {elapsed:.3f} s: {exc}")
            self._fail(info, f"{hook} returned a wrong shape: {exc}", exc)
            raise HookCallError(f"plugin {name} returned a wrong shape from {hook}: {exc}", name, hook) from exc
        self._trace(f"{hook} -> {name} ({elapsed:.3f} s): {checked!r:.300}")
        return checked

    def _collect(self, hook: str, cls: type) -> list:
        """Call a listing hook on every active plugin; drop duplicate ids (first one wins)."""
        self.load()
        results: list = []
        seen: dict[str, str] = {}
        for key in [k for k in self._owners if k[0] == hook]:
            self._owners.pop(key, None)
        for impl in self._active_impls(hook):
            try:
                items = self._call_one(impl, hook, {}, self.list_timeout,
                                       lambda v: _check_list(v, cls, hook), listing=True)
            except HookCallError:
                continue  # the plugin is marked failed; the others keep working
            for item in items:
                key = getattr(item, "id", None) or getattr(item, "spec")
                if key in seen:
                    message = f"{hook}: {key!r} is already provided by plugin {seen[key]}; ignored"
                    if message not in self._infos[impl.plugin_name].warnings:
                        self._infos[impl.plugin_name].warnings.append(message)
                    continue
                seen[key] = impl.plugin_name
                self._owners[(hook, key)] = impl.plugin_name
                results.append(item)
        return results

    def _owner(self, hook: str, key: str, what: str, lister: Callable[[], list]) -> str:
        owner = self._owners.get((hook, key))
        if owner is None or self._infos.get(owner, None) is None or self._infos[owner].status != ACTIVE:
            known = [getattr(i, "id") for i in lister()]
            owner = self._owners.get((hook, key))
            if owner is None:
                raise HookCallError(f"unknown {what} {key!r}; available: {', '.join(known) or 'none'}", hook=hook,
                                    user_error=True)
        return owner

    def _first(self, hook: str, owner: str, kwargs: dict, timeout: float | None, check: Callable[[Any], Any],
               what: str) -> Any:
        impls = self._active_impls(hook, owner)
        if not impls:
            raise HookCallError(f"plugin {owner} lists {what} but does not implement {hook}", owner, hook)
        for impl in impls:
            value = self._call_one(impl, hook, kwargs, timeout, lambda v: v if v is None else check(v), listing=False)
            if value is not None:
                return value
        raise HookCallError(f"plugin {owner} lists {what} but returned nothing for it from {hook}", owner, hook)

    # --- the public calls (what panes and the CLI use) ----------------------------------------------

    def dataset_sources(self) -> list[DatasetSource]:
        return self._collect("dpostudio_dataset_sources", DatasetSource)

    def load_dataset(self, source_id: str, options: dict | None = None, *, timeout: float | None = None) -> LoadedDataset:
        hook = "dpostudio_load_dataset"
        owner = self._owner("dpostudio_dataset_sources", source_id, "dataset source", self.dataset_sources)

        def check(v):
            if not isinstance(v, LoadedDataset):
                raise ShapeError(f"{hook} must return a LoadedDataset, got {type(v).__name__}")
            v.validate()
            return v
        return self._first(hook, owner, {"source_id": source_id, "options": dict(options or {})}, timeout, check,
                           f"dataset source {source_id!r}")

    def model_sources(self) -> list[ModelSource]:
        return self._collect("dpostudio_model_sources", ModelSource)

    def list_models(self) -> list[ModelEntry]:
        return self._collect("dpostudio_list_models", ModelEntry)

    def resolve_model(self, source_id: str, options: dict | None = None, on_progress=None, *,
                      timeout: float | None = None):
        from dpostudio.core.model_store import ResolvedModel

        hook = "dpostudio_resolve_model"
        owner = self._owner("dpostudio_model_sources", source_id, "model source", self.model_sources)

        def check(v):
            if not isinstance(v, ResolvedModel):
                raise ShapeError(f"{hook} must return a ResolvedModel, got {type(v).__name__}")
            return v
        kwargs = {"source_id": source_id, "options": dict(options or {}), "on_progress": on_progress or (lambda f, m: None)}
        return self._first(hook, owner, kwargs, timeout, check, f"model source {source_id!r}")

    def judges(self) -> list[JudgeInfo]:
        return self._collect("dpostudio_judges", JudgeInfo)

    def judge_pair(self, judge_id: str, prompt: str, answer_a: str, answer_b: str, criteria: Iterable[str] | None = None,
                   options: dict | None = None, *, timeout: float | None = None) -> Verdict:
        from dpostudio.plugins.types import DEFAULT_CRITERIA

        hook = "dpostudio_judge_pair"
        criteria = list(criteria or DEFAULT_CRITERIA)
        owner = self._owner("dpostudio_judges", judge_id, "judge", self.judges)

        def check(v):
            if not isinstance(v, Verdict):
                raise ShapeError(f"{hook} must return a Verdict, got {type(v).__name__}")
            v.validate(criteria)
            return v
        kwargs = {"judge_id": judge_id, "prompt": prompt, "answer_a": answer_a, "answer_b": answer_b,
                  "criteria": criteria, "options": dict(options or {})}
        return self._first(hook, owner, kwargs, timeout, check, f"judge {judge_id!r}")

    def judge_single(self, judge_id: str, prompt: str, answer: str, criteria: Iterable[str] | None = None,
                     options: dict | None = None, *, timeout: float | None = None) -> ScoreCard:
        from dpostudio.plugins.types import DEFAULT_CRITERIA

        hook = "dpostudio_judge_single"
        criteria = list(criteria or DEFAULT_CRITERIA)
        owner = self._owner("dpostudio_judges", judge_id, "judge", self.judges)

        def check(v):
            if not isinstance(v, ScoreCard):
                raise ShapeError(f"{hook} must return a ScoreCard, got {type(v).__name__}")
            v.validate(criteria)
            return v
        kwargs = {"judge_id": judge_id, "prompt": prompt, "answer": answer, "criteria": criteria,
                  "options": dict(options or {})}
        return self._first(hook, owner, kwargs, timeout, check, f"judge {judge_id!r}")


_manager: PluginManager | None = None
_manager_lock = threading.Lock()


def get_manager() -> PluginManager:
    """The application's plugin manager, loaded on first use."""
    global _manager
    with _manager_lock:
        if _manager is None:
            _manager = PluginManager()
        manager = _manager
    return manager.load()


def reset_manager() -> None:
    """Forget the application's manager (tests; after installing a plugin to rescan)."""
    global _manager
    with _manager_lock:
        _manager = None
