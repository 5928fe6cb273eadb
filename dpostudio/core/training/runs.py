"""Run directories: one folder per training run under ``<data dir>/runs``.

Layout of a run folder::

    config.toml      the resolved run configuration
    run.json         status (running/finished/failed/cancelled), message, device, steps, final metrics
    metrics.jsonl    append-only event log, one JSON object per line, flushed per event
    log.txt          human-readable text log
    checkpoints/     trainer checkpoints (checkpoint-<step>), used by resume
    adapter/         the final LoRA adapter (loads with PeftModel.from_pretrained)
"""

from __future__ import annotations

from dpostudio.core.errors import UserError

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from dpostudio.core.paths import runs_dir
from dpostudio.core.training.run_config import RunConfig

STATES = ("created", "running", "finished", "failed", "cancelled")


class RunError(UserError, ValueError):
    """A run cannot be found or read."""


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")[:40]


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
        try:
            return json.loads((self.path / "run.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {"id": self.id, "status": "unknown"}

    def status(self) -> str:
        """The run's state; a run marked running whose process is gone reads as "interrupted" (resumable)."""
        info = self.info()
        status = info.get("status", "unknown")
        if status == "running" and not _process_alive(info.get("pid")):
            return "interrupted"
        return status

    def update_info(self, **changes: Any) -> dict[str, Any]:
        info = self.info()
        info.update(changes, id=self.id, updated_at=time.time())
        tmp = self.path / "run.json.tmp"
        tmp.write_text(json.dumps(info, indent=2, default=str), encoding="utf-8")
        os.replace(tmp, self.path / "run.json")
        return info

    def config(self) -> RunConfig:
        return RunConfig.load(self.config_path)

    # ---- logs -----------------------------------------------------------------------------
    def append_event(self, event: dict[str, Any]) -> None:
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

        When a run resumes from the checkpoint at step N, log/eval entries after step N written
        before the resume are dropped, so the history reads as one continuous run.
        """
        raw = list(_read_jsonl(self.metrics_path))
        result: list[dict[str, Any]] = []
        for event in raw:
            if event.get("type") == "resumed":
                step = event.get("from_step", 0)
                result = [e for e in result if e.get("type") not in ("log", "eval") or e.get("step", 0) <= step]
            result.append(event)
        return result

    def metrics(self, kind: str = "log") -> list[dict[str, Any]]:
        """Metric records (``kind`` = "log" for training, "eval" for evaluation), each with step and values."""
        return [{"step": e["step"], "epoch": e.get("epoch"), **e["metrics"]}
                for e in self.events() if e.get("type") == kind]

    def latest_checkpoint(self) -> Path | None:
        best, best_step = None, -1
        for ckpt in self.checkpoints_dir.glob("checkpoint-*"):
            try:
                step = int(ckpt.name.split("-")[-1])
            except ValueError:
                continue
            if step > best_step and (ckpt / "trainer_state.json").is_file():
                best, best_step = ckpt, step
        return best


def _process_alive(pid: Any) -> bool:
    if not isinstance(pid, int):
        return False
    import psutil

    return psutil.pid_exists(pid)


def _jsonable(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    try:
        fh = open(path, encoding="utf-8")
    except FileNotFoundError:
        return
    with fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except ValueError:
                continue  # a line cut short by a crash


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
    run.update_info(name=config.name or path.name, status="created", created_at=time.time(),
                    model=config.model, dataset=config.dataset)
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


def list_runs() -> list[Run]:
    """All runs, newest first."""
    runs = [Run(p.parent) for p in runs_dir().glob("*/run.json")]
    return sorted(runs, key=lambda r: r.info().get("created_at", 0), reverse=True)
