"""Where sweeps live and how a sweep survives a crash: Optuna studies in SQLite files (or any RDB URL).

A sweep called NAME is the Optuna study NAME in ``<data dir>/sweeps/NAME.sqlite``; several machines can share one
sweep through an RDB URL instead (PostgreSQL, MySQL), where a heartbeat tells a dead worker's trial from a live one.
The spec is kept in the study (user attribute ``dpostudio_spec``), so opening the storage is all a worker needs.

Trial bookkeeping (user attributes of each trial): ``host``, ``pid`` and ``started_at`` of the process running it,
``run_id`` of its run folder, the last ``eval_loss`` and ``eval_accuracy``, and at its end ``outcome`` (finished,
pruned, failed, stopped) and ``message``. ``recover`` marks a trial left RUNNING by a dead process FAIL with outcome
``interrupted`` and queues its values again (at most once per trial, Optuna's ``failed_trial``/``retry_history``
system attributes tie the retry to it). The budget counts trials that finished: complete, pruned, or failed in
words; an interrupted or stopped trial is not counted, its retry is.

Several workers may notice the same dead trial at once, so only the process whose RUNNING -> FAIL write succeeds
queues the retry (the database row lock decides: ``set_trial_state_values`` reads the row ``FOR UPDATE``); a trial
failed by Optuna's heartbeat check is queued again by its stale-trial callback, which Optuna calls only in the
process that failed it; a trial stopped by a person is queued again by the process that ran it, right after it
ends. On SQLite (one machine) a resume also queues any interrupted or stopped trial not yet retried.
"""

from __future__ import annotations

import os
import socket
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dpostudio.core.paths import data_dir
from dpostudio.core.sweeps.spec import MINIMIZE, SweepError, SweepSpec, check_name

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

SPEC_ATTR = "dpostudio_spec"
# trial user attributes
HOST, PID, STARTED_AT = "host", "pid", "started_at"
RUN_ID, OUTCOME, MESSAGE = "run_id", "outcome", "message"
LAST_EVAL_LOSS, LAST_EVAL_ACCURACY = "eval_loss", "eval_accuracy"
# outcomes
FINISHED, PRUNED, FAILED, STOPPED, INTERRUPTED = "finished", "pruned", "failed", "stopped", "interrupted"
MAX_ATTEMPTS = 3  # a trial's values are tried at most this often when its process keeps dying
HEARTBEAT_S, GRACE_S = 30, 120  # RDB workers: a trial whose heartbeat is older than GRACE_S is a dead worker's


def sweeps_dir() -> Path:
    path = data_dir() / "sweeps"
    path.mkdir(parents=True, exist_ok=True)
    return path


def sqlite_path(name: str) -> Path:
    return sweeps_dir() / f"{check_name(name)}.sqlite"


def list_sweeps() -> list[str]:
    """The sweeps in the data dir, by name."""
    return sorted(p.stem for p in sweeps_dir().glob("*.sqlite"))


def _quiet_optuna() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # the sweep says what became of each trial in words
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


# SQLAlchemy picks one driver per database when a URL names none (PostgreSQL: psycopg 3, MySQL: mysqlclient);
# a bare URL is given whichever of these is installed, in this order
DRIVERS = {
    "postgresql": (("psycopg", "psycopg"), ("psycopg2", "psycopg2")),
    "mysql": (("MySQLdb", "mysqldb"), ("pymysql", "pymysql")),
}
INSTALL = {"postgresql": 'pip install "psycopg[binary]" (or psycopg2-binary)', "mysql": "pip install PyMySQL"}


def driver_url(url: str) -> str:
    """``url`` naming an installed database driver (``postgresql://`` -> ``postgresql+psycopg2://`` where only
    psycopg2 is there; ``postgres://`` is read as ``postgresql://``); a URL that names its driver is kept."""
    import importlib.util

    scheme, sep, rest = url.partition("://")
    if not sep or "+" in scheme:
        return url
    scheme = "postgresql" if scheme == "postgres" else scheme
    for module, name in DRIVERS.get(scheme, ()):
        if importlib.util.find_spec(module) is not None:
            return f"{scheme}+{name}://{rest}"
    return f"{scheme}://{rest}"


def make_storage(url: str) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage for ``url``; off SQLite it keeps a heartbeat so a dead worker's trial is noticed."""
    import optuna

    _quiet_optuna()
    try:
        if url.startswith("sqlite"):
            return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})
        return optuna.storages.RDBStorage(
            driver_url(url),
            engine_kwargs={"pool_pre_ping": True},
            heartbeat_interval=HEARTBEAT_S,
            grace_period=GRACE_S,
            heartbeat_stale_trial_callback=_retry_stale,
        )
    except ImportError:
        scheme = driver_url(url).partition("://")[0].partition("+")[0]
        how = f"; install one with: {INSTALL[scheme]}" if scheme in INSTALL else ""
        raise SweepError(f"cannot reach {safe_url(url)}: no database driver for it is installed{how}") from None
    except Exception as exc:  # sqlalchemy's OperationalError and friends: a server that is not there
        raise SweepError(f"cannot open the sweep storage {safe_url(url)}: {_first_line(exc)}") from None


