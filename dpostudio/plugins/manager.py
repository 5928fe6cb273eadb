"""The plugin manager: what panes, the CLI and (through ``dpostudio.core.plugin_access``) the core call.

Every plugin, built-in or community, is found through the entry-point group ``dpostudio``. Each one is
imported, version-checked and registered inside its own try/except (``discovery``); each hook call goes to one
plugin at a time, its result is checked for shape (``shapes``), and hooks run under a timeout (``calls``). A
plugin that fails at any of these steps is marked ``failed`` with a readable error and skipped from then on;
the rest keeps working.

Environment:
  ``DPOSTUDIO_NO_PLUGINS=1``                 do not load community plugins (built-ins still load)
  ``DPOSTUDIO_DISABLE_PLUGINS=name1,name2``  do not load these plugins (entry-point names)
  ``DPOSTUDIO_TRACE_PLUGINS=1``              log every hook call (plugin, time, result) to stderr
  ``DPOSTUDIO_PLUGIN_TIMEOUT=10``            seconds a listing hook may take before its plugin is marked failed
The ``[plugins] disabled = [...]`` list in the settings file disables plugins persistently.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from dpostudio.plugins.calls import DEFAULT_LIST_TIMEOUT, ENV_TIMEOUT, HookCaller, HookCallError  # noqa: F401
from dpostudio.plugins.discovery import (  # noqa: F401  (the names panes, the CLI and tests import from here)
    ACTIVE,
    BUILTIN,
    BUILTIN_DISTRIBUTION,
    COMMUNITY,
    DISABLED,
    ENTRY_POINT_GROUP,
    ENV_DISABLE,
    ENV_NO_PLUGINS,
    ENV_TRACE,
    FAILED,
    HOOK_NAMES,
    LOCAL,
    PluginInfo,
)
from dpostudio.plugins.shapes import (
    check_loaded_dataset,
    check_ranking,
    check_resolved_model,
    check_score_card,
    check_verdict,
)
from dpostudio.plugins.types import (
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
    Verdict,
)


class PluginManager(HookCaller):
    """Loads plugins and calls their hooks one plugin at a time.

    ``entry_points``: what to load (default: the installed ``dpostudio`` entry-point group).
    ``disabled``: names to skip (default: settings + ``DPOSTUDIO_DISABLE_PLUGINS``).
    ``community``: load non-built-in plugins (default: unless ``DPOSTUDIO_NO_PLUGINS=1``).
    ``list_timeout``: seconds a listing hook may take (default ``DPOSTUDIO_PLUGIN_TIMEOUT`` or 10).
    Every call below raises ``HookCallError`` (in words) when a plugin cannot deliver.
    """

    def __init__(
        self,
        *,
        entry_points: Iterable | None = None,
        disabled: Iterable[str] | None = None,
        community: bool | None = None,
        list_timeout: float | None = None,
    ):
        super().__init__(entry_points=entry_points, disabled=disabled, community=community, list_timeout=list_timeout)

    def dataset_sources(self) -> list[DatasetSource]:
        return self._collect("dpostudio_dataset_sources", DatasetSource)

    def load_dataset(
        self, source_id: str, options: dict | None = None, *, timeout: float | None = None
    ) -> LoadedDataset:
        owner = self._owner("dpostudio_dataset_sources", source_id, "dataset source", self.dataset_sources)
        options = _typed_options(options, self.dataset_sources(), source_id)
        return self._first(
            "dpostudio_load_dataset",
            owner,
            {"source_id": source_id, "options": options},
            timeout,
            check_loaded_dataset,
            f"dataset source {source_id!r}",
        )

    def model_sources(self) -> list[ModelSource]:
        return self._collect("dpostudio_model_sources", ModelSource)

    def list_models(self) -> list[ModelEntry]:
        return self._collect("dpostudio_list_models", ModelEntry)

    def resolve_model(
        self, source_id: str, options: dict | None = None, on_progress=None, *, timeout: float | None = None
    ) -> ResolvedModel:
        owner = self._owner("dpostudio_model_sources", source_id, "model source", self.model_sources)
        options = _typed_options(options, self.model_sources(), source_id)
        kwargs = {"source_id": source_id, "options": options, "on_progress": on_progress or (lambda f, m: None)}
        return self._first(
            "dpostudio_resolve_model", owner, kwargs, timeout, check_resolved_model, f"model source {source_id!r}"
        )

    def judges(self) -> list[JudgeInfo]:
        return self._collect("dpostudio_judges", JudgeInfo)

    def judge_pair(
        self,
        judge_id: str,
        prompt: str,
        answer_a: str,
        answer_b: str,
        criteria: Iterable[str] | None = None,
        options: dict | None = None,
        *,
        timeout: float | None = None,
    ) -> Verdict:
        criteria = list(criteria or DEFAULT_CRITERIA)
        owner = self._owner("dpostudio_judges", judge_id, "judge", self.judges)
        kwargs = {
            "judge_id": judge_id,
            "prompt": prompt,
            "answer_a": answer_a,
            "answer_b": answer_b,
            "criteria": criteria,
            "options": dict(options or {}),
        }
        return self._first(
            "dpostudio_judge_pair", owner, kwargs, timeout, lambda v: check_verdict(v, criteria), f"judge {judge_id!r}"
        )

    def judge_single(
        self,
        judge_id: str,
        prompt: str,
        answer: str,
        criteria: Iterable[str] | None = None,
        options: dict | None = None,
        *,
        timeout: float | None = None,
    ) -> ScoreCard:
        """One answer scored on each criterion (a judge whose ``modes`` include ``single``)."""
        criteria = list(criteria or DEFAULT_CRITERIA)
        options = dict(options or {})
        owner = self._owner("dpostudio_judges", judge_id, "judge", self.judges)
        kwargs = {"judge_id": judge_id, "prompt": prompt, "answer": answer, "criteria": criteria, "options": options}
        check = lambda v: check_score_card(v, criteria)  # noqa: E731
        return self._first("dpostudio_judge_single", owner, kwargs, timeout, check, f"judge {judge_id!r} (single)")

    def rankers(self) -> list[RankerInfo]:
        return self._collect("dpostudio_rankers", RankerInfo)

    def rank_candidates(
        self,
        ranker_id: str,
        prompt: str,
        candidates: list[str],
        options: dict | None = None,
        *,
        timeout: float | None = None,
    ) -> Ranking:
        """One score per candidate, in order, from a ranker plugin (a reward model, PairRM, ...)."""
        owner = self._owner("dpostudio_rankers", ranker_id, "ranker", self.rankers)
        options = _typed_options(options, self.rankers(), ranker_id)
        kwargs = {"ranker_id": ranker_id, "prompt": prompt, "candidates": list(candidates), "options": options}
        check = lambda v: check_ranking(v, len(candidates))  # noqa: E731
        return self._first("dpostudio_rank_candidates", owner, kwargs, timeout, check, f"ranker {ranker_id!r}")


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


def _typed_options(options: dict | None, sources: Iterable, source_id: str) -> dict:
    """Options as the source declares them: text from a ``plugin:`` spec or the CLI becomes int/float/bool, so
    the app and the CLI hand a plugin the same values for the same record."""
    declared = {o.name: o for src in sources if getattr(src, "id", None) == source_id for o in src.options}
    try:
        return {k: declared[k].coerce(v) if k in declared else v for k, v in (options or {}).items()}
    except ShapeError as exc:
        raise HookCallError(f"{source_id}: {exc}", hook="options", user_error=True) from None
