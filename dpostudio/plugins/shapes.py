"""The checks every hook result passes before anything else sees it; a failed check raises ``ShapeError``.

The dataclasses check their own fields (``validate()`` in ``types``); these functions check that a hook returned
the right class at all, and for judges that the verdict covers the criteria that were asked for.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from dpostudio.plugins.types import LoadedDataset, Ranking, ResolvedModel, ScoreCard, ShapeError, Verdict


class _Validating(Protocol):
    def validate(self) -> None: ...


def check_list(value: Any, cls: type[_Validating], hook: str) -> list:
    """A listing hook's result: a list of ``cls``, each one valid."""
    if not isinstance(value, (list, tuple)):
        raise ShapeError(f"{hook} must return a list of {cls.__name__}, got {type(value).__name__}")
    for item in value:
        if not isinstance(item, cls):
            raise ShapeError(
                f"{hook} must return a list of {cls.__name__}, found a {type(item).__name__}: {item!r:.80}"
            )
        item.validate()
    return list(value)


def check_loaded_dataset(value: Any, hook: str = "dpostudio_load_dataset") -> LoadedDataset:
    if not isinstance(value, LoadedDataset):
        raise ShapeError(f"{hook} must return a LoadedDataset, got {type(value).__name__}")
    value.validate()
    return value


def check_resolved_model(value: Any, hook: str = "dpostudio_resolve_model") -> ResolvedModel:
    if not isinstance(value, ResolvedModel):
        raise ShapeError(f"{hook} must return a ResolvedModel, got {type(value).__name__}")
    return value


def check_verdict(value: Any, criteria: Iterable[str], hook: str = "dpostudio_judge_pair") -> Verdict:
    if not isinstance(value, Verdict):
        raise ShapeError(f"{hook} must return a Verdict, got {type(value).__name__}")
    value.validate(list(criteria))
    return value


def check_score_card(value: Any, criteria: Iterable[str], hook: str = "dpostudio_judge_single") -> ScoreCard:
    if not isinstance(value, ScoreCard):
        raise ShapeError(f"{hook} must return a ScoreCard, got {type(value).__name__}")
    value.validate(list(criteria))
    return value


def check_ranking(value: Any, count: int, hook: str = "dpostudio_rank_candidates") -> Ranking:
    if not isinstance(value, Ranking):
        raise ShapeError(f"{hook} must return a Ranking, got {type(value).__name__}")
    value.validate(count)
    return value
