"""The MLX backend: one LoRA-DPO run on Apple's MLX, with the torch engine's events, run folder and adapters.

``engine.train`` hands a run here when ``choose_backend`` picks MLX; everything around it (the run folder, the
diagnostics, the end events of failures, a sweep's pruning) stays the engine's. This loop emits ``started``,
``stage``, ``resumed``, ``log``, ``phase``, ``eval``, ``checkpoint``, ``summary`` and ``finished``/``cancelled``
with TRL's metric names, writes checkpoints as ``checkpoints/checkpoint-<step>`` (a PEFT adapter folder plus
``optimizer.safetensors`` and ``trainer_state.json``, written last) and the final adapter as a PEFT folder.

Why a loop of its own rather than mlx-lm-lora's ``train_dpo``: that trainer has a report callback, but it cannot
stop at a step and save, cannot resume (no start step, no optimizer state), samples batches with replacement and
drops the last partial one, and its metrics are not TRL's (see ``mlx_steps``). The loss itself is mlx-lm-lora's. Its
one Metal-only call (``mx.device_info()["max_recommended_working_set_size"]``) is replaced by mlx-lm's guarded
``maybe_set_recommended_wired_limit``, so the same code runs on the CPU build on Linux.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dpostudio.core.training.backends.mlx_adapters import (
    LoraShape,
    attach_lora,
    block_linear_keys,
    flat,
    load_arrays,
    load_peft_into_mlx,
    lora_weights,
    save_peft_adapter,
)
from dpostudio.core.training.backends.mlx_data import BatchOrder, Pair, batches_in_order, make_batch, tokenize_pairs
from dpostudio.core.training.backends.mlx_steps import (
    dpo_batch_loss,
    lr_schedule,
    make_optimizer,
    pair_metrics,
    reference_scores,
    warmup_steps,
)
from dpostudio.core.training.backends.selection import MLX, BackendChoice, BackendError, mlx_supports_architecture
from dpostudio.core.training.engine import RunFailed
from dpostudio.core.training.event_types import (
    CANCELLED,
    CHECKPOINT,
    EVAL,
    EVAL_PREFIX,
    EVALUATING,
    FINISHED,
    LOG,
    PHASE,
    PRUNED,
    RESUMED,
    RUNNING,
    SAVING,
    STAGE,
    STARTED,
    SUMMARY,
    CancelledEvent,
    TrainingEvent,
)
from dpostudio.core.training.run_config import RunConfig
from dpostudio.core.training.runs import CHECKPOINT_PREFIX, TRAINER_STATE, Run

EventFn = Callable[[TrainingEvent], None]
OPTIMIZER_STATE = "optimizer.safetensors"


@dataclass
class Loaded:
    model: Any
    train: list[Pair]
    eval: list[Pair]
    location: str
    num_layers: int


def run_mlx(
    config: RunConfig,
    run: Run,
    emit: EventFn,
    cancel: threading.Event,
    resuming: bool,
    pruned: list[str],
    backend: BackendChoice,
) -> int:
    """Train ``run`` on MLX; returns the last step. Raises as the torch path does (the engine words the failure)."""
    import mlx.core as mx
    from mlx_lm.utils import maybe_set_recommended_wired_limit

    checkpoint = run.latest_checkpoint() if resuming else None
    if resuming and checkpoint is None:
        raise RunFailed(f"run {run.id} has no checkpoint to resume from; start a new run instead")
    if config.device == "cpu":
        mx.set_default_device(mx.cpu)
    on_gpu = mx.default_device() == mx.gpu
    if on_gpu:
        maybe_set_recommended_wired_limit()  # Metal only; mlx-lm-lora's own trainer calls it unguarded
    precision = config.precision if config.precision != "auto" else ("bf16" if on_gpu else "fp32")
    device = "mlx-gpu" if on_gpu else "mlx-cpu"
    where = "the Apple GPU" if on_gpu else "the CPU (no Apple GPU)"
    reason = f"MLX backend: {backend.reason}; on {where}"
    resumed_from = _step_of(checkpoint)
    run.update_info(
        status=RUNNING, pid=os.getpid(), started_at=time.time(), device=device, precision=precision, backend=MLX
    )
    emit(
        {
            "type": STARTED,
            "run_id": run.id,
            "run_dir": str(run.path),
            "config": config.to_dict(),
            "device": device,
            "precision": precision,
            "device_reason": reason,
            "model": config.model,
            "resumed_from_step": resumed_from,
        }
    )
    run.log(f"{'resuming' if resuming else 'starting'} with MLX on {where} · {precision} ({backend.reason})")
    loaded = _load(config, run, emit, precision)
    if cancel.is_set():
        raise KeyboardInterrupt
    return MlxLoop(config, run, emit, cancel, pruned, loaded).train(checkpoint)


def _step_of(checkpoint: Path | None) -> int | None:
    return int(checkpoint.name.rsplit("-", 1)[-1]) if checkpoint is not None else None


def _load(config: RunConfig, run: Run, emit: EventFn, precision: str) -> Loaded:
    """Model (as MLX arrays), tokenizer and the tokenized pairs, with the same checks and log lines as torch."""
    import mlx.core as mx
    from mlx_lm.utils import load_model

    from dpostudio.core.data.pipeline import load_splits
    from dpostudio.core.model_store import load_tokenizer, resolve_model

    def stage(message: str, fraction: float) -> None:
        emit({"type": STAGE, "message": message, "fraction": fraction})

    stage("resolving model", 0.0)
    resolved = resolve_model(config.model, on_progress=lambda f, m: stage(f"importing model: {m}", 0.5 * f))
    folder = _local_folder(resolved.location, resolved.kind)
    model_type = str(json.loads((folder / "config.json").read_text(encoding="utf-8")).get("model_type", ""))
    if not mlx_supports_architecture(model_type):
        raise BackendError(
            f"MLX (mlx-lm) has no implementation of {resolved.display_name}'s architecture ({model_type}); "
            "choose backend torch"
        )
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
    run.update_info(
        train_rows=len(splits.train), eval_rows=eval_rows, data_format=splits.format, rows_dropped=dict(splits.dropped)
    )
    stage("preparing the data: tokenizing the preference pairs", 0.7)
    train, dropped = tokenize_pairs(splits.train, tokenizer, config.max_length)
    if not train:
        raise RunFailed(
            f"max_length {config.max_length} is too small: every prompt fills it, leaving no answer tokens to "
            "learn from. Raise max length."
        )
    if dropped:
        run.log(f"{dropped} training rows dropped because their prompt alone fills max_length {config.max_length}")
    held_out, _ = tokenize_pairs(splits.eval or [], tokenizer, config.max_length)
    stage("loading model weights", 0.85)
    model, _ = load_model(folder, trust_remote_code=config.trust_remote_code)
    model.set_dtype({"bf16": mx.bfloat16, "fp16": mx.float16}.get(precision, mx.float32))
    return Loaded(model, train, held_out, resolved.location, len(model.layers))


def _local_folder(location: str, kind: str) -> Path:
    """The model's folder on this machine (a Hub model is fetched into the Hugging Face cache, as torch does)."""
    if kind != "hub":
        return Path(location)
    from huggingface_hub import snapshot_download

    try:
        patterns = ["*.json", "*.safetensors", "*.jinja", "*.model", "*.txt", "*.tiktoken"]
        return Path(snapshot_download(location, allow_patterns=patterns))
    except Exception as exc:  # offline, unknown id, gated: all "cannot download"
        raise RunFailed(f"cannot download {location} from the Hugging Face Hub: {exc}") from None


