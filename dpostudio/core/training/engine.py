"""The training engine: ``train(config, on_event, cancel)`` runs one LoRA-DPO run with TRL, blocking.

It is the one code path behind the CLI and the GUI. It never raises for problems a user can cause: the run
ends with a ``failed`` event whose message says what went wrong in words, and everything written so far
(config, metrics log, checkpoints) stays on disk. See ``event_types`` for the event vocabulary.

Every log and eval record also goes to the diagnostics (``core.diagnostics.RunWatcher``): each finding it raises or
updates is emitted as a ``finding`` event right after the record's own event, and ``findings.json`` in the run
folder is kept current. A resumed run replays its records up to the checkpoint first, so nothing is raised twice.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Mapping, Sized
from typing import Any, Literal

from dpostudio.core.data.pipeline import DataError, load_extra_eval_sets, load_splits
from dpostudio.core.model_store import ModelError, load_model, load_tokenizer, resolve_model
from dpostudio.core.training import distributed
from dpostudio.core.training.backends.selection import MLX, choose_backend
from dpostudio.core.training.batching import with_length_grouping
from dpostudio.core.training.device import DeviceChoice, DeviceError, choose_device, prepare_environment, probe_hardware
from dpostudio.core.training.event_types import (
    CANCELLED,
    EVAL,
    FAILED,
    FINISHED,
    LOG,
    PHASE,
    PRUNED,
    RESUMED,
    RUNNING,
    STAGE,
    STARTED,
    CancelledEvent,
    FailedEvent,
    TrainingEvent,
)
from dpostudio.core.training.fit import TIGHT, TOO_BIG, check_fit, fit_values
from dpostudio.core.training.init_adapter import scope_fingerprint, start_from_adapter
from dpostudio.core.training.lean_forward import with_lean_forward
from dpostudio.core.training.losses import resolved_label_smoothing, split_loss_type
from dpostudio.core.training.memory import find_model_config
from dpostudio.core.training.methods import method_trainer
from dpostudio.core.training.ref_cache import CacheScope, RefLogpCache, make_cached_trainer_class
from dpostudio.core.training.run_config import ConfigError, RunConfig
from dpostudio.core.training.run_diagnostics import Diagnostics, checkpoint_step
from dpostudio.core.training.runs import Run
from dpostudio.core.training.trackers import check_installed, tracker_arguments
from dpostudio.core.training.trackers import describe as describe_trackers

log = logging.getLogger(__name__)
EventFn = Callable[[TrainingEvent], None]  # events are plain dicts; event_types documents their shapes
EvalHook = Callable[[int, dict[str, float]], bool | str | None]  # (step, eval metrics) -> stop? (a str: why)


class RunFailed(Exception):
    """Internal: stop the run with a message in words."""


def train(
    config: RunConfig | None,
    on_event: EventFn | None = None,
    cancel: threading.Event | None = None,
    *,
    resume: str | Run | None = None,
    on_eval: EvalHook | None = None,
    tags: Mapping[str, Any] | None = None,
) -> Run:
    """Train (or resume) one run. Blocks until it finishes, fails or is cancelled; returns the ``Run``.

    ``on_event`` receives plain-dict events (see ``event_types``); it is called on the calling thread.
    ``cancel`` is honoured at the next step boundary, or after an evaluation under way, by saving a checkpoint;
    asked for while the model and data load, it ends the run before training starts.
    ``resume`` (a run id or ``Run``) continues that run from its last checkpoint with its own config.
    ``on_eval(step, metrics)`` sees every evaluation (after its ``eval`` event); a true return (a str: the reason in
    words) prunes the run: it stops as a cancel does (checkpoint kept, resumable) and ends ``cancelled`` with
    ``stop_reason`` "pruned" in run.json and ``reason`` "pruned" on the event. A sweep uses it (``core.sweeps``).
    ``tags`` are written into run.json as soon as the run folder exists (a sweep's name and trial number).
    """
    run, config = distributed.open_run(config, resume)  # a new folder, or resume's (refused while it trains)
    cancel = distributed.shared_cancel(RunStop(cancel))  # under accelerate: all processes stop alike
    listener = distributed.event_listener(on_event)  # under accelerate only the main process reports and writes
    if tags:
        run.update_info(**tags)

    def emit_one(event: TrainingEvent) -> None:
        if event["type"] not in (STAGE, PHASE):  # progress within a phase is not history
            try:
                run.append_event(event)
            except OSError as exc:  # keep training; the GUI still gets the event
                log.warning("could not append to %s: %s", run.metrics_path, exc)
        try:
            listener(event)
        except Exception:  # a broken listener must not kill the run
            log.exception("event listener failed")

    diagnostics = Diagnostics(run, resume is not None)

    pruned: list[str] = []  # why on_eval stopped the run early, once it has

    def emit(event: TrainingEvent) -> None:
        emit_one(event)
        for finding_event in diagnostics.observe(event):
            emit_one(finding_event)
        if on_eval is not None and event["type"] == EVAL and not pruned:
            try:
                verdict = on_eval(event["step"], dict(event["metrics"]))
            except Exception:  # a broken hook must not kill the run
                log.exception("on_eval hook failed")
                verdict = None
            if verdict:
                pruned.append(verdict if isinstance(verdict, str) else "stopped early after an evaluation")
                cancel.set()

    step = 0
    try:
        step = _run(config, run, emit, cancel, resume is not None, pruned)
    except KeyboardInterrupt:
        _end(run, emit, CANCELLED, step, "interrupted; resume with: dpostudio train --resume " + run.id)
        raise
    except RunFailed as exc:
        _end(run, emit, FAILED, step, str(exc))
    except Exception as exc:  # anything else: say it in words, keep the files
        _end(run, emit, FAILED, step, _describe(exc), detail=f"{type(exc).__name__}: {exc}")
        run.log(traceback.format_exc())
    return run


class RunStop(threading.Event):
    """The flag a run stops on: the caller's ``cancel`` or the run's own decision (a pruned trial). Pruning sets
    this one only, so the caller's event stays clear and a sweep goes on to its next trial."""

    def __init__(self, outer: threading.Event | None):
        super().__init__()
        self._outer = outer

    def is_set(self) -> bool:
        return super().is_set() or (self._outer is not None and self._outer.is_set())


def _end(
    run: Run, emit: EventFn, status: Literal["cancelled", "failed"], step: int, message: str, detail: str | None = None
) -> None:
    latest = run.latest_checkpoint()
    try:  # the status is on disk before listeners hear the final event
        run.update_info(status=status, message=message)
    except OSError:
        pass
    run.log(f"{status}: {message}")
    checkpoint = str(latest) if latest else None
    event: CancelledEvent | FailedEvent
    if status == CANCELLED:
        event = {"type": CANCELLED, "step": step, "message": message, "checkpoint": checkpoint}
    else:
        event = {"type": FAILED, "step": step, "message": message, "checkpoint": checkpoint}
        if detail is not None:
            event["detail"] = detail
    emit(event)


def _describe(exc: BaseException) -> str:
    """Turn an exception a user can cause into a sentence."""
    import torch

    if isinstance(exc, (ModelError, DataError, ConfigError, DeviceError)):
        return str(exc)
    if isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower():
        return (
            "out of memory: lower the batch size or max length, turn on gradient checkpointing, or use a smaller model"
        )
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return f"the disk is full ({exc.filename or 'while saving'}); free some space and resume the run"
    text = str(exc).strip().splitlines()
    return f"training stopped with an error: {type(exc).__name__}: {text[0] if text else ''}"


def _run(config: RunConfig, run: Run, emit: EventFn, cancel: threading.Event, resuming: bool, pruned: list[str]) -> int:
    if (backend := choose_backend(config)).name == MLX:  # its own loop: the same events, run folder and adapters
        from dpostudio.core.training.backends.mlx_trainer import run_mlx

        return run_mlx(config, run, emit, cancel, resuming, pruned, backend)
    hardware = probe_hardware()
    choice = choose_device(hardware, config.device, config.precision)
    prepare_environment(choice.device)
    checkpoint = run.latest_checkpoint() if resuming else None
    if resuming and checkpoint is None:
        raise RunFailed(f"run {run.id} has no checkpoint to resume from; start a new run instead")
    run.update_info(
        status=RUNNING,
        pid=os.getpid(),
        started_at=time.time(),
        device=choice.device,
        precision=choice.precision,
        message="",
    )
    distributed.record_layout(run, config)  # processes, strategy, effective batch
    emit(
        {
            "type": STARTED,
            "run_id": run.id,
            "run_dir": str(run.path),
            "config": config.to_dict(),
            "device": choice.device,
            "precision": choice.precision,
            "device_reason": choice.reason,
            "model": config.model,
            "resumed_from_step": checkpoint_step(checkpoint),
        }
    )
    run.log(f"{'resuming' if resuming else 'starting'} on {choice.describe()}")
    if config.loss_type != "sigmoid" or config.loss_weights is not None:
        weights = f" with weights {', '.join(f'{w:g}' for w in config.loss_weights)}" if config.loss_weights else ""
        run.log(f"loss: {config.loss_type}{weights}")
    if config.report_to:
        check_installed(config.report_to)  # before the model loads: a missing package is said at once
        run.log(f"also reporting to {describe_trackers(config.report_to)}")

    trainer, callback = build_trainer(config, run, choice, emit, cancel, hardware=hardware)
    if cancel.is_set():
        raise KeyboardInterrupt
    if checkpoint is not None:
        emit({"type": RESUMED, "from_step": checkpoint_step(checkpoint), "checkpoint": str(checkpoint)})
    emit({"type": STAGE, "message": "training", "fraction": 1.0})
    try:
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    finally:
        log_savings(trainer, run)
    step = trainer.state.global_step

    if callback.cancelled:
        latest = run.latest_checkpoint()
        message = f"stopped at step {step}; resume with: dpostudio train --resume {run.id}"
        if pruned:
            message = f"pruned at step {step}: {pruned[0]}"
        run.update_info(status=CANCELLED, message=message, step=step, **({"stop_reason": PRUNED} if pruned else {}))
        run.log(message)
        event: CancelledEvent = {
            "type": CANCELLED,
            "step": step,
            "checkpoint": str(latest) if latest else None,
            "message": message,
        }
        if pruned:
            event["reason"] = PRUNED
        emit(event)
        return step

    trainer.save_model(str(run.adapter_dir))
    final = {k: v for e in run.metrics(LOG)[-1:] for k, v in e.items()}
    final_eval = {k: v for e in run.metrics(EVAL)[-1:] for k, v in e.items()}
    message = f"finished after {step} steps; adapter saved in {run.adapter_dir}"
    run.update_info(status=FINISHED, message=message, step=step, final_train=final, final_eval=final_eval)
    run.log(message)
    emit({"type": FINISHED, "step": step, "adapter_dir": str(run.adapter_dir), "message": message})
    return step


def build_trainer(
    config: RunConfig, run: Run, choice: DeviceChoice, emit: EventFn, cancel: threading.Event, hardware: Any = None
):
    """Load model, tokenizer and data and assemble TRL's DPOTrainer with a LoRA adapter. With ``hardware`` the
    memory the run needs is checked first: a run that cannot fit is refused in words before anything loads."""
    import torch
    from peft import LoraConfig
    from transformers import PrinterCallback
    from trl import DPOTrainer

    from dpostudio.core.training.events import EngineCallback

    def stage(message: str, fraction: float) -> None:
        emit({"type": STAGE, "message": message, "fraction": fraction})

    _quiet_library_output()
    stage("resolving model", 0.0)
    resolved = resolve_model(config.model, on_progress=lambda f, m: stage(f"importing model: {m}", 0.5 * f))
    if hardware is not None:
        check_memory(config, resolved.location, choice, hardware, run)
    stage("loading tokenizer", 0.5)
    tokenizer = load_tokenizer(resolved, config.trust_remote_code)
    if config.prompt_template == "chat" and not tokenizer.chat_template:
        raise RunFailed(f"{resolved.display_name} has no chat template; choose the 'alpaca' or 'none' prompt template")
    stage("loading preference data", 0.6)
    splits = load_splits(config, tokenizer)
    if len(splits.train) == 0:
        raise RunFailed(f"{config.dataset}: no training rows left after filtering")
    eval_rows = len(splits.eval) if splits.eval is not None else 0
    run.log(f"data: {config.dataset} ({splits.format}), {len(splits.train)} training and {eval_rows} evaluation rows")
    for note in splits.notes:
        run.log(f"data: {note}")
    if splits.dropped:
        run.log("data: rows left out: " + ", ".join(f"{n} {kind}" for kind, n in splits.dropped.items()))
    extra_sets = load_extra_eval_sets(config, tokenizer) if config.extra_eval_sets else {}
    for set_name, dataset in extra_sets.items():
        run.log(f"data: extra eval set {set_name!r}: {len(dataset)} rows")
    run.update_info(
        train_rows=len(splits.train),
        eval_rows=eval_rows,
        data_format=splits.format,
        rows_dropped=dict(splits.dropped),
        length_bias=splits.length_bias,
    )
    if extra_sets:
        run.update_info(extra_eval_rows={set_name: len(dataset) for set_name, dataset in extra_sets.items()})
    stage("loading model weights", 0.7)
    # On GPUs the frozen base is held in the half-precision type; on the CPU it stays fp32 and bf16 runs as autocast.
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(choice.precision) if choice.device != "cpu" else None
    model = load_model(resolved, dtype=dtype, trust_remote_code=config.trust_remote_code)
    if config.init_adapter:  # go on training this adapter (see init_adapter); TRL keeps a frozen copy as reference
        model = start_from_adapter(model, config.init_adapter, resolved.display_name)
    if choice.device != "cpu":
        model.to(distributed.placement(choice.device))  # under accelerate: this process's own GPU

    stage("preparing the data: tokenizing the preference pairs", 0.85)
    has_main_eval = splits.eval is not None and len(splits.eval) > 0
    args = dpo_arguments(config, run, choice, has_eval=has_main_eval or bool(extra_sets))
    # With extra sets TRL gets {name: Dataset} and logs each under eval_<name>_*; the callback renames the main
    # split's "eval_eval_*" back to "eval_*" and sends all sets in one eval event. Without them nothing changes.
    eval_dataset = (({"eval": splits.eval} if has_main_eval else {}) | extra_sets) if extra_sets else splits.eval
    peft_config = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.lora_target_modules[0]
        if config.lora_target_modules == ["all-linear"]
        else list(config.lora_target_modules),
        task_type="CAUSAL_LM",
    )
    callback = EngineCallback(emit, cancel, eval_sets=list(eval_dataset) if isinstance(eval_dataset, dict) else None)
    trainer_class: type = DPOTrainer
    if config.method != "dpo":  # ORPO, CPO, SimPO, KTO: their own TRL trainer and config, never the reference cache
        trainer_class, args, eval_dataset = method_trainer(config, args, eval_dataset, run.log)
    elif config.reference_cache and distributed.single_process():  # the reference log-probs cache of all runs
        scope = CacheScope(
            model=scope_fingerprint(resolved.location, config.init_adapter),
            precision=choice.precision,
            device=choice.device,
            max_length=config.max_length,
            truncation_mode=args.truncation_mode,
        )
        trainer_class = make_cached_trainer_class(DPOTrainer, RefLogpCache(), scope)
    if config.group_by_length:  # batches of similar length: less padding (see batching)
        trainer_class = with_length_grouping(trainer_class)
    # on the CPU only the answers are projected onto the vocabulary; with share_prompts each prompt is computed once
    trainer_class = with_lean_forward(trainer_class, share_prompts=config.share_prompts)
    trainer = trainer_class(
        model=model,
        args=args,
        train_dataset=splits.train,
        eval_dataset=eval_dataset if args.eval_strategy != "no" else None,
        processing_class=tokenizer,
        peft_config=None if config.init_adapter else peft_config,
        callbacks=[callback, *distributed.stop_callbacks(cancel)],
    )
    trainer.remove_callback(PrinterCallback)  # our events replace its prints
    kept = trainer.train_dataset
    assert isinstance(kept, Sized)  # the map-style Dataset passed in, after TRL's tokenising and filtering
    if len(kept) == 0:
        raise RunFailed(
            f"max_length {config.max_length} is too small: every prompt fills it, leaving no answer tokens to "
            "learn from. Raise max length."
        )
    kept_eval = trainer.eval_dataset
    for set_name in extra_sets:
        kept_set = kept_eval.get(set_name) if isinstance(kept_eval, dict) else None
        if isinstance(kept_set, Sized) and len(kept_set) == 0:
            raise RunFailed(
                f"extra eval set {set_name!r}: every prompt fills max_length {config.max_length}, leaving no answer "
                "tokens to evaluate. Raise max length or leave the set out."
            )
    dropped = len(splits.train) - len(kept)
    if dropped:
        run.log(f"{dropped} training rows dropped because their prompt alone fills max_length {config.max_length}")
    return trainer, callback


