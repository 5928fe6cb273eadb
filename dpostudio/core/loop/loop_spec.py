"""An iterative (self-rewarding) DPO loop: what it does (``LoopSpec``) and where it lives (``Loop``).

A loop is a folder ``<data dir>/loops/<name>/``::

    loop.json          the spec, the frozen prompts (held-out, and each round's), status, and one entry per round:
                       its step (generate: answers, ranking and pairs; train; evaluate; done), dataset folder, run
                       id, adapter,
                       counts, eval metrics and win rates
    log.txt            what happened, with times
    round-<n>/         round n's dataset folder (``pairs``), plus its win-rate verdicts
    heldout/round-<n>.jsonl   model n's greedy answers to the held-out prompts (round-0: the starting model)

Round 0 is the starting model: the base (adapter off) or a run's adapter. Round n generates with model n-1,
ranks, builds pairs and trains one normal run (named ``<loop>-r<n>``, tagged ``loop``/``loop_round`` in run.json)
whose ``init_adapter`` is model n-1's adapter; its adapter is model n.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from dpostudio.core.errors import UserError
from dpostudio.core.loop.generate import Generator, Sampling
from dpostudio.core.loop.pairs import PairSettings
from dpostudio.core.loop.prompts import PromptSource
from dpostudio.core.loop.rank import RankSettings, without_hidden
from dpostudio.core.loop.records import read_json, write_json
from dpostudio.core.paths import data_dir
from dpostudio.core.training.event_types import INTERRUPTED, RUNNING

LOOP_FILE = "loop.json"
STEPS = ("generate", "train", "evaluate", "done")  # generate: answers, ranking and pairs
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class LoopError(UserError, ValueError):
    """A loop cannot be created, found or resumed; said in words."""


def loops_dir() -> Path:
    path = data_dir() / "loops"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class LoopSpec:
    """Set once for the whole loop. ``run_config``: RunConfig fields for every round's training (the model comes
    from here, or from ``start_run``); ``eval_judge``: the judge plugin for the win rates (None: no win rates)."""

    name: str
    rounds: int = 2
    prompts: PromptSource = field(default_factory=PromptSource)
    prompts_per_round: int = 12
    heldout: int = 10
    start_run: str | None = None
    start_checkpoint: str | None = None
    sampling: Sampling = field(default_factory=lambda: Sampling(k=5))
    ranker: RankSettings = field(default_factory=RankSettings)
    pairs: PairSettings = field(default_factory=PairSettings)
    run_config: dict = field(default_factory=dict)
    eval_judge: str | None = None
    eval_judge_options: dict = field(default_factory=dict)
    eval_max_new_tokens: int = 128
    seed: int = 0

    def check(self) -> None:
        from dpostudio.core.loop.rank import check_ranker
        from dpostudio.core.training.run_config import ConfigError, RunConfig

        if not NAME.match(self.name or ""):
            raise LoopError(f"a loop name is letters, digits, '-', '_' or '.', up to 64 characters, not {self.name!r}")
        for key, low in (("rounds", 1), ("prompts_per_round", 1), ("heldout", 0), ("eval_max_new_tokens", 1)):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise LoopError(f"{key} must be a whole number of at least {low}, not {value!r}")
        if self.sampling.k < 2:
            raise LoopError("a loop needs at least 2 answers per prompt (k) to make pairs")
        self.sampling.validate()
        self.pairs.validate()
        check_ranker(self.ranker)
        if self.eval_judge:
            from dpostudio.core.compare.judging import check_judge

            check_judge(self.eval_judge)
        try:
            RunConfig.from_dict({k: v for k, v in self.run_config.items() if k not in ("dataset", "init_adapter")})
        except ConfigError as exc:
            raise LoopError(f"run config: {exc}") from None

    def start_generator(self) -> Generator:
        """Model 0: the start run's adapter (or checkpoint), else the base model of the run config."""
        from dpostudio.core.training.run_config import DEFAULT_MODEL

        if self.start_run:
            return Generator(run=self.start_run, checkpoint=self.start_checkpoint).resolved()
        config = self.run_config
        return Generator(
            model=config.get("model") or DEFAULT_MODEL,
            prompt_template=config.get("prompt_template") or "chat",
            system_prompt=config.get("system_prompt"),
            trust_remote_code=bool(config.get("trust_remote_code")),
        ).resolved()

    def to_dict(self, *, safe: bool = False) -> dict:
        from dpostudio.core.compare.judging import safe_options

        return {
            "name": self.name,
            "rounds": self.rounds,
            "prompts": self.prompts.to_dict(),
            "prompts_per_round": self.prompts_per_round,
            "heldout": self.heldout,
            "start_run": self.start_run,
            "start_checkpoint": self.start_checkpoint,
            "sampling": self.sampling.to_dict(),
            "ranker": self.ranker.to_dict(safe=safe),
            "pairs": self.pairs.to_dict(),
            "run_config": dict(self.run_config),
            "eval_judge": self.eval_judge,
            "eval_judge_options": safe_options(self.eval_judge, self.eval_judge_options)
            if safe
            else dict(self.eval_judge_options),
            "eval_max_new_tokens": self.eval_max_new_tokens,
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, data: dict) -> LoopSpec:
        simple = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        simple.update(
            prompts=PromptSource.from_dict(data.get("prompts") or {}),
            sampling=Sampling.from_dict(data.get("sampling") or {}),
            ranker=RankSettings.from_dict(data.get("ranker") or {}),
            pairs=PairSettings.from_dict(data.get("pairs") or {}),
            eval_judge_options=without_hidden(data.get("eval_judge_options") or {}),
        )
        return cls(**simple)


