"""Running an iterative DPO loop round by round: ``create_loop`` then ``run_loop`` (which also resumes).

Each round walks the steps generate (answers, ranking, pairs) -> train -> evaluate -> done, and loop.json records
the step it reached, so ``run_loop`` after a crash or a Stop picks up inside the round: generation and ranking resume
after their last saved prompt; training resumes the round's run from its last checkpoint through the engine's own
resume (a run killed before its first checkpoint starts again); the win-rate verdicts resume after the last one.
``stop_after_round`` (an event) ends the loop cleanly once the current round is done; ``cancel`` stops at once
(at a step boundary, or a training step, keeping a checkpoint). Events: see ``events``; the round's training
events come as ``{"type": "train", "round": n, "event": ...}``.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from dataclasses import replace
from typing import Any

from dpostudio.core.compare.prompt_sets import Prompt
from dpostudio.core.errors import UserError
from dpostudio.core.loop.dataset_job import GenerateJob, make_dataset
from dpostudio.core.loop.events import EVALUATE, NOTE, ROUND, TRAIN, EventFn, guarded
from dpostudio.core.loop.generate import Generator, release_generator
from dpostudio.core.loop.loop_spec import LOOP_FILE, STEPS, Loop, LoopError, LoopSpec, loops_dir
from dpostudio.core.loop.prompts import load_prompts, split_prompts
from dpostudio.core.loop.records import log_line, write_json
from dpostudio.core.loop.winrate import compare_answers, heldout_answers
from dpostudio.core.training.event_types import CANCELLED, FAILED, FINISHED, RUNNING, STARTED


class _Stopped(Exception):
    """Internal: the loop was stopped (cancel) inside a round; its work so far is kept."""


def create_loop(spec: LoopSpec) -> Loop:
    """Check the spec, freeze the prompts (held-out and per round) and write the loop folder."""
    spec.check()
    path = loops_dir() / spec.name
    if (path / LOOP_FILE).exists():
        raise LoopError(f"a loop called {spec.name!r} exists already; resume it or pick another name")
    start = spec.start_generator()
    split = split_prompts(load_prompts(spec.prompts), spec.heldout, spec.prompts_per_round, spec.rounds, spec.seed)
    path.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {"spec": spec.to_dict(safe=True), "start": start.to_dict(), "prompts": split, "rounds": []}
    data.update(status="created", created=time.strftime("%Y-%m-%d %H:%M:%S"), created_at=time.time())
    write_json(path / LOOP_FILE, data)
    loop = Loop(path)
    log_line(path, f"loop created: {spec.rounds} rounds of {spec.prompts_per_round} prompts, {spec.heldout} held out")
    if split.get("reused"):
        log_line(path, "there are fewer prompts than rounds need: later rounds reuse earlier rounds' prompts")
    return loop


def run_loop(
    loop: Loop,
    on_event: EventFn | None = None,
    cancel: threading.Event | None = None,
    *,
    stop_after_round: threading.Event | None = None,
    rounds: int | None = None,
    secrets: dict | None = None,
) -> dict:
    """Run (or resume) the loop until its rounds are done, it is stopped, or a round fails. ``rounds`` raises the
    number of rounds; ``secrets`` adds options not saved in loop.json (``{"ranker": {...}, "eval_judge": {...}}``:
    API keys). Returns ``{"status", "message", "table"}``; never raises for what a person can cause once started."""
    from dpostudio.core.loop.table import loop_table

    emit, cancel = guarded(on_event), cancel or threading.Event()
    if loop.status() == RUNNING:
        raise LoopError(f"loop {loop.name} is running (process {loop.data().get('pid')}); stop it first")
    spec = loop.spec()
    if rounds is not None and rounds != spec.rounds:
        if rounds < len([r for r in loop.rounds() if r.get("step") == "done"]):
            raise LoopError(f"loop {loop.name} has already done more than {rounds} rounds")
        spec.rounds = rounds
        _extend_prompts(loop, spec)
    secrets = secrets or {}
    spec.ranker.options = {**spec.ranker.options, **(secrets.get("ranker") or {})}
    spec.eval_judge_options = {**spec.eval_judge_options, **(secrets.get("eval_judge") or {})}
    loop.update(status=RUNNING, pid=os.getpid(), started_at=time.time(), message="")
    log_line(loop.path, f"running (process {os.getpid()})")
    status, message = FINISHED, ""
    try:
        for n in range(1, spec.rounds + 1):
            entry = _entry(loop, n)
            if entry["step"] == "done":
                continue
            if cancel.is_set():
                raise _Stopped()
            _round(loop, spec, n, entry, emit, cancel)
            if stop_after_round is not None and stop_after_round.is_set() and n < spec.rounds:
                status, message = CANCELLED, f"stopped after round {n}; resume to go on"
                break
        else:
            message = f"{spec.rounds} rounds done"
    except _Stopped:
        status, message = CANCELLED, "stopped; resume to go on from where it stopped"
    except KeyboardInterrupt:
        loop.update(status=CANCELLED, message="interrupted")
        raise
    except Exception as exc:
        status = FAILED
        message = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
        log_line(loop.path, f"failed: {message}\n{traceback.format_exc()}")
    finally:
        release_generator()
    loop.update(status=status, message=message)
    log_line(loop.path, f"{status}: {message}")
    emit({"type": status, "message": message, "path": str(loop.path)})
    return {"status": status, "message": message, "table": loop_table(loop)}


def _extend_prompts(loop: Loop, spec: LoopSpec) -> None:
    data = loop.data()
    split = split_prompts(load_prompts(spec.prompts), spec.heldout, spec.prompts_per_round, spec.rounds, spec.seed)
    if [p["text"] for p in split["heldout"]] != [p["text"] for p in data["prompts"]["heldout"]]:
        raise LoopError("the loop's prompt source changed since it was created; its rounds cannot be extended")
    data["spec"]["rounds"] = spec.rounds
    data["prompts"] = split
    write_json(loop.file, data)


def _entry(loop: Loop, n: int) -> dict:
    for entry in loop.rounds():
        if entry["round"] == n:
            return entry
    return {"round": n, "step": STEPS[0], "dataset": str(loop.round_dir(n)), "run_id": None, "adapter": None}


def _model(loop: Loop, n: int) -> Generator:
    """Model n: the starting model for 0, else the base with round n's adapter."""
    start = Generator.from_dict(loop.data()["start"])
    if n == 0:
        return start
    entry = _entry(loop, n)
    if not entry.get("adapter"):
        raise LoopError(f"round {n} of loop {loop.name} has no adapter yet")
    return replace(start, run=None, checkpoint=None, adapter=entry["adapter"])


