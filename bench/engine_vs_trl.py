"""Benchmark: the DPO Studio engine against a plain TRL script, same model, data and settings.

    python bench/engine_vs_trl.py [--steps 10] [--batch 4] [--max-length 256] [--precision fp32] [--repeats 2]

Each run is a child process of this one (alternating engine / plain so drift hits both alike). Prints each
run, then the median tokens/s and peak memory of each side and their ratio (engine / plain).
The model is the embedded SmolLM2-135M-Instruct (imported into the model store first); the data is the
built-in pair set (train split, no evaluation, no checkpoints, so only training is timed).
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


def child(cmd: list[str], env: dict) -> dict:
    out = subprocess.run([sys.executable, *cmd], capture_output=True, text=True, env=env, cwd=ROOT)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode or not lines:
        sys.exit(f"benchmark child failed: {' '.join(cmd)}\n{out.stderr[-3000:]}")
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from dpostudio.core.model_store import resolve_model

    model_dir = resolve_model("embedded:smollm2-135m-instruct").location
    pairs = str(ROOT / "resources" / "demo_pairs" / "train.jsonl")
    home = tempfile.mkdtemp(prefix="dpostudio-bench-")
    env = {**os.environ, "DPOSTUDIO_HOME": home, "DPOSTUDIO_MODELS": str(Path(model_dir).parent),
           "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    common = [str(args.steps), str(args.batch), str(args.max_length), args.precision]
    results = {"engine": [], "plain": []}
    for i in range(args.repeats):
        for side in (("engine", "plain") if i % 2 == 0 else ("plain", "engine")):
            if side == "engine":
                r = child(["bench/engine_run.py", pairs, *common], env)
            else:
                r = child(["bench/plain_trl_dpo.py", model_dir, pairs, *common, os.path.join(home, f"plain{i}")], env)
            results[side].append(r)
            print(f"{r['who']:<18} tokens/s {r['tokens_per_s']:8.1f}  train {r['train_runtime_s']:6.1f}s  "
                  f"wall {r['wall_s']:6.1f}s  peak RSS {r['peak_rss_mb']:7.0f} MB  final loss {r['final_loss']:.4f}")

    def med(side: str, key: str) -> float:
        return statistics.median(r[key] for r in results[side])

    print(f"\nsettings: {args.steps} steps, batch {args.batch}, max length {args.max_length}, {args.precision}, "
          f"{args.repeats} runs each")
    for key, label in (("tokens_per_s", "tokens/s"), ("peak_rss_mb", "peak RSS MB"), ("wall_s", "wall s")):
        e, p = med("engine", key), med("plain", key)
        print(f"{label:<12} engine {e:9.1f}   plain TRL {p:9.1f}   ratio engine/plain {e / p:.3f}")


if __name__ == "__main__":
    main()
