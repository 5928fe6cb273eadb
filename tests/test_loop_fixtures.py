"""Helpers the loop, generate and ranker tests share (no tests here)."""

from __future__ import annotations

from importlib import metadata

RANKERS_ENTRY_POINT = ("builtin-rankers", "dpostudio_builtin.rankers")


def manager_with_rankers(monkeypatch):
    """Make the application's plugin manager load the built-in ranker plugin even where the installed package
    does not list it yet (pyproject gains ``builtin-rankers = "dpostudio_builtin.rankers"``); returns it."""
    from dpostudio.plugins import manager as manager_module

    eps = list(metadata.entry_points(group="dpostudio"))
    if RANKERS_ENTRY_POINT[0] not in {ep.name for ep in eps}:
        dist = metadata.distribution("dpostudio")
        ep = metadata.EntryPoint(RANKERS_ENTRY_POINT[0], RANKERS_ENTRY_POINT[1], "dpostudio")
        eps.append(ep._for(dist))  # bound to DPO Studio's own distribution: loaded as a built-in
    manager = manager_module.PluginManager(entry_points=eps).load()
    monkeypatch.setattr(manager_module, "_manager", manager)
    return manager
