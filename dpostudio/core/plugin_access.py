"""What the core needs from plugins, and how the plugin host hands it over.

The core never imports the plugin host (``dpostudio.plugins``): ``plugin:<source id>?key=value`` model and dataset
specs and judges reach plugins through an access object it is *given*. Every entry point that runs core code with
plugins (the CLI, the app, the training child process, the tests) calls ``dpostudio.plugins.connect_core()``,
which calls ``provide_plugins`` here with a callable returning the application's plugin manager. The provider is
called on every use, so a manager that is rebuilt (after installing a plugin, between tests) is always the one used.

Code that runs without a provider still works for everything but plugins; a ``plugin:`` spec then fails in words.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from dpostudio.core.errors import UserError

ProgressFn = Callable[[float, str], None]  # (fraction 0..1, what is happening)
NOT_PROVIDED = (
    "plugin sources are not available in this process (the program that runs DPO Studio's core did not "
    "connect the plugin host: call dpostudio.plugins.connect_core() first)"
)


class PluginCallError(UserError, RuntimeError):
    """A plugin could not deliver (unknown id, a problem the user can fix, a timeout, a failed plugin).

    ``timed_out`` is True when the plugin did not answer in time. The plugin host raises a subclass that says
    which plugin and hook (``dpostudio.plugins.manager.HookCallError``); the core only needs this base.
    """

    def __init__(self, message: str, *, timed_out: bool = False):
        super().__init__(message)
        self.timed_out = timed_out


# --- the shapes the core reads from plugin results (the plugin API's dataclasses have these attributes) --------


class ResolvedSource(Protocol):
    """A model from a model source (``dpostudio.core.model_store.ResolvedModel``)."""

    @property
    def kind(self) -> str: ...
    @property
    def location(self) -> str: ...
    @property
    def display_name(self) -> str: ...


class LoadedRows(Protocol):
    """Rows from a dataset source (``dpostudio.plugins.LoadedDataset``): a ``datasets.Dataset`` or a list of dicts."""

    @property
    def train(self) -> Any: ...
    @property
    def heldout(self) -> Any: ...


class OptionDescription(Protocol):
    """One option a judge declares (``dpostudio.plugins.SourceOption``); ``kind == "secret"`` is never saved."""

    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...


class JudgeDescription(Protocol):
    """A judge (``dpostudio.plugins.JudgeInfo``)."""

    @property
    def id(self) -> str: ...
    @property
    def options(self) -> Sequence[OptionDescription]: ...


class PairVerdict(Protocol):
    """A judge's decision on answer A vs answer B (``dpostudio.plugins.Verdict``), already shape-checked."""

    @property
    def winner(self) -> str: ...  # "A" | "B" | "tie"
    @property
    def scores(self) -> dict[str, dict[str, float]]: ...  # criterion -> {"A": 0-10, "B": 0-10}
    @property
    def reasoning(self) -> str: ...
    @property
    def method(self) -> str: ...
    @property
    def raw(self) -> str: ...


class SingleScores(Protocol):
    """A judge's scores for one answer (``dpostudio.plugins.ScoreCard``), already shape-checked."""

    @property
    def scores(self) -> dict[str, float]: ...  # criterion -> 0-10
    @property
    def reasoning(self) -> str: ...


class CandidateScores(Protocol):
    """A ranker's scores for K answers (``dpostudio.plugins.Ranking``), one per candidate, already shape-checked."""

    @property
    def scores(self) -> list[float]: ...
    @property
    def reasoning(self) -> str: ...
    @property
    def method(self) -> str: ...


class RankerDescription(Protocol):
    """A ranker (``dpostudio.plugins.RankerInfo``)."""

    @property
    def id(self) -> str: ...
    @property
    def options(self) -> Sequence[OptionDescription]: ...


class PluginAccess(Protocol):
    """What the core calls on plugins; ``dpostudio.plugins.manager.PluginManager`` provides it.

    Each call raises ``PluginCallError`` (in words) when the plugin cannot deliver.
    """

    def resolve_model(
        self, source_id: str, options: dict | None = None, on_progress: ProgressFn | None = None
    ) -> ResolvedSource: ...

    def load_dataset(self, source_id: str, options: dict | None = None) -> LoadedRows: ...

    def judges(self) -> Sequence[JudgeDescription]: ...

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
    ) -> PairVerdict: ...

    def judge_single(
        self,
        judge_id: str,
        prompt: str,
        answer: str,
        criteria: Iterable[str] | None = None,
        options: dict | None = None,
        *,
        timeout: float | None = None,
    ) -> SingleScores: ...

    def rankers(self) -> Sequence[RankerDescription]: ...

    def rank_candidates(
        self,
        ranker_id: str,
        prompt: str,
        candidates: list[str],
        options: dict | None = None,
        *,
        timeout: float | None = None,
    ) -> CandidateScores: ...


# --- handing the access over ------------------------------------------------------------------------------------

_provider: Callable[[], PluginAccess] | None = None


def provide_plugins(provider: Callable[[], PluginAccess] | None) -> Callable[[], PluginAccess] | None:
    """Give the core its way to plugins (a callable returning the access, called on every use); None takes it
    away. Returns the provider it replaces."""
    global _provider
    previous, _provider = _provider, provider
    return previous


def plugins_provided() -> bool:
    return _provider is not None


def plugins() -> PluginAccess:
    """The plugin access the host provided; ``PluginCallError`` (a ``UserError``) in words when there is none."""
    provider = _provider
    if provider is None:
        raise PluginCallError(NOT_PROVIDED)
    return provider()


def secret_option_names(judge_id: str) -> set[str]:
    """Names of a judge's ``secret`` options (API keys); empty when the judge or the plugins are unknown."""
    try:
        for info in plugins().judges():
            if info.id == judge_id:
                return {o.name for o in info.options if o.kind == "secret"}
    except Exception:  # listing judges must never stop a caller that only wants to hide secrets
        pass
    return set()
