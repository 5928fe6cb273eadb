"""One engine run with the same settings as plain_trl_dpo.py; prints the same JSON line.

Usage: python bench/engine_run.py PAIRS.jsonl STEPS BATCH MAX_LENGTH PRECISION
"""

import json
import resource
import sys
import time

t_start = time.perf_counter()
from dpostudio.core.training.engine import train  # noqa: E402
from dpostudio.core.training.run_config import RunConfig  # noqa: E402

pairs, steps, batch, max_length, precision = sys.argv[1:6]
config = RunConfig(dataset=pairs, eval_ratio=0.0, max_steps=int(steps), per_device_batch_size=int(batch),
                   max_length=int(max_length), precision=precision, save_steps=10_000, eval_steps=None,
                   learning_rate=1e-4, lr_scheduler_type="cosine", seed=42)
events = []
run = train(config, events.append)
assert run.info()["status"] == "finished", run.info()
summary = next(e for e in events if e["type"] == "summary")["metrics"]
logs = [e["metrics"] for e in events if e["type"] == "log"]
tokens = max(m.get("num_tokens", 0) for m in logs)
print(json.dumps({
    "who": "DPO Studio engine", "tokens": tokens, "train_runtime_s": summary["train_runtime"],
    "tokens_per_s": tokens / summary["train_runtime"], "wall_s": time.perf_counter() - t_start,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "final_loss": logs[-1].get("loss"),
}))
