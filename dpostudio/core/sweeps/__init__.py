"""Hyperparameter sweeps on Optuna: a sweep is an Optuna study, each trial a normal DPO Studio run.

- ``space``: the search space, one run-config field per dimension (``field=kind:values``).
- ``spec``: ``SweepSpec`` (base config, space, sampler, objective, pruner, budget) and the presets.
- ``store``: where sweeps live (SQLite in the data dir, or an RDB URL), opening them, crash recovery, the budget.
- ``runner``: ``run_sweep`` runs trials one at a time through ``engine.train``, reporting each evaluation.
- ``report``: the top-runs table, CSV, parameter importance, a status summary.

No Qt here, and nothing heavy at import: Optuna and torch are imported where they are used.
"""

from dpostudio.core.sweeps.space import ParamSpec, SpaceError, parse_param, parse_space
from dpostudio.core.sweeps.spec import OBJECTIVES, PRESETS, SweepError, SweepSpec, objective_of, preset_space
from dpostudio.core.sweeps.store import Sweep, create_sweep, list_sweeps, open_sweep, recover

__all__ = [
    "OBJECTIVES",
    "PRESETS",
    "ParamSpec",
    "SpaceError",
    "Sweep",
    "SweepError",
    "SweepSpec",
    "create_sweep",
    "list_sweeps",
    "objective_of",
    "open_sweep",
    "parse_param",
    "parse_space",
    "preset_space",
    "recover",
]
