"""Benchmark: which demo recipe learns correctness rather than style, and how long it takes.

    python bench/demo_recipe.py [--base quick|defaults] [--steps N] [--batch N] [--eval-steps N] [--seed N]
                                [--recipes current,minimal,minimal-rpo]

Each recipe is one real ``dpostudio train`` run of the embedded SmolLM2-135M-Instruct (each in its own process,
one after another, sharing one data folder so the reference log-prob cache serves every recipe it can), evaluated at
the same steps on the demo's eval split (40 pairs written like the training pairs) and on the differently-styled
held-out set ``builtin:demo-styled`` (40 pairs: terse right answers against fluent wrong sentences and the other way
round; never trained on). Printed per recipe: wall time (loading and evaluations included), final eval reward
accuracy, final styled reward accuracy and its two halves (terse right vs fluent wrong; fluent right vs terse wrong:
scored pair by pair after the run, not timed), and how the styled chosen answers' log-probability moved from the
first to the last evaluation (negative: they became less likely -- likelihood displacement).

Each recipe starts from ``--base``: ``quick``, the Quick demo (CPU) preset a person clicks and the one a first run on
a CPU-only machine gets (20 steps, batch 4, evaluations every 10 steps), or ``defaults``, the app's RunConfig defaults; ``--steps``/``--batch``/``--eval-steps``/
``--seed`` override the base when given, and ``--set FIELD=VALUE`` (repeatable) overrides every recipe.

Recipes (the data and the loss; everything else is the base):
  current      the built-in demo pairs (builtin:demo), plain DPO: the app's default data and loss
  minimal      the demo pairs plus 120 minimal pairs (builtin:demo-minimal: same style on both sides, only
               correctness differs), plain DPO
  minimal-rpo  as minimal, with an SFT term on the chosen answers (loss_type sigmoid+sft: RPO); the Quick demo's
  rpo          the built-in demo pairs with RPO

The Quick demo preset as it was until 2026-12-02 (the demo pairs, plain DPO, batch 2) is
``--base quick --batch 2 --recipes current``.
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
    "current": ["dataset=builtin:demo", "loss_type=sigmoid"],
    "minimal": ["dataset=builtin:demo-minimal", "loss_type=sigmoid"],
    "minimal-rpo": ["dataset=builtin:demo-minimal", "loss_type=sigmoid+sft"],
    "rpo": ["dataset=builtin:demo", "loss_type=sigmoid+sft"],
}


def base_settings(args: argparse.Namespace) -> list[str]:
    """The base's --set items (the preset's values, or the defaults with the styled set) and the step, batch,
    evaluation and seed overrides."""
    from dpostudio.core.training.presets import PRESETS

    items = []
    if args.base == "quick":
        preset = next(p for p in PRESETS if p.name.startswith("Quick demo"))
        items = [f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in preset.values.items()]
    else:
        items = ['extra_eval_sets=["styled=builtin:demo-styled"]']
    for field, value in (("max_steps", args.steps), ("per_device_batch_size", args.batch),
                         ("eval_steps", args.eval_steps), ("seed", args.seed)):
        if value is not None:
            items.append(f"{field}={value}")
    return items


def run_recipe(name: str, args: argparse.Namespace, env: dict) -> dict:
    overrides = [*base_settings(args), *RECIPES[name], *args.set, "save_steps=100000", f"name=recipe-{name}"]
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
        **styled_by_style(runs[-1].name, env),
        "recipe": name,
        "wall_s": round(wall),
        "eval_acc": last.get("eval_rewards/accuracies"),
        "styled_acc": last.get("eval_styled_rewards/accuracies"),
        "styled_chosen_logp_change": last["eval_styled_logps/chosen"] - first["eval_styled_logps/chosen"],
        "eval_steps": [e["step"] for e in evals],
        "styled_acc_by_eval": [e["metrics"].get("eval_styled_rewards/accuracies") for e in evals],
    }


def styled_by_style(run_id: str, env: dict) -> dict:
    """The final adapter's accuracy on each half of the styled set (its terse right answers against fluent wrong
    sentences, and its fluent right sentences against terse wrong answers), pair by pair through the pair scorer:
    a model that only learned "prefer the shorter" or "prefer the longer" answer scores near 1 on one half and near 0
    on the other."""
    code = (
        "import json, sys\n"
        "from dpostudio.core.diagnostics.pair_rewards import score_pairs\n"
        "print(json.dumps([[s.row, s.margin] for s in score_pairs(sys.argv[1], split='styled')]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, run_id], capture_output=True, text=True, env=env, cwd=ROOT)
    if out.returncode:
        sys.exit(f"scoring the styled set of {run_id} failed:\n{out.stderr[-3000:]}")
    margins = json.loads(out.stdout.splitlines()[-1])
    styles = [
        json.loads(line)["style"]
        for line in (ROOT / "resources" / "demo_pairs" / "styled.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    halves: dict[str, list[bool]] = {}
    for row, margin in margins:
        halves.setdefault(styles[row - 1], []).append(margin > 0)
    return {f"styled_{style}": sum(agree) / len(agree) for style, agree in sorted(halves.items())}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", choices=("quick", "defaults"), default="quick")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--batch", type=int)
    parser.add_argument("--eval-steps", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="one more setting for every recipe, after the recipe's own (repeatable)")
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
    print(f"\nbase {args.base}; overrides: steps {args.steps}, batch {args.batch}, eval every {args.eval_steps}, "
          f"seed {args.seed}, {' '.join(args.set)}; evaluations at {results[0]['eval_steps']}")
    print(f"{'recipe':<16} {'wall':>6} {'eval acc':>9} {'styled acc':>11} {'terse right':>12} {'fluent right':>13} "
          f"{'styled chosen log-p':>20}")
    for r in results:
        print(
            f"{r['recipe']:<16} {r['wall_s']:>5}s {r['eval_acc']:>9.3f} {r['styled_acc']:>11.3f} "
            f"{r['styled_terse-correct']:>12.3f} {r['styled_fluent-correct']:>13.3f} "
            f"{r['styled_chosen_logp_change']:>+20.2f}"
        )


if __name__ == "__main__":
    main()
