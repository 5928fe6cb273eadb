"""Preference pairs from judgements: a person (or a judge) says which of the answers shown is better.

A *judgement set* (default ``my-judgements``) lives in ``<data dir>/judgements/`` as two files::

    my-judgements.journal   the history: one JSON object per judgement, only ever appended (and fsynced)
    my-judgements.jsonl     the preference pairs of the latest judgements, rebuilt from the journal after each
                            one (written to a temporary file, then renamed over the old one)

The ``.jsonl`` file is a normal TRL-standard preference file (``prompt``, ``chosen``, ``rejected``, plus
``judged_by``, ``when``, ``source`` and, where the answers were made with one, ``system``): the data pipeline, the
Dataset pane, ``dpostudio data inspect`` and training load it by path like any other file.

A journal line::

    {"v": 1, "key": "comparison=20261202-101500|row=3|run=my-run", "source": {"kind": "comparison", ...},
     "prompt": "...", "system": null, "verdict": "tuned", "written": false,
     "chosen": "<the better answer>", "rejected": ["<the worse answer>"],
     "judged_by": "you", "when": "2026-12-02T10:32:05+00:00"}

Rules. One judgement counts per ``source`` (the thing judged, e.g. a comparison's row): judging it again appends
a new line and the **latest wins** when the journal is read; nothing earlier is rewritten, so an app that dies
while saving loses at most the judgement being saved. A *tie* is recorded (and counted) but makes no pair. A
*written* better answer is chosen against the worse shown answer, or against every shown answer. *Withdrawing*
a judgement appends a line that cancels it. A line cut short by a crash (or otherwise unreadable) is skipped and
reported in words; the next append starts on a fresh line, so it never spoils a new judgement.

Use::

    from dpostudio.core.compare.human_pairs import JudgementSet

    store = JudgementSet()                                  # "my-judgements" in the data dir
    store.judge("What is 2+2?", {"base": "5", "tuned": "4"}, "tuned",
                source={"kind": "comparison", "run": "r1", "comparison": "c1", "row": 1})
    store.judge(..., better="tie", ...)                     # counted, no pair
    store.judge(..., better="base", written="Four.", against="both", ...)   # "Four." beats both answers
    store.record(prompt, chosen, [rejected, ...], source=..., judged_by="gemini")   # any number of rejected
    store.withdraw(source)
    log = store.read()        # JudgementLog: .judgements (latest per source), .pairs(), .ties, .problems
    store.latest(source)      # the current Judgement of one source, or None
    store.pairs_path          # the file to train on (kept current by judge/record/withdraw; refresh() rebuilds)

Sources are small JSON objects whose values are text or numbers; ``kind`` says what was judged (``comparison``
with ``run``, ``comparison``, ``row``; another tool uses its own kind, e.g. ``candidates``). Nothing here imports
Qt or torch.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dpostudio.core.errors import UserError
from dpostudio.core.paths import data_dir

DEFAULT_SET = "my-judgements"
YOU = "you"
TIE = "tie"
WITHDRAWN = "withdrawn"
AGAINST = ("worse", "both")  # a written answer beats the worse shown answer, or every shown answer
JOURNAL_SUFFIX = ".journal"
PAIRS_SUFFIX = ".jsonl"
FORMAT_VERSION = 1
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,79}$")


class JudgementError(UserError, ValueError):
    """A judgement cannot be recorded (empty answer, nothing to prefer, a bad set name); said in words."""


def judgements_dir() -> Path:
    """``<data dir>/judgements``, where every judgement set lives."""
    path = data_dir() / "judgements"
    path.mkdir(parents=True, exist_ok=True)
    return path


def list_sets(root: Path | None = None) -> list[str]:
    """The names of the judgement sets that have a journal, sorted."""
    folder = Path(root) if root is not None else judgements_dir()
    return sorted(p.name[: -len(JOURNAL_SUFFIX)] for p in folder.glob(f"*{JOURNAL_SUFFIX}") if p.is_file())


def source_key(source: Mapping[str, Any]) -> str:
    """The identity of what was judged: the source's fields in a fixed order (``kind=…|row=…|run=…``)."""
    if not source:
        raise JudgementError("a judgement needs a source (what was judged, e.g. a comparison's row)")
    for name, value in source.items():
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise JudgementError(f"the source's {name!r} must be text or a number, not {type(value).__name__}")
    return "|".join(f"{name}={source[name]}" for name in sorted(source))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Judgement:
    """One judgement as the journal holds it. ``chosen`` is None for a tie or a withdrawal."""

    key: str
    source: dict
    prompt: str | list[dict]  # the prompt's text, or its conversation as {role, content} messages
    verdict: str  # the label of the better answer ("base", "tuned", ...), "tie" or "withdrawn"
    chosen: str | None
    rejected: tuple[str, ...]
    judged_by: str
    when: str
    written: bool = False  # the chosen answer was written by the person, not one of the answers shown
    system: str | None = None
    line: int = 0  # where in the journal (1-based); 0 before it is saved

    @property
    def is_tie(self) -> bool:
        """Neither shown answer is better and nothing better was written: counted, but no pair."""
        return self.verdict == TIE and self.chosen is None

    def pairs(self) -> list[dict]:
        """The preference rows this judgement makes (none for a tie), as the pairs file holds them."""
        if self.chosen is None:
            return []
        rows = []
        for rejected in self.rejected:
            row = {
                "prompt": self.prompt,
                "chosen": self.chosen,
                "rejected": rejected,
                "judged_by": self.judged_by,
                "when": self.when,
                "source": self.key,
            }
            if self.system:
                row["system"] = self.system
            rows.append(row)
        return rows

    def to_line(self) -> dict:
        """The journal line (every field but ``line``, which is where it lands)."""
        fields = {k: v for k, v in asdict(self).items() if k != "line"}
        return {"v": FORMAT_VERSION, **fields, "rejected": list(self.rejected)}

    @classmethod
    def from_line(cls, data: Any, line: int) -> Judgement:
        """A journal line back as a Judgement; JudgementError says what is wrong with it."""
        if not isinstance(data, dict):
            raise JudgementError("it is not a JSON object")
        missing = [k for k in ("key", "verdict", "judged_by", "when") if not isinstance(data.get(k), str)]
        if missing:
            raise JudgementError(f"it has no {', '.join(repr(m) for m in missing)}")
        _check_prompt(data.get("prompt"))
        rejected = data.get("rejected") or []
        chosen = data.get("chosen")
        if isinstance(rejected, str):
            rejected = [rejected]
        if not isinstance(rejected, list) or not all(isinstance(r, str) for r in rejected):
            raise JudgementError("its 'rejected' is not a list of answers")
        if chosen is not None and not isinstance(chosen, str):
            raise JudgementError("its 'chosen' is not text")
        if chosen is not None and not rejected:
            raise JudgementError("it has a chosen answer but no rejected one")
        return cls(
            **{k: data[k] for k in ("key", "prompt", "verdict", "judged_by", "when")},
            source=dict(data.get("source") or {}),
            chosen=chosen,
            rejected=tuple(rejected),
            written=bool(data.get("written")),
            system=data["system"] if isinstance(data.get("system"), str) else None,
            line=line,
        )


