"""A sweep's slice and contour views as plain numbers (the Sweeps pane draws them with pyqtgraph).

Both read the finished trials (COMPLETE, with a finite objective value) of the sweep's Optuna study:

- ``slices``: for each swept field, the objective against that field, one point per trial. A log-uniform field is
  drawn on a log axis; a choice of words (or of true/false) is drawn at positions 0, 1, ... with the words as ticks;
  numbers (int ranges, uniform, numeric choices) at their values.
- ``contour``: two fields against each other, each trial a point coloured by its objective, over a shaded guide:
  the objective interpolated between the trials by inverse-distance weighting (Shepard's method) on a grid, in the
  axes' own scale (log10 for a log axis, positions for words). The shading only guides the eye; the points are
  the measurements.

``trial_points(sweep)`` gives the plain data (picklable, read on a task thread); ``slices`` and ``contour`` are pure
functions of it and the search space.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dpostudio.core.sweeps.space import CHOICE, LOGUNIFORM, ParamSpec

if TYPE_CHECKING:
    from dpostudio.core.sweeps.store import Sweep

GRID = 48  # cells per side of the contour's shaded guide
POWER = 2.0  # inverse-distance weighting: weight = 1 / distance**POWER


@dataclass(frozen=True)
class TrialPoint:
    """A finished trial: its number, its swept values and its objective value."""

    trial: int
    params: dict[str, Any]
    value: float


def trial_points(sweep: Sweep) -> list[TrialPoint]:
    """The sweep's finished trials (COMPLETE, finite value), by trial number."""
    from optuna.trial import TrialState

    found = []
    for trial in sweep.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if trial.value is not None and math.isfinite(trial.value):
            found.append(TrialPoint(trial.number, dict(trial.params), float(trial.value)))
    return sorted(found, key=lambda p: p.trial)


@dataclass(frozen=True)
class Axis:
    """How a field is laid out on an axis: ``log`` (a log-uniform field: log10 scale) or ``labels`` (a choice of
    words: positions 0..n-1 with these ticks); otherwise values as they are."""

    name: str
    log: bool = False
    labels: tuple[str, ...] = ()
    choices: tuple[Any, ...] = ()

    def position(self, value: Any) -> float:
        """Where ``value`` goes in the axis's own scale (log10 of it on a log axis; its index for words)."""
        if self.labels:
            return float(self.choices.index(value))
        return math.log10(float(value)) if self.log else float(value)


