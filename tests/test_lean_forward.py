"""The engine's lean forward: which batches may share their prompt (exactly); the engine-built model's outputs and
gradients (prompts shared, only answers projected onto the vocabulary on the CPU) against TRL's own forward on real
demo batches (embedded SmolLM2); and a real run that learns the same with sharing as without, its log saying what
was saved."""

from __future__ import annotations

import threading

import pytest
import torch
from test_engine_e2e import quick_config, small_pairs  # noqa: F401 (a fixture)

from dpostudio.core.paths import RESOURCES_DIR
from dpostudio.core.training.lean_forward import IGNORE, SharingUse, answers_only, plan
from dpostudio.core.training.run_config import RunConfig


def batch(rows: list[tuple[list[int], list[int]]], width: int):
    """A right-padded batch of (prompt, answer) rows, labels on the answers only."""
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    mask = torch.zeros_like(ids)
    labels = torch.full_like(ids, IGNORE)
    for i, (prompt, answer) in enumerate(rows):
        tokens = prompt + answer
        ids[i, : len(tokens)] = torch.tensor(tokens)
        mask[i, : len(tokens)] = 1
        labels[i, len(prompt) : len(tokens)] = torch.tensor(answer)
    return ids, mask, labels


def test_a_batch_shares_only_when_both_answers_of_each_pair_follow_the_same_prompt():
    prompt_a, prompt_b = [5, 6, 7, 8, 9, 10], [11, 12, 13, 14]
    ids, mask, labels = batch([(prompt_a, [1, 2]), (prompt_b, [3]), (prompt_a, [4]), (prompt_b, [2, 2, 2])], 10)
    layout = plan(ids, mask, labels)
    assert layout is not None
    assert layout.prompt.tolist() == [6, 4] and layout.ends.tolist() == [8, 5, 7, 7]
    assert layout.cached == 5 and layout.answer == 4  # prompt b's last token + its 3-token answer

    # rows i and i + B must hold the same prompt: here pair 0's second prompt differs in one token
    other = [5, 6, 7, 0, 9, 10]
    assert plan(*batch([(prompt_a, [1]), (prompt_b, [3]), (other, [4]), (prompt_b, [2])], 10)) is None
    # same tokens but a different prompt length (a longer prompt on one side) is not shared either
    assert plan(*batch([(prompt_a, [1]), (prompt_b, [3]), (prompt_a + [1], [4]), (prompt_b, [2])], 10)) is None
    # an odd number of rows, a row without answer tokens, padding on the left: TRL's own path
    assert plan(*batch([(prompt_a, [1]), (prompt_b, [3]), (prompt_a, [4])], 10)) is None
    assert plan(*batch([(prompt_a, [1]), (prompt_b, []), (prompt_a, [4]), (prompt_b, [2])], 10)) is None
    left = torch.flip(mask, dims=[1])
    assert plan(ids, left, labels) is None
    # nothing to save: one-token prompts leave nothing to cache
    assert plan(*batch([([5], [1, 2]), ([6], [3]), ([5], [4]), ([6], [2])], 4)) is None


def test_what_sharing_saved_is_said_in_words():
    assert "none of 3" in SharingUse(passes=3).describe()
    use = SharingUse(passes=4, shared=4, positions=750, positions_unshared=1000)
    assert use.describe() == (
        "shared prompts: 4 of 4 preference forward passes computed each prompt once "
        "(750 token positions instead of 1000: 25% fewer)"
    )


def build(tmp_path, **changes):
    from dpostudio.core.training.device import choose_device, probe_hardware
    from dpostudio.core.training.engine import build_trainer
    from dpostudio.core.training.runs import create_run

    lines = (RESOURCES_DIR / "demo_pairs" / "train.jsonl").read_text(encoding="utf-8").splitlines()[:32]
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = RunConfig(dataset=str(path), eval_ratio=0.25, per_device_batch_size=4, max_steps=2, eval_steps=2,
                       lora_r=4, lora_alpha=8, lora_dropout=0.0, seed=3, share_prompts=True, **changes)
    choice = choose_device(probe_hardware(), "cpu", "fp32")
    trainer, _callback = build_trainer(config, create_run(config), choice, lambda e: None, threading.Event())
    return trainer


