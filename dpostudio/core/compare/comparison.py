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
"""

from __future__ import annotations

from dpostudio.core.errors import UserError

import logging
import os
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from dpostudio.core.compare import store
from dpostudio.core.compare.prompt_sets import Prompt

log = logging.getLogger(__name__)
EventFn = Callable[[dict[str, Any]], None]
CRITERIA = ["coherence", "relevance", "depth"]
SIDES = ("base", "tuned")
ORDERS = ("base_first", "tuned_first")
EVENT_TYPES = ("started", "stage", "prompt", "token", "answer", "judging", "judge_error", "item", "summary",
               "finished", "cancelled", "failed")
DEFAULT_JUDGE_TIMEOUT = 900.0
SECRET_WORDS = ("key", "token", "secret", "password")


class ComparisonError(UserError, ValueError):
    """A comparison cannot start; the message says why in words."""


@dataclass
class GenerationSettings:
    """How both models answer. ``temperature`` 0 means greedy decoding (then ``top_p`` is unused)."""

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 42

    def validate(self) -> "GenerationSettings":
        if not isinstance(self.max_new_tokens, int) or not 1 <= self.max_new_tokens <= 32768:
            raise ComparisonError(f"max_new_tokens must be a whole number from 1 to 32768, not {self.max_new_tokens!r}")
        if not 0 <= float(self.temperature) <= 5:
            raise ComparisonError(f"temperature must be from 0 (greedy) to 5, not {self.temperature!r}")
        if not 0 < float(self.top_p) <= 1:
            raise ComparisonError(f"top_p must be above 0 and at most 1, not {self.top_p!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ComparisonError(f"seed must be a whole number >= 0, not {self.seed!r}")
        return self

    @property
    def greedy(self) -> bool:
        return float(self.temperature) == 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "decoding": "greedy" if self.greedy else "sampling"}

    @classmethod
    def from_dict(cls, data: dict) -> "GenerationSettings":
        return cls(**{k: data[k] for k in ("max_new_tokens", "temperature", "top_p", "seed") if k in data})


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


# --- the run's model with its adapter ------------------------------------------------------------------

def adapter_path(run, checkpoint: int | str | None = None) -> tuple[Path, str]:
    """The adapter folder to load and a label for it: the final adapter, ``checkpoint-N``, or "latest"."""
    if checkpoint in (None, "", "final"):
        path = run.final_adapter()
        if path is None:
            steps = run.checkpoint_steps()
            hint = (f"; compare a checkpoint instead (--checkpoint {steps[-1]})" if steps else
                    "; finish (or resume) the training first")
            raise ComparisonError(f"run {run.id} has no final adapter{hint}")
        return path, "final adapter"
    if checkpoint == "latest":
        steps = run.checkpoint_steps()
        if not steps:
            raise ComparisonError(f"run {run.id} has no checkpoints")
        checkpoint = steps[-1]
    try:
        step = int(checkpoint)
    except (TypeError, ValueError):
        raise ComparisonError(f"checkpoint must be a step number, 'latest' or 'final', not {checkpoint!r}") from None
    path = run.adapter_for(step)
    if path is None:
        available = ", ".join(str(s) for s in run.checkpoint_steps()) or "none"
        raise ComparisonError(f"run {run.id} has no adapter checkpoint at step {step} (available: {available})")
    return path, f"checkpoint {step}"


def checkpoints(run) -> list[int]:
    """Steps of the run's checkpoints that hold a LoRA adapter, ascending."""
    steps = []
    for folder in Path(run.checkpoints_dir).glob("checkpoint-*"):
        try:
            step = int(folder.name.split("-")[-1])
        except ValueError:
            continue
        if (folder / "adapter_config.json").is_file():
            steps.append(step)
    return sorted(steps)


@dataclass
class LoadedPair:
    """The base model with the adapter attached (a ``PeftModel``) and its tokenizer, on one device."""

    model: Any
    tokenizer: Any
    device: str
    key: tuple


_cache: dict[str, LoadedPair] = {}
_cache_lock = threading.Lock()


def _inference_dtype(device: str, precision: str):
    import torch

    if device == "cpu":
        return torch.float32  # reproducible greedy answers; bf16 autocast is a training speed-up
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)


