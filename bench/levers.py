"""Benchmark: what each per-step lever buys on this machine, against the app's defaults, with the loss curve checked.

    python bench/levers.py [--steps 20] [--batch 4] [--repeats 2] [--levers dropout0,checkpointing]

Every run trains the embedded SmolLM2-135M-Instruct through the engine on the built-in demo pairs (no evaluation, so
only the training steps are timed), each in its own process and its own data folder (the reference cache starts
cold for every run, so no run gets another's reference pass for free). Runs alternate (defaults, lever, ...; then
the reverse order) so drift hits all alike. Printed per lever: median tokens/s, peak RSS and their ratios to the
defaults, and the largest per-step loss difference from the defaults' run of the same repeat (the same seed and
batches, so a lever that keeps the maths the same stays within float noise) and the mean loss over the run. Levers
that change which pairs share a batch (ungrouped) cannot match step by step: compare their mean loss with the
``seed`` lever's, which shows how far the same recipe moves when only the random order changes.

Levers:
  dropout0        lora_dropout 0 instead of 0.05 (PEFT skips the dropout on the adapter's input)
  checkpointing   gradient checkpointing on (less activation memory, a second forward pass per step)
  fp32            precision fp32 instead of auto (auto is bf16 autocast where the CPU has native bf16)
  ungrouped       batches drawn wholly at random instead of grouped by length (more padding)
  shared          each pair's prompt computed once for both answers (share_prompts; off by default)
  allpositions    TRL's fused head projects every position onto the vocabulary on the CPU, as TRL does off Triton
                  (the engine projects only the answers' positions)
  compile         torch.compile (inductor) of the model through transformers' ``torch_compile`` (not a RunConfig
                  field: the child sets it on the training arguments); its compilation is inside the timed run
  seed            the defaults with another seed (another random order): the noise to judge "the same loss" by
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LEVERS = {
    "defaults": {},
    "dropout0": {"lora_dropout": 0.0},
    "checkpointing": {"gradient_checkpointing": True},
    "fp32": {"precision": "fp32"},
    "ungrouped": {"group_by_length": False},
    "shared": {"share_prompts": True},
    "compile": {"torch_compile": True},
    "allpositions": {"answers_only": False},
    "seed": {"seed": 43},
}
CHILD = """
import json, resource, sys, time
from dpostudio.core.training.engine import train
from dpostudio.core.training.run_config import RunConfig
overrides = json.loads(sys.argv[1])
if not overrides.pop("answers_only", True):  # the allpositions lever
    import dpostudio.core.training.lean_forward as lean_forward
    lean_forward.ANSWERS_ONLY_ON_CPU = False
if overrides.pop("torch_compile", False):  # the compile lever: transformers compiles the model with inductor
    import dpostudio.core.training.engine as engine
    arguments = engine.dpo_arguments
    def compiled(*a, **k):
        args = arguments(*a, **k)
        args.torch_compile, args.torch_compile_backend = True, "inductor"
        return args
    engine.dpo_arguments = compiled
config = RunConfig(eval_ratio=0.0, eval_steps=None, save_steps=10_000, **overrides)
events = []
run = train(config, events.append)
assert run.info()["status"] == "finished", run.info()
summary = next(e for e in events if e["type"] == "summary")["metrics"]
logs = [e["metrics"] for e in events if e["type"] == "log"]
tokens = max(m.get("num_tokens", 0) for m in logs)
print(json.dumps({"tokens_per_s": tokens / summary["train_runtime"], "losses": [m.get("loss") for m in logs],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "precision": run.info().get("precision")}))
"""


def one_run(overrides: dict, env: dict) -> dict:
    home = tempfile.mkdtemp(prefix="dpostudio-lever-")
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(overrides)], capture_output=True, text=True,
                         env={**env, "DPOSTUDIO_HOME": home}, cwd=ROOT)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode or not lines:
        sys.exit(f"lever run failed ({overrides}):\n{out.stderr[-3000:]}")
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--levers", default="dropout0,checkpointing")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from dpostudio.core.model_store import resolve_model

    model_dir = resolve_model("embedded:smollm2-135m-instruct").location
    env = {**os.environ, "DPOSTUDIO_MODELS": str(Path(model_dir).parent), "HF_HUB_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    common = {"max_steps": args.steps, "per_device_batch_size": args.batch}
    names = ["defaults", *args.levers.split(",")]
    results: dict[str, list[dict]] = {name: [] for name in names}
    for i in range(args.repeats):
        for name in names if i % 2 == 0 else list(reversed(names)):
            r = one_run(common | LEVERS[name], env)
            results[name].append(r)
            print(json.dumps({"lever": name, "repeat": i, **{k: v for k, v in r.items() if k != "losses"}}),
                  flush=True)
    base = results["defaults"]
    base_tps = statistics.median(r["tokens_per_s"] for r in base)
    base_rss = statistics.median(r["peak_rss_mb"] for r in base)
    print(f"\n{args.steps} steps, batch {args.batch}, {args.repeats} runs each; precision {base[0]['precision']}")
    print(f"{'lever':<14} {'tokens/s':>9} {'ratio':>6} {'peak RSS':>10} {'ratio':>6} {'max |Δloss|':>12} "
          f"{'mean loss':>10}")
    for name in names:
        runs = results[name]
        tps = statistics.median(r["tokens_per_s"] for r in runs)
        rss = statistics.median(r["peak_rss_mb"] for r in runs)
        delta = max(
            abs(a - b)
            for run, ref in zip(runs, base)
            for a, b in zip(run["losses"], ref["losses"])
            if a is not None and b is not None
        )
        mean_loss = statistics.mean(loss for run in runs for loss in run["losses"] if loss is not None)
        print(f"{name:<14} {tps:>9.1f} {tps / base_tps:>5.2f}× {rss:>8.0f}MB {rss / base_rss:>5.2f}× {delta:>12.6f} "
              f"{mean_loss:>10.4f}")


if __name__ == "__main__":
    main()
