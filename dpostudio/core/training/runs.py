"""Run directories: one folder per training run under ``<data dir>/runs``.

Layout of a run folder::

    config.toml      the resolved run configuration
    run.json         status (created/running/finished/failed/cancelled), pid, message, device, steps, final metrics,
                     and ``name``: the run's short display name (``display_name``, changed with ``rename``)
    metrics.jsonl    append-only event log, one JSON object per line, flushed per event
    findings.json    what the diagnostics found in the metrics (``core.diagnostics``), rewritten as findings appear;
                     runs from before diagnostics have none: ``findings()`` then replays their records
    log.txt          human-readable text log
    checkpoints/     trainer checkpoints (checkpoint-<step>), used by resume
    adapter/         the final LoRA adapter (loads with PeftModel.from_pretrained)

``Run`` is the one place that knows this layout: which checkpoints a run has (``checkpoints()``), the one to
resume from (``latest_checkpoint()``), its final adapter (``final_adapter()``), the adapter of a given step
(``adapter_for()``) and its state (``status()``, which tells a run whose process died from a live one).
The state names are the constants of ``event_types``.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dpostudio.core.errors import UserError
from dpostudio.core.paths import runs_dir
from dpostudio.core.training.event_types import (
    CREATED,
    EVAL,
    FINDING,
    INTERRUPTED,
    LOG,
    RESUMABLE_STATES,
    RESUMED,
    RUNNING,
    UNKNOWN,
)
from dpostudio.core.training.event_types import STATES as STATES  # the states a run can be in (re-exported)
from dpostudio.core.training.method_choices import get_method
from dpostudio.core.training.run_config import RunConfig

if TYPE_CHECKING:
    from dpostudio.core.diagnostics.findings import Finding

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
TRAINER_STATE = "trainer_state.json"  # the Trainer writes it last: a checkpoint without it was cut short
CHECKPOINT_PREFIX = "checkpoint-"


class RunError(UserError, ValueError):
    """A run cannot be found or read."""


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")[:40]


def has_adapter(folder: Path) -> bool:
    """Whether ``folder`` holds a complete PEFT adapter (its config and its weights)."""
    return (folder / ADAPTER_CONFIG).is_file() and any((folder / name).is_file() for name in ADAPTER_WEIGHTS)


@dataclass(frozen=True)
class Checkpoint:
    """One ``checkpoints/checkpoint-<step>`` folder that holds a complete adapter."""

    step: int
    path: Path

    @property
    def resumable(self) -> bool:
        """Training can continue from it: the Trainer finished writing it (its state file is written last)."""
        return (self.path / TRAINER_STATE).is_file()


@dataclass
class Run:
    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def config_path(self) -> Path:
        return self.path / "config.toml"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def log_path(self) -> Path:
        return self.path / "log.txt"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def adapter_dir(self) -> Path:
        return self.path / "adapter"

    # ---- state ----------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """run.json as written. Its ``status`` is what the training process last wrote: use ``status()``."""
        try:
            return json.loads((self.path / "run.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {"id": self.id, "status": UNKNOWN}

    def status(self, info: dict[str, Any] | None = None) -> str:
        """The run's state, one of ``event_types.STATES``: the single truth for the CLI, the app and exports.

        A run marked running whose process is gone (killed, crashed, the computer restarted) reads as
        ``interrupted``, which is resumable like ``cancelled`` and ``failed``. ``info`` saves a second read of
        run.json when the caller already has it.
        """
        info = self.info() if info is None else info
        status = info.get("status", UNKNOWN)
        if status == RUNNING and not _process_alive(info.get("pid"), info.get("started_at")):
            return INTERRUPTED
        return status

    def resumable(self, status: str | None = None) -> bool:
        """Whether training can continue: it stopped, failed or was interrupted, and a complete checkpoint exists."""
        return (status or self.status()) in RESUMABLE_STATES and self.latest_checkpoint() is not None

    def update_info(self, **changes: Any) -> dict[str, Any]:
        info = self.info()
        info.update(changes, id=self.id, updated_at=time.time())
        tmp = self.path / "run.json.tmp"
        tmp.write_text(json.dumps(info, indent=2, default=str), encoding="utf-8")
        os.replace(tmp, self.path / "run.json")
        return info

    def config(self) -> RunConfig:
        return RunConfig.load(self.config_path)

    # ---- name -----------------------------------------------------------------------------
    @property
    def display_name(self) -> str:
        """The run's short name for lists and chart legends: the name it was given (``rename``), else a short
        form of its id (``short_run_id``)."""
        return display_name_of(self.id, self.info())

    def rename(self, name: str) -> str:
        """Give the run a short display name, kept in run.json as ``name`` (blank: back to the short form of its
        id). The folder and the id stay as they are. Returns the display name now in force."""
        name = " ".join(str(name).split())[:MAX_NAME_LENGTH]
        info = self.update_info(name=name)
        return display_name_of(self.id, info)

    # ---- logs -----------------------------------------------------------------------------
    def append_event(self, event: Mapping[str, Any]) -> None:
        line = json.dumps({"time": time.time(), **event}, default=_jsonable)
        with open(self.metrics_path, "a+b") as fh:
            if fh.tell() > 0:  # a line cut short by a crash must not swallow this one
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    line = "\n" + line
            fh.write((line + "\n").encode("utf-8"))
            fh.flush()

    def log(self, message: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with open(self.log_path, "a", encoding="utf-8") as fh:
            fh.write(f"{stamp}  {message}\n")

    def events(self) -> list[dict[str, Any]]:
        """All events in order, with entries superseded by a resume removed.

        When a run resumes from the checkpoint at step N, log/eval (and finding) entries after step N written
        before the resume are dropped, so the history reads as one continuous run.
        """
        raw = list(_read_jsonl(self.metrics_path))
        result: list[dict[str, Any]] = []
        for event in raw:
            if event.get("type") == RESUMED:
                step = event.get("from_step") or 0
                result = [e for e in result if e.get("type") not in (LOG, EVAL, FINDING) or e.get("step", 0) <= step]
            result.append(event)
        return result

    def metrics(self, kind: str = LOG) -> list[dict[str, Any]]:
        """Metric records (``kind`` = "log" for training, "eval" for evaluation), each with step and values."""
        return [
            {"step": e["step"], "epoch": e.get("epoch"), **e["metrics"]} for e in self.events() if e.get("type") == kind
        ]

    def records(self) -> list[dict[str, Any]]:
        """The log and eval records merged in step order (at one step the log comes before the eval, as live)."""
        records = [(0, r) for r in self.metrics(LOG)] + [(1, r) for r in self.metrics(EVAL)]
        return [r for _, r in sorted(records, key=lambda pair: (pair[1].get("step") or 0, pair[0]))]

    def max_steps(self) -> int | None:
        """The run's length in steps, as the trainer last logged it (the config's ``max_steps`` before any log)."""
        for event in reversed(self.events()):
            if event.get("type") == LOG and isinstance(event.get("max_steps"), int) and event["max_steps"] > 0:
                return event["max_steps"]
        try:
            return self.config().max_steps or None
        except (OSError, ValueError):  # a missing or unreadable config: the length is unknown
            return None

    def findings(self) -> list[Finding]:
        """What the diagnostics found (``core.diagnostics.Finding``): ``findings.json`` as saved by the engine, or,
        for a run without one, a replay of its records."""
        from dpostudio.core.diagnostics.findings import FINDINGS_FILE, diagnose, load_findings

        if (self.path / FINDINGS_FILE).is_file():
            return load_findings(self.path)
        try:
            reference_free = get_method(self.config().method).reference_free
        except (OSError, ValueError, KeyError):  # a missing or unreadable config: read it as DPO
            reference_free = False
        bias = self.info().get("length_bias")
        return diagnose(self.records(), self.max_steps(), reference_free=reference_free, length_bias=bias)

    # ---- files ----------------------------------------------------------------------------
    def checkpoints(self, *, resumable: bool = False) -> list[Checkpoint]:
        """The checkpoints holding a complete adapter, by increasing step (``resumable``: only those training
        can continue from)."""
        found = []
        for folder in self.checkpoints_dir.glob(CHECKPOINT_PREFIX + "*"):
            try:
                step = int(folder.name[len(CHECKPOINT_PREFIX) :])
            except ValueError:
                continue
            if has_adapter(folder):
                found.append(Checkpoint(step, folder))
        found.sort(key=lambda c: c.step)
        return [c for c in found if c.resumable] if resumable else found

    def checkpoint_steps(self) -> list[int]:
        """Steps of the checkpoints holding a complete adapter, increasing."""
        return [c.step for c in self.checkpoints()]

    def latest_checkpoint(self) -> Path | None:
        """The newest checkpoint training can resume from, or None."""
        found = self.checkpoints(resumable=True)
        return found[-1].path if found else None

    def final_adapter(self) -> Path | None:
        """The adapter saved at the end of training, or None when training did not finish."""
        return self.adapter_dir if has_adapter(self.adapter_dir) else None

    def adapter_for(self, step: int | None = None) -> Path | None:
        """The adapter folder to load for checkpoint ``step`` (None: the final adapter), or None if there is none."""
        if step is None:
            return self.final_adapter()
        folder = self.checkpoints_dir / f"{CHECKPOINT_PREFIX}{int(step)}"
        return folder if has_adapter(folder) else None


MAX_NAME_LENGTH = 60
_STAMP = re.compile(r"^(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})(?:-|$)")


def short_run_id(run_id: str) -> str:
    """A run id without its folder's timestamp (``20260101-120000-ultrafeedback-b0.1`` -> ``ultrafeedback-b0.1``);
    an id that is only a timestamp reads as its date and time (``run 01-01 12:00``)."""
    match = _STAMP.match(run_id)
    if not match:
        return run_id
    rest = run_id[match.end() :]
    return rest or f"run {match[2]}-{match[3]} {match[4]}:{match[5]}"


def display_name_of(run_id: str, info: Mapping[str, Any]) -> str:
    """A run's display name from its run.json ``info``: its ``name`` unless that is blank or the id itself."""
    name = str(info.get("name") or "").strip()
    return name if name and name != run_id else short_run_id(run_id)