@dataclass
class Loop:
    """A loop folder and its ``loop.json``."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def file(self) -> Path:
        return self.path / LOOP_FILE

    def data(self) -> dict:
        return read_json(self.file)

    def spec(self) -> LoopSpec:
        return LoopSpec.from_dict(self.data().get("spec") or {"name": self.name})

    def update(self, **changes) -> dict:
        data = self.data()
        data.update(changes, updated_at=time.time())
        write_json(self.file, data)
        return data

    def rounds(self) -> list[dict]:
        return list(self.data().get("rounds") or [])

    def save_round(self, entry: dict) -> None:
        data = self.data()
        rounds = [r for r in data.get("rounds") or [] if r.get("round") != entry["round"]]
        rounds.append(entry)
        rounds.sort(key=lambda r: r["round"])
        data.update(rounds=rounds, updated_at=time.time())
        write_json(self.file, data)

    def round_dir(self, n: int) -> Path:
        return self.path / f"round-{n}"

    def heldout_file(self, n: int) -> Path:
        folder = self.path / "heldout"
        folder.mkdir(exist_ok=True)
        return folder / f"round-{n}.jsonl"

    def status(self) -> str:
        """created | running | finished | cancelled | failed | interrupted (its process died: resumable)."""
        from dpostudio.core.training.runs import _process_alive

        data = self.data()
        status = data.get("status", "unknown")
        if status == RUNNING and not _process_alive(data.get("pid"), data.get("started_at")):
            return INTERRUPTED
        return status


def loop_path(name_or_path: str) -> Path:
    path = Path(name_or_path).expanduser()
    return path if (path / LOOP_FILE).is_file() else loops_dir() / name_or_path


def open_loop(name_or_path: str) -> Loop:
    path = loop_path(name_or_path)
    if not (path / LOOP_FILE).is_file():
        known = ", ".join(p.name for p in list_loops()) or "none"
        raise LoopError(f"no loop called {name_or_path!r} (loops: {known})")
    return Loop(path)


def list_loops() -> list[Loop]:
    return [Loop(p) for p in sorted(loops_dir().iterdir()) if (p / LOOP_FILE).is_file()]
