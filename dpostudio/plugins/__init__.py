"""DPO Studio's plugin host: what a plugin author imports.

A plugin module looks like this (see ``docs/plugins.md``)::

    from dpostudio.plugins import hookimpl, JudgeInfo, Verdict

    DPOSTUDIO_HOOK_API = 1          # the hook API version this plugin targets

    @hookimpl
    def dpostudio_judges():
        return [JudgeInfo(id="my-judge", title="My judge")]

and is registered in its ``pyproject.toml`` under ``[project.entry-points.dpostudio]``.
"""

from __future__ import annotations

import pluggy

from dpostudio.plugins.types import (  # noqa: F401  (re-exported for plugin authors)
    DEFAULT_CRITERIA,
    DatasetSource,
    JudgeInfo,
    LoadedDataset,
    ModelEntry,
    ModelSource,
    RankerInfo,
    Ranking,
    ResolvedModel,
    ScoreCard,
    ShapeError,
    SourceOption,
    Verdict,
)

PROJECT_NAME = "dpostudio"
HOOK_API_VERSION = 1
"""The hook API this DPO Studio provides; a plugin declares ``DPOSTUDIO_HOOK_API = 1`` to target it."""
SUPPORTED_HOOK_API_VERSIONS = (1,)
API_ATTRIBUTE = "DPOSTUDIO_HOOK_API"

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class PluginError(Exception):
    """Raise from a hook for a problem the user can fix (bad option, file missing, offline).

    The message is shown to the user as is and the plugin stays active.
    """


def connect_core() -> None:
    """Hand the core its way to plugins (``plugin:`` model and dataset specs, judges): the application's plugin
    manager, looked up on every use. Every entry point that runs core code with plugins calls this once."""
    from dpostudio.core.plugin_access import provide_plugins
    from dpostudio.plugins.manager import get_manager

    provide_plugins(get_manager)


__all__ = [
    "API_ATTRIBUTE",
    "DEFAULT_CRITERIA",
    "DatasetSource",
    "HOOK_API_VERSION",
    "JudgeInfo",
    "LoadedDataset",
    "ModelEntry",
    "ModelSource",
    "PluginError",
    "RankerInfo",
    "Ranking",
    "ResolvedModel",
    "ScoreCard",
    "ShapeError",
    "SourceOption",
    "SUPPORTED_HOOK_API_VERSIONS",
    "Verdict",
    "connect_core",
    "hookimpl",
]