def safe_url(url: str) -> str:
    """The URL without its password."""
    head, at, tail = url.rpartition("@")
    scheme, sep, auth = head.partition("://")
    if not at or not sep or ":" not in auth:
        return url
    return f"{scheme}://{auth.split(':', 1)[0]}:***@{tail}"


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"


@dataclass
class Sweep:
    """An open sweep: its spec, its Optuna study and where that is stored."""

    spec: SweepSpec
    study: optuna.Study
    url: str

    @property
    def name(self) -> str:
        return self.spec.name

    def trials(self) -> list[FrozenTrial]:
        return self.study.get_trials(deepcopy=False)

    def enqueue(self, params: dict[str, Any]) -> None:
        """Queue a trial with these values (a run the search should include, e.g. a known good or bad one)."""
        unknown = sorted(set(params) - {p.name for p in self.spec.space})
        if unknown:
            raise SweepError(f"{', '.join(unknown)} is not in the sweep's search space")
        self.spec.trial_config(params, None)
        self.study.enqueue_trial(params, skip_if_exists=False)


def create_sweep(spec: SweepSpec, url: str | None = None) -> Sweep:
    """Make a new sweep (its study and, by default, its SQLite file); an existing one is an error."""
    import optuna

    url = url or f"sqlite:///{sqlite_path(spec.name)}"
    storage = make_storage(url)
    if spec.name in optuna.get_all_study_names(storage):
        raise SweepError(
            f"a sweep called {spec.name!r} already exists; continue it with: dpostudio sweep resume {spec.name}"
        )
    study = optuna.create_study(
        storage=storage,
        study_name=spec.name,
        direction=optuna.study.StudyDirection.MINIMIZE
        if spec.direction == MINIMIZE
        else optuna.study.StudyDirection.MAXIMIZE,
        sampler=spec.make_sampler(),
        pruner=spec.make_pruner(),
    )
    study.set_user_attr(SPEC_ATTR, spec.to_dict())
    return Sweep(spec, study, url)


def open_sweep(name: str | None = None, url: str | None = None, *, worker: bool = False) -> Sweep:
    """Open a sweep by name (in the data dir) or the one study at ``url`` (``name`` picks one of several).

    ``worker``: one of several processes sharing the sweep; its sampler's seed also takes the process id, so
    workers started together do not all propose the same values."""
    import optuna

    if url is None:
        if name is None:
            raise SweepError("name the sweep to open")
        path = sqlite_path(name)
        if not path.is_file():
            others = list_sweeps()
            listed = f"sweeps here: {', '.join(others)}" if others else "there are no sweeps yet"
            raise SweepError(
                f"no sweep called {name!r} in {sweeps_dir()} ({listed}); start one with: "
                "dpostudio sweep start NAME --space ..."
            )
        url = f"sqlite:///{path}"
    storage = make_storage(url)
    names = optuna.get_all_study_names(storage)
    if name is None:
        if len(names) != 1:
            raise SweepError(f"{safe_url(url)} holds {len(names)} studies ({', '.join(names) or 'none'}); name one")
        name = names[0]
    if name not in names:
        raise SweepError(f"no sweep called {name!r} in {safe_url(url)} (it holds: {', '.join(names) or 'nothing'})")
    study = optuna.load_study(study_name=name, storage=storage)
    data = study.user_attrs.get(SPEC_ATTR)
    if not isinstance(data, dict):
        raise SweepError(f"study {name!r} in {safe_url(url)} was not made by DPO Studio (it has no sweep spec)")
    spec = SweepSpec.from_dict(data)
    study.sampler = spec.make_sampler(offset=len(study.trials) + (os.getpid() if worker else 0))
    study.pruner = spec.make_pruner()
    return Sweep(spec, study, url)


# ---- accounting ------------------------------------------------------------------------------------
def outcome_of(trial: FrozenTrial) -> str | None:
    """What became of a trial: finished, pruned, failed (in words), stopped, interrupted; None while it runs
    or waits."""
    from optuna.trial import TrialState

    if trial.state == TrialState.COMPLETE:
        return FINISHED
    if trial.state == TrialState.PRUNED:
        return PRUNED
    if trial.state == TrialState.FAIL:
        outcome = trial.user_attrs.get(OUTCOME)
        return outcome if outcome in (FAILED, STOPPED) else INTERRUPTED
    return None


