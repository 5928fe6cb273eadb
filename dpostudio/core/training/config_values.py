"""Checking and reading run configuration values: the error a bad value raises, the type and range check every
field goes through, the fields with their own syntax (loss names, loss weights, extra eval sets), the checks between
fields, ``field=value`` overrides from the command line, and "did you mean" hints. The fields themselves are
declared in ``run_config``, which also re-exports the public names."""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomllib

from dpostudio.core.errors import UserError
from dpostudio.core.training.event_types import RESERVED_EVAL_SET_NAMES
from dpostudio.core.training.losses import COMBINATIONS, LABEL_SMOOTHING_LOSSES, LOSS_NAMES, split_loss_type

if TYPE_CHECKING:
    from dpostudio.core.training.run_config import RunConfig


class ConfigError(UserError, ValueError):
    """A configuration value is unknown or invalid. ``field`` names it."""

    def __init__(self, field_name: str, message: str):
        self.field = field_name
        super().__init__(f"{field_name}: {message}")


def check_loss_type(name: str, value: Any) -> str:
    """One of TRL's loss names, or several joined with '+' (a list or commas are accepted too), normalised to
    ``"a+b"``."""
    if not isinstance(value, (str, list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ConfigError(name, f"must be a loss name such as 'sigmoid', or names joined with '+', not {value!r}")
    losses = split_loss_type(value)
    if not losses:
        raise ConfigError(name, "must not be empty")
    for loss in losses:
        if loss not in LOSS_NAMES:
            hint = closest(loss, set(LOSS_NAMES))
            raise ConfigError(
                name,
                f"unknown loss {loss!r}"
                + (f" (did you mean {hint!r}?)" if hint else "")
                + f"; must be one of {', '.join(LOSS_NAMES)}, or several joined with '+' "
                f"(e.g. {next(iter(COMBINATIONS))} for RPO)",
            )
    repeated = next((loss for i, loss in enumerate(losses) if loss in losses[:i]), None)
    if repeated:
        raise ConfigError(name, f"{repeated!r} is named twice; give each loss once and weigh it in loss_weights")
    return "+".join(losses)


EVAL_SET_NAME = re.compile(r"[a-z][a-z0-9_]{0,23}")


def eval_set_name(source: str) -> str:
    """The name an extra eval set gets from its source when none is given: the file stem (or the last part of a
    Hub id or plugin spec), lower-cased, with anything but letters and digits turned into '_'."""
    text = source.split("?", 1)[0].rstrip("/\\")
    if text.startswith("plugin:"):
        text = text[len("plugin:") :]
    stem = Path(text.replace("\\", "/").rsplit("/", 1)[-1]).stem
    return re.sub(r"_+", "_", re.sub(r"[^a-z0-9]", "_", stem.lower())).strip("_")


def _split_eval_set(entry: str) -> tuple[str | None, str]:
    """``name=source`` as ``(name, source)``; ``(None, entry)`` when the text before '=' is part of a source
    (a path, Hub id or plugin spec such as 'plugin:x?split=test')."""
    given, sep, source = entry.partition("=")
    if sep and given.strip() and not any(c in given for c in "/\\:.? "):
        return given.strip(), source.strip()
    return None, entry


def parse_eval_set(entry: str) -> tuple[str, str]:
    """One ``extra_eval_sets`` entry as ``(name, source)``, the name derived from the source when not given."""
    name, source = _split_eval_set(entry.strip())
    return (name if name is not None else eval_set_name(source)), source


def check_eval_sets(name: str, value: Any) -> list[str]:
    """A list of 'name=source' entries (or just sources, named after their file stem); names are short identifiers,
    each given once. A string is split on commas (the CLI's ``--set extra_eval_sets=a.jsonl,b.jsonl``)."""
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ConfigError(
            name, f"must be a list of 'name=source' entries such as ['styled=styled.jsonl'], not {value!r}"
        )
    entries: list[str] = []
    seen: dict[str, str] = {}
    for raw in value:
        entry = raw.strip()
        if not entry:
            raise ConfigError(name, "an entry is empty; write 'name=source' or just the source")
        given, source = _split_eval_set(entry)
        set_name = given if given is not None else eval_set_name(source)
        if not source:
            raise ConfigError(name, f"{entry!r}: the source is missing after '='")
        if not EVAL_SET_NAME.fullmatch(set_name):
            if given is None:
                raise ConfigError(
                    name, f"{entry!r}: cannot make a short name from this source; write it as 'name=source'"
                )
            raise ConfigError(
                name,
                f"{entry!r}: the name {set_name!r} must be a short identifier (lower-case letters, digits and '_', "
                "starting with a letter, at most 24 characters)",
            )
        if set_name in RESERVED_EVAL_SET_NAMES:
            raise ConfigError(
                name, f"{entry!r}: the name {set_name!r} is reserved (it reads as a metric name); choose another"
            )
        if set_name in seen:
            raise ConfigError(name, f"{entry!r}: the name {set_name!r} is already used by {seen[set_name]!r}")
        seen[set_name] = entry
        entries.append(f"{set_name}={source}" if given is not None else entry)
    return entries


def check_weights(name: str, value: Any) -> list[float]:
    """A list of numbers (also written '1.0, 0.5' or '[1.0, 0.5]'), each 0 or more, not all 0."""
    if isinstance(value, str):
        value = [v.strip() for v in value.strip().strip("[]").split(",") if v.strip()]
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(name, f"must be a list of numbers such as [1.0, 1.0], not {value!r}")
    weights = []
    for item in value:
        try:
            if isinstance(item, bool):
                raise ValueError
            weight = float(item)
        except (TypeError, ValueError):
            raise ConfigError(name, f"must be a list of numbers such as [1.0, 1.0]; {item!r} is not a number") from None
        if not math.isfinite(weight) or weight < 0:
            raise ConfigError(name, f"each weight must be a number of 0 or more, not {item!r}")
        weights.append(weight)
    if not any(weights):
        raise ConfigError(name, "at least one weight must be above 0")
    return weights


def parse_override(text: str) -> tuple[str, Any]:
    """Parse ``field=value`` from the command line into a typed pair (value parsed as TOML, else string)."""
    key, sep, raw = text.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or not key:
        raise ConfigError(text, "write overrides as field=value, for example beta=0.2")
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key, value


def closest(name: str, candidates: set[str]) -> str | None:
    import difflib

    match = difflib.get_close_matches(name, sorted(candidates), n=1)
    return match[0] if match else None


def field_default(f: dataclasses.Field) -> Any:
    """A config field's default value (its ``default``, or a fresh one from its ``default_factory``)."""
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    raise TypeError(f"config field {f.name!r} has no default")


def check_value(f: dataclasses.Field, value: Any) -> Any:
    meta = f.metadata
    name = f.name
    if value is None or value == "" and meta.get("optional"):
        if meta.get("optional"):
            return None
        if f.default_factory is not dataclasses.MISSING and field_default(f) == []:
            return []  # a list that is empty by default (filters, extra eval sets): no value is the empty list
        raise ConfigError(name, "a value is required")
    check = meta.get("check")
    if check is not None:
        return check(name, value)
    default = field_default(f)
    kind = type(default) if default is not None else _optional_kind(f)
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(name, f"must be true or false, not {value!r}")
    elif kind is int:
        if isinstance(value, bool) or not (isinstance(value, int) or isinstance(value, float) and value.is_integer()):
            raise ConfigError(name, f"must be a whole number, not {value!r}")
        value = int(value)
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(name, f"must be a number, not {value!r}")
        value = float(value)
    elif kind is str:
        if not isinstance(value, str):
            raise ConfigError(name, f"must be text, not {value!r}")
        value = value.strip()
        if not value:
            raise ConfigError(name, "must not be empty")
    elif kind is list:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise ConfigError(name, f"must be a list of names, not {value!r}")
    choices = meta.get("choices")
    if choices and value not in choices:
        raise ConfigError(name, f"must be one of {', '.join(choices)}, not {value!r}")
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None and (value < lo or (meta.get("min_exclusive") and value == lo)):
        bound = "greater than" if meta.get("min_exclusive") else "at least"
        raise ConfigError(name, f"must be {bound} {lo:g}, not {value:g}")
    if hi is not None and (value > hi or (meta.get("max_exclusive") and value == hi)):
        bound = "less than" if meta.get("max_exclusive") else "at most"
        raise ConfigError(name, f"must be {bound} {hi:g}, not {value:g}")
    return value


def check_loss_settings(config: RunConfig) -> None:
    """The checks between loss_type and the settings it reads."""
    losses = split_loss_type(config.loss_type)
    if config.loss_weights is not None and len(config.loss_weights) != len(losses):
        count = len(config.loss_weights)
        raise ConfigError(
            "loss_weights",
            f"{count} weight{'s' if count != 1 else ''} for {len(losses)} loss{'es' if len(losses) != 1 else ''} "
            f"({config.loss_type}): give one weight per loss, in the same order, or leave it empty for 1.0 each",
        )
    if config.label_smoothing is not None:
        if "exo_pair" in losses and config.label_smoothing == 0:
            raise ConfigError(
                "label_smoothing", "must be above 0 with the exo_pair loss (the EXO paper uses 0.001), or empty"
            )
        if config.label_smoothing > 0 and not set(losses) & set(LABEL_SMOOTHING_LOSSES):
            raise ConfigError(
                "label_smoothing",
                f"only the {', '.join(LABEL_SMOOTHING_LOSSES)} losses use it, so with {config.loss_type} it would "
                "change nothing; leave it empty (or pick robust for DPO that allows for wrong labels)",
            )


def _optional_kind(f: dataclasses.Field) -> type:
    text = str(f.type)
    for kind in (bool, int, float, str):
        if text.startswith(kind.__name__):
            return kind
    return str