def _round(loop: Loop, spec: LoopSpec, n: int, entry: dict, emit: EventFn, cancel: threading.Event) -> None:
    data = loop.data()
    prompts = [Prompt.from_dict(p) for p in data["prompts"]["rounds"][n - 1]]
    generator = _model(loop, n - 1)

    def step(name: str, message: str) -> None:
        entry["step"] = name
        loop.save_round(entry)
        log_line(loop.path, f"round {n}: {message}")
        emit({"type": ROUND, "round": n, "state": "step", "step": name, "message": message})

    emit({"type": ROUND, "round": n, "state": "started", "step": entry["step"], "message": f"round {n}"})
    if entry["step"] == "generate":
        step(entry["step"], f"making pairs with {generator.describe()} ({len(prompts)} prompts)")
        folder = loop.round_dir(n)
        folder.mkdir(parents=True, exist_ok=True)
        job = GenerateJob(spec.prompts, generator, spec.sampling, spec.ranker, spec.pairs)
        result = make_dataset(folder, prompts, job, generator, emit, cancel, {"loop": loop.name, "round": n})
        if result["status"] != FINISHED:
            raise _Stopped()
        entry["counts"] = result["card"]["counts"]
        if not entry["counts"]["pairs"]:
            c = entry["counts"]
            raise LoopError(
                f"round {n} made no pairs ({c['ties']} ties, {c['unjudged']} unjudged of {c['prompts']} "
                "prompts): try another ranker, more answers per prompt (k) or more prompts"
            )
        step("train", result["message"])
    release_generator()
    if entry["step"] == "train":
        _train(loop, spec, n, entry, generator, emit, cancel)
        step("evaluate", f"trained run {entry['run_id']}")
    if entry["step"] == "evaluate":
        _evaluate(loop, spec, n, entry, emit, cancel)
        step("done", f"done: {entry.get('win_rates') or 'no win rates (no eval judge)'}")
    emit(
        {
            "type": ROUND,
            "round": n,
            "state": "finished",
            "step": "done",
            "message": f"round {n} done",
            "row": _row(loop, n),
        }
    )


