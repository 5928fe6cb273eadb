"""Batches of pairs of about the same length: less padding, so less compute for the same pairs.

TRL pads a DPO batch's chosen and rejected sequences to the longest of them. The demo's answers run from 5 to 150
tokens, so a batch drawn at random is about 40 % padding (real/padded tokens 0.62 at batch 4 on the built-in pairs);
drawn from transformers' ``LengthGroupedSampler`` (random groups of 50 batches, each group sorted by length, the
longest batch first so a run that cannot fit fails at once) it is about 17 % (0.83). Every pair is still seen once
per epoch, in a random order that depends only on the seed and the epoch (so a resumed run takes up exactly where it
stopped); only which pairs share a batch changes.

Evaluation takes the pairs shortest first. TRL's evaluation metrics are means of per-batch means, so with full
batches the order changes nothing but the padding; when the last batch is partial, which pairs share its weight can
differ from row order (with the demo's 40 evaluation pairs at batch 4, every batch is full).

TRL's own ``train_sampling_strategy="group_by_length"`` cannot be used as it is: it reads lengths from an
``input_ids`` column that a DPO dataset does not have. This module lends TRL the lengths of its tokenised pairs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def pair_lengths(dataset: Any) -> list[int] | None:
    """Each row's padded length in a preference batch, in tokens: the prompt plus the longer answer. TRL's DPO
    trainer keeps the prompt apart (prompt_ids / chosen_ids / rejected_ids); ORPO and CPO keep whole sequences
    (chosen_input_ids / rejected_input_ids already hold the prompt). None when the dataset has neither (KTO's single
    answers): then nothing is grouped."""
    columns = set(getattr(dataset, "column_names", None) or ())
    if {"prompt_ids", "chosen_ids", "rejected_ids"} <= columns:
        prompts, chosen, rejected = dataset["prompt_ids"], dataset["chosen_ids"], dataset["rejected_ids"]
        return [len(p) + max(len(c), len(r)) for p, c, r in zip(prompts, chosen, rejected, strict=True)]
    if {"chosen_input_ids", "rejected_input_ids"} <= columns:
        chosen, rejected = dataset["chosen_input_ids"], dataset["rejected_input_ids"]
        return [max(len(c), len(r)) for c, r in zip(chosen, rejected, strict=True)]
    return None


def shortest_first(lengths: Sequence[int]) -> list[int]:
    """Row indices from the shortest pair to the longest (ties in row order)."""
    return sorted(range(len(lengths)), key=lambda i: (lengths[i], i))


def epoch_seeded_sampler(batch_size: int, lengths: Sequence[int], seed: int) -> Any:
    """transformers' ``LengthGroupedSampler`` whose order depends only on ``seed`` and the epoch (set by the trainer
    through ``set_epoch``), as accelerate's seedable random sampler does for random batches: a run resumed in the
    middle of an epoch skips exactly the batches it had trained on."""
    import torch
    from transformers.trainer_pt_utils import LengthGroupedSampler

    class EpochSeededLengthGroupedSampler(LengthGroupedSampler):
        def __init__(self) -> None:
            super().__init__(batch_size, lengths=list(lengths))
            self.epoch = 0

        def set_epoch(self, epoch: int) -> None:
            self.epoch = epoch

        def __iter__(self) -> Any:
            self.generator = torch.Generator()
            self.generator.manual_seed(seed + self.epoch)
            return super().__iter__()

    return EpochSeededLengthGroupedSampler()


def with_length_grouping(base: type) -> type:
    """A subclass of a TRL preference trainer (passed in, so this module does not import TRL) that draws training
    batches of similar length and evaluates shortest first."""

    class LengthGroupedTrainer(base):  # type: ignore[valid-type, misc]
        def _get_train_sampler(self, train_dataset: Any = None) -> Any:
            dataset = train_dataset if train_dataset is not None else self.train_dataset
            lengths = pair_lengths(dataset)
            if lengths is None:
                return super()._get_train_sampler(train_dataset)
            seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
            return epoch_seeded_sampler(
                self.args.train_batch_size * self.args.gradient_accumulation_steps, lengths, seed
            )

        def _get_eval_sampler(self, eval_dataset: Any) -> Any:
            lengths = pair_lengths(eval_dataset)
            if lengths is None or self.args.world_size > 1:
                return super()._get_eval_sampler(eval_dataset)
            return shortest_first(lengths)

    return LengthGroupedTrainer


def describe_padding(lengths: Sequence[int], batches: Sequence[Sequence[int]]) -> Mapping[str, float]:
    """Longest-row tokens against padded tokens for the given batches of row indices (a batch pads every row to
    its longest): ``{"rows": .., "padded": .., "fill": rows / padded}``."""
    rows = sum(lengths[i] for batch in batches for i in batch)
    padded = sum(len(batch) * max(lengths[i] for i in batch) for batch in batches if batch)
    return {"rows": float(rows), "padded": float(padded), "fill": rows / padded if padded else 1.0}