def test_the_engine_model_gives_the_same_outputs_and_gradients_with_shared_prompts(embedded_model, tmp_path):
    import trl.trainer.utils as trl_utils

    uses_triton = trl_utils._use_triton
    trainer = build(tmp_path)
    model, base = trainer.model, trainer.model.get_base_model()
    shared_forward = base.forward
    torch.manual_seed(0)
    for name, parameter in model.named_parameters():  # a trained-looking adapter, so the adapter's path counts
        if "lora_B" in name:
            parameter.data.normal_(0, 0.02)
    model.train()
    inputs = next(iter(trainer.get_train_dataloader()))
    labels = inputs["input_ids"].masked_fill(inputs["completion_mask"] == 0, IGNORE)

    def outputs_and_grads(forward):
        base.forward = forward
        model.zero_grad()
        try:
            out = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], labels=labels,
                        fused_lm_head=True, use_cache=False)
        finally:
            base.forward = shared_forward
        (out.log_probs.sum() + 0.1 * out.entropy.sum()).backward()
        return out, {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    def answers_only_forward(**kwargs):  # TRL's forward, unshared, projecting only the answers (the CPU lever)
        with answers_only():
            return shared_forward.unshared(**kwargs)

    shared, shared_grads = outputs_and_grads(shared_forward)  # the engine's: shared prompts, answers only
    plain, plain_grads = outputs_and_grads(shared_forward.unshared)  # TRL's as it is
    lean, lean_grads = outputs_and_grads(answers_only_forward)
    assert trl_utils._use_triton is uses_triton  # the lever is put back after each call
    assert trainer.prompt_sharing.shared == 1
    assert trainer.prompt_sharing.positions < trainer.prompt_sharing.positions_unshared
    for out, grads in ((shared, shared_grads), (lean, lean_grads)):
        for field in ("log_probs", "entropy", "mean_logits"):
            a, b = getattr(out, field), getattr(plain, field)
            assert a.shape == b.shape
            assert torch.allclose(a, b, atol=2e-4, rtol=1e-4), (field, (a - b).abs().max())
        assert torch.equal(out.is_top1, plain.is_top1) and torch.equal(out.label_mask, plain.label_mask)
        assert out.log_probs.sum(dim=1).tolist() == pytest.approx(plain.log_probs.sum(dim=1).tolist(), rel=1e-5)
        assert out.loss.item() == pytest.approx(plain.loss.item(), rel=1e-5)
        assert grads.keys() == plain_grads.keys() and len(plain_grads) > 0
        for name, grad in plain_grads.items():
            scale = grad.abs().max().item() + 1e-12
            assert (grads[name] - grad).abs().max().item() / scale < 1e-3, name

    # unpaired rows (KTO-like: different prompts in rows i and i + B) run TRL's forward unchanged
    swapped = torch.cat([inputs["input_ids"][:4], inputs["input_ids"][4:].roll(1, dims=0)])
    swapped_mask = torch.cat([inputs["attention_mask"][:4], inputs["attention_mask"][4:].roll(1, dims=0)])
    swapped_labels = torch.cat([labels[:4], labels[4:].roll(1, dims=0)])
    with torch.no_grad():
        model(input_ids=swapped, attention_mask=swapped_mask, labels=swapped_labels, fused_lm_head=True)
    assert trainer.prompt_sharing.passes == 2 and trainer.prompt_sharing.shared == 1


@pytest.mark.slow
def test_a_run_with_shared_prompts_learns_what_one_without_them_does(embedded_model, small_pairs):  # noqa: F811
    from dpostudio.core.training.engine import train

    settings = dict(max_steps=3, eval_steps=3, save_steps=3, precision="fp32", lora_dropout=0.0,
                    reference_cache=False)
    plain = train(quick_config(small_pairs, share_prompts=False, **settings), lambda e: None)
    shared = train(quick_config(small_pairs, share_prompts=True, **settings), lambda e: None)
    assert "shared prompts" not in plain.log_path.read_text()
    assert "computed each prompt once" in shared.log_path.read_text()
    for a, b in zip(plain.metrics("log"), shared.metrics("log"), strict=True):
        for name in ("loss", "rewards/chosen", "rewards/rejected", "logps/chosen", "logps/rejected"):
            assert b[name] == pytest.approx(a[name], rel=1e-3, abs=1e-4), (a["step"], name)
    assert shared.metrics("eval")[-1]["eval_loss"] == pytest.approx(plain.metrics("eval")[-1]["eval_loss"], abs=1e-4)
