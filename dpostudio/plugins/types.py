"""Plain dataclasses that travel between DPO Studio and its plugins (Qt-free, no heavy imports).

Plugins build these and return them from their hooks; the host checks every result with
``validate()`` before anything else sees it, so a plugin that returns junk is reported, not trusted.
``ResolvedModel`` (what a model source resolves to) is the model store's own class, part of this contract too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dpostudio.core.model_store import ResolvedModel  # noqa: F401  (what dpostudio_resolve_model returns)

OPTION_KINDS = ("text", "path", "choice", "int", "float", "bool", "secret")
WINNERS = ("A", "B", "tie")
DEFAULT_CRITERIA = ("coherence", "relevance", "depth")

ProgressFn = Callable[[float, str], None]  # (fraction 0..1, what is happening)


class ShapeError(ValueError):
    """A plugin returned something of the wrong shape; the message says what was expected."""


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ShapeError(message)


def _check_id(value: Any, what: str) -> None:
    _check(
        isinstance(value, str) and value.strip() != "" and value == value.strip(),
        f"{what} must be a non-empty string without surrounding spaces, got {value!r}",
    )


@dataclass
class SourceOption:
    """One input a source or judge needs, enough for a pane to draw a form field and for the CLI to parse it.

    ``kind`` is one of ``text``, ``path``, ``choice`` (then ``choices`` lists the allowed values), ``int``,
    ``float``, ``bool`` or ``secret`` (a value the UI masks and keeps in the OS keyring, never in settings).
    """

    name: str
    label: str = ""
    kind: str = "text"
    default: Any = None
    required: bool = False
    choices: list[str] = field(default_factory=list)
    help: str = ""

    def coerce(self, value: Any) -> Any:
        """A value given as text (a ``plugin:<id>?name=value`` spec, the CLI) as this option's kind; the
        error names the option. Values that already have the right type pass through."""
        if not isinstance(value, str) or self.kind not in ("int", "float", "bool"):
            return value
        text = value.strip()
        if self.kind == "bool":
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off", ""):
                return False
            raise ShapeError(f"option {self.name}: expected true or false, not {value!r}")
        try:
            return int(text) if self.kind == "int" else float(text)
        except ValueError:
            raise ShapeError(
                f"option {self.name}: expected a{'n integer' if self.kind == 'int' else ' number'}, not {value!r}"
            ) from None

    def validate(self) -> None:
        _check_id(self.name, "option name")
        _check(isinstance(self.label, str), f"option {self.name}: label must be a string")
        _check(
            self.kind in OPTION_KINDS,
            f"option {self.name}: kind must be one of {', '.join(OPTION_KINDS)}, got {self.kind!r}",
        )
        _check(isinstance(self.required, bool), f"option {self.name}: required must be True or False")
        _check(
            isinstance(self.choices, (list, tuple)) and all(isinstance(c, str) for c in self.choices),
            f"option {self.name}: choices must be a list of strings",
        )
        _check(self.kind != "choice" or len(self.choices) > 0, f"option {self.name}: a choice option needs choices")
        _check(isinstance(self.help, str), f"option {self.name}: help must be a string")


def _validate_options(options: Any, owner: str) -> None:
    _check(isinstance(options, (list, tuple)), f"{owner}: options must be a list of SourceOption")
    names = set()
    for opt in options:
        _check(
            isinstance(opt, SourceOption), f"{owner}: options must be SourceOption objects, got {type(opt).__name__}"
        )
        opt.validate()
        _check(opt.name not in names, f"{owner}: option {opt.name!r} is declared twice")
        names.add(opt.name)


@dataclass
class DatasetSource:
    """A kind of place preference data comes from (a file, the Hub, a folder of texts, ...).

    ``id`` is unique across all plugins (for example ``local-file``); ``options`` describe the form the
    dataset pane shows for it.
    """

    id: str
    title: str
    description: str = ""
    options: list[SourceOption] = field(default_factory=list)

    def validate(self) -> None:
        _check_id(self.id, "dataset source id")
        _check(
            isinstance(self.title, str) and self.title != "",
            f"dataset source {self.id}: title must be a non-empty string",
        )
        _check(isinstance(self.description, str), f"dataset source {self.id}: description must be a string")
        _validate_options(self.options, f"dataset source {self.id}")


@dataclass
class LoadedDataset:
    """Rows loaded by a dataset source.

    ``train`` is a ``datasets.Dataset`` or a list of dicts; ideally with ``prompt``/``chosen``/``rejected``
    text columns (other layouts, such as HH-RLHF's chosen/rejected transcripts, are mapped later by the data
    layer). ``heldout`` is an evaluation split the source ships with, or None. ``label`` is what the UI shows.
    """

    train: Any
    heldout: Any = None
    label: str = ""
    notes: list[str] = field(default_factory=list)

    def validate(self) -> None:
        for name in ("train", "heldout"):
            value = getattr(self, name)
            if value is None and name == "heldout":
                continue
            if isinstance(value, list):
                _check(
                    all(isinstance(r, Mapping) for r in value), f"LoadedDataset.{name}: a list of rows must hold dicts"
                )
                continue
            _check(
                hasattr(value, "column_names") and hasattr(value, "__len__"),
                f"LoadedDataset.{name} must be a datasets.Dataset or a list of dicts, got {type(value).__name__}",
            )
        _check(isinstance(self.label, str), "LoadedDataset.label must be a string")
        _check(
            isinstance(self.notes, list) and all(isinstance(n, str) for n in self.notes),
            "LoadedDataset.notes must be a list of strings",
        )


@dataclass
class ModelSource:
    """A kind of place a base model comes from (Hub id, local folder, GGUF file, the embedded default, ...)."""

    id: str
    title: str
    description: str = ""
    options: list[SourceOption] = field(default_factory=list)

    def validate(self) -> None:
        _check_id(self.id, "model source id")
        _check(
            isinstance(self.title, str) and self.title != "",
            f"model source {self.id}: title must be a non-empty string",
        )
        _check(isinstance(self.description, str), f"model source {self.id}: description must be a string")
        _validate_options(self.options, f"model source {self.id}")


@dataclass
class ModelEntry:
    """A model a plugin can offer right now without asking (the embedded default, an already imported GGUF).

    ``source`` is the id of the model source that resolves it, ``options`` what to pass to that source;
    ``spec`` is the same model as a model-store spec string (see ``dpostudio.core.model_store``).
    """

    spec: str
    display_name: str
    source: str
    options: dict = field(default_factory=dict)
    description: str = ""
    local: bool = True

    def validate(self) -> None:
        _check_id(self.spec, "model spec")
        _check(
            isinstance(self.display_name, str) and self.display_name != "",
            f"model {self.spec}: display_name must be a non-empty string",
        )
        _check_id(self.source, f"model {self.spec}: source")
        _check(isinstance(self.options, dict), f"model {self.spec}: options must be a dict")
        _check(isinstance(self.description, str), f"model {self.spec}: description must be a string")
        _check(isinstance(self.local, bool), f"model {self.spec}: local must be True or False")


@dataclass
class JudgeInfo:
    """A judge: something that compares two answers (``pairwise``) and/or scores one answer (``single``)."""

    id: str
    title: str
    description: str = ""
    modes: list[str] = field(default_factory=lambda: ["pairwise"])
    options: list[SourceOption] = field(default_factory=list)

    def validate(self) -> None:
        _check_id(self.id, "judge id")
        _check(isinstance(self.title, str) and self.title != "", f"judge {self.id}: title must be a non-empty string")
        _check(isinstance(self.description, str), f"judge {self.id}: description must be a string")
        _check(
            isinstance(self.modes, (list, tuple))
            and len(self.modes) > 0
            and all(m in ("pairwise", "single") for m in self.modes),
            f"judge {self.id}: modes must list 'pairwise' and/or 'single', got {self.modes!r}",
        )
        _validate_options(self.options, f"judge {self.id}")


def _score(value: Any, what: str) -> None:
    _check(
        isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and 0 <= value <= 10,
        f"{what} must be a number from 0 to 10, got {value!r}",
    )


@dataclass
class Verdict:
    """A judge's decision on answer A vs answer B.

    ``scores`` maps each requested criterion to ``{"A": score, "B": score}`` on a 0-10 scale (higher is
    better). ``winner`` is ``"A"``, ``"B"`` or ``"tie"``. ``reasoning`` says why in words; ``method`` says how
    the verdict was obtained (for example ``parsed`` text or ``loglik`` probabilities); ``raw`` keeps the
    judge's raw output for the log.
    """

    winner: str
    scores: dict[str, dict[str, float]]
    reasoning: str
    method: str = ""
    raw: str = ""

    def validate(self, criteria: list[str] | None = None) -> None:
        _check(self.winner in WINNERS, f"Verdict.winner must be one of A, B, tie, got {self.winner!r}")
        _check(isinstance(self.scores, dict), "Verdict.scores must be a dict of criterion -> {'A': score, 'B': score}")
        for crit, pair in self.scores.items():
            _check(isinstance(crit, str), "Verdict.scores keys must be criterion names")
            _check(
                isinstance(pair, dict) and set(pair) == {"A", "B"},
                f"Verdict.scores[{crit!r}] must be {{'A': score, 'B': score}}",
            )
            _score(pair["A"], f"Verdict.scores[{crit!r}]['A']")
            _score(pair["B"], f"Verdict.scores[{crit!r}]['B']")
        if criteria:
            missing = [c for c in criteria if c not in self.scores]
            _check(not missing, f"Verdict.scores lacks the requested criteria: {', '.join(missing)}")
        _check(isinstance(self.reasoning, str), "Verdict.reasoning must be a string")
        _check(
            isinstance(self.method, str) and isinstance(self.raw, str), "Verdict.method and Verdict.raw must be strings"
        )


@dataclass
class ScoreCard:
    """A judge's scores for a single answer: ``scores`` maps each criterion to 0-10 (higher is better)."""

    scores: dict[str, float]
    reasoning: str
    method: str = ""
    raw: str = ""

    def validate(self, criteria: list[str] | None = None) -> None:
        _check(isinstance(self.scores, dict), "ScoreCard.scores must be a dict of criterion -> score")
        for crit, value in self.scores.items():
            _check(isinstance(crit, str), "ScoreCard.scores keys must be criterion names")
            _score(value, f"ScoreCard.scores[{crit!r}]")
        if criteria:
            missing = [c for c in criteria if c not in self.scores]
            _check(not missing, f"ScoreCard.scores lacks the requested criteria: {', '.join(missing)}")
        _check(isinstance(self.reasoning, str), "ScoreCard.reasoning must be a string")
        _check(
            isinstance(self.method, str) and isinstance(self.raw, str),
            "ScoreCard.method and ScoreCard.raw must be strings",
        )


