"""Compare a run's base model with its tuned adapter on a prompt set, and let a judge score both.

``compare(run_id, prompts, settings, judge_id, judge_options, on_event, cancel)`` is blocking, the one code path
behind ``dpostudio compare`` and the Comparison pane:

1. the run's base model and its LoRA adapter (the final one, or a checkpoint) are loaded **once**; base answers
   come from the same weights with the adapter disabled (``with model.disable_adapter():``), tuned answers with
   it enabled -- no second copy of the model in memory;
2. each prompt is shown to the model exactly as in training (the run's prompt template and system prompt) and
   both answers stream token by token (``transformers.TextIteratorStreamer``) as ``token`` events;
3. a judge plugin compares the two answers **in both orders** (base as A, then tuned as A) to cancel position
   bias; when the two orders disagree the prompt counts as a tie;
4. every finished prompt is appended to ``<run>/comparisons/<timestamp>/items.jsonl`` and ``log.txt`` as soon as it
   completes (closing the app loses nothing); at the end ``summary.json`` and ``comparison.csv`` are written.

Events (plain dicts, delivered on the calling thread; see ``EVENT_TYPES``)::

    {"type": "started", "comparison_id", "dir", "run_id", "adapter", "prompts": [text...], "settings", "judge"}
    {"type": "stage", "message", "fraction"}                 loading the model
    {"type": "prompt", "prompt_index", "text", "total"}      a prompt begins
    {"type": "token", "prompt_index", "side": "base"|"tuned", "text"}
    {"type": "answer", "prompt_index", "side", "text", "tokens", "words", "seconds", "stop"}
    {"type": "judging", "prompt_index", "order": "base_first"|"tuned_first"}
    {"type": "judge_error", "prompt_index", "order", "message"}
    {"type": "item", "prompt_index", "item"}                 the saved record of one prompt
    {"type": "summary", "summary"}
    {"type": "finished"|"cancelled"|"failed", "message", "dir", "summary"}

Errors a user can cause before anything starts (unknown run, no adapter, empty prompt set, bad settings) raise
``ComparisonError``; once started, a failure ends the comparison with a ``failed`` event in words and the files
written so far stay. A judge failure on one prompt is recorded on that prompt and the comparison continues.

The pieces: ``settings`` (``GenerationSettings``, ``ComparisonError``), ``generation`` (steps 1-2), ``judging``
(step 3), ``store`` (step 4, and reading comparisons back). Their public names are importable from here too. The
app runs ``compare`` in a child process (``dpostudio.ui.comparison.worker``); ``ComparisonResult.to_dict`` and
``from_dict`` carry the result back.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dpostudio.core.compare import store
from dpostudio.core.compare.generation import (
    LoadedPair,
    adapter_path,
    generate_streaming,
    load_pair,
    model_inputs,
    release_models,
)
from dpostudio.core.compare.judging import (
    CRITERIA,
    DEFAULT_JUDGE_TIMEOUT,
    ORDERS,
    SECRET_WORDS,
    SIDES,
    EventFn,
    check_judge,
    judge_both_orders,
    safe_options,
)
from dpostudio.core.compare.prompt_sets import Prompt
from dpostudio.core.compare.settings import ComparisonError, GenerationSettings
from dpostudio.core.training.event_types import CANCELLED, FAILED, FINISHED, RUNNING

__all__ = [  # what the CLI, the app and the tests use, wherever it is defined
    "CRITERIA",
    "DEFAULT_JUDGE_TIMEOUT",
    "EVENT_TYPES",
    "ORDERS",
    "SECRET_WORDS",
    "SIDES",
    "ComparisonError",
    "ComparisonResult",
    "EventFn",
    "GenerationSettings",
    "LoadedPair",
    "adapter_path",
    "compare",
    "generate_streaming",
    "judge_both_orders",
    "list_comparisons",
    "load_comparison",
    "load_pair",
    "model_inputs",
    "release_models",
    "safe_options",
]

log = logging.getLogger(__name__)
EVENT_TYPES = (
    "started",
    "stage",
    "prompt",
    "token",
    "answer",
    "judging",
    "judge_error",
    "item",
    "summary",
    FINISHED,
    CANCELLED,
    FAILED,
)
_safe_options = safe_options  # the name it had before judging moved to its own module


@dataclass
class ComparisonResult:
    id: str
    path: Path
    run_id: str
    status: str  # "finished" | "cancelled" | "failed"
    message: str
    items: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)

    @property
    def csv_path(self) -> Path:
        return self.path / "comparison.csv"

    @property
    def log_path(self) -> Path:
        return self.path / "log.txt"

    def to_dict(self) -> dict:
        """Plain data (what ``items.jsonl`` and ``summary.json`` hold), to hand to another process."""
        return {
            "id": self.id,
            "path": str(self.path),
            "run_id": self.run_id,
            "status": self.status,
            "message": self.message,
            "items": self.items,
            "summary": self.summary,
        }

    @classmethod
    def from_dict(cls, data: dict) -> ComparisonResult:
        return cls(
            data["id"],
            Path(data["path"]),
            data["run_id"],
            data["status"],
            data["message"],
            list(data.get("items") or []),
            dict(data.get("summary") or {}),
        )


@dataclass
class _Plan:
    """A checked request: the run, its prompts, the adapter to load, how to answer and how to judge."""

    run: Any
    config: Any
    prompts: list[Prompt]
    adapter: Path
    adapter_label: str
    checkpoint: int | str | None
    settings: GenerationSettings
    judge_id: str | None
    judge_options: dict
    criteria: list[str]
    judge_timeout: float | None


def compare(
    run_id,
    prompts: list[Prompt | str],
    settings: GenerationSettings | None = None,
    judge_id: str | None = None,
    judge_options: dict | None = None,
    on_event: EventFn | None = None,
    cancel: threading.Event | None = None,
    *,
    checkpoint: int | str | None = None,
    criteria: list[str] | None = None,
    judge_timeout: float | None = DEFAULT_JUDGE_TIMEOUT,
) -> ComparisonResult:
    """Answer every prompt with the base and the tuned model, judge each pair in both orders, save as it goes.

    ``run_id``: a run id, folder or ``Run``. ``prompts``: ``Prompt`` items or plain strings. ``judge_id`` None:
    answers only. Blocking; returns a ``ComparisonResult`` (status finished, cancelled or failed).
    """
    plan = _plan(run_id, prompts, settings, judge_id, judge_options, checkpoint, criteria, judge_timeout)
    cancel = cancel or threading.Event()
    emit = _guarded(on_event)
    folder = _open_record(plan)
    emit(
        {
            "type": "started",
            "comparison_id": folder.name,
            "dir": str(folder),
            "run_id": plan.run.id,
            "adapter": plan.adapter_label,
            "prompts": [p.text for p in plan.prompts],
            "settings": plan.settings.to_dict(),
            "judge": plan.judge_id,
            "criteria": plan.criteria,
        }
    )
    items: list[dict] = []
    total = len(plan.prompts)
    status, message = FINISHED, ""
    try:
        _answer_and_judge_all(plan, folder, items, emit, cancel)
        if cancel.is_set():
            status = CANCELLED
            message = f"stopped after {len(items)} of {total} prompts; finished ones are saved in {folder}"
    except KeyboardInterrupt:
        status, message = CANCELLED, f"interrupted after {len(items)} of {total} prompts"
        raise
    except Exception as exc:
        status = FAILED
        message = _describe(exc) + (f" (after {len(items)} of {total} prompts; they are saved)" if items else "")
        store.log(folder, "failed: " + message + "\n" + traceback.format_exc())
    finally:
        summary, message = _close_record(plan, folder, items, status, message)
    emit({"type": "summary", "summary": summary})
    emit({"type": status, "message": message, "dir": str(folder), "summary": summary})
    return ComparisonResult(folder.name, folder, plan.run.id, status, message, items, summary)


# --- the steps of a comparison ---------------------------------------------------------------------------


def _plan(run_id, prompts, settings, judge_id, judge_options, checkpoint, criteria, judge_timeout) -> _Plan:
    """Check everything a person can get wrong before anything is loaded or written; ``ComparisonError`` if not."""
    from dpostudio.core.training.runs import Run, RunError, get_run

    settings = (settings or GenerationSettings()).validate()
    try:
        run = run_id if isinstance(run_id, Run) else get_run(str(run_id))
        config = run.config()
    except (RunError, OSError, ValueError) as exc:
        raise ComparisonError(str(exc)) from None
    prompts = [p if isinstance(p, Prompt) else Prompt(str(p)) for p in prompts if p]
    prompts = [p for p in prompts if p.text.strip()]
    if not prompts:
        raise ComparisonError("no prompts to compare on")
    path, label = adapter_path(run, checkpoint)
    if judge_id:
        check_judge(judge_id)
    return _Plan(
        run,
        config,
        prompts,
        path,
        label,
        checkpoint,
        settings,
        judge_id,
        dict(judge_options or {}),
        list(criteria or CRITERIA),
        judge_timeout,
    )


def _guarded(listener: EventFn | None) -> EventFn:
    """The listener, made unable to stop the comparison: a listener that raises is logged and ignored."""

    def emit(event: dict[str, Any]) -> None:
        if listener is None:
            return
        try:
            listener(event)
        except Exception:
            log.exception("comparison event listener failed")

    return emit


def _open_record(plan: _Plan) -> Path:
    """A new ``<run>/comparisons/<timestamp>/`` folder with its meta.json and the head of its log."""
    run, config, settings = plan.run, plan.config, plan.settings
    folder = store.new_folder(run)
    meta = {
        "id": folder.name,
        "run_id": run.id,
        "run_dir": str(run.path),
        "model": config.model,
        "adapter": str(plan.adapter),
        "adapter_label": plan.adapter_label,
        "checkpoint": plan.checkpoint,
        "prompt_template": config.prompt_template,
        "system_prompt": config.system_prompt,
        "prompts": [p.to_dict() for p in plan.prompts],
        "settings": settings.to_dict(),
        "judge": plan.judge_id,
        "judge_options": safe_options(plan.judge_id, plan.judge_options),
        "criteria": plan.criteria,
        "both_orders": True,
        "status": RUNNING,
        "pid": os.getpid(),
        "created_at": time.time(),
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    store.write_meta(folder, meta)
    judge_text = (
        f"{plan.judge_id} ({', '.join(f'{k}={v}' for k, v in meta['judge_options'].items()) or 'defaults'})"
        if plan.judge_id
        else "none (answers only)"
    )
    store.log(
        folder,
        f"DPO Studio comparison {folder.name} — started {meta['created']}\n"
        f"run: {run.id}   base model: {config.model}   adapter: {plan.adapter_label} ({plan.adapter})\n"
        f"prompt template: {config.prompt_template}   generation: {settings.to_dict()}\n"
        f"judge: {judge_text}; each pair judged in both orders, disagreement = tie\n"
        f"criteria: {', '.join(plan.criteria)}   prompts: {len(plan.prompts)}\n",
    )
    return folder


def _answer_and_judge_all(plan: _Plan, folder: Path, items: list[dict], emit: EventFn, cancel: threading.Event) -> None:
    """Load the model, then per prompt: both answers, the judge's verdict, the record saved; until done or stopped."""
    pair = load_pair(plan.run, plan.checkpoint, lambda m, f: emit({"type": "stage", "message": m, "fraction": f}))
    for index, prompt in enumerate(plan.prompts):
        if cancel.is_set():
            return
        emit({"type": "prompt", "prompt_index": index, "text": prompt.text, "total": len(plan.prompts)})
        answers = _answer_both(plan, pair, index, prompt, emit, cancel)
        if cancel.is_set():
            return  # a prompt cut short is not saved: its answers are incomplete
        item = {
            "index": index,
            "prompt": prompt.text,
            "prompt_source": prompt.source,
            **answers,
            "judge": plan.judge_id,
            "verdict": None,
            "scores": {},
            "reasoning": "",
            "judgements": [],
            "judge_error": None,
            "position_disagreement": False,
            "time": time.time(),
        }
        if plan.judge_id:
            item.update(
                judge_both_orders(
                    plan.judge_id,
                    prompt.text,
                    answers["base"]["answer"],
                    answers["tuned"]["answer"],
                    plan.criteria,
                    plan.judge_options,
                    timeout=plan.judge_timeout,
                    on_event=emit,
                    prompt_index=index,
                    cancel=cancel,
                )
            )
            if cancel.is_set() and item["verdict"] == "error":
                return  # stopped while judging: not a judge failure
        store.append_item(folder, item)
        store.log(folder, store.item_text(item, len(plan.prompts)))
        items.append(item)
        emit({"type": "item", "prompt_index": index, "item": item})


