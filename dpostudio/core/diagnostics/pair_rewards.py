"""Per-pair rewards: how a run's adapter scores each training or evaluation pair against the reference model.

For one run (its final adapter or a checkpoint's) every pair is scored with the quantities DPO trains on:

* the log-probability of each answer given its prompt, summed over the answer's tokens, under the policy (the base
  model with the adapter on) and under the reference (the same weights with the adapter off, PEFT's
  ``disable_adapter()``, as TRL's ``DPOTrainer`` does for a new LoRA adapter);
* the implicit rewards ``beta × (log π_θ(y|x) − log π_ref(y|x))`` of the chosen and the rejected answer, with the
  run's ``beta`` (TRL's ``rewards/chosen`` and ``rewards/rejected``, pair by pair);
* the margin (chosen reward − rejected reward) and whether the model agrees with the label (margin > 0);
* each answer's change in log-probability against the reference, in all and per token.

The pairs are exactly the ones trained on: the run's configuration goes through the same pipeline
(``pipeline.load_splits``: source, filters, dropped problems, split, template), and each pair is tokenised as TRL
1.16 tokenises it (``templates.token_ids``: prompt tokens, then answer tokens where the two diverge), truncated to
the run's ``max_length`` keeping the start; pairs whose prompt alone fills ``max_length`` are left out, as TRL drops
them. Qt-free; torch is imported inside the functions that use it. The score records live in ``pair_scores``;
sorting, filtering, the summary and the CSV file in ``pair_reports`` (their names are importable from here too).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dpostudio.core.diagnostics.pair_reports import (
    NOTHING_LEARNED_MARGIN,
    SORTS,
    Summary,
    disagreeing,
    displaced,
    learned_nothing,
    sort_scores,
    summarize,
    write_csv,
)
from dpostudio.core.diagnostics.pair_scores import CSV_COLUMNS, PairScore, PairScoreError, PairScores
from dpostudio.core.training.run_config import parse_eval_set

if TYPE_CHECKING:
    from dpostudio.core.training.runs import Run

__all__ = [  # what the CLI, the app and the tests use, wherever it is defined
    "CSV_COLUMNS",
    "NOTHING_LEARNED_MARGIN",
    "SORTS",
    "SPLITS",
    "PairScore",
    "PairScoreError",
    "PairScores",
    "Summary",
    "adapter_for",
    "answer_logps",
    "disagreeing",
    "displaced",
    "learned_nothing",
    "score_pairs",
    "sort_scores",
    "summarize",
    "write_csv",
]

SPLITS = ("eval", "train", "both")

ProgressFn = Callable[[int, int], None]
StageFn = Callable[[str, float], None]


# ---- which adapter ----------------------------------------------------------------------------------


def adapter_for(run: Run, checkpoint: int | str | None = None) -> tuple[Path, str, int | None]:
    """The adapter folder to score with, a label for it, and its step (None for the final adapter)."""
    if checkpoint in (None, "", "final"):
        path = run.final_adapter()
        if path is None:
            steps = run.checkpoint_steps()
            hint = (
                f"; score a checkpoint instead (--checkpoint {steps[-1]})"
                if steps
                else " and no checkpoints: finish (or resume) the training first"
            )
            raise PairScoreError(f"run {run.id} has no final adapter{hint}")
        return path, "final adapter", None
    if checkpoint == "latest":
        steps = run.checkpoint_steps()
        if not steps:
            raise PairScoreError(f"run {run.id} has no checkpoints")
        checkpoint = steps[-1]
    try:
        step = int(checkpoint)
    except (TypeError, ValueError):
        raise PairScoreError(f"checkpoint must be a step number, 'latest' or 'final', not {checkpoint!r}") from None
    path = run.adapter_for(step)
    if path is None:
        available = ", ".join(str(s) for s in run.checkpoint_steps()) or "none"
        raise PairScoreError(f"run {run.id} has no adapter checkpoint at step {step} (available: {available})")
    return path, f"checkpoint {step}", step


# ---- the pairs as trained on ------------------------------------------------------------------------


@dataclass
class _Item:
    split: str
    row: int
    prompt: str
    chosen: str
    rejected: str
    chosen_seq: tuple[list[int], list[int]]  # (context ids, answer ids) as scored
    rejected_seq: tuple[list[int], list[int]]
    truncated: bool = False


def _scored(prompt_ids: list[int], answer_ids: list[int]) -> tuple[list[int], list[int]]:
    """The first token of a sequence is never predicted (TRL shifts the completion mask by one): with an empty
    prompt the answer's first token becomes the context."""
    if prompt_ids or not answer_ids:
        return prompt_ids, answer_ids
    return answer_ids[:1], answer_ids[1:]


