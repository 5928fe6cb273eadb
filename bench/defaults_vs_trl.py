"""Benchmark: the app's default run against a plain TRL script with TRL's own defaults, evaluations included.

    python bench/defaults_vs_trl.py [--steps 20] [--eval-steps 10] [--repeats 1]

Both sides train the embedded SmolLM2-135M-Instruct with a LoRA adapter (r 16, all linear layers) on the built-in
demo pairs (320 training, 40 evaluation), for the same number of steps and with the same evaluation schedule; all
else is each side's own default (the app: its RunConfig defaults, bf16 autocast where the CPU has it, the
reference log-prob cache; TRL: DPOConfig's defaults -- learning rate 1e-6, batch 8, gradient checkpointing on,
bf16, max length 1024, no precomputed reference). The app runs twice per repeat: with an empty reference cache
("cold", a fresh data folder) and again with the cache the cold run filled ("warm", what a second run on the same
data gets). Runs alternate (cold, warm, TRL; then TRL, cold, warm) so drift hits all alike.

Printed per run and as medians with ratios against TRL: tokens/s over training, wall time to the end of the run
(loading and evaluations included), peak RSS of the run's process, final eval reward accuracy.
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


def child(code: list[str], env: dict) -> dict:
    out = subprocess.run([sys.executable, *code], capture_output=True, text=True, env=env, cwd=ROOT)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode or not lines:
        sys.exit(f"benchmark child failed: {' '.join(code)}\n{out.stderr[-3000:]}")
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--eval-steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from dpostudio.core.model_store import resolve_model

    model_dir = resolve_model("embedded:smollm2-135m-instruct").location
    base_env = {**os.environ, "DPOSTUDIO_MODELS": str(Path(model_dir).parent), "HF_HUB_OFFLINE": "1",
                "TOKENIZERS_PARALLELISM": "false"}
    steps = [str(args.steps), str(args.eval_steps)]
    results: dict[str, list[dict]] = {"app, cache cold": [], "app, cache warm": [], "TRL defaults": []}
    for i in range(args.repeats):
        home = tempfile.mkdtemp(prefix="dpostudio-bench-")
        app_env = {**base_env, "DPOSTUDIO_HOME": home}
        order = ["cold", "warm", "trl"] if i % 2 == 0 else ["trl", "cold", "warm"]
        for side in order:
            if side == "trl":
                r = child(["bench/trl_defaults_run.py", model_dir, *steps, os.path.join(home, "trl")], base_env)
                name = "TRL defaults"
            else:
                r = child(["bench/app_default_run.py", *steps], app_env)
                name = f"app, cache {side}"
            results[name].append(r)
            print(f"{name:<16} tokens/s {r['tokens_per_s']:7.1f}  train {r['train_runtime_s']:6.1f}s  "
                  f"wall {r['wall_s']:6.1f}s  peak RSS {r['peak_rss_mb']:6.0f} MB  "
                  f"eval accuracy {r['eval_accuracy']:.3f}  {r.get('note', '')}", flush=True)

    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    print(f"\n{args.steps} steps, evaluation every {args.eval_steps} steps, {args.repeats} run(s) each; medians, "
          "ratio = app / TRL defaults")
    for key, label in (("tokens_per_s", "tokens/s"), ("wall_s", "wall s"), ("peak_rss_mb", "peak RSS MB"),
                       ("eval_accuracy", "eval accuracy")):
        trl = med("TRL defaults", key)
        apps = [name for name in results if name != "TRL defaults"]
        cells = [f"{name} {med(name, key):8.2f} ({med(name, key) / trl:.2f}x)" for name in apps]
        print(f"{label:<14} TRL defaults {trl:8.2f}   " + "   ".join(cells))


if __name__ == "__main__":
    main()