@dataclass
class RankerInfo:
    """A ranker: scores K candidate answers to one prompt in one call (a reward model, PairRM, ...)."""

    id: str
    title: str
    description: str = ""
    options: list[SourceOption] = field(default_factory=list)

    def validate(self) -> None:
        _check_id(self.id, "ranker id")
        _check(isinstance(self.title, str) and self.title != "", f"ranker {self.id}: title must be a non-empty string")
        _check(isinstance(self.description, str), f"ranker {self.id}: description must be a string")
        _validate_options(self.options, f"ranker {self.id}")


@dataclass
class Ranking:
    """A ranker's scores for K candidates: ``scores[i]`` belongs to candidate ``i`` (higher is better, any finite
    scale, e.g. a reward model's logit). ``method`` says how they were obtained; ``raw`` keeps extra output."""

    scores: list[float]
    reasoning: str = ""
    method: str = ""
    raw: str = ""

    def validate(self, count: int | None = None) -> None:
        _check(isinstance(self.scores, (list, tuple)), "Ranking.scores must be a list of numbers, one per candidate")
        for i, value in enumerate(self.scores):
            _check(
                isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value),
                f"Ranking.scores[{i}] must be a finite number, got {value!r}",
            )
        if count is not None:
            _check(len(self.scores) == count, f"Ranking.scores has {len(self.scores)} scores for {count} candidates")
        _check(
            isinstance(self.reasoning, str) and isinstance(self.method, str) and isinstance(self.raw, str),
            "Ranking.reasoning, Ranking.method and Ranking.raw must be strings",
        )
