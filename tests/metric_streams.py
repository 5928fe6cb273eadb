"""Synthetic DPO metric streams for the diagnostics tests: a healthy run by default, and any shape on request."""

from __future__ import annotations

import math
import random


def run_stream(max_steps=100, seed=0, noise=1.0, eval_every=20, **shape):
    """A DPO run's log (and eval) records, one log per step, with small-batch noise. By default a healthy run: the
    loss falls gently, the margins rise then plateau, accuracy settles near 0.8, the chosen log-probs stay put.
    ``shape`` overrides the curves: functions of the run's progress ``q`` (0..1) giving the noiseless value."""
    rnd = random.Random(seed)
    curves = {
        "loss": lambda q: 0.69 - 0.22 * (1 - math.exp(-5 * q)),
        "margin": lambda q: 1.0 * (1 - math.exp(-5 * q)),
        "accuracy": lambda q: 0.5 + 0.3 * (1 - math.exp(-5 * q)),
        "chosen": lambda q: 0.1 * (1 - math.exp(-5 * q)),  # rewards/chosen
        "logps_chosen": lambda q: -120.0,
        "grad_norm": lambda q: 2.0,
        "eval_loss": lambda q: 0.69 - 0.15 * q**0.5,
        "eval_accuracy": lambda q: 0.6 + 0.15 * q**0.5,
        "eval_margin": lambda q: 0.8 * q**0.5,
        "eval_logps_chosen": lambda q: -118.0,
    }
    curves.update(shape)
    records = []
    for step in range(1, max_steps + 1):
        q = step / max_steps
        if step == 1:  # the policy is the reference at the first log: a tie on every pair
            margin, accuracy, chosen, loss = 0.0, 0.0, 0.0, 0.6931
        else:
            margin = curves["margin"](q) + rnd.gauss(0, 0.15 * noise)
            p = min(max(curves["accuracy"](q), 0.0), 1.0)
            accuracy = sum(rnd.random() < p for _ in range(8)) / 8  # a batch of 8 pairs
            chosen = curves["chosen"](q) + rnd.gauss(0, 0.05 * noise)
            loss = curves["loss"](q) + rnd.gauss(0, 0.05 * noise)
        records.append(
            {
                "step": step,
                "epoch": q,
                "loss": loss,
                "rewards/margins": margin,
                "rewards/accuracies": accuracy,
                "rewards/chosen": chosen,
                "rewards/rejected": chosen - margin,
                "logps/chosen": curves["logps_chosen"](q) + rnd.gauss(0, 15 * noise),  # batches differ in length
                "logps/rejected": -130.0 + rnd.gauss(0, 15 * noise),
                "grad_norm": curves["grad_norm"](q) * math.exp(rnd.gauss(0, 0.3 * noise)),
                "learning_rate": 5e-5 * (1 - q),
            }
        )
        if eval_every and step % eval_every == 0:
            records.append(
                {
                    "step": step,
                    "epoch": q,
                    "eval_loss": curves["eval_loss"](q),
                    "eval_rewards/accuracies": curves["eval_accuracy"](q),
                    "eval_rewards/margins": curves["eval_margin"](q),
                    "eval_logps/chosen": curves["eval_logps_chosen"](q) + rnd.gauss(0, 0.3),
                }
            )
    return records


def kinds(found):
    return sorted(f.kind for f in found)


def only(found, kind):
    matching = [f for f in found if f.kind == kind]
    assert len(matching) == 1, [(f.kind, f.evidence) for f in found]
    return matching[0]
