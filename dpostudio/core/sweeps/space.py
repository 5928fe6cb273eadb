"""A sweep's search space: one dimension per run-config field, written ``field=kind:values``.

Kinds (the syntax the CLI takes and ``ParamSpec.text()`` writes back)::

    learning_rate=loguniform:1e-6:1e-3      a float, uniform on the log scale between low and high
    lora_dropout=uniform:0:0.2              a float, uniform between low and high
    max_steps=int:100:500[:100]             a whole number from low to high (inclusive), optionally in steps
    beta=choice:0.01,0.1,0.2,0.5            one of the listed values (numbers, true/false or words)

Short names are accepted for the fields a sweep most often turns (``lr``, ``batch``, ``accum``, ``steps``). Every
value (each choice, both ends of a range) is checked as the run configuration checks it, so a space that cannot
make a valid run is refused before any trial starts, in words that name the token and what was expected.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import tomllib

from dpostudio.core.errors import UserError
from dpostudio.core.training.config_values import ConfigError, check_value, closest, field_default
from dpostudio.core.training.run_config import RunConfig

if TYPE_CHECKING:
    import optuna

CHOICE = "choice"
UNIFORM = "uniform"
LOGUNIFORM = "loguniform"
INT = "int"
KINDS = (CHOICE, UNIFORM, LOGUNIFORM, INT)
EXAMPLES = {
    CHOICE: "beta=choice:0.1,0.2,0.5",
    UNIFORM: "lora_dropout=uniform:0:0.2",
    LOGUNIFORM: "learning_rate=loguniform:1e-6:1e-3",
    INT: "max_steps=int:100:500:100",
}
ALIASES = {  # the names people use for the fields a sweep turns most
    "lr": "learning_rate",
    "batch": "per_device_batch_size",
    "batch_size": "per_device_batch_size",
    "accum": "gradient_accumulation_steps",
    "accumulation": "gradient_accumulation_steps",
    "grad_accum": "gradient_accumulation_steps",
    "steps": "max_steps",
}
NOT_SWEPT = ("name",)  # each trial names its own run


class SpaceError(UserError, ValueError):
    """A search-space dimension that cannot be read or cannot make a valid run: ``token`` is the text at fault."""

    def __init__(self, token: str, message: str):
        self.token = token
        super().__init__(f"{token!r}: {message}")


@dataclass(frozen=True)
class ParamSpec:
    """One dimension: a run-config field and the values a trial may give it."""

    name: str
    kind: str
    choices: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    step: int | None = None

    def text(self) -> str:
        """The dimension in the syntax ``parse_param`` reads."""
        if self.kind == CHOICE:
            return f"{self.name}={CHOICE}:" + ",".join(_value_text(v) for v in self.choices)
        parts = [_value_text(self.low), _value_text(self.high)]
        if self.kind == INT and self.step not in (None, 1):
            parts.append(str(self.step))
        return f"{self.name}={self.kind}:" + ":".join(parts)

    @property
    def discrete(self) -> bool:
        """Whether its values can be listed (a grid can only take such dimensions)."""
        return self.kind in (CHOICE, INT)

    def values(self) -> list[Any]:
        """Every value of a discrete dimension, in order."""
        if self.kind == CHOICE:
            return list(self.choices)
        if self.kind == INT:
            assert self.low is not None and self.high is not None
            return list(range(int(self.low), int(self.high) + 1, self.step or 1))
        raise ValueError(f"{self.name}: a {self.kind} dimension has no list of values")

    def suggest(self, trial: optuna.Trial) -> Any:
        """Ask the trial for this dimension's value."""
        if self.kind == CHOICE:
            return trial.suggest_categorical(self.name, list(self.choices))
        assert self.low is not None and self.high is not None
        if self.kind == INT:
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=self.step or 1)
        return trial.suggest_float(self.name, self.low, self.high, log=self.kind == LOGUNIFORM)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "choices": list(self.choices),
            "low": self.low,
            "high": self.high,
            "step": self.step,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ParamSpec:
        return cls(
            name=data["name"],
            kind=data["kind"],
            choices=tuple(data.get("choices") or ()),
            low=data.get("low"),
            high=data.get("high"),
            step=data.get("step"),
        )


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value)) if abs(value) >= 1 or value == 0 else repr(value)
    return str(value) if not isinstance(value, float) else f"{value:g}"


def _fields() -> dict[str, dataclasses.Field]:
    return {f.name: f for f in RunConfig.field_specs()}


