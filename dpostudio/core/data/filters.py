"""Row filters on source columns, written as text so they live in the run config: ``"status != tie"``,
``"chosen_score >= 8"``, ``"in_gsm8k_train == false"`` (the argilla distilabel recipe).

A row is kept when it matches every filter. Filters run on the source rows (after "first N"), before validation.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dpostudio.core.data.problems import DataError

_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}
_FILTER = re.compile(r"^\s*([^\s=!<>]+)\s*(==|!=|>=|<=|>|<|=)\s*(.*?)\s*$")


@dataclass(frozen=True)
class RowFilter:
    column: str
    op: str
    value: object
    text: str

    def matches(self, row_value, *, label: str = "data", row_no: int = 0) -> bool:
        value = _coerce_row(row_value)
        if value is None:
            return self.op == "!="  # a missing status is not a tie
        want = self.value
        if isinstance(want, bool) or isinstance(value, bool):
            if isinstance(value, str) and value.lower() in ("true", "false"):
                value = value.lower() == "true"
            if isinstance(want, str) and want.lower() in ("true", "false"):
                want = want.lower() == "true"
        elif isinstance(want, (int, float)):
            try:
                value = float(value)
            except (TypeError, ValueError):
                if self.op in ("==", "!="):
                    return _OPS[self.op](str(value), str(self.value))
                raise DataError(
                    f"{label}, row {row_no}, column '{self.column}': {value!r} is not a number, "
                    f"so filter '{self.text}' cannot compare it"
                ) from None
        elif self.op not in ("==", "!="):
            raise DataError(f"filter '{self.text}': only == and != compare text")
        else:
            value = str(value)
        return bool(_OPS[self.op](value, want))


def _coerce_row(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _parse_value(raw: str):
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        return raw[1:-1]
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    try:
        return float(raw) if any(ch in raw for ch in ".eE") else int(raw)
    except ValueError:
        return raw


def parse_filter(text: str) -> RowFilter:
    """``"column OP value"`` with OP one of == != >= <= > < (a single = means ==)."""
    match = _FILTER.match(text or "")
    if not match or not match.group(3):
        raise DataError(f"filter {text!r}: write it as 'column OP value', e.g. 'status != tie' or 'chosen_score >= 8'")
    column, op, raw = match.groups()
    return RowFilter(column, "==" if op == "=" else op, _parse_value(raw), text.strip())


def suggest_filters(columns: list[str]) -> list[str]:
    """Filters that published recipes apply to datasets with these columns (offered, never applied by default)."""
    out = []
    if "status" in columns:
        out.append("status != tie")
    if "chosen_score" in columns:
        out.append("chosen_score >= 8")
    if "in_gsm8k_train" in columns:
        out.append("in_gsm8k_train == false")
    return out


def apply_filters(ds, filters: list[str], *, label: str = "data") -> tuple[list[int], list[str]]:
    """Return (indices of rows kept, notes saying how many rows each filter removed)."""
    parsed = [parse_filter(f) for f in filters]
    for f in parsed:
        if f.column not in ds.column_names:
            raise DataError(
                f"{label}: filter '{f.text}' names column {f.column!r}, which is not in the data; "
                f"found {', '.join(map(repr, ds.column_names))}"
            )
    if not parsed:
        return list(range(len(ds))), []
    columns = {f.column: ds[f.column] for f in parsed}
    keep, removed = [], [0] * len(parsed)
    for i in range(len(ds)):
        ok = True
        for j, f in enumerate(parsed):
            if not f.matches(columns[f.column][i], label=label, row_no=i + 1):
                removed[j] += 1
                ok = False
                break
        if ok:
            keep.append(i)
    notes = [f"filter '{f.text}' removed {n} row(s)" for f, n in zip(parsed, removed)]
    return keep, notes