def log_savings(trainer: Any, run: Run) -> None:
    """What the reference cache answered (run log and run.json ``reference_cache``) and what sharing prompts saved."""
    uses = [use for use in getattr(trainer, "cache_uses", {}).values() if use.rows]
    for use in uses:
        run.log(use.describe())
    sharing = getattr(trainer, "prompt_sharing", None)
    if sharing is not None and sharing.enabled and sharing.passes:
        run.log(sharing.describe())
    if uses:
        run.update_info(reference_cache=[use.as_dict() for use in uses])


def check_memory(config: RunConfig, model_dir: str, choice: DeviceChoice, hardware: Any, run: Run) -> None:
    """Refuse a run that cannot fit (with the fix in words); log a warning for one that is tight."""
    config_json = find_model_config(model_dir)
    if config_json is None:
        return
    try:
        verdict = check_fit(config_json, fit_values(config), choice.device, choice.precision, hardware)
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return  # a model whose shape cannot be read: no estimate, no check
    run.log(f"memory: {verdict.words()}")
    if verdict.verdict == TOO_BIG:
        raise RunFailed(verdict.words())
    if verdict.verdict == TIGHT:
        run.log("warning: the run may not fit in memory")


def _quiet_library_output() -> None:
    """The engine reports progress through events; the libraries' own progress bars would only add noise."""
    import datasets
    import transformers

    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*is deprecated", category=FutureWarning)
    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()