def field_name(token: str, name: str) -> str:
    """The run-config field ``name`` stands for (an alias or the field itself, ``-`` read as ``_``)."""
    name = name.strip().replace("-", "_")
    name = ALIASES.get(name, name)
    fields = _fields()
    if name not in fields:
        hint = closest(name, set(fields) | set(ALIASES))
        hint = ALIASES.get(hint, hint) if hint else None
        raise SpaceError(token, f"unknown run setting {name!r}" + (f" (did you mean {hint!r}?)" if hint else ""))
    if name in NOT_SWEPT:
        raise SpaceError(token, f"{name!r} cannot be swept: each trial names its own run")
    if isinstance(field_default(fields[name]), list):
        raise SpaceError(token, f"{name!r} holds a list, not one value, so it cannot be swept")
    return name


def _number(token: str, text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SpaceError(token, f"{what} must be a number, not {text.strip()!r}") from None
    if not math.isfinite(value):
        raise SpaceError(token, f"{what} must be a finite number, not {text.strip()!r}")
    return value


def _scalar(text: str) -> Any:
    """A choice written on the command line: a TOML value (number, true/false, quoted text), else plain text."""
    text = text.strip()
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _checked(token: str, field: dataclasses.Field, value: Any) -> Any:
    try:
        return check_value(field, value)
    except ConfigError as exc:
        raise SpaceError(token, str(exc)) from None


def parse_param(text: str) -> ParamSpec:
    """Read one dimension, ``field=kind:values`` (see the module's help); raise ``SpaceError`` in words."""
    token = text.strip()
    name, sep, rest = token.partition("=")
    if not sep or not name.strip() or not rest.strip():
        raise SpaceError(token, "write a search dimension as field=kind:values, e.g. " + EXAMPLES[LOGUNIFORM])
    name = field_name(token, name)
    field = _fields()[name]
    kind, sep, args = rest.strip().partition(":")
    kind = kind.strip().lower().replace("-", "").replace("_", "")
    kind = {"categorical": CHOICE, "float": UNIFORM, "log": LOGUNIFORM, "logfloat": LOGUNIFORM}.get(kind, kind)
    if kind not in KINDS:
        raise SpaceError(token, f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}, e.g. {EXAMPLES[CHOICE]}")
    if not sep or not args.strip():
        raise SpaceError(token, f"{kind} needs values after the colon, e.g. {EXAMPLES[kind]}")
    default = field_default(field)
    whole = isinstance(default, int) and not isinstance(default, bool) or str(field.type).startswith("int")
    if kind == CHOICE:
        values = [_scalar(part) for part in args.split(",")]
        if any(v == "" for v in values):
            raise SpaceError(token, f"an empty choice; separate the values with commas, e.g. {EXAMPLES[CHOICE]}")
        checked = tuple(_checked(token, field, v) for v in values)
        if len(set(map(repr, checked))) != len(checked):
            raise SpaceError(token, "a value is listed twice")
        return ParamSpec(name, CHOICE, choices=checked)
    parts = args.split(":")
    expected = "low:high[:step]" if kind == INT else "low:high"
    if len(parts) not in ((2, 3) if kind == INT else (2,)):
        raise SpaceError(token, f"{kind} takes {expected}, e.g. {EXAMPLES[kind]}")
    low, high = _number(token, parts[0], "low"), _number(token, parts[1], "high")
    if low >= high:
        raise SpaceError(token, f"low ({parts[0].strip()}) must be below high ({parts[1].strip()})")
    if kind == INT:
        step = _number(token, parts[2], "step") if len(parts) == 3 else 1.0
        if not (low.is_integer() and high.is_integer() and step.is_integer()) or step < 1:
            raise SpaceError(token, f"int takes whole numbers {expected} with a step of at least 1")
        if not whole:
            raise SpaceError(token, f"{name} is not a whole number: use uniform or loguniform, or choice")
        for end in (low, high):
            _checked(token, field, int(end))
        return ParamSpec(name, INT, low=int(low), high=int(high), step=int(step))
    if whole:
        raise SpaceError(token, f"{name} is a whole number: use int:LOW:HIGH or choice:A,B,... instead of {kind}")
    if kind == LOGUNIFORM and low <= 0:
        raise SpaceError(token, f"loguniform needs a low above 0, not {parts[0].strip()}")
    low, high = float(_checked(token, field, low)), float(_checked(token, field, high))
    return ParamSpec(name, kind, low=low, high=high)


def parse_space(texts: list[str]) -> list[ParamSpec]:
    """Read every dimension; a field given twice is an error."""
    space: list[ParamSpec] = []
    for text in texts:
        param = parse_param(text)
        if any(p.name == param.name for p in space):
            raise SpaceError(text.strip(), f"{param.name} is already in the search space")
        space.append(param)
    return space


def grid_size(space: list[ParamSpec]) -> int:
    """How many runs a grid over ``space`` makes (every dimension must be discrete)."""
    return math.prod(len(p.values()) for p in space)