@dataclass
class JudgementLog:
    """A journal read back: the latest judgement per source (in journal order), what it dropped, what was wrong."""

    replaced: int = 0  # earlier judgements of a source judged again (or withdrawn)
    problems: list[str] = field(default_factory=list)  # unreadable lines, in words
    lines: int = 0  # lines in the journal, unreadable ones included
    _latest: dict[str, Judgement] = field(default_factory=dict, repr=False)  # withdrawals included

    def add(self, judgement: Judgement) -> None:
        """Take in the next journal line: the latest judgement of a source wins."""
        if self._latest.pop(judgement.key, None) is not None:
            self.replaced += 1  # re-inserted below, so the order is that of the latest judgements
        self._latest[judgement.key] = judgement

    @property
    def judgements(self) -> list[Judgement]:
        return [j for j in self._latest.values() if j.verdict != WITHDRAWN]

    @property
    def withdrawn(self) -> int:
        """Sources whose latest line withdraws their judgement."""
        return sum(1 for j in self._latest.values() if j.verdict == WITHDRAWN)

    def pairs(self) -> list[dict]:
        return [row for j in self.judgements for row in j.pairs()]

    @property
    def pair_count(self) -> int:
        return sum(len(j.rejected) for j in self.judgements if j.chosen is not None)

    @property
    def ties(self) -> int:
        return sum(1 for j in self.judgements if j.is_tie)

    def by_key(self) -> dict[str, Judgement]:
        return {k: j for k, j in self._latest.items() if j.verdict != WITHDRAWN}

    def describe(self) -> str:
        """One line: "5 pairs from 4 judgements (1 tie)"."""
        n = len(self.judgements)
        text = f"{_plural(self.pair_count, 'pair')} from {_plural(n, 'judgement')}"
        extra = [_plural(self.ties, "tie")] if self.ties else []
        if self.problems:
            extra.append(_plural(len(self.problems), "unreadable line"))
        return text + (f" ({', '.join(extra)})" if extra else "")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _check_prompt(prompt: Any) -> None:
    """A prompt is non-empty text, or a conversation: {role, content} messages ending with a user turn."""
    if isinstance(prompt, str) and prompt.strip():
        return
    if (
        isinstance(prompt, list)
        and prompt
        and all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in prompt
        )
    ):
        if prompt[-1]["role"] != "user":
            raise JudgementError("the prompt conversation must end with a user turn")
        return
    raise JudgementError("a judgement needs the prompt the answers reply to (text, or {role, content} messages)")


