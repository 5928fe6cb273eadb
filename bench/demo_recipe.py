"""Benchmark: which demo recipe learns correctness rather than style, and how long it takes.

    python bench/demo_recipe.py [--steps 40] [--batch 4] [--eval-steps 20] [--recipes current,minimal,minimal-rpo]

Each recipe is one real ``dpostudio train`` run of the embedded SmolLM2-135M-Instruct (each in its own process,
one after another, sharing one data folder so the reference log-prob cache serves every recipe it can), evaluated at
the same steps on the demo's eval split (40 pairs written like the training pairs) and on the differently-styled
held-out set ``builtin:demo-styled`` (40 pairs: terse right answers against fluent wrong sentences and the other way
round; never trained on). Printed per recipe: wall time (loading and evaluations included), final eval reward
accuracy, final styled reward accuracy, and how the styled chosen answers' log-probability moved from the first to
the last evaluation (negative: they became less likely -- likelihood displacement).

Recipes (everything else is the app's defaults):
  current      the built-in demo pairs (builtin:demo), plain DPO
  minimal      the demo pairs plus 120 minimal pairs (builtin:demo-minimal: same style on both sides, only
               correctness differs), plain DPO
  minimal-rpo  as minimal, with an SFT term on the chosen answers (loss_type sigmoid+sft: RPO)
  rpo          the built-in demo pairs with RPO
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPES = {
    "current": [],
    "minimal": ["dataset=builtin:demo-minimal"],
    "minimal-rpo": ["dataset=builtin:demo-minimal", "loss_type=sigmoid+sft"],
    "rpo": ["loss_type=sigmoid+sft"],
}


def run_recipe(name: str, args: argparse.Namespace, env: dict) -> dict:
    overrides = [
        *RECIPES[name],
        f"max_steps={args.steps}",
        f"per_device_batch_size={args.batch}",
        f"eval_steps={args.eval_steps}",
        f"save_steps={args.steps}",
        'extra_eval_sets=["styled=builtin:demo-styled"]',
        f"name=recipe-{name}",
    ]
    command = [sys.executable, "-m", "dpostudio", "train"]
    for item in overrides:
        command += ["--set", item]
    started = time.monotonic()
    out = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.monotonic() - started
    if out.returncode:
        sys.exit(f"recipe {name} failed:\n{out.stderr[-3000:]}")
    runs = sorted((Path(env["DPOSTUDIO_HOME"]) / "runs").glob(f"*recipe-{name}"))
    evals = [
        json.loads(line)
        for line in (runs[-1] / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
        if '"type": "eval"' in line
    ]
    first, last = evals[0]["metrics"], evals[-1]["metrics"]
    return {
        "recipe": name,
        "wall_s": round(wall),
        "eval_acc": last.get("eval_rewards/accuracies"),
        "styled_acc": last.get("eval_styled_rewards/accuracies"),
        "styled_chosen_logp_change": last["eval_styled_logps/chosen"] - first["eval_styled_logps/chosen"],
        "eval_steps": [e["step"] for e in evals],
        "styled_acc_by_eval": [e["metrics"].get("eval_styled_rewards/accuracies") for e in evals],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--eval-steps", type=int, default=20)
    parser.add_argument("--recipes", default="current,minimal,minimal-rpo")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from dpostudio.core.model_store import resolve_model

    model_dir = resolve_model("embedded:smollm2-135m-instruct").location
    home = tempfile.mkdtemp(prefix="dpostudio-recipe-")
    env = {
        **os.environ,
        "DPOSTUDIO_HOME": home,
        "DPOSTUDIO_MODELS": str(Path(model_dir).parent),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    results = []
    for name in args.recipes.split(","):
        result = run_recipe(name, args, env)
        results.append(result)
        print(json.dumps(result), flush=True)
    print(f"\n{args.steps} steps, batch {args.batch}, evaluations at {results[0]['eval_steps']}")
    print(f"{'recipe':<12} {'wall':>6} {'eval acc':>9} {'styled acc':>11} {'styled chosen log-p':>20}")
    for r in results:
        print(
            f"{r['recipe']:<12} {r['wall_s']:>5}s {r['eval_acc']:>9.3f} {r['styled_acc']:>11.3f} "
            f"{r['styled_chosen_logp_change']:>+20.2f}"
        )


if __name__ == "__main__":
    main()
