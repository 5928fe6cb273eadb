"""Prompt sets for comparing a base model with its tuned adapter.

A prompt set is a list of ``Prompt`` items (the text shown and judged, plus the conversation the model sees).
Where one comes from:

* a built-in set (``resources/prompt_sets/<name>.txt``; the default is the five prompts of a published DPO
  comparison: quantum computing, AI ethics in healthcare, a time-travel story, machine learning vs traditional
  programming, climate change),
* the held-out prompts of a run's evaluation split (never seen in training),
* a list typed by the user,
* a file: ``.txt`` (one prompt per line, ``#`` comments) or ``.jsonl`` / ``.json`` (objects with ``"prompt"``,
  which may be a string or a list of chat messages).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dpostudio.core.errors import UserError
from dpostudio.core.paths import RESOURCES_DIR

PROMPT_SETS_DIR = RESOURCES_DIR / "prompt_sets"
DEFAULT_SET = "published_five"
MAX_PROMPT_CHARS = 20_000


class PromptSetError(UserError, ValueError):
    """A prompt set cannot be read; the message says why in words."""


@dataclass
class Prompt:
    """One prompt: ``text`` is what people read and the judge sees; ``messages`` what the model is given."""

    text: str
    messages: list[dict] = field(default_factory=list)
    source: str = ""

    def __post_init__(self) -> None:
        if not self.messages:
            self.messages = [{"role": "user", "content": self.text}]

    def to_dict(self) -> dict:
        return {"text": self.text, "messages": self.messages, "source": self.source}

    @classmethod
    def from_dict(cls, data: dict) -> Prompt:
        return cls(text=data["text"], messages=list(data.get("messages") or []), source=data.get("source", ""))


def _clean(lines: list[str], label: str) -> list[Prompt]:
    prompts = []
    for line in lines:
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        prompts.append(Prompt(text[:MAX_PROMPT_CHARS], source=label))
    return prompts


def builtin_sets() -> dict[str, Path]:
    """Name -> file of the prompt sets that ship with DPO Studio."""
    return {p.stem: p for p in sorted(PROMPT_SETS_DIR.glob("*.txt"))}


def builtin_set(name: str = DEFAULT_SET) -> list[Prompt]:
    sets = builtin_sets()
    if name not in sets:
        raise PromptSetError(f"no built-in prompt set called {name!r}; known: {', '.join(sets) or 'none'}")
    return _clean(sets[name].read_text(encoding="utf-8").splitlines(), f"built-in:{name}")


def from_lines(text_or_lines: str | list[str], label: str = "typed") -> list[Prompt]:
    """A user's list: one prompt per line (or a list of strings); blank lines and ``#`` comments are skipped."""
    lines = text_or_lines.splitlines() if isinstance(text_or_lines, str) else list(text_or_lines)
    prompts = _clean(lines, label)
    if not prompts:
        raise PromptSetError("the prompt list is empty: write one prompt per line")
    return prompts


def _from_messages(value, where: str) -> Prompt:
    from dpostudio.core.data.templates import flatten_prompt

    if isinstance(value, str):
        if not value.strip():
            raise PromptSetError(f"{where}: the prompt is empty")
        return Prompt(value.strip())
    if isinstance(value, list) and value and all(isinstance(m, dict) and "role" in m and "content" in m for m in value):
        messages = [{"role": str(m["role"]), "content": str(m["content"])} for m in value]
        if messages[-1]["role"] == "assistant":
            raise PromptSetError(f"{where}: the conversation ends with an assistant turn, not a user turn")
        return Prompt(flatten_prompt(messages), messages)
    raise PromptSetError(f'{where}: "prompt" must be text or a list of chat messages')


def from_file(path: str | Path) -> list[Prompt]:
    """Read a prompt file: .txt (one per line) or .jsonl/.json with a "prompt" field per row."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise PromptSetError(f"prompt file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise PromptSetError(f"cannot read {path}: {exc}") from exc
    label = f"file:{path.name}"
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        rows: list[Any] = []
        if suffix == ".json":
            try:
                data = json.loads(text)
            except ValueError as exc:
                raise PromptSetError(f"{path.name} is not valid JSON: {exc}") from exc
            rows = data if isinstance(data, list) else data.get("prompts", []) if isinstance(data, dict) else []
        else:
            for n, line in enumerate(text.splitlines(), 1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except ValueError as exc:
                        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else exc
                        raise PromptSetError(f"{path.name} line {n} is not valid JSON: {reason}") from exc
        prompts = []
        for n, row in enumerate(rows, 1):
            where = f"{path.name} row {n}"
            value = row if isinstance(row, str) else row.get("prompt") if isinstance(row, dict) else None
            if value is None:
                raise PromptSetError(f'{where} has no "prompt" field')
            item = _from_messages(value, where)
            item.source = label
            prompts.append(item)
    else:
        prompts = _clean(text.splitlines(), label)
    if not prompts:
        raise PromptSetError(f"{path.name} holds no prompts")
    return prompts


def eval_prompts(config, limit: int | None = None) -> list[Prompt]:
    """The held-out prompts of a run's evaluation split (same data pipeline and seed as training)."""
    from dpostudio.core.data.pipeline import prepare_pairs
    from dpostudio.core.data.templates import flatten_prompt

    prepared = prepare_pairs(config)
    if not prepared.eval:
        raise PromptSetError(
            "this run has no held-out evaluation prompts (it trained with eval_ratio 0 and no "
            "eval split); pick another prompt set"
        )
    prompts = [
        Prompt(flatten_prompt(p["prompt"]), [dict(m) for m in p["prompt"]], source=f"eval row {p['row']}")
        for p in prepared.eval
        if p["prompt"]
    ]
    return prompts[:limit] if limit else prompts
