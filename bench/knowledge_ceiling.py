"""How much of the demo's facts the base model already knows: the ceiling for a demo run that learns correctness.

    python bench/knowledge_ceiling.py [--model embedded:smollm2-135m-instruct]

A DPO run can only move a model toward answers it can tell apart. Preference training on a few hundred pairs does
not teach a 135M model new facts; at best it learns to trust what it already half-knows. This scores, with the base
model alone (no adapter, no training), every *minimal pair* in the demo data (``minimal.jsonl``: the same style and
length on both sides, only the fact differs) and counts how often the base model already finds the right answer
more likely than the wrong one. Printed: that share over all minimal pairs and per category, and the same count
on the styled held-out set (``styled.jsonl``), where the two answers differ in length, so the raw log-probability
mostly measures length (a short answer has fewer tokens to lose probability on) -- shown for contrast.
"""

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="embedded:smollm2-135m-instruct")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import torch

    from dpostudio.core.data.templates import token_ids
    from dpostudio.core.diagnostics.pair_rewards import answer_logps
    from dpostudio.core.model_store import load_model, load_tokenizer, resolve_model

    resolved = resolve_model(args.model)
    tokenizer = load_tokenizer(resolved, False)
    model = load_model(resolved, dtype=torch.float32, trust_remote_code=False).eval()
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def agreement(name: str, group_of) -> None:
        rows = [json.loads(line) for line in (ROOT / "resources" / "demo_pairs" / name).read_text().splitlines()]
        groups: dict[str, list[bool]] = defaultdict(list)
        for start in range(0, len(rows), 8):
            batch = rows[start : start + 8]
            sequences = []
            for row in batch:
                trl_row = {
                    "prompt": [{"role": "user", "content": row["prompt"]}],
                    "chosen": [{"role": "assistant", "content": row["chosen"]}],
                    "rejected": [{"role": "assistant", "content": row["rejected"]}],
                }
                prompt_ids, chosen_ids, rejected_ids = token_ids(trl_row, tokenizer)
                sequences.append((prompt_ids, chosen_ids))
                sequences.append((prompt_ids, rejected_ids))
            with torch.no_grad():
                logps = answer_logps(model, sequences, pad, "cpu")
            for i, row in enumerate(batch):
                right = logps[2 * i] > logps[2 * i + 1]
                groups[group_of(row)].append(right)
                groups["all"].append(right)
        for group, agree in sorted(groups.items()):
            print(f"  {name:<14} {group:<16} {sum(agree):>3}/{len(agree):<3} = {sum(agree) / len(agree):.3f}")

    print(f"base model {resolved.display_name}: share of pairs where the right answer is already the likelier one")
    agreement("minimal.jsonl", lambda row: row.get("category", "?"))
    agreement("styled.jsonl", lambda row: row.get("style", "?"))


if __name__ == "__main__":
    main()