def _train(loop: Loop, spec: LoopSpec, n: int, entry: dict, generator: Generator, emit, cancel) -> None:
    from dpostudio.core.training.engine import train
    from dpostudio.core.training.run_config import RunConfig
    from dpostudio.core.training.runs import RunError, get_run

    def relay(event: Any) -> None:
        if event["type"] == STARTED and entry.get("run_id") != event["run_id"]:
            entry["run_id"] = event["run_id"]
            loop.save_round(entry)  # known at once: a crash from here on resumes this run
        emit({"type": TRAIN, "round": n, "event": event})

    run = None
    if entry.get("run_id"):
        try:
            run = get_run(entry["run_id"])
        except RunError:
            run = None
    if run is not None and run.status() == FINISHED and run.final_adapter() is not None:
        pass
    elif run is not None and run.resumable():
        emit({"type": NOTE, "message": f"round {n}: resuming run {run.id} from its last checkpoint"})
        run = train(None, relay, cancel, resume=run, tags={"loop": loop.name, "loop_round": n})
    else:
        if run is not None:
            emit({"type": NOTE, "message": f"round {n}: run {run.id} has no checkpoint; training starts again"})
        fields = {**spec.run_config, "model": generator.model, "dataset": str(loop.round_dir(n))}
        fields.update(init_adapter=generator.adapter, name=f"{loop.name}-r{n}")
        fields.setdefault("prompt_template", generator.prompt_template)
        fields.setdefault("system_prompt", generator.system_prompt)
        config = RunConfig.from_dict(fields)
        run = train(config, relay, cancel, tags={"loop": loop.name, "loop_round": n})
    entry["run_id"] = run.id
    status = run.status()
    if status != FINISHED or run.final_adapter() is None:
        if status == CANCELLED or cancel.is_set():
            loop.save_round(entry)
            raise _Stopped()
        raise LoopError(f"round {n}: training ended {status}: {run.info().get('message') or ''}")
    entry["adapter"] = str(run.final_adapter())
    info = run.info()
    entry["eval"] = {k: v for k, v in (info.get("final_eval") or {}).items() if k.startswith("eval_")}
    entry["train"] = {k: v for k, v in (info.get("final_train") or {}).items() if k in ("loss", "rewards/accuracies")}
    loop.save_round(entry)


def _evaluate(loop: Loop, spec: LoopSpec, n: int, entry: dict, emit: EventFn, cancel: threading.Event) -> None:
    """Win rates of model n against model n-1 and model 0 on the held-out prompts (when there is an eval judge)."""
    if not spec.eval_judge or not spec.heldout:
        entry["win_rates"] = None
        return
    prompts = [Prompt.from_dict(p) for p in loop.data()["prompts"]["heldout"]]
    answers = {}
    for m in sorted({0, n - 1, n}):
        got = heldout_answers(prompts, _model(loop, m), loop.heldout_file(m), spec.eval_max_new_tokens, emit, cancel)
        if got is None:
            raise _Stopped()
        answers[m] = got
    release_generator()
    rates: dict[str, Any] = {}
    for label, other in (("vs_previous", n - 1), ("vs_base", 0)):
        if label == "vs_base" and other == n - 1:
            rates[label] = rates["vs_previous"]  # round 1: the previous model is the base
            continue
        emit({"type": ROUND, "round": n, "state": "step", "step": EVALUATE, "message": f"judging {label}"})
        path = loop.round_dir(n) / f"winrate-{label.replace('_', '-')}.jsonl"
        result = compare_answers(
            prompts, answers[n], answers[other], path, str(spec.eval_judge), spec.eval_judge_options, emit, cancel
        )
        if result is None:
            raise _Stopped()
        rates[label] = result
    entry["win_rates"] = rates
    loop.save_round(entry)


def _row(loop: Loop, n: int) -> dict:
    from dpostudio.core.loop.table import loop_table

    return next((r for r in loop_table(loop) if r["round"] == n), {})
