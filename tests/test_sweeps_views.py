"""The slice and contour views' numbers (core.sweeps.views), read from a real SQLite sweep whose trials are added
through Optuna's API (no training): which trials count, where each lands on a log or a labelled axis, and the
contour's interpolated guide."""

import math

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState

from dpostudio.core.sweeps import SweepSpec, create_sweep, open_sweep, parse_space
from dpostudio.core.sweeps.views import GRID, contour, log_ticks, slices, trial_points

SPACE = [
    "lr=loguniform:1e-5:1e-3",
    "loss_type=choice:sigmoid,ipo",
    "lora_dropout=uniform:0:0.2",
    "beta=uniform:0.05:0.45",
]
# (learning_rate, loss_type, lora_dropout, beta) -> eval loss
FINISHED = [
    ((1e-4, "sigmoid", 0.025, 0.10), 0.52),
    ((1e-3, "ipo", 0.175, 0.40), 0.71),
    ((1e-5, "sigmoid", 0.125, 0.30), 0.66),
    ((3e-4, "ipo", 0.075, 0.20), 0.47),
]


def dists(space):
    out = {}
    for p in space:
        if p.kind == "choice":
            out[p.name] = CategoricalDistribution(p.choices)
        else:
            out[p.name] = FloatDistribution(p.low, p.high, log=p.kind == "loguniform")
    return out


@pytest.fixture
def sweep():
    space = parse_space(SPACE)
    made = create_sweep(SweepSpec("views", space, n_trials=8, sampler="random"))
    names = [p.name for p in space]
    for values, loss in FINISHED:
        made.study.add_trial(
            optuna.trial.create_trial(
                params=dict(zip(names, values, strict=True)), distributions=dists(space), value=loss
            )
        )
    odd = dict(zip(names, (5e-5, "ipo", 0.1, 0.1), strict=True))
    made.study.add_trial(optuna.trial.create_trial(state=TrialState.PRUNED, params=odd, distributions=dists(space)))
    made.study.add_trial(optuna.trial.create_trial(state=TrialState.FAIL, params=odd, distributions=dists(space)))
    return open_sweep("views")  # read back from the SQLite file


def test_only_finished_trials_are_points(sweep):
    points = trial_points(sweep)
    assert [p.trial for p in points] == [0, 1, 2, 3]  # the pruned (4) and failed (5) trials have no objective
    assert [p.value for p in points] == [loss for _, loss in FINISHED]
    assert points[3].params == {"learning_rate": 3e-4, "loss_type": "ipo", "lora_dropout": 0.075, "beta": 0.2}


def test_each_field_has_a_slice_on_its_own_kind_of_axis(sweep):
    views = slices(trial_points(sweep), sweep.spec.space)
    assert [v.axis.name for v in views] == ["learning_rate", "loss_type", "lora_dropout", "beta"]
    lr, loss_type, dropout, _ = views
    assert lr.axis.log and not lr.axis.labels
    assert lr.x == [1e-4, 1e-3, 1e-5, 3e-4]  # values as they are: the view draws them on a log axis
    assert lr.y == [0.52, 0.71, 0.66, 0.47] and lr.trials == [0, 1, 2, 3]
    assert loss_type.axis.labels == ("sigmoid", "ipo") and not loss_type.axis.log
    assert loss_type.x == [0.0, 1.0, 0.0, 1.0]  # words at positions 0, 1 with the words as ticks
    assert not dropout.axis.log and dropout.x == [0.025, 0.175, 0.125, 0.075]


def test_the_contour_places_trials_in_each_axis_scale_and_shades_between_them(sweep):
    points = trial_points(sweep)
    view = contour(points, sweep.spec.space, "learning_rate", "loss_type")
    assert view.x == pytest.approx([-4.0, -3.0, -5.0, math.log10(3e-4)])  # log10 on a log axis
    assert view.y == [0.0, 1.0, 0.0, 1.0] and view.values == [0.52, 0.71, 0.66, 0.47]
    assert view.x_range == pytest.approx((-5.0, -3.0)) and view.y_range == (-0.5, 1.5)  # the search range
    assert len(view.grid) == GRID and {len(col) for col in view.grid} == {GRID}
    cells = [v for col in view.grid for v in col]
    assert min(cells) >= 0.47 and max(cells) <= 0.71  # a weighted mean of the trials never leaves their range
    best_col = int((view.x[3] - view.x_range[0]) / view.cell_x)
    best_row = int((view.y[3] - view.y_range[0]) / view.cell_y)
    worst_col = int(min((view.x[1] - view.x_range[0]) / view.cell_x, GRID - 1))
    worst_row = int((view.y[1] - view.y_range[0]) / view.cell_y)
    assert view.grid[best_col][best_row] < sum(view.values) / 4 < view.grid[worst_col][worst_row]
    assert "interpolated" in view.note


def test_a_cell_centred_on_a_trial_takes_its_value(sweep):
    # dropout 0..0.2 and beta 0.05..0.45 in 4 cells: centres 0.025, 0.075, ... and 0.1, 0.2, ...
    view = contour(trial_points(sweep), sweep.spec.space, "lora_dropout", "beta", resolution=4)
    assert view.grid[0][0] == pytest.approx(0.52)  # trial 0 at (0.025, 0.10)
    assert view.grid[1][1] == pytest.approx(0.47)  # trial 3 at (0.075, 0.20)
    assert view.grid[3][3] == pytest.approx(0.71)  # trial 1 at (0.175, 0.40)
    assert view.grid[2][2] == pytest.approx(0.66)  # trial 2 at (0.125, 0.30)


def test_the_contour_says_what_it_cannot_draw(sweep):
    points = trial_points(sweep)
    few = contour(points[:2], sweep.spec.space, "learning_rate", "beta")
    assert few.grid == [] and "needs 3 finished trials" in few.note and len(few.values) == 2
    with pytest.raises(ValueError, match="two different fields"):
        contour(points, sweep.spec.space, "beta", "beta")
    with pytest.raises(ValueError, match="max_steps is not a swept field"):
        contour(points, sweep.spec.space, "max_steps", "beta")


def test_log_axis_ticks_are_few_and_readable():
    assert [label for _, label in log_ticks(-5, -3)] == ["1e-5", "3e-5", "1e-4", "3e-4", "1e-3"]
    assert [label for _, label in log_ticks(math.log10(1.25e-4), math.log10(9e-4))] == ["2e-4", "5e-4"]
    assert [label for _, label in log_ticks(-2, 0)] == ["0.01", "0.03", "0.1", "0.3", "1"]
    wide = log_ticks(-12, 0)
    assert 2 <= len(wide) <= 6 and wide[0] == (-12.0, "1e-12")
    narrow = log_ticks(math.log10(3e-4), math.log10(3.5e-4))  # no 1-2-5 step inside: the two ends
    assert [label for _, label in narrow] == ["0.0003", "0.00035"]
    for pos, label in log_ticks(-6, -3):
        assert math.isclose(10**pos, float(label), rel_tol=1e-9)