def read_journal(path: Path) -> JudgementLog:
    """Read a journal; the latest line of each source wins. Unreadable lines are skipped and described."""
    log = JudgementLog()
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return log
    lines = raw.split(b"\n")
    cut_short = bool(raw) and not raw.endswith(b"\n")
    log.lines = len(lines) - (0 if cut_short else 1)
    for number, chunk in enumerate(lines, 1):
        if not chunk.strip():
            continue
        last = number == len(lines)
        try:
            judgement = Judgement.from_line(json.loads(chunk.decode("utf-8")), number)
        except (ValueError, UnicodeDecodeError) as exc:
            where = f"{Path(path).name} line {number}"
            if last and cut_short:
                log.problems.append(
                    f"{where} was cut short (the app probably stopped while saving it); that judgement is lost, "
                    "the others are kept"
                )
            elif isinstance(exc, JudgementError):
                log.problems.append(f"{where} is not a judgement ({exc}); it was skipped")
            else:
                log.problems.append(f"{where} is not valid JSON; it was skipped")
            continue
        log.add(judgement)
    return log


class JudgementSet:
    """One named set of judgements: its journal (history) and its pairs file (what training reads)."""

    def __init__(self, name: str = DEFAULT_SET, root: Path | None = None):
        name = (name or "").strip()
        if not _NAME.match(name) or name.endswith((JOURNAL_SUFFIX, PAIRS_SUFFIX)):
            raise JudgementError(
                f"{name!r} cannot name a judgement set: use letters, digits, spaces, '.', '_' or '-' "
                "(up to 80 characters, starting with a letter or digit)"
            )
        self.name = name
        self.root = Path(root) if root is not None else judgements_dir()
        self._cache: tuple[tuple[int, int], JudgementLog] | None = None

    @property
    def journal_path(self) -> Path:
        return self.root / f"{self.name}{JOURNAL_SUFFIX}"

    @property
    def pairs_path(self) -> Path:
        return self.root / f"{self.name}{PAIRS_SUFFIX}"

    # ---- reading -----------------------------------------------------------------------------------------

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = self.journal_path.stat()
        except FileNotFoundError:
            return None
        return st.st_size, st.st_mtime_ns

    def read(self) -> JudgementLog:
        """The journal read back (cached until the file changes)."""
        stamp = self._stamp()
        if stamp is None:
            return JudgementLog()
        if self._cache is None or self._cache[0] != stamp:
            self._cache = (stamp, read_journal(self.journal_path))
        return self._cache[1]

    def latest(self, source: Mapping[str, Any]) -> Judgement | None:
        """The current judgement of ``source`` (None when never judged, or withdrawn)."""
        return self.read().by_key().get(source_key(source))

    def refresh(self) -> Path:
        """Rebuild the pairs file from the journal when it is missing or older, and return its path."""
        journal, pairs = self.journal_path, self.pairs_path
        if journal.exists() and (not pairs.exists() or pairs.stat().st_mtime_ns < journal.stat().st_mtime_ns):
            with self._lock():
                self._write_pairs(self.read())
        return pairs

    # ---- writing -----------------------------------------------------------------------------------------

    def judge(
        self,
        prompt: str | list[dict],
        answers: Mapping[str, str],
        better: str,
        *,
        source: Mapping[str, Any],
        written: str | None = None,
        against: str = "worse",
        judged_by: str = YOU,
        system: str | None = None,
    ) -> Judgement:
        """Record which of the ``answers`` shown (label -> text) is better: a label, or ``"tie"``.

        With ``written`` (a better answer the person wrote), that text is chosen against the answers other than
        ``better`` (``against="worse"``) or against every answer shown (``against="both"``, also what a tie
        means); a shown answer identical to the written one is left out."""
        if better != TIE and better not in answers:
            raise JudgementError(f"{better!r} is not one of the answers shown ({', '.join(answers)}) nor a tie")
        if against not in AGAINST:
            raise JudgementError(f"a written answer is preferred to the 'worse' answer or to 'both', not {against!r}")
        if written is not None:
            chosen: str | None = written
            losers = [label for label in answers if against == "both" or better == TIE or label != better]
            if not written.strip():
                raise JudgementError("the better answer you wrote is empty")
        elif better == TIE:
            chosen, losers = None, []
        else:
            chosen, losers = answers[better], [label for label in answers if label != better]
            if not chosen.strip():
                raise JudgementError(f"the {better} answer is empty; write a better answer instead")
        rejected = [answers[label] for label in losers if chosen is None or answers[label].strip() != chosen.strip()]
        if chosen is not None and not rejected:
            raise JudgementError(
                "the answer you wrote is the same as the answers it should beat, so it makes no pair"
                if written is not None
                else "the answers are identical, so preferring one teaches nothing; call it a tie or write a better "
                "answer"
            )
        return self.record(
            prompt,
            chosen,
            rejected,
            source=source,
            verdict=better,
            written=written is not None,
            judged_by=judged_by,
            system=system,
        )

    def record(
        self,
        prompt: str | list[dict],
        chosen: str | None,
        rejected: Sequence[str],
        *,
        source: Mapping[str, Any],
        verdict: str | None = None,
        written: bool = False,
        judged_by: str = YOU,
        system: str | None = None,
    ) -> Judgement:
        """Append one judgement: ``chosen`` preferred to each of ``rejected`` (``chosen=None``: a tie).

        The journal line is flushed to disk before the pairs file is rebuilt; returns the saved Judgement."""
        _check_prompt(prompt)
        if isinstance(rejected, str):
            rejected = [rejected]
        if chosen is not None:
            if not chosen.strip():
                raise JudgementError("the chosen answer is empty")
            rejected = [r for r in rejected if r.strip() != chosen.strip()]
            if not rejected:
                raise JudgementError("a chosen answer needs at least one different rejected answer")
            verdict = verdict or "chosen"
        else:
            rejected, verdict = [], verdict or TIE
        judgement = Judgement(
            key=source_key(source),
            source=dict(source),
            prompt=prompt,
            verdict=verdict,
            chosen=chosen,
            rejected=tuple(rejected),
            judged_by=(judged_by or YOU).strip() or YOU,
            when=_now(),
            written=written,
            system=system or None,
        )
        return self._append(judgement)

    def withdraw(self, source: Mapping[str, Any], *, judged_by: str = YOU) -> bool:
        """Take back the judgement of ``source`` (False when there was none)."""
        current = self.latest(source)
        if current is None:
            return False
        gone = replace(current, verdict=WITHDRAWN, chosen=None, rejected=(), written=False, system=None, line=0)
        self._append(replace(gone, judged_by=judged_by, when=_now()))
        return True

    # ---- files -------------------------------------------------------------------------------------------

    def _lock(self):
        from filelock import FileLock

        self.root.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.root / f".{self.name}.lock"), timeout=30)

    def _append(self, judgement: Judgement) -> Judgement:
        data = (json.dumps(judgement.to_line(), ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock():
            before, path = self._stamp(), self.journal_path
            with open(path, "ab+") as fh:
                fh.seek(0, os.SEEK_END)
                end = fh.tell()
                if end:  # a line cut short by a crash stays on its own line, reported; the new one is whole
                    fh.seek(end - 1)
                    if fh.read(1) != b"\n":
                        data = b"\n" + data
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            if self._cache is not None and self._cache[0] == before and not data.startswith(b"\n"):
                log = self._cache[1]  # nobody else wrote since it was read: take the new line in, not the file
                log.lines += 1
                judgement = replace(judgement, line=log.lines)
                log.add(judgement)
                self._cache = (self._stamp() or (0, 0), log)
            else:
                self._cache = None
                log = self.read()
                judgement = log.by_key().get(judgement.key, judgement)  # with its line number
            self._write_pairs(log)
        return judgement

    def _write_pairs(self, log: JudgementLog) -> None:
        """Replace the pairs file in one step: a crash leaves the old file or the new one, never half of one."""
        tmp = self.pairs_path.with_name(f".{self.pairs_path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                for row in log.pairs():
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.pairs_path)
        finally:
            tmp.unlink(missing_ok=True)