class MlxLoop:
    """The step loop: log, stop, evaluate and save at the same points as the Trainer with the engine's callback."""

    def __init__(
        self, config: RunConfig, run: Run, emit: EventFn, cancel: threading.Event, pruned: list[str], loaded: Loaded
    ):
        self.config, self.run, self.emit, self.cancel, self.pruned, self.loaded = (
            config,
            run,
            emit,
            cancel,
            pruned,
            loaded,
        )
        self.model = loaded.model
        self.order = BatchOrder(
            len(loaded.train), config.per_device_batch_size, config.gradient_accumulation_steps, config.seed
        )
        self.total = self.order.total_steps(config.num_train_epochs, config.max_steps)
        warmup = warmup_steps(config.warmup_steps, config.warmup_ratio, self.total)
        self.lr = lr_schedule(config.lr_scheduler_type, config.learning_rate, self.total, warmup)
        self.optimizer = make_optimizer(config.optimizer, config.learning_rate, config.weight_decay)
        self.step = 0
        self.tokens = 0  # tokens trained on so far (TRL's ``num_tokens``)
        self.shape: LoraShape | None = None

    # ---- set-up and resume ---------------------------------------------------------------
    def _start(self, checkpoint: Path | None) -> None:
        import mlx.core as mx
        from mlx.utils import tree_unflatten

        c = self.config
        if checkpoint is None:
            mx.random.seed(c.seed)
            keys = block_linear_keys(self.model, list(c.lora_target_modules))
            self.shape = LoraShape(c.lora_r, float(c.lora_alpha), c.lora_dropout, keys)
            attach_lora(self.model, self.shape)
            return
        self.shape = load_peft_into_mlx(self.model, checkpoint)
        self.step = _step_of(checkpoint) or 0
        state = json.loads((checkpoint / TRAINER_STATE).read_text(encoding="utf-8"))
        self.tokens = int(state.get("num_tokens", 0))
        mx.random.seed(c.seed + self.step)
        state_file = checkpoint / OPTIMIZER_STATE
        if state_file.is_file():
            self.optimizer.state = tree_unflatten(list(load_arrays(state_file).items()))
        self.emit({"type": RESUMED, "from_step": self.step, "checkpoint": str(checkpoint)})

    def train(self, checkpoint: Path | None) -> int:
        import mlx.core as mx
        import mlx.nn as nn

        self._start(checkpoint)
        if self.config.gradient_checkpointing:
            from mlx_lm_lora.trainer.sft_trainer import grad_checkpoint

            grad_checkpoint(self.model.layers[0])
        self.emit({"type": STAGE, "message": "training", "fraction": 1.0})
        beta, loss_type = self.config.beta, self.config.loss_type
        loss_and_grad = nn.value_and_grad(self.model, lambda b, r: dpo_batch_loss(self.model, b, r, beta, loss_type))
        t0, step0 = time.monotonic(), self.step
        pending: list[dict[str, float]] = []
        session_losses: list[float] = []
        while self.step < self.total:
            metrics, grad_norm = self._one_step(loss_and_grad, mx)
            self.step += 1
            pending.extend(metrics)
            session_losses.extend(m["loss"] for m in metrics)
            c = self.config
            if self.step % c.logging_steps == 0 or self.step in (1, self.total):
                self._log(pending, grad_norm, t0, step0)
                pending = []
            stop = self.cancel.is_set()
            if not stop and self._eval_due():
                self.evaluate()
                stop = self.cancel.is_set()
            if stop or self.step % c.save_steps == 0 or self.step == self.total:  # the Trainer saves the last step
                self.save_checkpoint()
            if stop:
                return self._cancelled()
        self._finish(time.monotonic() - t0, session_losses, step0)
        return self.step

    def _one_step(self, loss_and_grad: Any, mx: Any) -> tuple[list[dict[str, float]], float]:
        import mlx.optimizers as optim
        from mlx.utils import tree_map

        c = self.config
        self.model.train()
        grads, metrics = None, []
        for j in range(c.gradient_accumulation_steps):
            indices = self.order.indices(self.step * c.gradient_accumulation_steps + j)
            pairs = [self.loaded.train[i] for i in indices]
            self.tokens += sum(min(len(p) + len(a), c.max_length) for p, *answers in pairs for a in answers)
            batch = make_batch(pairs, c.max_length)
            ref = reference_scores(self.model, batch)
            (loss, chosen, rejected), g = loss_and_grad(batch, ref)
            grads = g if grads is None else tree_map(lambda a, b: a + b, grads, g)
            mx.eval(loss, chosen, rejected, grads)
            metrics.append(pair_metrics(loss, chosen, rejected, ref, c.beta))
        if c.gradient_accumulation_steps > 1:
            grads = tree_map(lambda x: x / c.gradient_accumulation_steps, grads)
        if c.max_grad_norm > 0:
            grads, norm = optim.clip_grad_norm(grads, c.max_grad_norm)
        else:
            norm = mx.sqrt(sum((g * g).sum() for _, g in flat(grads)))
        self.optimizer.learning_rate = self.lr(self.step)
        self.optimizer.update(self.model, grads)
        mx.eval(self.model.parameters(), self.optimizer.state)
        return metrics, float(norm.item())

    def _log(self, pending: list[dict[str, float]], grad_norm: float, t0: float, step0: int) -> None:
        averaged = {name: sum(m[name] for m in pending) / len(pending) for name in pending[0]}
        averaged.update(grad_norm=grad_norm, learning_rate=self.lr(self.step), num_tokens=float(self.tokens))
        elapsed = time.monotonic() - t0
        done = self.step - step0
        self.emit(
            {
                "type": LOG,
                "step": self.step,
                "max_steps": self.total,
                "epoch": self._epoch(),
                "metrics": averaged,
                "elapsed_s": elapsed,
                "eta_s": elapsed / done * (self.total - self.step) if done else None,
            }
        )

    def _epoch(self) -> float:
        return self.step / self.order.steps_per_epoch

    # ---- evaluation ----------------------------------------------------------------------
    def _eval_due(self) -> bool:
        if not self.loaded.eval:
            return False
        if self.config.eval_steps:  # as the Trainer: every eval_steps, and at the last step
            return self.step % self.config.eval_steps == 0 or self.step == self.total
        return self.step % self.order.steps_per_epoch == 0 or self.step == self.total

    def evaluate(self) -> dict[str, float]:
        """The held-out pairs under TRL's eval names: the loss over all pairs, the other metrics per batch."""
        started = time.monotonic()
        self.model.eval()
        batches = batches_in_order(self.loaded.eval, self.config.per_device_batch_size)
        self._phase(EVALUATING, 0, len(batches))
        results, sizes = [], []
        for done, pairs in enumerate(batches, 1):
            batch = make_batch(pairs, self.config.max_length)
            ref = reference_scores(self.model, batch)
            loss, chosen, rejected = dpo_batch_loss(self.model, batch, ref, self.config.beta, self.config.loss_type)
            results.append(pair_metrics(loss, chosen, rejected, ref, self.config.beta))
            sizes.append(len(pairs))
            self._phase(EVALUATING, done, len(batches))
        metrics = {EVAL_PREFIX + k: sum(r[k] for r in results) / len(results) for k in results[0]}
        metrics[EVAL_PREFIX + "loss"] = sum(r["loss"] * n for r, n in zip(results, sizes)) / sum(sizes)
        runtime = time.monotonic() - started
        metrics.update(
            eval_runtime=runtime,
            eval_samples_per_second=sum(sizes) / runtime if runtime else 0.0,
            eval_steps_per_second=len(batches) / runtime if runtime else 0.0,
        )
        self.emit({"type": EVAL, "step": self.step, "epoch": self._epoch(), "metrics": metrics})
        return metrics

    def _phase(self, phase: Any, done: int, total: int | None) -> None:
        self.emit({"type": PHASE, "phase": phase, "step": self.step, "done": done, "total": total})

    # ---- saving --------------------------------------------------------------------------
    def save_checkpoint(self) -> Path:
        """checkpoint-<step>: the PEFT adapter, the optimizer state, then trainer_state.json (written last)."""
        import mlx.core as mx

        assert self.shape is not None
        self._phase(SAVING, 0, 1)
        folder = self.run.checkpoints_dir / f"{CHECKPOINT_PREFIX}{self.step}"
        save_peft_adapter(lora_weights(self.model), folder, self.shape, self.loaded.location)
        state = {k: v for k, v in flat(self.optimizer.state) if isinstance(v, mx.array)}
        mx.save_safetensors(str(folder / OPTIMIZER_STATE), state)
        trainer_state = {
            "global_step": self.step,
            "epoch": self._epoch(),
            "max_steps": self.total,
            "num_tokens": self.tokens,
            "backend": MLX,
        }
        (folder / TRAINER_STATE).write_text(json.dumps(trainer_state, indent=2), encoding="utf-8")
        self.emit({"type": CHECKPOINT, "step": self.step, "path": str(folder)})
        self._drop_old_checkpoints()
        return folder

    def _drop_old_checkpoints(self) -> None:
        limit = self.config.save_total_limit
        if not limit:
            return
        for old in self.run.checkpoints()[:-limit]:
            shutil.rmtree(old.path, ignore_errors=True)

    # ---- the end -------------------------------------------------------------------------
    def _cancelled(self) -> int:
        latest = self.run.latest_checkpoint()
        message = f"stopped at step {self.step}; resume with: dpostudio train --resume {self.run.id}"
        if self.pruned:
            message = f"pruned at step {self.step}: {self.pruned[0]}"
        extra = {"stop_reason": PRUNED} if self.pruned else {}
        self.run.update_info(status=CANCELLED, message=message, step=self.step, **extra)
        self.run.log(message)
        event: CancelledEvent = {
            "type": CANCELLED,
            "step": self.step,
            "checkpoint": str(latest) if latest else None,
            "message": message,
        }
        if self.pruned:
            event["reason"] = PRUNED
        self.emit(event)
        return self.step

    def _finish(self, runtime: float, losses: list[float], step0: int) -> None:
        assert self.shape is not None
        steps = self.step - step0
        pairs = steps * self.config.per_device_batch_size * self.config.gradient_accumulation_steps
        summary = {
            "train_runtime": runtime,
            "train_samples_per_second": pairs / runtime if runtime else 0.0,
            "train_steps_per_second": steps / runtime if runtime else 0.0,
            "train_loss": sum(losses) / len(losses) if losses else 0.0,
        }
        self.emit({"type": SUMMARY, "step": self.step, "metrics": summary})
        save_peft_adapter(lora_weights(self.model), self.run.adapter_dir, self.shape, self.loaded.location)
        final = {k: v for e in self.run.metrics(LOG)[-1:] for k, v in e.items()}
        final_eval = {k: v for e in self.run.metrics(EVAL)[-1:] for k, v in e.items()}
        message = f"finished after {self.step} steps; adapter saved in {self.run.adapter_dir}"
        self.run.update_info(status=FINISHED, message=message, step=self.step, final_train=final, final_eval=final_eval)
        self.run.log(message)
        self.emit({"type": FINISHED, "step": self.step, "adapter_dir": str(self.run.adapter_dir), "message": message})