def counted(trial: FrozenTrial) -> bool:
    """Whether the trial uses up the trial budget: it finished, was pruned, or failed in words."""
    return outcome_of(trial) in (FINISHED, PRUNED, FAILED)


def retries(trials: list[FrozenTrial]) -> dict[int, int]:
    """Trial number -> the number of the trial that retries it."""
    found = {}
    for trial in trials:
        history = trial.system_attrs.get("retry_history") or []
        if history:
            found[history[-1]] = trial.number
    return found


def trial_seconds(trials: list[FrozenTrial]) -> float:
    """Seconds the trials took in all (finished ones; a running one until now)."""
    import datetime

    now = datetime.datetime.now()
    total = 0.0
    for trial in trials:
        if trial.datetime_start is not None:
            total += ((trial.datetime_complete or now) - trial.datetime_start).total_seconds()
    return total


def budget_left(sweep: Sweep) -> tuple[int | None, float | None]:
    """(trials, seconds) the budget still allows (None: no limit of that kind)."""
    trials = sweep.trials()
    spec = sweep.spec
    left_trials = None if spec.n_trials is None else max(spec.n_trials - sum(map(counted, trials)), 0)
    left_seconds = None if spec.timeout_s is None else max(spec.timeout_s - trial_seconds(trials), 0.0)
    return left_trials, left_seconds


def budget_spent(sweep: Sweep) -> bool:
    trials, seconds = budget_left(sweep)
    return trials == 0 or seconds == 0


def _owner_gone(trial: FrozenTrial) -> bool:
    """Whether the process that runs ``trial`` on this computer has ended (a trial of another computer: only the
    heartbeat can tell, so False)."""
    from dpostudio.core.training.runs import _process_alive

    attrs = trial.user_attrs
    if attrs.get(HOST) != socket.gethostname() or not isinstance(attrs.get(PID), int):
        return False
    return not _process_alive(attrs[PID], attrs.get(STARTED_AT))


def recover(sweep: Sweep) -> list[str]:
    """Account for trials whose process died: a RUNNING trial whose process on this computer has ended becomes
    FAIL (outcome interrupted) and its values are queued again (at most ``MAX_ATTEMPTS`` tries of the same values),
    by whichever process wins that change. On SQLite, any interrupted or stopped trial not yet retried is queued
    again too. Returns what it did, in words."""
    import optuna
    from optuna.trial import TrialState

    storage = sweep.study._storage
    notes = []
    for trial in sweep.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not _owner_gone(trial):
            continue
        message = f"its process ({trial.user_attrs.get(PID)}) ended while it ran"
        try:
            storage.set_trial_user_attr(trial._trial_id, MESSAGE, message)
            won = storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another process got there first, and queues the retry
        if won:
            notes.append(f"trial {trial.number}: {message}; marked interrupted")
            notes.extend(retry_note(trial.number, INTERRUPTED, retry(sweep.study, storage.get_trial(trial._trial_id))))
    if sweep.url.startswith("sqlite"):
        trials = sweep.study.get_trials(deepcopy=False)
        retried = retries(trials)
        for trial in trials:
            if outcome_of(trial) in (INTERRUPTED, STOPPED) and trial.number not in retried:
                notes.extend(retry_note(trial.number, str(outcome_of(trial)), retry(sweep.study, trial)))
    return notes


def retry_note(number: int, outcome: str, again: int | None) -> list[str]:
    """What ``retry`` did, in words (nothing when it queued nothing)."""
    return [] if again is None else [f"trial {number} ({outcome}): its values are queued again as trial {again}"]


def retry(study: optuna.Study, trial: FrozenTrial) -> int | None:
    """Queue ``trial``'s values again (a WAITING trial that names it in ``failed_trial``/``retry_history``), unless
    the same values were tried ``MAX_ATTEMPTS`` times already; returns the new trial's number. Call it only from
    the process that ended ``trial``, so that it is queued once."""
    import optuna
    from optuna.trial import TrialState

    history = [*(trial.system_attrs.get("retry_history") or []), trial.number]
    if len(history) >= MAX_ATTEMPTS:
        return None
    system_attrs = {**trial.system_attrs, "failed_trial": history[0], "retry_history": history}
    study.add_trial(
        optuna.trial.create_trial(
            state=TrialState.WAITING, params=trial.params, distributions=trial.distributions, system_attrs=system_attrs
        )
    )
    return retries(study.get_trials(deepcopy=False)).get(trial.number)


def _retry_stale(study: optuna.Study, trial: FrozenTrial) -> None:
    """Optuna's heartbeat check failed ``trial`` (its worker, maybe on another machine, stopped beating) in this
    process: queue its values again."""
    retry(study, trial)


def owner_attrs() -> dict[str, Any]:
    """The attributes that tell which process runs a trial."""
    return {HOST: socket.gethostname(), PID: os.getpid(), STARTED_AT: time.time()}