def _display_prompt(prompt: Any, template: str) -> str:
    from dpostudio.core.data.templates import ALPACA_TEMPLATE, flatten_prompt

    if isinstance(prompt, list):
        return flatten_prompt([m for m in prompt if m.get("role") != "system"])
    text = str(prompt)
    head, _, tail = ALPACA_TEMPLATE.partition("{}")
    if template == "alpaca" and text.startswith(head) and text.endswith(tail):
        text = text[len(head) : len(text) - len(tail)]
    return text


def _display_answer(answer: Any, eos: str | None) -> str:
    if isinstance(answer, list):
        return "\n\n".join(str(m.get("content", "")) for m in answer)
    text = str(answer)
    return text[: -len(eos)] if eos and text.endswith(eos) else text


def _items(
    dataset: Any, rows: Sequence[int], split: str, tokenizer: Any, config: Any, limit: int | None
) -> tuple[list[_Item], int]:
    """The pairs of one split, tokenised and truncated as TRL does; and how many were left out (prompt too long)."""
    from dpostudio.core.data.templates import token_ids

    items: list[_Item] = []
    skipped = 0
    if dataset is None:
        return items, skipped
    max_length = config.max_length
    eos = getattr(tokenizer, "eos_token", None)
    for index in range(len(dataset)):
        if limit is not None and len(items) >= limit:
            break
        trl_row = dataset[index]
        prompt_ids, chosen_ids, rejected_ids = token_ids(trl_row, tokenizer)
        if max_length and len(prompt_ids) >= max_length:
            skipped += 1  # DPOTrainer drops it: no answer token would be left to learn from
            continue
        room = max_length - len(prompt_ids) if max_length else None
        truncated = room is not None and (len(chosen_ids) > room or len(rejected_ids) > room)
        items.append(
            _Item(
                split,
                rows[index] if index < len(rows) else index + 1,
                _display_prompt(trl_row["prompt"], config.prompt_template),
                _display_answer(trl_row["chosen"], eos),
                _display_answer(trl_row["rejected"], eos),
                _scored(prompt_ids, chosen_ids[:room] if room is not None else chosen_ids),
                _scored(prompt_ids, rejected_ids[:room] if room is not None else rejected_ids),
                truncated,
            )
        )
    return items, skipped


# ---- log-probabilities --------------------------------------------------------------------------------


def _supports_logits_to_keep(model: Any) -> bool:
    import inspect

    try:
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        return "logits_to_keep" in inspect.signature(base.forward).parameters
    except (TypeError, ValueError, AttributeError):
        return False


def answer_logps(model: Any, items: Sequence[tuple[list[int], list[int]]], pad_id: int, device: str) -> list[float]:
    """The summed log-probability of each answer given its prompt: one padded forward pass for all ``items``
    (``(prompt_ids, answer_ids)`` pairs, already truncated), right-padded with an attention mask as TRL's collator
    does. Only the positions that predict answer tokens are turned into log-probabilities."""
    import torch

    if not items:
        return []
    lengths = [len(p) + len(a) for p, a in items]
    width = max(lengths)
    if width == 0:
        return [0.0 for _ in items]
    input_ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(items), width), dtype=torch.long)
    for i, (p, a) in enumerate(items):
        input_ids[i, : lengths[i]] = torch.tensor(p + a, dtype=torch.long)
        attention[i, : lengths[i]] = 1
    # logits at position t predict token t + 1: the first answer token is predicted at len(prompt) - 1
    first = max(min(len(p) for p, _ in items) - 1, 0)
    kwargs: dict[str, Any] = {"input_ids": input_ids.to(device), "attention_mask": attention.to(device)}
    kwargs["use_cache"] = False
    keep = width - first
    if _supports_logits_to_keep(model):
        kwargs["logits_to_keep"] = keep
    logits = model(**kwargs).logits
    logits = logits[:, -keep:]  # the positions first .. width - 1 (a no-op when the model kept only those)
    out = []
    for i, (p, a) in enumerate(items):
        start = len(p) - 1 - first
        rows = logits[i, start : start + len(a)].float()
        targets = torch.tensor(a, dtype=torch.long, device=rows.device)
        token_logps = rows.gather(1, targets.unsqueeze(1)).squeeze(1) - torch.logsumexp(rows, dim=-1)
        out.append(float(token_logps.sum()))
    return out


# ---- scoring ----------------------------------------------------------------------------------------