def dpo_arguments(config: RunConfig, run: Run, choice: DeviceChoice, has_eval: bool):
    """Map a RunConfig onto TRL's DPOConfig."""
    from trl import DPOConfig

    warmup: float = config.warmup_steps if config.warmup_steps else config.warmup_ratio
    losses = split_loss_type(config.loss_type)
    eval_strategy = "steps" if has_eval and config.eval_steps else ("epoch" if has_eval else "no")
    return DPOConfig(
        output_dir=str(run.checkpoints_dir),
        beta=config.beta,
        loss_type=losses,
        loss_weights=config.loss_weights,
        label_smoothing=resolved_label_smoothing(losses, config.label_smoothing),
        discopop_tau=config.discopop_tau,
        max_length=config.max_length,
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler_type,
        warmup_steps=warmup,
        weight_decay=config.weight_decay,
        optim=config.optimizer,
        per_device_train_batch_size=config.per_device_batch_size,
        per_device_eval_batch_size=config.per_device_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        num_train_epochs=config.num_train_epochs,
        max_steps=config.max_steps or -1,
        max_grad_norm=config.max_grad_norm,
        seed=config.seed,
        data_seed=config.seed,
        activation_checkpointing=config.gradient_checkpointing,
        bf16=choice.precision == "bf16",
        fp16=choice.precision == "fp16",
        use_cpu=choice.device == "cpu",
        eval_strategy=eval_strategy,
        eval_steps=config.eval_steps if eval_strategy == "steps" else None,
        logging_steps=config.logging_steps,
        logging_first_step=True,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        **tracker_arguments(config.report_to, run.path, config.name or run.id),
        disable_tqdm=True,
        dataloader_pin_memory=choice.device == "cuda",
    )
