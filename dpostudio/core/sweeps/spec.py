"""What a sweep is: the base run configuration, the search space, how to search, what to optimise, the budget.

A ``SweepSpec`` is kept inside the sweep's Optuna study (a study user attribute), so ``resume`` and every worker
rebuild the same sweep from the storage alone. Presets are named specs' spaces (``PRESETS``): the published
GPT-2 DPO sweep (learning rate log-uniform 1e-6…1e-3, batch 2/4/8, accumulation 1/2/4, steps 100/200/500,
beta 0.01/0.1/0.2/0.5) is ``published-dpo``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dpostudio.core.errors import UserError
from dpostudio.core.sweeps.space import ParamSpec, grid_size, parse_space
from dpostudio.core.training.event_types import EVAL_LOSS, EVAL_PREFIX, EVAL_REWARDS_ACCURACIES
from dpostudio.core.training.run_config import RunConfig

if TYPE_CHECKING:
    import optuna

MINIMIZE = "minimize"
MAXIMIZE = "maximize"
SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "halving", "none")
# objective name -> (metric in the eval records, direction, words)
OBJECTIVES: dict[str, tuple[str, str, str]] = {
    "eval_loss": (EVAL_LOSS, MINIMIZE, "eval loss"),
    "eval_accuracy": (EVAL_REWARDS_ACCURACIES, MAXIMIZE, "eval reward accuracy"),
}
PRESETS: dict[str, tuple[str, list[str]]] = {  # name -> (what it is, its space)
    "published-dpo": (
        "the GPT-2 DPO sweep of a published write-up (W&B): ranked by eval loss and eval reward accuracy",
        [
            "learning_rate=loguniform:1e-6:1e-3",
            "per_device_batch_size=choice:2,4,8",
            "gradient_accumulation_steps=choice:1,2,4",
            "max_steps=choice:100,200,500",
            "beta=choice:0.01,0.1,0.2,0.5",
        ],
    ),
    "lr-beta": (
        "learning rate and beta only: a short first look at a new model or data set",
        ["learning_rate=loguniform:1e-5:1e-3", "beta=choice:0.05,0.1,0.2,0.5"],
    ),
}
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class SweepError(UserError, ValueError):
    """A sweep that cannot be made, found or run, said in words."""


def check_name(name: str) -> str:
    name = str(name).strip()
    if not NAME.match(name):
        raise SweepError(
            f"{name!r} is not a sweep name: use up to 64 letters, digits, '-', '_' or '.', starting with a letter "
            "or digit"
        )
    return name


def objective_of(text: str) -> tuple[str, str]:
    """``(metric, direction)`` for an objective: ``eval_loss``, ``eval_accuracy``, or any eval metric (an extra
    held-out set's, e.g. ``eval_styled_loss``) with ``:min`` or ``:max`` where its name does not tell."""
    text = text.strip()
    if text in OBJECTIVES:
        metric, direction, _ = OBJECTIVES[text]
        return metric, direction
    metric, _, way = text.partition(":")
    metric = metric.strip()
    if not metric.startswith(EVAL_PREFIX) or metric == EVAL_PREFIX:
        raise SweepError(
            f"objective {text!r}: expected eval_loss, eval_accuracy, or an evaluation metric such as "
            "eval_<set>_loss or eval_<set>_rewards/accuracies (with :min or :max)"
        )
    way = way.strip().lower()
    if way in ("min", MINIMIZE):
        return metric, MINIMIZE
    if way in ("max", MAXIMIZE):
        return metric, MAXIMIZE
    if way:
        raise SweepError(f"objective {text!r}: write :min or :max after the metric, not :{way}")
    if metric.endswith("loss"):
        return metric, MINIMIZE
    if metric.endswith(("accuracies", "margins")):
        return metric, MAXIMIZE
    raise SweepError(f"objective {text!r}: say whether lower or higher is better: {metric}:min or {metric}:max")


def objective_words(metric: str) -> str:
    for name, words in ((m, w) for m, _, w in OBJECTIVES.values()):
        if name == metric:
            return words
    return metric


@dataclass
class SweepSpec:
    """Everything a sweep needs to run its trials, on any machine that opens its study."""

    name: str
    space: list[ParamSpec]
    base: dict[str, Any] = field(default_factory=dict)  # RunConfig values every trial starts from
    sampler: str = "tpe"
    seed: int | None = 0
    n_trials: int | None = None  # budget: trials that finish (complete, pruned or failed in words)
    timeout_s: float | None = None  # budget: seconds of trial time in all (no trial starts after)
    metric: str = EVAL_LOSS
    direction: str = MINIMIZE
    pruner: str = "median"
    prune_after_trials: int = 2  # trials that finish before the pruner judges any (its startup trials)
    prune_warmup_steps: int = 0  # steps of each trial before it may be pruned

    def __post_init__(self) -> None:
        self.name = check_name(self.name)
        if self.sampler not in SAMPLERS:
            raise SweepError(f"sampler {self.sampler!r}: expected one of {', '.join(SAMPLERS)}")
        if self.pruner not in PRUNERS:
            raise SweepError(f"pruner {self.pruner!r}: expected one of {', '.join(PRUNERS)}")
        if self.direction not in (MINIMIZE, MAXIMIZE):
            raise SweepError(f"direction {self.direction!r}: expected {MINIMIZE} or {MAXIMIZE}")
        if not self.space:
            raise SweepError("the search space is empty: give at least one dimension, e.g. lr=loguniform:1e-6:1e-3")
        names = [p.name for p in self.space]
        if len(set(names)) != len(names):
            raise SweepError("a field is in the search space twice")
        if self.sampler == "grid":
            continuous = [p.text() for p in self.space if not p.discrete]
            if continuous:
                raise SweepError(
                    f"the grid sampler needs listed values (choice or int), not {', '.join(continuous)}; "
                    "use --sampler random or tpe for continuous ranges"
                )
            if self.n_trials is None:
                self.n_trials = grid_size(self.space)
        if self.n_trials is not None and self.n_trials < 1:
            raise SweepError(f"the trial budget must be at least 1, not {self.n_trials}")
        if self.timeout_s is not None and self.timeout_s <= 0:
            raise SweepError(f"the time budget must be above 0 seconds, not {self.timeout_s:g}")
        if self.n_trials is None and self.timeout_s is None:
            raise SweepError("give the sweep a budget: a number of trials, a time limit, or both")
        self.base = {k: v for k, v in self.base_config().to_dict().items() if k != "name"}
        # each end or choice was checked on its own (parse_param); check one trial's whole configuration too
        self.trial_config({p.name: p.values()[0] if p.discrete else p.low for p in self.space}, None)
        if self.base.get("eval_ratio") == 0 and not self.base.get("eval_split") and not self.metric_is_extra:
            raise SweepError(
                "the base configuration evaluates nothing (eval_ratio 0, no eval_split): a sweep ranks trials "
                "by an evaluation, so hold out some rows"
            )

    @property
    def metric_is_extra(self) -> bool:
        return self.metric not in (m for m, _, _ in OBJECTIVES.values())

    def base_config(self) -> RunConfig:
        try:
            return RunConfig.from_dict(dict(self.base))
        except UserError as exc:
            raise SweepError(f"base configuration: {exc}") from None

    def trial_config(self, params: dict[str, Any], number: int | None) -> RunConfig:
        """The run configuration of trial ``number``: the base with the trial's values, named after the trial."""
        name = trial_run_name(self.name, number) if number is not None else self.name
        try:
            return RunConfig.from_dict({**self.base, **params, "name": name})
        except UserError as exc:
            shown = ", ".join(f"{k}={v}" for k, v in params.items())
            which = f"trial {number}" if number is not None else "a trial"
            raise SweepError(f"{which} ({shown}) makes no valid run: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "space": [p.to_dict() for p in self.space],
            "base": dict(self.base),
            "sampler": self.sampler,
            "seed": self.seed,
            "n_trials": self.n_trials,
            "timeout_s": self.timeout_s,
            "metric": self.metric,
            "direction": self.direction,
            "pruner": self.pruner,
            "prune_after_trials": self.prune_after_trials,
            "prune_warmup_steps": self.prune_warmup_steps,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepSpec:
        data = dict(data)
        data["space"] = [ParamSpec.from_dict(p) for p in data.get("space") or []]
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    # ---- Optuna objects -----------------------------------------------------------------------
    def make_sampler(self, offset: int = 0) -> optuna.samplers.BaseSampler:
        """The sampler, seeded with ``seed + offset`` (a resumed sweep passes the trials it has, so a random
        sampler does not replay the values of the first session)."""
        import optuna

        seed = None if self.seed is None else self.seed + offset
        if self.sampler == "grid":
            return optuna.samplers.GridSampler({p.name: p.values() for p in self.space}, seed=seed)
        if self.sampler == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        return optuna.samplers.TPESampler(seed=seed)

    def make_pruner(self) -> optuna.pruners.BasePruner:
        import optuna

        if self.pruner == "median":
            return optuna.pruners.MedianPruner(
                n_startup_trials=self.prune_after_trials, n_warmup_steps=self.prune_warmup_steps
            )
        if self.pruner == "halving":
            return optuna.pruners.SuccessiveHalvingPruner(min_resource="auto", reduction_factor=3)
        return optuna.pruners.NopPruner()

    def describe(self) -> str:
        budget = []
        if self.n_trials is not None:
            budget.append(f"{self.n_trials} trials")
        if self.timeout_s is not None:
            budget.append(f"{self.timeout_s:g} s of trial time")
        best = "lowest" if self.direction == MINIMIZE else "highest"
        return (
            f"sweep {self.name}: {self.sampler} search over {', '.join(p.text() for p in self.space)}; "
            f"{best} {objective_words(self.metric)} wins; pruner {self.pruner}; budget {' and '.join(budget)}"
        )


def trial_run_name(sweep: str, number: int) -> str:
    return f"{sweep}-t{number}"


def preset_space(name: str) -> list[ParamSpec]:
    if name not in PRESETS:
        raise SweepError(f"no preset called {name!r}; presets: {', '.join(PRESETS)}")
    return parse_space(PRESETS[name][1])
