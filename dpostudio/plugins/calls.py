"""Calling hooks: one plugin at a time, under a timeout on a helper thread, with every failure turned into words.

A hook call goes to one plugin's implementation; its result is shape-checked (``shapes``). A plugin that raises,
returns junk or (for a listing hook) hangs is marked ``failed`` and skipped from then on; a problem the user can
fix (``PluginError`` or any of the core's ``UserError``) is reported as is and the plugin stays active. Every
failure reaches the caller as ``HookCallError``, a ``PluginCallError`` of the core, which is all the core catches.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from dpostudio.core.errors import UserError
from dpostudio.core.plugin_access import PluginCallError
from dpostudio.plugins import PluginError
from dpostudio.plugins.discovery import ACTIVE, PluginRegistry, _one_line
from dpostudio.plugins.shapes import check_list
from dpostudio.plugins.types import ShapeError

ENV_TIMEOUT = "DPOSTUDIO_PLUGIN_TIMEOUT"
DEFAULT_LIST_TIMEOUT = 10.0
USER_ERRORS = (PluginError, UserError)  # raised by a hook: shown as is, the plugin stays active


class HookCallError(PluginCallError):
    """A hook could not deliver: unknown id, a user-fixable problem, a timeout or a failed plugin."""

    def __init__(
        self,
        message: str,
        plugin: str | None = None,
        hook: str | None = None,
        *,
        user_error: bool = False,
        timed_out: bool = False,
    ):
        super().__init__(message, timed_out=timed_out)
        self.plugin = plugin
        self.hook = hook
        self.user_error = user_error


class _Timeout(Exception):
    pass


def run_impl(impl, hook: str, kwargs: dict, timeout: float | None) -> Any:
    """Call one hook implementation with the arguments it takes; on a daemon thread when there is a timeout.

    A call that runs past ``timeout`` raises ``_Timeout`` (the thread is left to finish in the background)."""
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


class HookCaller(PluginRegistry):
    """The registry plus calling: listing hooks on every plugin, action hooks on the plugin that owns an id.

    ``list_timeout``: seconds a listing hook may take (default ``DPOSTUDIO_PLUGIN_TIMEOUT`` or 10).
    """

    def __init__(self, *, list_timeout: float | None = None, **registry):
        super().__init__(**registry)
        if list_timeout is None:
            try:
                list_timeout = float(os.environ.get(ENV_TIMEOUT, DEFAULT_LIST_TIMEOUT))
            except ValueError:
                list_timeout = DEFAULT_LIST_TIMEOUT
        self.list_timeout = list_timeout

    def _active_impls(self, hook: str, plugin: str | None = None) -> list:
        """Active implementations in load order (built-ins first, so a community plugin cannot shadow their ids);
        ``tryfirst`` ones go first, ``trylast`` ones last."""
        caller = getattr(self._pm.hook, hook)
        ordered = caller.get_hookimpls()  # pluggy keeps registration order, trylast at the front, tryfirst at the end
        ordered = (
            [i for i in ordered if i.tryfirst]
            + [i for i in ordered if not i.tryfirst and not i.trylast]
            + [i for i in ordered if i.trylast]
        )
        impls = [
            i
            for i in ordered
            if self._infos.get(i.plugin_name) is not None and self._infos[i.plugin_name].status == ACTIVE
        ]
        if plugin is not None:
            impls = [i for i in impls if i.plugin_name == plugin]
        return impls

    def _call_one(
        self, impl, hook: str, kwargs: dict, timeout: float | None, check: Callable[[Any], Any], *, listing: bool
    ) -> Any:
        """Call one plugin's implementation; returns the checked result, or raises HookCallError."""
        name = impl.plugin_name
        info = self._infos[name]
        t0 = time.perf_counter()
        try:
            value = run_impl(impl, hook, kwargs, timeout)
        except _Timeout:
            message = f"did not answer {hook} within {timeout:g} s"
            self._trace(f"{hook} -> {name}: TIMEOUT after {timeout:g} s")
            if listing:
                self._fail(info, message)
                raise HookCallError(f"plugin {name} {message}", name, hook, timed_out=True) from None
            raise HookCallError(
                f"{name}: {message} (the work may still be running in the background)", name, hook, timed_out=True
            ) from None
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            elapsed = time.perf_counter() - t0
            if not listing and isinstance(exc, USER_ERRORS):
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
                items = self._call_one(
                    impl, hook, {}, self.list_timeout, lambda v: check_list(v, cls, hook), listing=True
                )
            except HookCallError:
                continue  # the plugin is marked failed; the others keep working
            for item in items:
                key = getattr(item, "id", None) or item.spec
                if key in seen:
                    message = f"{hook}: {key!r} is already provided by plugin {seen[key]}; ignored"
                    if message not in self._infos[impl.plugin_name].warnings:
                        self._infos[impl.plugin_name].warnings.append(message)
                    continue
                seen[key] = impl.plugin_name
                self._owners[(hook, key)] = impl.plugin_name
                results.append(item)
        return results

    def _owner(self, hook: str, key: str, what: str, lister: Callable[[], Iterable]) -> str:
        owner = self._owners.get((hook, key))
        if owner is None or self._infos.get(owner, None) is None or self._infos[owner].status != ACTIVE:
            known = [i.id for i in lister()]
            owner = self._owners.get((hook, key))
            if owner is None:
                raise HookCallError(
                    f"unknown {what} {key!r}; available: {', '.join(known) or 'none'}", hook=hook, user_error=True
                )
        return owner

    def _first(
        self, hook: str, owner: str, kwargs: dict, timeout: float | None, check: Callable[[Any], Any], what: str
    ) -> Any:
        impls = self._active_impls(hook, owner)
        if not impls:
            raise HookCallError(f"plugin {owner} lists {what} but does not implement {hook}", owner, hook)
        for impl in impls:
            value = self._call_one(impl, hook, kwargs, timeout, lambda v: v if v is None else check(v), listing=False)
            if value is not None:
                return value
        raise HookCallError(f"plugin {owner} lists {what} but returned nothing for it from {hook}", owner, hook)