def _process_alive(pid: Any, started_at: Any = None) -> bool:
    """Whether the process that marked the run running still runs (not a zombie, not a later process that
    was given the same id)."""
    if not isinstance(pid, int):
        return False
    import psutil

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        if isinstance(started_at, (int, float)) and process.create_time() > started_at + 60:
            return False  # created after the run started: the id was reused
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:  # e.g. access denied: it exists
        return True
    return True


def _jsonable(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    yield json.loads(line)
                except ValueError:
                    continue  # a line cut short by a crash
    except FileNotFoundError:  # only open() raises it: no file yet
        return


def create_run(config: RunConfig) -> Run:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{_slug(config.name)}" if config.name else stamp
    root = runs_dir()
    path, n = root / base, 1
    while path.exists():
        n += 1
        path = root / f"{base}-{n}"
    path.mkdir(parents=True)
    run = Run(path)
    config.save(run.config_path)
    run.update_info(
        name=config.name or path.name,
        status=CREATED,
        created_at=time.time(),
        model=config.model,
        dataset=config.dataset,
    )
    return run


def get_run(run_id: str) -> Run:
    path = Path(run_id).expanduser()
    if not (path.is_dir() and (path / "run.json").is_file()):
        path = runs_dir() / run_id
    if not (path / "run.json").is_file():
        matches = sorted(p for p in runs_dir().glob(f"{run_id}*") if (p / "run.json").is_file())
        if len(matches) == 1:
            path = matches[0]
        elif matches:
            raise RunError(f"{run_id!r} matches several runs: {', '.join(p.name for p in matches)}")
        else:
            raise RunError(f"no run called {run_id!r} in {runs_dir()}")
    return Run(path)


def import_run(source: str | Path) -> Run:
    """Copy a run folder made elsewhere (a cluster, a launch bundle, another computer) into the runs folder, where
    the app's panes and the CLI find it like any other run. The copy keeps its name (``-2`` etc. if taken)."""
    import shutil

    source = Path(source).expanduser()
    if not source.is_dir():
        raise RunError(f"{source} is not a folder; give the run folder (the one that holds run.json)")
    if not (source / "run.json").is_file() or not (source / "config.toml").is_file():
        inner = sorted(p.parent for p in source.glob("*/run.json"))
        hint = f" (it holds runs: {', '.join(p.name for p in inner[:3])}; import one of them)" if inner else ""
        raise RunError(f"{source} is not a run folder: it has no run.json and config.toml{hint}")
    root = runs_dir()
    if source.resolve().parent == root.resolve():
        return Run(source.resolve())  # already among the runs
    target, n = root / source.name, 1
    while target.exists():
        n += 1
        target = root / f"{source.name}-{n}"
    shutil.copytree(source, target)
    run = Run(target)
    if run.info().get("status") == RUNNING:  # its process is on another computer: here it can only be resumed
        run.update_info(status=INTERRUPTED, message=f"copied from {source} while it was still training there")
    return run


def list_runs() -> list[Run]:
    """All runs, newest first."""
    runs = [Run(p.parent) for p in runs_dir().glob("*/run.json")]
    return sorted(runs, key=lambda r: r.info().get("created_at", 0), reverse=True)


def newest_resumable_run(limit: int = 20) -> Run | None:
    """The newest of the ``limit`` newest runs that can be resumed (what the app's Resume offers), or None."""
    for run in list_runs()[:limit]:
        if run.resumable():
            return run
    return None
