"""Where the prompts to generate answers for come from.

``PromptSource.source`` is one of:

* ``set:NAME`` -- a built-in prompt set, ``resources/prompts/NAME.txt`` (``set:demo``: short instructions in the
  demo's spirit, none of them among the demo's preference pairs);
* a prompt file: ``.txt`` (one prompt per line, ``#`` comments) or ``.jsonl`` / ``.json`` with a ``"prompt"`` per
  row (text or a list of chat messages) -- errors name the file and the line;
* with ``column`` set (or anything that is not a prompt file): a column of any dataset the Dataset pane loads --
  a Hugging Face id, a local folder or JSONL/JSON/CSV/Parquet file, ``builtin:demo`` or a ``plugin:`` source.

``first_n`` keeps the first N, ``sample`` draws N at random with ``seed`` (after ``first_n``). Repeated prompts are
kept once. Everything a person can get wrong raises ``PromptError`` in words.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from pathlib import Path

from dpostudio.core.compare.prompt_sets import Prompt, PromptSetError, from_file
from dpostudio.core.errors import UserError
from dpostudio.core.paths import RESOURCES_DIR

PROMPTS_DIR = RESOURCES_DIR / "prompts"
SET_PREFIX = "set:"
PROMPT_FILES = (".txt", ".jsonl", ".json")
MAX_PROMPT_CHARS = 20_000


class PromptError(UserError, ValueError):
    """Prompts cannot be read; the message says where and why."""


@dataclass
class PromptSource:
    """Where prompts come from and how many to take (see the module's doc)."""

    source: str = "set:demo"
    column: str | None = None
    config_name: str | None = None
    split: str = "train"
    first_n: int | None = None
    sample: int | None = None
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> PromptSource:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def describe(self) -> str:
        text = self.source + (f" (column {self.column})" if self.column else "")
        if self.first_n:
            text += f", first {self.first_n}"
        if self.sample:
            text += f", {self.sample} sampled with seed {self.seed}"
        return text


def builtin_prompt_sets() -> dict[str, Path]:
    """Name -> file of the prompt sets that ship with DPO Studio for generation."""
    return {p.stem: p for p in sorted(PROMPTS_DIR.glob("*.txt"))}


def load_prompts(spec: PromptSource | str) -> list[Prompt]:
    """The prompts ``spec`` names, first-N and sampling applied, repeats removed; ``PromptError`` in words."""
    spec = PromptSource(spec) if isinstance(spec, str) else spec
    for name, value in (("first_n", spec.first_n), ("sample", spec.sample)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise PromptError(f"{name} must be a whole number of at least 1, not {value!r}")
    source = (spec.source or "").strip()
    if not source:
        raise PromptError("no prompt source given: a prompt file, set:NAME or a dataset")
    if source.startswith(SET_PREFIX):
        prompts = _builtin(source[len(SET_PREFIX) :])
    elif spec.column is None and Path(source).expanduser().suffix.lower() in PROMPT_FILES:
        try:
            prompts = from_file(source)
        except PromptSetError as exc:
            raise PromptError(str(exc)) from None
    else:
        prompts = _from_dataset(spec, source)
    prompts = unique(prompts)
    if spec.first_n:
        prompts = prompts[: spec.first_n]
    if spec.sample and spec.sample < len(prompts):
        picked = sorted(random.Random(spec.seed).sample(range(len(prompts)), spec.sample))
        prompts = [prompts[i] for i in picked]
    if not prompts:
        raise PromptError(f"{spec.describe()}: no prompts")
    return prompts


def unique(prompts: list[Prompt]) -> list[Prompt]:
    seen: set[str] = set()
    kept = []
    for prompt in prompts:
        if prompt.text not in seen:
            seen.add(prompt.text)
            kept.append(prompt)
    return kept


def _builtin(name: str) -> list[Prompt]:
    sets = builtin_prompt_sets()
    if name not in sets:
        raise PromptError(f"no built-in prompt set called {name!r}; known: {', '.join(sets) or 'none'}")
    lines = sets[name].read_text(encoding="utf-8").splitlines()
    return [
        Prompt(line.strip()[:MAX_PROMPT_CHARS], source=f"set:{name} line {n}")
        for n, line in enumerate(lines, 1)
        if line.strip() and not line.strip().startswith("#")
    ]


def _from_dataset(spec: PromptSource, source: str) -> list[Prompt]:
    """A column of a dataset (its training split): text, or a chat conversation ending in a user turn."""
    from dpostudio.core.data.problems import DataError
    from dpostudio.core.data.sources import load_raw, source_label
    from dpostudio.core.data.templates import flatten_prompt

    label = source_label(source)
    try:
        train, _ = load_raw(source, config_name=spec.config_name, split=spec.split)
    except DataError as exc:
        raise PromptError(str(exc)) from None
    column = spec.column or "prompt"
    columns = list(getattr(train, "column_names", []) or [])
    if column not in columns:
        raise PromptError(f"{label} has no column {column!r}; its columns: {', '.join(columns) or 'none'}")
    prompts = []
    for row, value in enumerate(train[column], 1):
        where = f"{label} row {row}"
        if isinstance(value, str):
            if value.strip():
                prompts.append(Prompt(value.strip()[:MAX_PROMPT_CHARS], source=where))
            continue
        if isinstance(value, list) and value and all(isinstance(m, dict) and "content" in m for m in value):
            messages = [{"role": str(m.get("role", "user")), "content": str(m["content"])} for m in value]
            while messages and messages[-1]["role"] == "assistant":
                messages.pop()  # a conversation with its answer: the prompt is what comes before it
            if messages:
                prompts.append(Prompt(flatten_prompt(messages), messages, source=where))
            continue
        if value is not None:
            raise PromptError(f"{where}: column {column!r} holds {type(value).__name__}, not text or chat messages")
    return prompts


def split_prompts(prompts: list[Prompt], heldout: int, per_round: int, rounds: int, seed: int) -> dict:
    """A loop's prompts, shuffled once with ``seed``: ``{"heldout": [...], "rounds": [[...], ...]}``; every
    prompt used once at most. ``PromptError`` in words when there are too few."""
    need = heldout + per_round * rounds
    if len(prompts) < heldout + per_round:
        raise PromptError(
            f"{len(prompts)} prompts are too few for {heldout} held-out prompts and {per_round} per round"
        )
    order = list(range(len(prompts)))
    random.Random(seed).shuffle(order)
    shuffled = [prompts[i] for i in order]
    held, rest = shuffled[:heldout], shuffled[heldout:]
    per_round_lists = []
    for r in range(rounds):
        chunk = rest[r * per_round : (r + 1) * per_round]
        if len(chunk) < per_round:  # more rounds than fresh prompts: reuse from the start (said in the loop's log)
            chunk = [rest[(r * per_round + i) % len(rest)] for i in range(per_round)]
        per_round_lists.append([p.to_dict() for p in chunk])
    return {"heldout": [p.to_dict() for p in held], "rounds": per_round_lists, "reused": len(prompts) < need}
