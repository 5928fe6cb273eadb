"""Make a preference dataset in one folder: prompts -> K answers each -> ranked -> pairs (``dpostudio generate``, the
Generate view).

``create_job(folder, job)`` checks everything and freezes the prompt list into ``job.json``; ``run_job(folder,
on_event, cancel)`` does (or resumes) the work: generation resumes after the last saved prompt, ranking after the
last ranked one, and the pairs are rebuilt from both files. ``job_status(folder)`` tells a finished job from one
that is running, stopped, failed, or whose process died (``interrupted``: resumable). The folder is the dataset
folder (see ``pairs``), plus ``job.json`` and ``log.txt``.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dpostudio.core.compare.prompt_sets import Prompt
from dpostudio.core.errors import UserError
from dpostudio.core.loop.events import DATASET, GENERATE, NOTE, EventFn, guarded
from dpostudio.core.loop.generate import Generator, Sampling, generate_candidates
from dpostudio.core.loop.pairs import CANDIDATES_FILE, RANKINGS_FILE, PairSettings, write_dataset
from dpostudio.core.loop.prompts import PromptSource, load_prompts
from dpostudio.core.loop.rank import RankSettings, check_ranker, rank_candidates
from dpostudio.core.loop.records import log_line, read_json, write_json
from dpostudio.core.training.event_types import CANCELLED, FAILED, FINISHED, INTERRUPTED, RUNNING

JOB_FILE = "job.json"


class JobError(UserError, ValueError):
    """A generation job cannot start or resume; said in words."""


@dataclass
class GenerateJob:
    """What a generation job does: which prompts, which model answers, how, how answers are ranked and paired."""

    prompts: PromptSource = field(default_factory=PromptSource)
    generator: Generator = field(default_factory=Generator)
    sampling: Sampling = field(default_factory=Sampling)
    ranker: RankSettings = field(default_factory=RankSettings)
    pairs: PairSettings = field(default_factory=PairSettings)

    def check(self) -> Generator:
        """Validate everything a person can get wrong; returns the resolved generator."""
        self.sampling.validate()
        self.pairs.validate()
        check_ranker(self.ranker)
        return self.generator.resolved()

    def to_dict(self, *, safe: bool = False) -> dict:
        return {
            "prompts": self.prompts.to_dict(),
            "generator": self.generator.to_dict(),
            "sampling": self.sampling.to_dict(),
            "ranker": self.ranker.to_dict(safe=safe),
            "pairs": self.pairs.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict) -> GenerateJob:
        return cls(
            PromptSource.from_dict(data.get("prompts") or {}),
            Generator.from_dict(data.get("generator") or {}),
            Sampling.from_dict(data.get("sampling") or {}),
            RankSettings.from_dict(data.get("ranker") or {}),
            PairSettings.from_dict(data.get("pairs") or {}),
        )


def create_job(folder: str | Path, job: GenerateJob, prompts: list[Prompt] | None = None) -> Path:
    """A new job folder with its frozen prompt list (``prompts``, or loaded from ``job.prompts``)."""
    folder = Path(folder).expanduser()
    if (folder / JOB_FILE).exists():
        raise JobError(f"{folder} already holds a generation job; resume it, or pick another folder")
    if folder.exists() and any(folder.iterdir()):
        raise JobError(f"{folder} is not empty; pick a new folder for the dataset")
    generator = job.check()
    prompts = prompts if prompts is not None else load_prompts(job.prompts)
    folder.mkdir(parents=True, exist_ok=True)
    # the secret options of a judge (API keys) are not written; a resumed job gets them again from its caller
    data: dict[str, Any] = {
        "job": job.to_dict(safe=True),
        "generator": generator.to_dict(),
        "prompt_list": [p.to_dict() for p in prompts],
    }
    data.update(status="created", created=time.strftime("%Y-%m-%d %H:%M:%S"), created_at=time.time())
    write_json(folder / JOB_FILE, data)
    log_line(folder, f"job created: {len(prompts)} prompts from {job.prompts.describe()}; {generator.describe()}")
    return folder


def job_status(folder: str | Path) -> str:
    """created | running | finished | cancelled | failed | interrupted (its process died: resumable)."""
    from dpostudio.core.training.runs import _process_alive

    data = read_json(Path(folder) / JOB_FILE)
    status = data.get("status", "unknown")
    if status == RUNNING and not _process_alive(data.get("pid"), data.get("started_at")):
        return INTERRUPTED
    return status


def run_job(
    folder: str | Path,
    on_event: EventFn | None = None,
    cancel: threading.Event | None = None,
    *,
    judge_options: dict | None = None,
) -> dict:
    """Do (or resume) the job in ``folder``; returns ``{"status", "message", "card"}``. ``judge_options`` adds
    options that were not saved (API keys). Never raises for what a person can cause once started: the job
    ends ``failed`` with the reason in words, its files kept."""
    folder = Path(folder).expanduser()
    data = read_json(folder / JOB_FILE)
    if not data:
        raise JobError(f"{folder} holds no generation job ({JOB_FILE} is missing or unreadable)")
    if job_status(folder) == RUNNING:
        raise JobError(f"the job in {folder} is running (process {data.get('pid')}); stop it before resuming")
    emit, cancel = guarded(on_event), cancel or threading.Event()
    job = GenerateJob.from_dict(data["job"])
    job.ranker.options = {**job.ranker.options, **(judge_options or {})}
    generator = Generator.from_dict(data["generator"])
    prompts = [Prompt.from_dict(p) for p in data["prompt_list"]]
    if data.get("status") != "created":
        emit({"type": NOTE, "message": f"resuming the job in {folder}"})
    _update(folder, status=RUNNING, pid=os.getpid(), started_at=time.time(), message="")
    log_line(folder, f"started (process {os.getpid()})")
    try:
        result = make_dataset(folder, prompts, job, generator, emit, cancel)
    except KeyboardInterrupt:
        _update(folder, status=CANCELLED, message="interrupted")
        raise
    except Exception as exc:
        message = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
        log_line(folder, "failed: " + message + "\n" + traceback.format_exc())
        _update(folder, status=FAILED, message=message)
        emit({"type": FAILED, "message": message, "path": str(folder)})
        return {"status": FAILED, "message": message, "card": None}
    _update(folder, status=result["status"], message=result["message"])
    log_line(folder, f"{result['status']}: {result['message']}")
    emit({"type": result["status"], "message": result["message"], "path": str(folder)})
    return result


def make_dataset(
    folder: Path,
    prompts: list[Prompt],
    job: GenerateJob,
    generator: Generator,
    emit: EventFn,
    cancel: threading.Event,
    provenance: dict | None = None,
) -> dict:
    """Generate (resuming), rank (resuming) and write the pairs in ``folder``. Also a loop round's work."""
    gen = generate_candidates(prompts, generator, job.sampling, folder / CANDIDATES_FILE, emit, cancel)
    if gen["status"] != FINISHED:
        return {
            "status": CANCELLED,
            "message": f"stopped after {gen['done']} of {gen['total']} prompts answered; resume to go on",
            "card": None,
        }
    ranked = rank_candidates(
        folder / CANDIDATES_FILE, folder / RANKINGS_FILE, job.ranker, generator=generator, on_event=emit, cancel=cancel
    )
    if ranked["status"] != FINISHED:
        return {
            "status": CANCELLED,
            "message": f"stopped after {ranked['done']} of {ranked['total']} prompts ranked; resume to go on",
            "card": None,
        }
    card = write_dataset(
        folder,
        job.pairs,
        {
            "generator": generator.to_dict(),
            "sampling": job.sampling.to_dict(),
            "ranker": job.ranker.to_dict(safe=True),
            "ranker_words": job.ranker.describe(),
            "prompts_source": job.prompts.describe(),
            **(provenance or {}),
        },
    )
    counts = card["counts"]
    emit({"type": DATASET, "phase": GENERATE, "path": str(folder), "counts": counts})
    message = (
        f"{counts['pairs']} pairs from {counts['prompts']} prompts ({counts['ties']} ties, {counts['unjudged']} "
        f"unjudged left out); saved in {folder}"
    )
    return {"status": FINISHED, "message": message, "card": card}


def _update(folder: Path, **changes) -> None:
    data = read_json(folder / JOB_FILE)
    data.update(changes, updated_at=time.time())
    write_json(folder / JOB_FILE, data)
