"""One DPO batch on MLX: the loss from mlx-lm-lora, the metrics under TRL's names, the optimizer and the schedule.

The log-probs and the loss are mlx-lm-lora's own (``get_token_scores``, ``compute_score``, ``dpo_loss``: sigmoid,
hinge and ipo, which TRL computes the same way). The metrics are computed here per pair, as TRL logs them:
mlx-lm-lora averages the rewards over the batch before comparing them (its accuracy is 0 or 1 per batch) and reports
log-probs per token, where TRL's ``logps/*`` are sums over the answer and ``rewards/accuracies`` a share of pairs.

The reference model is the policy with its LoRA layers switched off (scale 0), as PEFT's reference is the base with
the adapter disabled: no second copy of the weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from dpostudio.core.training.event_types import (
    LOGPS_CHOSEN,
    LOGPS_REJECTED,
    LOSS,
    REWARDS_ACCURACIES,
    REWARDS_CHOSEN,
    REWARDS_MARGINS,
    REWARDS_REJECTED,
)


@contextmanager
def adapters_off(model: Any) -> Iterator[None]:
    """The base model: every LoRA layer's scale is 0 inside the block."""
    from mlx_lm.tuner.lora import LoRALinear

    layers = [m for _, m in model.named_modules() if isinstance(m, LoRALinear)]
    scales = [m.scale for m in layers]
    for m in layers:
        m.scale = 0.0
    try:
        yield
    finally:
        for m, scale in zip(layers, scales):
            m.scale = scale


def reference_scores(model: Any, batch: tuple) -> tuple[Any, Any]:
    """Per-token log-probs of the chosen and rejected answers under the reference (adapter off), no gradient."""
    import mlx.core as mx
    from mlx_lm_lora.trainer.dpo_trainer import get_token_scores

    chosen, rejected, chosen_mask, rejected_mask = batch
    with adapters_off(model):
        ref_chosen = mx.stop_gradient(get_token_scores(model, chosen, chosen_mask))
        ref_rejected = mx.stop_gradient(get_token_scores(model, rejected, rejected_mask))
        mx.eval(ref_chosen, ref_rejected)
    return ref_chosen, ref_rejected


def dpo_batch_loss(model: Any, batch: tuple, ref: tuple, beta: float, loss_type: str) -> tuple[Any, Any, Any]:
    """(mean loss, summed log-probs of the chosen answers, of the rejected ones) under the policy ``model``."""
    from mlx_lm_lora.trainer.dpo_trainer import compute_score, dpo_loss, get_token_scores

    chosen, rejected, chosen_mask, rejected_mask = batch
    chosen_tokens = get_token_scores(model, chosen, chosen_mask)
    rejected_tokens = get_token_scores(model, rejected, rejected_mask)
    loss, _, _, _ = dpo_loss(
        policy_chosen_score=compute_score(chosen_tokens, chosen_mask, loss_type),
        policy_rejected_score=compute_score(rejected_tokens, rejected_mask, loss_type),
        reference_chosen_score=compute_score(ref[0], chosen_mask, loss_type),
        reference_rejected_score=compute_score(ref[1], rejected_mask, loss_type),
        chosen_masks=chosen_mask,
        rejected_masks=rejected_mask,
        beta=beta,
        delta=0.0,
        loss_type=loss_type,
    )
    return loss, chosen_tokens.sum(-1), rejected_tokens.sum(-1)


def pair_metrics(loss: Any, chosen_logps: Any, rejected_logps: Any, ref: tuple, beta: float) -> dict[str, float]:
    """TRL's metrics for one batch: rewards are beta × (policy − reference) log-prob sums, per pair."""
    import mlx.core as mx

    chosen_rewards = beta * (chosen_logps - ref[0].sum(-1))
    rejected_rewards = beta * (rejected_logps - ref[1].sum(-1))
    values = {
        LOSS: loss,
        REWARDS_CHOSEN: chosen_rewards.mean(),
        REWARDS_REJECTED: rejected_rewards.mean(),
        REWARDS_ACCURACIES: (chosen_rewards > rejected_rewards).astype(mx.float32).mean(),
        REWARDS_MARGINS: (chosen_rewards - rejected_rewards).mean(),
        LOGPS_CHOSEN: chosen_logps.mean(),
        LOGPS_REJECTED: rejected_logps.mean(),
    }
    return {name: float(value.item()) for name, value in values.items()}


def make_optimizer(name: str, learning_rate: float, weight_decay: float) -> Any:
    """The MLX optimizer for a RunConfig ``optimizer`` (AdamW with the bias correction torch's AdamW has)."""
    import mlx.optimizers as optim

    if name == "sgd":
        return optim.SGD(learning_rate=learning_rate, weight_decay=weight_decay)
    if name == "adafactor":  # as the Trainer sets it up: the given learning rate, no relative steps
        return optim.Adafactor(
            learning_rate=learning_rate, weight_decay=weight_decay, scale_parameter=False, relative_step=False
        )
    return optim.AdamW(
        learning_rate=learning_rate, betas=[0.9, 0.999], eps=1e-8, weight_decay=weight_decay, bias_correction=True
    )


def lr_schedule(kind: str, learning_rate: float, total: int, warmup: int) -> Callable[[int], float]:
    """The learning rate for optimizer step index ``s`` (0-based), by the formulas of Transformers' schedulers."""
    lr_end = 1e-7  # the polynomial schedule's floor (Transformers' default)

    def factor(s: int) -> float:
        if kind != "constant" and s < warmup:
            return s / max(1, warmup)
        if kind in ("constant", "constant_with_warmup"):
            return 1.0
        progress = (s - warmup) / max(1, total - warmup)
        if kind == "linear":
            return max(0.0, (total - s) / max(1, total - warmup))
        if kind == "cosine":
            return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))
        if kind == "cosine_with_restarts":
            return 0.0 if progress >= 1.0 else max(0.0, 0.5 * (1.0 + math.cos(math.pi * (progress % 1.0))))
        if kind == "polynomial":
            if s > total:
                return lr_end / learning_rate
            return (lr_end + (learning_rate - lr_end) * (1 - progress)) / learning_rate
        raise ValueError(f"unknown learning-rate schedule {kind!r}")

    return lambda s: learning_rate * factor(s)


def warmup_steps(warmup: int, ratio: float, total: int) -> int:
    return warmup if warmup else math.ceil(total * ratio)