def score_pairs(
    run_id: str | Run,
    *,
    split: str = "eval",
    checkpoint: int | str | None = None,
    batch_size: int = 8,
    limit: int | None = None,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    on_stage: StageFn | None = None,
) -> PairScores:
    """Score the run's ``split`` pairs ("eval", "train", "both", or the name of one of the run's extra eval sets,
    e.g. "styled") with its final adapter or ``checkpoint``.

    "both" scores the training pairs, then the evaluation pairs (only the training pairs when the run has none).
    ``limit`` scores at most that many pairs of each split (from the start, in data order). ``batch_size`` pairs go
    through the model at once (their chosen and rejected answers together, once with the adapter on and once off).
    ``on_progress(done, total)`` follows the pairs; when ``cancel`` is set the scoring stops after the current batch
    and the pairs scored so far are returned (``cancelled`` is then True). ``on_stage(message, fraction)`` follows
    the loading. Raises ``PairScoreError`` (and the data, model and run errors, all in words).
    """
    from dpostudio.core.training.runs import Run, get_run

    if not isinstance(batch_size, int) or batch_size < 1:
        raise PairScoreError(f"batch size must be a whole number of at least 1, not {batch_size!r}")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise PairScoreError(f"limit must be a whole number of at least 1, not {limit!r}")
    stage = on_stage or (lambda message, fraction: None)
    progress = on_progress or (lambda done, total: None)
    cancel = cancel or threading.Event()

    run = run_id if isinstance(run_id, Run) else get_run(run_id)
    _, label, step = adapter_for(run, checkpoint)
    try:
        config = run.config()
    except (OSError, ValueError) as exc:
        raise PairScoreError(f"cannot read the configuration of run {run.id}: {exc}") from exc

    extra_sets = dict(parse_eval_set(entry) for entry in config.extra_eval_sets)
    if split not in SPLITS and split not in extra_sets:
        names = ", ".join([*SPLITS, *extra_sets])
        raise PairScoreError(f"split must be one of {names} (the run's own splits and extra eval sets), not {split!r}")
    if config.method == "kto":  # KTO trains on single answers; its pairs (when it had any) are scored as pairs
        config = config.replace(method="dpo")
    stage("reading the run's pairs", 0.0)
    from dpostudio.core.data.pipeline import load_extra_eval_set, load_splits
    from dpostudio.core.model_store import load_tokenizer, resolve_model

    tokenizer = load_tokenizer(resolve_model(config.model), trust_remote_code=config.trust_remote_code)
    try:
        splits = load_splits(config, tokenizer)
    except ValueError as exc:
        if run.config().method != "kto":
            raise
        raise PairScoreError(
            f"run {run.id} trained with KTO on single answers marked good or bad, not on pairs, so there are no "
            "pairs to score"
        ) from exc
    wanted = ("train", "eval") if split == "both" else (split,)
    if "eval" in wanted and (splits.eval is None or len(splits.eval) == 0):
        if split == "eval":
            raise PairScoreError(
                f"run {run.id} has no evaluation pairs (it trained with eval_ratio 0 and no eval split); "
                "score the training pairs instead (--split train)"
            )
        wanted = ("train",)
    items: list[_Item] = []
    skipped = 0
    for name in wanted:
        if name in extra_sets:  # a held-out set the run was evaluated on: every usable row, as the run evaluated it
            held_out = load_extra_eval_set(config, f"{name}={extra_sets[name]}", tokenizer)
            dataset, rows = held_out.train, held_out.train_rows
        else:
            dataset, rows = (splits.train, splits.train_rows) if name == "train" else (splits.eval, splits.eval_rows)
        found, left_out = _items(dataset, rows, name, tokenizer, config, limit)
        items += found
        skipped += left_out
    result = PairScores(run_id=run.id, adapter=label, beta=float(config.beta), skipped=skipped)
    if not items:
        if skipped:
            raise PairScoreError(
                f"every prompt of the selected pairs fills max_length {config.max_length}: no answer token is "
                "left to score"
            )
        return result

    pair = _load(run, step, stage)
    import torch

    model = pair.model
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    total = len(items)
    progress(0, total)
    with torch.no_grad():
        for start in range(0, total, batch_size):
            if cancel.is_set():
                result.cancelled = True
                break
            batch = items[start : start + batch_size]
            sequences = [it.chosen_seq for it in batch] + [it.rejected_seq for it in batch]
            policy = answer_logps(model, sequences, pad_id, pair.device)
            if cancel.is_set():
                result.cancelled = True
                break
            with model.disable_adapter():
                reference = answer_logps(model, sequences, pad_id, pair.device)
            n = len(batch)
            for i, it in enumerate(batch):
                result.append(
                    PairScore(
                        it.split,
                        it.row,
                        it.prompt,
                        it.chosen,
                        it.rejected,
                        result.beta,
                        policy[i],
                        policy[n + i],
                        reference[i],
                        reference[n + i],
                        len(it.chosen_seq[1]),
                        len(it.rejected_seq[1]),
                        it.truncated,
                    )
                )
            progress(len(result), total)
    return result


def _load(run: Run, step: int | None, stage: StageFn):
    """The run's base model with the adapter attached, shared with the comparison (loaded once per adapter)."""
    from dpostudio.core.compare.generation import load_pair
    from dpostudio.core.compare.settings import ComparisonError

    try:
        return load_pair(run, step, on_stage=stage)
    except ComparisonError as exc:
        raise PairScoreError(str(exc)) from exc
