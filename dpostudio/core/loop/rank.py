"""Rank each prompt's K answers: a judge plugin (pairwise in both orders, or pointwise), a ranker plugin that scores
all K at once (a reward model, PairRM), or the model itself with the Self-Rewarding rubric (``self_judge``).

``RankSettings.kind``:

* ``judge`` with ``mode`` ``all-pairs`` (every pair judged in both orders, as the comparison does:
  ``compare.judging.judge_both_orders``; an answer's score is its share of wins, a tie counting half),
  ``tournament`` (a knock-out for the best, another among the rest for the worst: 2K-3 pairs instead of
  K(K-1)/2; the best scores 1, the worst 0, the others none) or ``pointwise`` (each answer scored alone on the
  criteria by a judge with the ``single`` mode; its score is the mean);
* ``ranker``: ``dpostudio_rank_candidates`` of a ranker plugin;
* ``self``: the generating model judges its own answers (additive 5-point rubric).

A failed call (rate limit, server error, timeout, unreadable reply) is tried again ``retries`` times; when it still
fails, that prompt is *marked* (left out of the pairs, with the reason) and ranking goes on. One JSONL record per
prompt is appended to the rankings file at once; ranking the same file again resumes after the last one::

    {"index", "prompt", "status": "ok"|"marked", "reason", "scores": [float|None, ...], "method", "details"}
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dpostudio.core.compare.judging import CRITERIA, check_judge, judge_both_orders, safe_options
from dpostudio.core.errors import UserError
from dpostudio.core.loop.events import PROMPT_DONE, PROMPT_MARKED, RANK, STAGE, EventFn, Progress, guarded
from dpostudio.core.loop.records import append_jsonl, read_jsonl

KINDS = ("judge", "ranker", "self")
JUDGE_MODES = ("all-pairs", "tournament", "pointwise")
OK, MARKED = "ok", "marked"


class RankError(UserError, ValueError):
    """Ranking cannot start (unknown judge or ranker, a judge without the pointwise mode, bad settings)."""


class _Failed(Exception):
    """Internal: a call failed after its retries; the prompt is marked."""


@dataclass
class RankSettings:
    """How answers are ranked (see the module's doc). ``id`` names the judge or ranker; ``options`` its options."""

    kind: str = "self"
    id: str | None = None
    mode: str = "all-pairs"
    options: dict = field(default_factory=dict)
    criteria: list[str] = field(default_factory=lambda: list(CRITERIA))
    timeout: float | None = 300.0
    retries: int = 1
    retry_wait: float = 1.0
    samples: int = 1
    judge_max_new_tokens: int = 256
    seed: int = 0

    def validate(self) -> RankSettings:
        if self.kind not in KINDS:
            raise RankError(f"ranker kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if self.kind in ("judge", "ranker") and not self.id:
            raise RankError(f"name the {self.kind} to rank with (see `dpostudio plugins list`)")
        if self.kind == "judge" and self.mode not in JUDGE_MODES:
            raise RankError(f"judge mode must be one of {', '.join(JUDGE_MODES)}, not {self.mode!r}")
        if not isinstance(self.retries, int) or not 0 <= self.retries <= 20:
            raise RankError(f"retries must be a whole number from 0 to 20, not {self.retries!r}")
        if not isinstance(self.samples, int) or not 1 <= self.samples <= 16:
            raise RankError(f"samples must be a whole number from 1 to 16, not {self.samples!r}")
        return self

    def describe(self) -> str:
        if self.kind == "self":
            return f"the model itself (Self-Rewarding 5-point rubric, {self.samples} judgement(s) per answer)"
        if self.kind == "ranker":
            return f"ranker {self.id}"
        return f"judge {self.id} ({self.mode}{', both orders' if self.mode != 'pointwise' else ''})"

    def to_dict(self, *, safe: bool = False) -> dict:
        data = asdict(self)
        if safe:
            data["options"] = safe_options(self.id, self.options) if self.kind == "judge" else _hide(self.options)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> RankSettings:
        """Settings as saved; options hidden when saved (API keys) are left out, so the judge finds them again
        where it keeps them (the keyring, an environment variable) or the caller adds them."""
        settings = cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
        settings.options = without_hidden(settings.options)
        return settings


HIDDEN = "(hidden)"


def without_hidden(options: dict) -> dict:
    return {k: v for k, v in (options or {}).items() if v != HIDDEN}


def _hide(options: dict) -> dict:
    return {k: "(hidden)" if any(w in k.lower() for w in ("key", "token", "secret")) else v for k, v in options.items()}


def check_ranker(settings: RankSettings) -> None:
    """``RankError`` in words unless the judge or ranker exists (and a pointwise judge scores single answers)."""
    from dpostudio.core.compare.settings import ComparisonError
    from dpostudio.core.plugin_access import PluginCallError, plugins

    settings.validate()
    try:
        if settings.kind == "judge":
            check_judge(str(settings.id))
            if settings.mode == "pointwise":
                info = next(j for j in plugins().judges() if j.id == settings.id)
                if "single" not in getattr(info, "modes", []):
                    raise RankError(f"judge {settings.id} cannot score single answers; use all-pairs or tournament")
        elif settings.kind == "ranker":
            known = [r.id for r in plugins().rankers()]
            if settings.id not in known:
                raise RankError(f"unknown ranker {settings.id!r}; available: {', '.join(known) or 'none'}")
    except (ComparisonError, PluginCallError) as exc:
        raise RankError(str(exc)) from None


def rank_candidates(
    candidates_path: str | Path,
    rankings_path: str | Path,
    settings: RankSettings,
    *,
    generator=None,
    on_event: EventFn | None = None,
    cancel: threading.Event | None = None,
) -> dict:
    """Rank every prompt of the candidates file into the rankings file (resuming it). ``generator`` (a
    ``generate.Generator``) is the model that judges itself for ``kind`` self. Returns
    ``{"status": "finished"|"cancelled", "done", "total", "marked"}``."""
    check_ranker(settings)
    emit, cancel = guarded(on_event), cancel or threading.Event()
    records = read_jsonl(Path(candidates_path))
    rankings_path = Path(rankings_path)
    done = {r["index"]: r for r in read_jsonl(rankings_path) if isinstance(r.get("index"), int)}
    pending = [r for r in records if r["index"] not in done]
    progress = Progress(emit, RANK, len(records), len(records) - len(pending))
    emit(progress.event())
    judge = _Ranker(settings, generator, emit, cancel)
    for record in pending:
        if cancel.is_set():
            break
        ranked = judge.rank(record)
        if ranked is None:  # stopped while ranking this prompt: not kept
            break
        append_jsonl(rankings_path, ranked)
        done[record["index"]] = ranked
        if ranked["status"] == MARKED:
            emit({"type": PROMPT_MARKED, "phase": RANK, "index": record["index"], "reason": ranked["reason"]})
        emit({"type": PROMPT_DONE, "phase": RANK, "index": record["index"], "record": ranked})
        progress.step()
    status = "finished" if len(done) >= len(records) else "cancelled"
    marked = sum(1 for r in done.values() if r.get("status") == MARKED)
    return {"status": status, "done": len(done), "total": len(records), "marked": marked}


class _Ranker:
    """Ranks one prompt's answers with the chosen method; a record, or None when stopped."""

    def __init__(self, settings: RankSettings, generator, emit: EventFn, cancel: threading.Event):
        self.s, self.generator, self.emit, self.cancel = settings, generator, emit, cancel
        self.loaded: Any = None

    def rank(self, record: dict) -> dict | None:
        answers = [c["text"] for c in record["candidates"]]
        base = {"index": record["index"], "prompt": record["prompt"], "method": self.s.describe()}
        try:
            if self.s.kind == "self":
                return self._self(record, answers, base)
            if self.s.kind == "ranker":
                ranking = self._call(
                    lambda: self._plugins().rank_candidates(
                        str(self.s.id), record["prompt"], answers, self.s.options, timeout=self.s.timeout
                    )
                )
                details = {"reasoning": ranking.reasoning, "method": ranking.method}
                return {**base, "status": OK, "reason": None, "scores": list(ranking.scores), "details": details}
            if self.s.mode == "pointwise":
                return self._pointwise(record, answers, base)
            return self._pairwise(record, answers, base)
        except _Failed as exc:
            if self.cancel.is_set():
                return None
            return {**base, "status": MARKED, "reason": str(exc), "scores": [None] * len(answers), "details": {}}

    @staticmethod
    def _plugins():
        from dpostudio.core.plugin_access import plugins

        return plugins()

    def _call(self, fn):
        """``fn()`` with retries; ``_Failed`` with the last error in words when they run out."""
        from dpostudio.core.plugin_access import PluginCallError

        last = ""
        for attempt in range(self.s.retries + 1):
            if self.cancel.is_set():
                raise _Failed("stopped")
            try:
                return fn()
            except PluginCallError as exc:
                last = f"the judge did not answer within {self.s.timeout:g} s" if exc.timed_out else str(exc)
            if attempt < self.s.retries:
                time.sleep(self.s.retry_wait * (attempt + 1))
        raise _Failed(f"gave up after {self.s.retries + 1} attempt(s): {last}")

    def _judge_pair(self, record: dict, answers: list[str], i: int, j: int) -> str:
        """'first' | 'second' | 'tie' for answers i and j, judged in both orders (with retries)."""

        def once():
            from dpostudio.core.plugin_access import PluginCallError

            result = judge_both_orders(
                str(self.s.id),
                record["prompt"],
                answers[i],
                answers[j],
                self.s.criteria,
                self.s.options,
                timeout=self.s.timeout,
                cancel=self.cancel,
            )
            if result["verdict"] == "error":
                raise PluginCallError(result["judge_error"] or "the judge failed")
            return result["verdict"]

        verdict = self._call(once)
        return {"base": "first", "tuned": "second"}.get(verdict, "tie")

    def _pairwise(self, record: dict, answers: list[str], base: dict) -> dict:
        k = len(answers)
        matches = []
        if self.s.mode == "all-pairs":
            wins = [0.0] * k
            for i in range(k):
                for j in range(i + 1, k):
                    outcome = self._judge_pair(record, answers, i, j)
                    matches.append([i, j, outcome])
                    if outcome == "tie":
                        wins[i] += 0.5
                        wins[j] += 0.5
                    else:
                        wins[i if outcome == "first" else j] += 1
            scores: list[float | None] = [round(w / (k - 1), 4) for w in wins]
        else:  # tournament: a knock-out for the best, then one among the others for the worst
            best, decided = 0, False
            for j in range(1, k):
                outcome = self._judge_pair(record, answers, best, j)
                matches.append([best, j, outcome])
                decided = decided or outcome != "tie"
                best = j if outcome == "second" else best
            rest = [i for i in range(k) if i != best]
            worst = rest[0]
            for j in rest[1:]:
                outcome = self._judge_pair(record, answers, worst, j)
                matches.append([worst, j, outcome])
                decided = decided or outcome != "tie"
                worst = j if outcome == "first" else worst
            scores = [None] * k
            scores[best], scores[worst] = (1.0, 0.0) if decided else (0.5, 0.5)
        return {**base, "status": OK, "reason": None, "scores": scores, "details": {"matches": matches}}

    def _pointwise(self, record: dict, answers: list[str], base: dict) -> dict:
        scores, cards = [], []
        for answer in answers:
            card = self._call(
                lambda a=answer: self._plugins().judge_single(
                    str(self.s.id), record["prompt"], a, self.s.criteria, self.s.options, timeout=self.s.timeout
                )
            )
            values = [float(card.scores[c]) for c in self.s.criteria]
            scores.append(round(sum(values) / len(values), 4))
            cards.append({"scores": dict(card.scores), "reasoning": card.reasoning})
        return {**base, "status": OK, "reason": None, "scores": scores, "details": {"cards": cards}}

    def _self(self, record: dict, answers: list[str], base: dict) -> dict | None:
        from dpostudio.core.loop.generate import load_generator
        from dpostudio.core.loop.self_judge import judge_answers

        if self.generator is None:
            raise RankError("the self-rewarding ranker needs the generating model")
        if self.loaded is None:
            stage = lambda m, f: self.emit({"type": STAGE, "phase": RANK, "message": m, "fraction": f})  # noqa: E731
            self.generator = self.generator.resolved()
            self.loaded = load_generator(self.generator, stage)
        results = judge_answers(
            self.loaded,
            self.generator,
            record["prompt"],
            answers,
            samples=self.s.samples,
            max_new_tokens=self.s.judge_max_new_tokens,
            seed=self.s.seed + record["index"],
            cancel=self.cancel,
        )
        if results is None:
            return None
        scores = [r["score"] for r in results]
        unread = [n for n, s in enumerate(scores) if s is None]
        readable = len(scores) - len(unread)
        status, reason = OK, None
        if unread:
            reason = f"no readable 'Score: N' in the judgement of answer(s) {', '.join(str(n + 1) for n in unread)}"
        if readable < 2:
            status = MARKED
        return {**base, "status": status, "reason": reason, "scores": scores, "details": {"judgements": results}}