def load_pair(run, checkpoint: int | str | None = None, on_stage: Callable[[str, float], None] | None = None) -> LoadedPair:
    """Load the run's base model and its adapter once (cached for the next comparison of the same adapter)."""
    from dpostudio.core.training.device import choose_device, probe_hardware
    from dpostudio.core.model_store import load_model, load_tokenizer, resolve_model

    stage = on_stage or (lambda message, fraction: None)
    path, _ = adapter_path(run, checkpoint)
    config = run.config()
    key = (str(path.resolve()), _mtime(path))
    with _cache_lock:
        cached = _cache.get("pair")
        if cached is not None and cached.key == key:
            return cached
        _cache.pop("pair", None)  # free the previous model before loading another
    stage("resolving the base model", 0.05)
    resolved = resolve_model(config.model, on_progress=lambda f, m: stage(f"base model: {m}", 0.05 + 0.25 * f))
    choice = choose_device(probe_hardware(), "auto")
    stage(f"loading the base model {resolved.display_name} on {choice.device.upper()}", 0.35)
    tokenizer = load_tokenizer(resolved, trust_remote_code=config.trust_remote_code)
    base = load_model(resolved, dtype=_inference_dtype(choice.device, choice.precision),
                      trust_remote_code=config.trust_remote_code)
    stage("attaching the adapter", 0.8)
    from peft import PeftModel

    try:
        model = PeftModel.from_pretrained(base, str(path), is_trainable=False)
    except Exception as exc:
        raise ComparisonError(f"the adapter in {path} does not fit the base model {config.model}: "
                              f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc
    model.eval()
    if choice.device != "cpu":
        model.to(choice.device)
    pair = LoadedPair(model, tokenizer, choice.device, key)
    with _cache_lock:
        _cache["pair"] = pair
    stage("model ready", 1.0)
    return pair


def release_models() -> None:
    """Forget the cached model (frees its memory once nothing else holds it)."""
    with _cache_lock:
        _cache.clear()


def _mtime(path: Path) -> float:
    try:
        return max(p.stat().st_mtime for p in Path(path).iterdir())
    except (OSError, ValueError):
        return 0.0


# --- generation --------------------------------------------------------------------------------------------

def model_inputs(prompt: Prompt, config, tokenizer) -> dict:
    """Token ids for a prompt, templated exactly as the run's training data was (template + system prompt)."""
    from dpostudio.core.data.templates import check_template, supports_system_role, template_pair

    try:
        check_template(config.prompt_template, tokenizer)
    except ValueError as exc:
        raise ComparisonError(str(exc)) from None
    fold = config.prompt_template == "chat" and not supports_system_role(tokenizer)
    shaped = template_pair({"prompt": prompt.messages, "chosen": "", "rejected": ""}, config.prompt_template,
                           system_prompt=config.system_prompt, fold_system=fold)["prompt"]
    if isinstance(shaped, list):
        text = tokenizer.apply_chat_template(shaped, tokenize=False, add_generation_prompt=True)
        return tokenizer(text, return_tensors="pt", add_special_tokens=False)
    return tokenizer(shaped, return_tensors="pt")


def generate_streaming(pair: LoadedPair, inputs: dict, settings: GenerationSettings, *, adapter: bool,
                       on_text: Callable[[str], None], cancel: threading.Event) -> dict:
    """Generate one answer, calling ``on_text`` with each decoded piece; the adapter off for the base model.

    Returns ``{"answer", "tokens", "words", "seconds", "stop"}`` (stop: "eos", "length" or "cancelled").
    """
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

    model, tokenizer = pair.model, pair.tokenizer

    class _Cancel(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return cancel.is_set()

    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    inputs = {k: v.to(pair.device) for k, v in inputs.items()}
    kwargs: dict[str, Any] = dict(**inputs, max_new_tokens=settings.max_new_tokens, streamer=streamer,
                                  stopping_criteria=StoppingCriteriaList([_Cancel()]),
                                  pad_token_id=tokenizer.pad_token_id)
    if settings.greedy:
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    else:
        kwargs.update(do_sample=True, temperature=float(settings.temperature), top_p=float(settings.top_p), top_k=0)
    box: dict[str, Any] = {}

    def work():
        try:
            torch.manual_seed(settings.seed)  # both sides start from the same seed
            with torch.inference_mode():
                if adapter:
                    box["out"] = model.generate(**kwargs)
                else:
                    with model.disable_adapter():
                        box["out"] = model.generate(**kwargs)
        except BaseException as exc:  # handed to the caller
            box["error"] = exc
            streamer.end()

    t0 = time.perf_counter()
    thread = threading.Thread(target=work, name="dpostudio-compare-generate", daemon=True)
    thread.start()
    pieces = []
    for piece in streamer:
        if piece:
            pieces.append(piece)
            on_text(piece)
    thread.join()
    if "error" in box:
        raise box["error"]
    seconds = time.perf_counter() - t0
    new_ids = box["out"][0, inputs["input_ids"].shape[1]:].tolist()
    specials = {i for i in (tokenizer.eos_token_id, tokenizer.pad_token_id) if i is not None}
    stop = "length"
    while new_ids and new_ids[-1] in specials:
        new_ids.pop()
        stop = "eos"
    if cancel.is_set() and stop == "length" and len(new_ids) < settings.max_new_tokens:
        stop = "cancelled"
    answer = tokenizer.decode(new_ids, skip_special_tokens=True).strip()
    return {"answer": answer, "tokens": len(new_ids), "words": len(answer.split()), "seconds": round(seconds, 2),
            "stop": stop}


# --- judging -------------------------------------------------------------------------------------------------

def judge_both_orders(judge_id: str, prompt: str, base: str, tuned: str, criteria: list[str], options: dict,
                      *, timeout: float | None = DEFAULT_JUDGE_TIMEOUT, on_event: EventFn | None = None,
                      prompt_index: int = 0, cancel: threading.Event | None = None) -> dict:
    """Ask the judge twice, base as A then tuned as A; agreement gives the verdict, disagreement a tie.

    Returns ``{"verdict": "tuned"|"base"|"tie"|"error", "scores": {criterion: {"base", "tuned"}}, "reasoning",
    "judgements": [...], "judge_error": str|None, "position_disagreement": bool}``.
    """
    from dpostudio.core.plugin_access import PluginCallError, plugins

    emit = on_event or (lambda e: None)
    judgements, errors = [], []
    for order in ORDERS:
        if cancel is not None and cancel.is_set():
            errors.append(f"{order}: not asked (stopped)")
            judgements.append({"order": order, "error": "not asked (stopped)"})
            continue
        a, b = (base, tuned) if order == "base_first" else (tuned, base)
        side_of = {"A": "base", "B": "tuned"} if order == "base_first" else {"A": "tuned", "B": "base"}
        emit({"type": "judging", "prompt_index": prompt_index, "order": order})
        try:
            v = plugins().judge_pair(judge_id, prompt, a, b, criteria, options, timeout=timeout)
        except PluginCallError as exc:
            message = str(exc)
            if exc.timed_out:
                message = f"the judge did not answer within {timeout:g} s"
            errors.append(f"{order.replace('_', ' ')}: {message}")
            judgements.append({"order": order, "error": message})
            emit({"type": "judge_error", "prompt_index": prompt_index, "order": order, "message": message})
            continue
        judgements.append({
            "order": order, "winner": "tie" if v.winner == "tie" else side_of[v.winner],
            "scores": {c: {side_of["A"]: v.scores[c]["A"], side_of["B"]: v.scores[c]["B"]} for c in criteria},
            "reasoning": v.reasoning, "method": v.method, "raw": v.raw,
        })
    ok = [j for j in judgements if "error" not in j]
    if len(ok) < len(ORDERS):
        return {"verdict": "error", "scores": {}, "reasoning": "; ".join(j.get("reasoning", "") for j in ok),
                "judgements": judgements, "judge_error": "; ".join(errors), "position_disagreement": False}
    winners = [j["winner"] for j in ok]
    disagree = winners[0] != winners[1]
    verdict = "tie" if disagree else winners[0]
    scores = {c: {s: round(sum(j["scores"][c][s] for j in ok) / len(ok), 2) for s in SIDES} for c in criteria}
    reasoning = " | ".join(f"{j['order'].replace('_', ' ')}: {j['reasoning']}" for j in ok)
    if disagree:
        reasoning = (f"the verdict changed when the answers swapped places ({winners[0]} with base first, "
                     f"{winners[1]} with tuned first), so this counts as a tie. " + reasoning)
    return {"verdict": verdict, "scores": scores, "reasoning": reasoning, "judgements": judgements,
            "judge_error": None, "position_disagreement": disagree}


def _safe_options(judge_id: str | None, options: dict) -> dict:
    """Judge options as they may be written to disk: secret ones (API keys) are left out."""
    if not judge_id:
        return {}
    from dpostudio.core.plugin_access import secret_option_names

    secret_names = secret_option_names(judge_id)
    return {k: ("(hidden)" if k in secret_names or any(w in k.lower() for w in SECRET_WORDS) else v)
            for k, v in options.items() if v not in (None, "")}


# --- the comparison -------------------------------------------------------------------------------------------

def _item_log(item: dict, total: int) -> str:
    lines = [f"=== Prompt {item['index'] + 1}/{total} ({item.get('prompt_source') or 'typed'}) ===", item["prompt"], ""]
    for side in SIDES:
        a = item[side]
        lines += [f"--- {side} ({a['words']} words, {a['tokens']} tokens, {a['seconds']} s, stop: {a['stop']}) ---",
                  a["answer"] or "(empty answer)", ""]
    if item.get("judge"):
        if item.get("judge_error"):
            lines.append(f"judge error: {item['judge_error']}")
        else:
            orders = ", ".join(f"{j['order'].replace('_', ' ')} -> {j['winner']}" for j in item["judgements"])
            lines.append(f"verdict: {item['verdict']}  ({orders})")
            for c, s in item["scores"].items():
                lines.append(f"  {c}: base {s['base']:g}  tuned {s['tuned']:g}")
        if item.get("reasoning"):
            lines.append(f"reasoning: {item['reasoning']}")
    return "\n".join(lines) + "\n"


def _summary_log(summary: dict) -> str:
    lines = ["=== Summary ===", summary["headline"]]
    for c, s in summary["mean_scores"].items():
        if s["base"] is not None or s["tuned"] is not None:
            lines.append(f"  mean {c}: base {s['base']}  tuned {s['tuned']}")
    w, t = summary["mean_words"], summary["mean_tokens"]
    if w["base"] is not None:
        lines.append(f"  mean length: base {w['base']:g} words / {t['base']:g} tokens, "
                     f"tuned {w['tuned']:g} words / {t['tuned']:g} tokens")
    lines += [f"  note: {n}" for n in summary["notes"]]
    return "\n".join(lines) + "\n"


def compare(run_id, prompts: list[Prompt | str], settings: GenerationSettings | None = None,
            judge_id: str | None = None, judge_options: dict | None = None, on_event: EventFn | None = None,
            cancel: threading.Event | None = None, *, checkpoint: int | str | None = None,
            criteria: list[str] | None = None, judge_timeout: float | None = DEFAULT_JUDGE_TIMEOUT) -> ComparisonResult:
    """Answer every prompt with the base and the tuned model, judge each pair in both orders, save as it goes.

    ``run_id``: a run id, folder or ``Run``. ``prompts``: ``Prompt`` items or plain strings. ``judge_id`` None:
    answers only. Blocking; returns a ``ComparisonResult`` (status finished, cancelled or failed).
    """
    from dpostudio.core.training.runs import Run, RunError, get_run

    settings = (settings or GenerationSettings()).validate()
    cancel = cancel or threading.Event()
    listener = on_event or (lambda event: None)
    criteria = list(criteria or CRITERIA)
    judge_options = dict(judge_options or {})
    try:
        run = run_id if isinstance(run_id, Run) else get_run(str(run_id))
        config = run.config()
    except (RunError, OSError, ValueError) as exc:
        raise ComparisonError(str(exc)) from None
    prompts = [p if isinstance(p, Prompt) else Prompt(str(p)) for p in prompts if p]
    prompts = [p for p in prompts if p.text.strip()]
    if not prompts:
        raise ComparisonError("no prompts to compare on")
    path, adapter_label = adapter_path(run, checkpoint)
    if judge_id:
        from dpostudio.core.plugin_access import PluginCallError, plugins

        try:
            known = [j.id for j in plugins().judges()]
        except PluginCallError as exc:
            raise ComparisonError(f"judge {judge_id!r}: {exc}") from None
        if judge_id not in known:
            raise ComparisonError(f"unknown judge {judge_id!r}; available: {', '.join(known) or 'none'}")

    folder = store.new_folder(run)
    meta = {"id": folder.name, "run_id": run.id, "run_dir": str(run.path), "model": config.model,
            "adapter": str(path), "adapter_label": adapter_label, "checkpoint": checkpoint,
            "prompt_template": config.prompt_template, "system_prompt": config.system_prompt,
            "prompts": [p.to_dict() for p in prompts], "settings": settings.to_dict(), "judge": judge_id,
            "judge_options": _safe_options(judge_id, judge_options), "criteria": criteria,
            "both_orders": True, "status": "running", "pid": os.getpid(), "created_at": time.time(),
            "created": time.strftime("%Y-%m-%d %H:%M:%S")}
    store.write_meta(folder, meta)

    def emit(event: dict[str, Any]) -> None:
        try:
            listener(event)
        except Exception:  # a broken listener must not stop the comparison
            log.exception("comparison event listener failed")

    judge_text = f"{judge_id} ({', '.join(f'{k}={v}' for k, v in meta['judge_options'].items()) or 'defaults'})" \
        if judge_id else "none (answers only)"
    store.log(folder, f"DPO Studio comparison {folder.name} — started {meta['created']}\n"
                      f"run: {run.id}   base model: {config.model}   adapter: {adapter_label} ({path})\n"
                      f"prompt template: {config.prompt_template}   generation: {settings.to_dict()}\n"
                      f"judge: {judge_text}; each pair judged in both orders, disagreement = tie\n"
                      f"criteria: {', '.join(criteria)}   prompts: {len(prompts)}\n")
    emit({"type": "started", "comparison_id": folder.name, "dir": str(folder), "run_id": run.id,
          "adapter": adapter_label, "prompts": [p.text for p in prompts], "settings": settings.to_dict(),
          "judge": judge_id, "criteria": criteria})
    items: list[dict] = []
    status, message = "finished", ""
    try:
        pair = load_pair(run, checkpoint, lambda m, f: emit({"type": "stage", "message": m, "fraction": f}))
        for index, prompt in enumerate(prompts):
            if cancel.is_set():
                break
            emit({"type": "prompt", "prompt_index": index, "text": prompt.text, "total": len(prompts)})
            inputs = model_inputs(prompt, config, pair.tokenizer)
            answers = {}
            for side in SIDES:
                answers[side] = generate_streaming(
                    pair, inputs, settings, adapter=(side == "tuned"), cancel=cancel,
                    on_text=lambda text, side=side: emit({"type": "token", "prompt_index": index, "side": side,
                                                         "text": text}))
                emit({"type": "answer", "prompt_index": index, "side": side, "text": answers[side]["answer"],
                      **{k: answers[side][k] for k in ("tokens", "words", "seconds", "stop")}})
                if cancel.is_set():
                    break
            if cancel.is_set():
                break  # a prompt cut short is not saved: its answers are incomplete
            item = {"index": index, "prompt": prompt.text, "prompt_source": prompt.source, **answers,
                    "judge": judge_id, "verdict": None, "scores": {}, "reasoning": "", "judgements": [],
                    "judge_error": None, "position_disagreement": False, "time": time.time()}
            if judge_id:
                item.update(judge_both_orders(judge_id, prompt.text, answers["base"]["answer"],
                                              answers["tuned"]["answer"], criteria, judge_options,
                                              timeout=judge_timeout, on_event=emit, prompt_index=index, cancel=cancel))
                if cancel.is_set() and item["verdict"] == "error":
                    break  # stopped while judging: not a judge failure
            store.append_item(folder, item)
            store.log(folder, _item_log(item, len(prompts)))
            items.append(item)
            emit({"type": "item", "prompt_index": index, "item": item})
        if cancel.is_set():
            status = "cancelled"
            message = f"stopped after {len(items)} of {len(prompts)} prompts; finished ones are saved in {folder}"
    except KeyboardInterrupt:
        status, message = "cancelled", f"interrupted after {len(items)} of {len(prompts)} prompts"
        raise
    except Exception as exc:
        status = "failed"
        message = _describe(exc) + (f" (after {len(items)} of {len(prompts)} prompts; they are saved)" if items else "")
        store.log(folder, "failed: " + message + "\n" + traceback.format_exc())
    finally:
        summary = store.summarize(items, criteria, judged=bool(judge_id), total=len(prompts))
        summary.update(status=status, adapter=adapter_label, judge=judge_id, settings=settings.to_dict())
        store.write_summary(folder, summary)
        store.write_csv(folder, items, criteria)
        if status == "finished":
            message = f"{summary['headline']}; saved in {folder}"
        store.log(folder, _summary_log(summary) + f"{status}: {message}")
        store.update_meta(folder, status=status, message=message, finished_at=time.time())
    emit({"type": "summary", "summary": summary})
    emit({"type": status, "message": message, "dir": str(folder), "summary": summary})
    return ComparisonResult(folder.name, folder, run.id, status, message, items, summary)


def _describe(exc: BaseException) -> str:
    from dpostudio.core.model_store import ModelError

    if isinstance(exc, (ComparisonError, ModelError)):
        return str(exc)
    text = str(exc).strip().splitlines()
    if "out of memory" in str(exc).lower():
        return "out of memory while generating: lower max new tokens, or use a smaller model"
    return f"the comparison stopped with an error: {type(exc).__name__}: {text[0] if text else ''}"


def list_comparisons(run_id) -> list[dict]:
    """Past comparisons of a run, newest first (see ``comparison_store.list_comparisons``)."""
    from dpostudio.core.training.runs import Run, get_run

    run = run_id if isinstance(run_id, Run) else get_run(str(run_id))
    return store.list_comparisons(run)


def load_comparison(path) -> dict:
    """Reopen a past comparison folder: ``{"id", "path", "meta", "items", "summary"}``."""
    return store.load(path)