def axis_of(param: ParamSpec) -> Axis:
    if param.kind == CHOICE and not all(_is_number(c) for c in param.choices):
        return Axis(param.name, labels=tuple(_label(c) for c in param.choices), choices=tuple(param.choices))
    return Axis(param.name, log=param.kind == LOGUNIFORM)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _label(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass
class Slice:
    """The objective against one field: ``x`` are the trials' values (positions for words), ``y`` their objective;
    ``x_range`` the extent to show, in the axis's own scale (log10 on a log axis): the field's search range."""

    axis: Axis
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    trials: list[int] = field(default_factory=list)
    x_range: tuple[float, float] = (0.0, 1.0)


def slices(points: list[TrialPoint], space: list[ParamSpec]) -> list[Slice]:
    """One slice per swept field, in the order of the space (a trial without the field is left out of its slice)."""
    out = []
    for param in space:
        axis = axis_of(param)
        view = Slice(axis)
        for point in points:
            if param.name not in point.params:
                continue
            value = point.params[param.name]
            view.x.append(float(axis.choices.index(value)) if axis.labels else float(value))
            view.y.append(point.value)
            view.trials.append(point.trial)
        view.x_range = axis_range(param, axis, [axis.position(v) for v in view.x] if not axis.labels else view.x)
        out.append(view)
    return out


@dataclass
class Contour:
    """Two fields against each other. ``x``/``y``: the trials' positions in each axis's own scale (log10 on a log
    axis); ``values``: their objective. ``grid``: the shaded guide, ``grid[i][j]`` at
    (``x_range[0] + (i + 0.5) * cell_x``, ``y_range[0] + (j + 0.5) * cell_y``), empty when fewer than 3 trials or
    all at one place; ``note`` says why in words."""

    x_axis: Axis
    y_axis: Axis
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    trials: list[int] = field(default_factory=list)
    x_range: tuple[float, float] = (0.0, 1.0)
    y_range: tuple[float, float] = (0.0, 1.0)
    grid: list[list[float]] = field(default_factory=list)
    note: str = ""

    @property
    def cell_x(self) -> float:
        return (self.x_range[1] - self.x_range[0]) / max(len(self.grid), 1)

    @property
    def cell_y(self) -> float:
        return (self.y_range[1] - self.y_range[0]) / max(len(self.grid[0]) if self.grid else 1, 1)


def contour(
    points: list[TrialPoint], space: list[ParamSpec], x_name: str, y_name: str, resolution: int = GRID
) -> Contour:
    """``x_name`` against ``y_name`` (two different swept fields), the trials coloured by their objective."""
    params = {p.name: p for p in space}
    for name in (x_name, y_name):
        if name not in params:
            raise ValueError(f"{name} is not a swept field ({', '.join(params)})")
    if x_name == y_name:
        raise ValueError("a contour needs two different fields")
    view = Contour(axis_of(params[x_name]), axis_of(params[y_name]))
    for point in points:
        if x_name in point.params and y_name in point.params:
            view.x.append(view.x_axis.position(point.params[x_name]))
            view.y.append(view.y_axis.position(point.params[y_name]))
            view.values.append(point.value)
            view.trials.append(point.trial)
    view.x_range = axis_range(params[x_name], view.x_axis, view.x)
    view.y_range = axis_range(params[y_name], view.y_axis, view.y)
    places = set(zip(view.x, view.y, strict=True))
    if len(view.values) < 3 or len(places) < 3:
        view.note = f"the shading needs 3 finished trials at different values; {len(places)} so far"
        return view
    view.grid = _shepard(view, resolution)
    view.note = "points: finished trials; shading: the objective interpolated between them (a guide only)"
    return view


def axis_range(param: ParamSpec, axis: Axis, seen: list[float]) -> tuple[float, float]:
    """The axis's extent in its own scale: the search range for a range field, half a step beyond the ends for a
    choice, widened to the trials (a value queued by hand may lie outside)."""
    if axis.labels:
        low, high = -0.5, len(axis.labels) - 0.5
    elif param.kind == CHOICE:
        values = sorted(float(c) for c in param.choices)
        pad = (values[-1] - values[0]) * 0.05 or 0.5
        low, high = values[0] - pad, values[-1] + pad
    else:
        assert param.low is not None and param.high is not None
        low, high = (math.log10(param.low), math.log10(param.high)) if axis.log else (param.low, param.high)
    if seen:
        low, high = min(low, *seen), max(high, *seen)
    if high <= low:
        low, high = low - 0.5, high + 0.5
    return float(low), float(high)


def _shepard(view: Contour, resolution: int) -> list[list[float]]:
    """Inverse-distance weighting of the trials' values on a ``resolution`` x ``resolution`` grid, distances
    measured with each axis scaled to [0, 1]."""
    import numpy as np

    (x0, x1), (y0, y1) = view.x_range, view.y_range
    px = (np.asarray(view.x) - x0) / (x1 - x0)
    py = (np.asarray(view.y) - y0) / (y1 - y0)
    values = np.asarray(view.values)
    centres = (np.arange(resolution) + 0.5) / resolution
    gx, gy = np.meshgrid(centres, centres, indexing="ij")  # gx[i, j] = centre of column i
    distance = np.hypot(gx[..., None] - px, gy[..., None] - py)  # (resolution, resolution, trials)
    on_point = distance < 1e-12
    weights = 1.0 / np.maximum(distance, 1e-12) ** POWER
    grid = (weights * values).sum(axis=-1) / weights.sum(axis=-1)
    hit = on_point.any(axis=-1)
    if hit.any():  # a cell centre exactly on a trial takes that trial's value
        grid[hit] = values[on_point[hit].argmax(axis=-1)]
    return grid.tolist()


def log_ticks(low: float, high: float, most: int = 6) -> list[tuple[float, str]]:
    """Ticks (log10 position, label) for a log axis from ``10**low`` to ``10**high``: steps of 1, 2 and 5 per decade,
    else 1 and 3, else decades only (every k-th if need be), the first that gives at most ``most``; the two ends
    when no step falls inside. pyqtgraph's own log ticks label every minor step and overlap on a narrow range."""
    ticks: list[tuple[float, str]] = []
    for mantissas in ((1, 2, 5), (1, 3), (1,)):
        ticks = [
            (math.log10(m * 10.0**e), _tick_label(m, e))
            for e in range(math.floor(low), math.ceil(high) + 1)
            for m in mantissas
            if low - 1e-9 <= math.log10(m * 10.0**e) <= high + 1e-9
        ]
        if len(ticks) <= most:
            break
    else:
        ticks = ticks[:: math.ceil(len(ticks) / most)]
    if len(ticks) < 2:
        ticks = [(p, f"{10.0**p:.2g}") for p in (low, high)]
    return ticks


def _tick_label(mantissa: int, exponent: int) -> str:
    if -2 <= exponent <= 3:
        return f"{mantissa * 10.0**exponent:g}"
    return f"{mantissa}e{exponent}"
