"""The engine's lean forward for preference batches: only answers projected onto the vocabulary on the CPU, and
(optionally) each pair's prompt computed once for both of its answers, not twice.

TRL scores a preference batch as one batch of 2B sequences, ``prompt + chosen`` for rows 0..B-1 and ``prompt +
rejected`` for rows B..2B-1, so every prompt goes through the model twice, and (on a CPU, where TRL's fused head
scores every position rather than only the answers') through the vocabulary projection twice as well. Under causal
attention a prompt's keys and values do not depend on what follows it, so this computes them once per pair and
lets both answers attend to the same ones: the same numbers up to float rounding, gradients included (the shared
keys and values add up the gradient of both answers, as the two copies did).

How: the prompt minus its last token goes through the backbone once (B rows), its key/value cache is doubled to 2B
rows, and the answers, each led by its prompt's last token (whose output predicts the answer's first token), go
through TRL's own fused head with that cache and their true positions. The per-token results are then put back
where TRL expects them, so TRL's loss and metrics read them unchanged.

A batch is shared only when it is exact: rows i and i+B hold the same unlabelled prefix token for token, the padding
is on the right, no gradient checkpointing is on (it drops the cache), attention is PyTorch's SDPA or the eager one
(the kernels checked with a padding mask that has holes; flash attention is left to TRL's path, untested here),
every cache layer is a plain one and the shared layout computes fewer positions. Anything else (KTO's unpaired rows,
truncation that cut the prompts differently) runs TRL's forward as it is.

On the CPU the same wrapper also has TRL's fused head project only the answers' positions onto the vocabulary (TRL
does so wherever Triton runs; elsewhere it projects every position and zeroes the prompt's and the padding's): see
``answers_only``. That is always on and is most of the gain: on the embedded SmolLM2-135M with the demo pairs (bf16
autocast, 2-core CPU) whole runs went 1.37x faster with it, while sharing on top of it was slower (its second,
smaller pass and doubled cache cost more than the short prompts save), so ``share_prompts`` is off by default.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

IGNORE = -100
ANSWERS_ONLY_ON_CPU = True  # bench/levers.py's "allpositions" lever turns it off to measure it
# keyword arguments the fused forward may get that the shared path handles itself (None ones are passed on)
_HANDLED = {"input_ids", "attention_mask", "use_cache"}


@dataclass
class SharingUse:
    """What sharing saved over a run: forward passes shared, and token positions computed instead of TRL's."""

    enabled: bool = True
    passes: int = 0
    shared: int = 0
    positions: int = 0
    positions_unshared: int = 0

    def describe(self) -> str:
        if not self.shared:
            return f"shared prompts: none of {self.passes} preference forward passes could share their prompts"
        saved = 1 - self.positions / max(1, self.positions_unshared)
        return (
            f"shared prompts: {self.shared} of {self.passes} preference forward passes computed each prompt once "
            f"({self.positions} token positions instead of {self.positions_unshared}: {saved:.0%} fewer)"
        )


@dataclass
class Plan:
    prompt: Any  # [B] prompt lengths (tokens before the first labelled one)
    ends: Any  # [2B] real lengths
    cached: int  # prompt tokens held in the cache per row (longest prompt minus one)
    answer: int  # longest answer plus its prompt's last token


def plan(input_ids: Any, attention_mask: Any, labels: Any) -> Plan | None:
    """The shared layout of a batch, or None when sharing would not be exact or would not save anything."""
    import torch

    rows, length = input_ids.shape
    if rows < 2 or rows % 2 or labels is None or labels.shape != input_ids.shape:
        return None
    half = rows // 2
    labelled = labels != IGNORE
    if not bool(labelled.any(dim=1).all()):
        return None
    starts = labelled.int().argmax(dim=1)  # first labelled position: the prompt's length
    columns = torch.arange(length, device=input_ids.device)
    if attention_mask is None:
        ends = torch.full((rows,), length, device=input_ids.device, dtype=torch.long)
    else:
        ends = attention_mask.sum(dim=1)
        if not bool((attention_mask.bool() == (columns < ends[:, None])).all()):  # padding only on the right
            return None
    prompt = starts[:half]
    if not torch.equal(prompt, starts[half:]) or int(prompt.min()) < 1:
        return None
    in_prompt = columns < prompt[:, None]
    if not bool(((input_ids[:half] == input_ids[half:]) | ~in_prompt).all()):
        return None
    cached = int(prompt.max()) - 1
    answer = int((ends - torch.cat([prompt, prompt]) + 1).max())
    if cached < 1 or half * cached + rows * answer >= rows * length:
        return None
    return Plan(prompt=prompt, ends=ends, cached=cached, answer=answer)


@contextmanager
def answers_only() -> Iterator[None]:
    """TRL's fused head projects only the labelled positions (the answers) onto the vocabulary where Triton runs, and
    every position elsewhere (so that Neuron's compiled tiles keep one shape), zeroing the rest afterwards. On the
    CPU that is the 49k-wide projection of every prompt and padding token for nothing: here the CPU takes the
    labelled positions only, which gives the same numbers (each position's log-softmax is its own row)."""
    import trl.trainer.utils as trl_utils

    uses_triton = getattr(trl_utils, "_use_triton", None)
    if not ANSWERS_ONLY_ON_CPU or uses_triton is None:
        yield
        return
    trl_utils._use_triton = lambda device: device.type == "cpu" or uses_triton(device)
    try:
        yield
    finally:
        trl_utils._use_triton = uses_triton


