"""Preference pairs for the MLX backend: tokenized exactly as TRL tokenizes them, batched, in a resumable order.

Tokens come from ``core.data.templates.token_ids`` (TRL 1.16's own split into prompt, chosen and rejected ids), are
truncated as TRL's collator does (``keep_start``: prompt + answer cut to ``max_length``) and rows whose prompt alone
fills ``max_length`` are dropped, as TRL drops them. A batch is the arrays mlx-lm-lora's DPO functions take: chosen
and rejected token ids padded to one length, and masks that mark the answer tokens.

The order of the micro-batches is a pure function of the seed and the micro-batch number, so a resumed run sees
the batches the uninterrupted run would have seen.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from dpostudio.core.data.templates import token_ids

Pair = tuple[list[int], list[int], list[int]]  # prompt ids, chosen ids, rejected ids


def tokenize_pairs(rows: Iterable[dict], tokenizer: Any, max_length: int) -> tuple[list[Pair], int]:
    """The rows TRL would train on, tokenized, and how many were dropped because their prompt fills max_length."""
    pairs, dropped = [], 0
    for row in rows:
        prompt, chosen, rejected = token_ids(row, tokenizer)
        if len(prompt) >= max_length:
            dropped += 1
            continue
        pairs.append((prompt, chosen, rejected))
    return pairs, dropped


def make_batch(pairs: list[Pair], max_length: int) -> tuple[Any, Any, Any, Any]:
    """(chosen ids, rejected ids, chosen mask, rejected mask) as mx arrays, padded with 0 to one length; a mask is 1
    on the answer tokens."""
    import mlx.core as mx

    sequences, masks = [], []
    for side in (1, 2):
        for pair in pairs:
            prompt, answer = pair[0], pair[side]
            sequences.append((prompt + answer)[:max_length])
            masks.append(([0] * len(prompt) + [1] * len(answer))[:max_length])
    width = max(len(s) for s in sequences)
    ids = np.zeros((len(sequences), width), np.int32)
    mask = np.zeros((len(sequences), width), np.float32)
    for i, (seq, m) in enumerate(zip(sequences, masks)):
        ids[i, : len(seq)] = seq
        mask[i, : len(m)] = m
    n = len(pairs)
    return mx.array(ids[:n]), mx.array(ids[n:]), mx.array(mask[:n]), mx.array(mask[n:])


def batches_in_order(pairs: list[Pair], batch_size: int) -> list[list[Pair]]:
    """``pairs`` in batches of ``batch_size`` (the last may be smaller), in order: for evaluation."""
    return [pairs[i : i + batch_size] for i in range(0, len(pairs), batch_size)]


@dataclass(frozen=True)
class BatchOrder:
    """Which pairs make micro-batch ``k``: each epoch is a fresh shuffle (seeded by seed and epoch) cut into batches;
    an optimizer step takes ``accumulation`` micro-batches. Steps per epoch and the run's length follow the Trainer:
    ``batches // accumulation`` steps an epoch (at least 1), ``ceil(epochs × that)`` steps unless max_steps is set."""

    rows: int
    batch_size: int
    accumulation: int
    seed: int

    @property
    def batches_per_epoch(self) -> int:
        return max(math.ceil(self.rows / self.batch_size), 1)

    @property
    def steps_per_epoch(self) -> int:
        return max(self.batches_per_epoch // self.accumulation, 1)

    def total_steps(self, epochs: float, max_steps: int | None) -> int:
        return max_steps or max(math.ceil(epochs * self.steps_per_epoch), 1)

    def indices(self, k: int) -> list[int]:
        per_epoch = self.steps_per_epoch * self.accumulation
        epoch, i = divmod(k, per_epoch)
        order = np.random.default_rng([self.seed, epoch]).permutation(self.rows)
        start = (i % self.batches_per_epoch) * self.batch_size
        return [int(j) for j in order[start : start + self.batch_size]]