def _answer_both(plan: _Plan, pair, index: int, prompt: Prompt, emit: EventFn, cancel: threading.Event) -> dict:
    """The base answer (adapter off), then the tuned one (adapter on), each streamed as ``token`` events."""
    inputs = model_inputs(prompt, plan.config, pair.tokenizer)
    answers = {}
    for side in SIDES:

        def on_text(text: str, side: str = side) -> None:
            emit({"type": "token", "prompt_index": index, "side": side, "text": text})

        answers[side] = generate_streaming(
            pair, inputs, plan.settings, adapter=(side == "tuned"), cancel=cancel, on_text=on_text
        )
        emit(
            {
                "type": "answer",
                "prompt_index": index,
                "side": side,
                "text": answers[side]["answer"],
                **{k: answers[side][k] for k in ("tokens", "words", "seconds", "stop")},
            }
        )
        if cancel.is_set():
            break
    return answers


def _close_record(plan: _Plan, folder: Path, items: list[dict], status: str, message: str) -> tuple[dict, str]:
    """Write summary.json, comparison.csv, the log's summary and the final status; returns the summary and the
    final message (for a finished comparison: its headline)."""
    summary = store.summarize(items, plan.criteria, judged=bool(plan.judge_id), total=len(plan.prompts))
    summary.update(status=status, adapter=plan.adapter_label, judge=plan.judge_id, settings=plan.settings.to_dict())
    store.write_summary(folder, summary)
    store.write_csv(folder, items, plan.criteria)
    if status == FINISHED:
        message = f"{summary['headline']}; saved in {folder}"
    store.log(folder, store.summary_text(summary) + f"{status}: {message}")
    store.update_meta(folder, status=status, message=message, finished_at=time.time())
    return summary, message


def _describe(exc: BaseException) -> str:
    from dpostudio.core.model_store import ModelError

    if isinstance(exc, (ComparisonError, ModelError)):
        return str(exc)
    text = str(exc).strip().splitlines()
    if "out of memory" in str(exc).lower():
        return "out of memory while generating: lower max new tokens, or use a smaller model"
    return f"the comparison stopped with an error: {type(exc).__name__}: {text[0] if text else ''}"


# --- past comparisons ------------------------------------------------------------------------------------


def list_comparisons(run_id) -> list[dict]:
    """Past comparisons of a run, newest first (see ``store.list_comparisons``)."""
    from dpostudio.core.training.runs import Run, get_run

    run = run_id if isinstance(run_id, Run) else get_run(str(run_id))
    return store.list_comparisons(run)


def load_comparison(path) -> dict:
    """Reopen a past comparison folder: ``{"id", "path", "meta", "items", "summary"}``."""
    return store.load(path)