def install(model: Any, share: bool = True) -> SharingUse:
    """Wrap ``model.forward`` (the base model under the adapter, after TRL gave it its fused head) so that preference
    batches called with ``fused_lm_head=True`` share their prompts (when ``share``) and, on the CPU, project only
    their answers onto the vocabulary. Returns the counts it keeps."""
    from transformers import DynamicCache

    original = model.forward
    backbone = model.base_model
    cache_arg = "cache" if "cache" in inspect.signature(backbone.forward).parameters else "past_key_values"
    use = SharingUse(enabled=share)

    def shareable(kwargs: dict[str, Any]) -> bool:
        if any(value is not None for key, value in kwargs.items() if key not in _HANDLED):
            return False  # e.g. router logits, shift_labels, inputs_embeds: TRL's own path
        import torch

        checkpointing = getattr(backbone, "gradient_checkpointing", False) and backbone.training
        if checkpointing and torch.is_grad_enabled():  # checkpointed layers drop the cache
            return False
        # the attention kernels whose padding mask may have holes (a short prompt's padding inside the cache)
        attention = getattr(model.config, "_attn_implementation", None) or "sdpa"
        return kwargs.get("input_ids") is not None and attention in ("sdpa", "eager")

    def forward(*args: Any, fused_lm_head: bool = False, labels: Any = None, **kwargs: Any) -> Any:
        if not fused_lm_head or args:
            return original(*args, fused_lm_head=fused_lm_head, labels=labels, **kwargs)
        use.passes += 1
        layout = None
        if share and shareable({k: v for k, v in kwargs.items() if k != "num_items_in_batch"}):
            layout = plan(kwargs["input_ids"], kwargs.get("attention_mask"), labels)
        cache = DynamicCache(config=model.config) if layout is not None else None
        with answers_only():
            if layout is None or cache is None or any(type(x).__name__ != "DynamicLayer" for x in cache.layers):
                return original(fused_lm_head=True, labels=labels, **kwargs)
            use.shared += 1
            rows, length = kwargs["input_ids"].shape
            use.positions += rows // 2 * layout.cached + rows * layout.answer
            use.positions_unshared += rows * length
            return shared_forward(original, backbone, cache, cache_arg, layout, labels, kwargs)

    forward.unshared = original  # type: ignore[attr-defined]  # TRL's forward as it was (tests compare the two)
    model.forward = forward
    return use


def shared_forward(
    original: Any, backbone: Any, cache: Any, cache_arg: str, layout: Plan, labels: Any, kwargs: dict[str, Any]
) -> Any:
    import torch

    input_ids = kwargs["input_ids"]
    rows, length = input_ids.shape
    half, device = rows // 2, input_ids.device

    # 1. each prompt but its last token, once: B rows, padded on the right
    columns = torch.arange(layout.cached, device=device)
    prompt_mask = (columns < (layout.prompt - 1)[:, None]).long()
    backbone(
        input_ids=input_ids[:half, : layout.cached],
        attention_mask=prompt_mask,
        position_ids=columns.expand(half, -1),
        use_cache=True,
        **{cache_arg: cache},
    )
    for layer in cache.layers:  # both answers of pair i (rows i and i+B) read pair i's prompt
        layer.keys = torch.cat([layer.keys, layer.keys])
        layer.values = torch.cat([layer.values, layer.values])

    # 2. each answer led by its prompt's last token, at its true positions, through TRL's fused head
    first = torch.cat([layout.prompt, layout.prompt]) - 1
    positions = first[:, None] + torch.arange(layout.answer, device=device)
    real = positions < layout.ends[:, None]
    taken = positions.clamp(max=length - 1)
    answer_ids = input_ids.gather(1, taken)
    answer_labels = labels.gather(1, taken).masked_fill(~real, IGNORE)
    mask = torch.cat([prompt_mask.repeat(2, 1), real.long()], dim=1)
    rest = {k: v for k, v in kwargs.items() if k not in _HANDLED and v is not None}  # num_items_in_batch
    out = original(
        input_ids=answer_ids,
        attention_mask=mask,
        position_ids=positions,
        labels=answer_labels,
        fused_lm_head=True,
        **{cache_arg: cache},
        **rest,
    )

    # 3. back to TRL's layout: [2B, length - 1], position t predicting token t + 1, zero where the label is -100
    keep = labels[:, 1:] != IGNORE
    offset = (torch.arange(length - 1, device=device)[None, :] - first[:, None]).clamp(0, layout.answer - 2)

    def place(values: Any) -> Any:
        if values is None:
            return None
        picked = values.gather(1, offset)
        return torch.where(keep, picked, torch.zeros_like(picked))

    fields = {name: place(getattr(out, name, None)) for name in _PER_TOKEN}
    return type(out)(loss=out.loss, label_mask=keep, aux_loss=getattr(out, "aux_loss", None), **fields)


_PER_TOKEN = ("log_probs", "entropy", "log_sum_sq_probs", "mean_logits", "is_top1")


def with_lean_forward(base: type, share_prompts: bool = True) -> type:
    """A subclass of a TRL preference trainer (passed in, so this module does not import TRL) whose model computes
    each pair's prompt once (with ``share_prompts``) and projects only answers onto the vocabulary on the CPU;
    ``prompt_sharing`` holds what sharing saved."""

    class LeanForwardTrainer(base):  # type: ignore[valid-type, misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            model = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
            self.prompt_sharing = install(model, share=share_prompts)

    return LeanForwardTrainer
