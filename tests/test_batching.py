"""Length-grouped batches: the engine's DPO trainer draws batches of similar length from the real tokenised demo
pairs (less padding than random batches, every pair once per epoch) and evaluates shortest first. Every engine
test that trains runs with it on (the default)."""

import threading

import pytest
from datasets import Dataset

from dpostudio.core.paths import RESOURCES_DIR
from dpostudio.core.training.batching import describe_padding, epoch_seeded_sampler, pair_lengths, shortest_first
from dpostudio.core.training.run_config import RunConfig


def test_pair_lengths_are_prompt_plus_the_longer_answer_and_none_without_pair_columns():
    data = Dataset.from_dict(
        {"prompt_ids": [[1, 2], [1]], "chosen_ids": [[3, 4, 5], [3]], "rejected_ids": [[6], [6, 7, 8, 9]]}
    )
    assert pair_lengths(data) == [5, 5]
    whole = Dataset.from_dict({"chosen_input_ids": [[1, 2, 3]], "rejected_input_ids": [[1, 2, 4, 5]]})  # ORPO, CPO
    assert pair_lengths(whole) == [4]
    assert pair_lengths(Dataset.from_dict({"prompt_ids": [[1]], "completion_ids": [[2]]})) is None  # KTO's rows
    assert shortest_first([5, 2, 9, 2]) == [1, 3, 0, 2]
    padding = describe_padding([2, 4, 4, 8], [[0, 1], [2, 3]])
    assert padding == {"rows": 18.0, "padded": 24.0, "fill": 0.75}


def test_the_grouped_order_depends_only_on_the_seed_and_the_epoch():
    lengths = [(i * 37) % 101 for i in range(200)]
    first, again = epoch_seeded_sampler(4, lengths, seed=7), epoch_seeded_sampler(4, lengths, seed=7)
    order = list(first)
    assert sorted(order) == list(range(200))
    list(epoch_seeded_sampler(4, lengths, seed=1))  # another sampler drawing in between changes nothing
    assert list(again) == order == list(first)
    first.set_epoch(1)
    assert list(first) != order and sorted(first) == list(range(200))
    assert list(epoch_seeded_sampler(4, lengths, seed=8)) != order


def build(tmp_path, group_by_length: bool, rows: int = 64):
    from dpostudio.core.training.device import choose_device, probe_hardware
    from dpostudio.core.training.engine import build_trainer
    from dpostudio.core.training.runs import create_run

    lines = (RESOURCES_DIR / "demo_pairs" / "train.jsonl").read_text(encoding="utf-8").splitlines()[:rows]
    path = tmp_path / f"pairs-{group_by_length}.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = RunConfig(dataset=str(path), eval_ratio=0.25, per_device_batch_size=4, max_steps=2, eval_steps=2,
                       lora_r=4, lora_alpha=8, seed=3, group_by_length=group_by_length)
    choice = choose_device(probe_hardware(), "cpu", "fp32")
    trainer, _callback = build_trainer(config, create_run(config), choice, lambda e: None, threading.Event())
    return trainer


def drawn_batches(trainer) -> list[list[int]]:
    sampler = trainer._get_train_sampler(trainer._remove_unused_columns(trainer.train_dataset))
    order = list(sampler)
    return [order[i : i + 4] for i in range(0, len(order), 4)]


def test_the_engine_groups_the_demo_pairs_by_length_and_evaluates_shortest_first(embedded_model, tmp_path):
    grouped = build(tmp_path, group_by_length=True)
    lengths = pair_lengths(grouped.train_dataset)
    assert lengths is not None and len(lengths) == 48
    batches = drawn_batches(grouped)
    assert sorted(i for batch in batches for i in batch) == list(range(48))  # every pair once per epoch
    fill = describe_padding(lengths, batches)["fill"]

    plain = build(tmp_path, group_by_length=False)
    plain_batches = drawn_batches(plain)
    assert sorted(i for batch in plain_batches for i in batch) == list(range(48))
    plain_fill = describe_padding(lengths, plain_batches)["fill"]
    # real tokens: random batches of the demo pairs pad far more than grouped ones
    assert fill > plain_fill + 0.1, (fill, plain_fill)

    eval_lengths = pair_lengths(grouped.eval_dataset)
    assert eval_lengths is not None
    assert [eval_lengths[i] for i in evaluated_rows(grouped)] == sorted(eval_lengths)
    assert evaluated_rows(plain) == list(range(len(eval_lengths)))  # off: row order


def evaluated_rows(trainer) -> list[int]:
    """The rows in the order the prepared evaluation loader takes them."""
    return [i for batch in trainer.get_eval_dataloader().batch_sampler for i in batch]



@pytest.mark.slow
def test_a_grouped_run_resumed_mid_epoch_trains_on_the_batches_it_would_have(embedded_model, tmp_path):
    """Stopped after step 2 and resumed, a run logs the same losses at steps 3 and 4 as a run never stopped: the
    resumed epoch skips exactly the batches already trained on (LoRA dropout 0, so nothing else is random)."""
    from dpostudio.core.training.engine import train

    lines = (RESOURCES_DIR / "demo_pairs" / "train.jsonl").read_text(encoding="utf-8").splitlines()[:120]
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = RunConfig(dataset=str(path), eval_ratio=0.0, eval_steps=None, per_device_batch_size=1, max_steps=4,
                       save_steps=2, max_length=96, lora_r=4, lora_alpha=8, lora_dropout=0.0, seed=5)
    whole = train(config, lambda e: None)
    cancel = threading.Event()

    def stop_after_step_2(event):
        if event["type"] == "log" and event["step"] == 2:
            cancel.set()

    stopped = train(config, stop_after_step_2, cancel)
    assert stopped.info()["status"] == "cancelled"
    train(None, lambda e: None, resume=stopped.id)
    losses = {m["step"]: m["loss"] for m in whole.metrics("log")}
    resumed = {m["step"]: m["loss"] for m in stopped.metrics("log")}
    assert sorted(resumed) == [1, 2, 3, 4]
    for step in (1, 2, 3, 4):
        assert resumed[step] == pytest.approx(losses[step], abs=1e-4), step
