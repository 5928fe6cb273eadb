"""One run with the app's defaults on the built-in demo (only the step count and evaluation schedule are set).

Usage: python bench/app_default_run.py STEPS EVAL_STEPS
Prints one JSON line: tokens/s over training, wall time to the end (evaluations included), peak RSS, final eval
reward accuracy, and what the reference cache did.
"""

import json
import resource
import sys
import time

t_start = time.perf_counter()
from dpostudio.core.training.engine import train  # noqa: E402
from dpostudio.core.training.run_config import RunConfig  # noqa: E402

steps, eval_steps = int(sys.argv[1]), int(sys.argv[2])
config = RunConfig(max_steps=steps, eval_steps=eval_steps, save_steps=10_000)
events = []
run = train(config, events.append)
assert run.info()["status"] == "finished", run.info()
summary = next(e for e in events if e["type"] == "summary")["metrics"]
logs = [e["metrics"] for e in events if e["type"] == "log"]
evals = run.metrics("eval")
tokens = max(m.get("num_tokens", 0) for m in logs)
cache = run.info().get("reference_cache") or []
print(json.dumps({
    "who": "app defaults", "tokens": tokens, "train_runtime_s": summary["train_runtime"],
    "tokens_per_s": tokens / summary["train_runtime"], "wall_s": time.perf_counter() - t_start,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "eval_accuracy": evals[-1].get("eval_rewards/accuracies") if evals else float("nan"),
    "note": "reference cache: " + ", ".join(f"{u['set']} {u['reused']} reused/{u['computed']} computed"
                                           for u in cache),
}))
