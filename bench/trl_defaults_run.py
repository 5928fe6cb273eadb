"""The baseline a person would write: LoRA-DPO with TRL, everything at TRL's defaults but the step count and the
evaluation schedule (same model, same demo pairs, same LoRA as the app).

Usage: python bench/trl_defaults_run.py MODEL_FOLDER STEPS EVAL_STEPS OUT_DIR
Prints one JSON line like bench/app_default_run.py.
"""

import json
import resource
import sys
import time
from pathlib import Path

t_start = time.perf_counter()
import torch  # noqa: E402
from datasets import load_dataset  # noqa: E402
from peft import LoraConfig  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402
from trl import DPOConfig, DPOTrainer  # noqa: E402

model_dir, steps, eval_steps, out_dir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
demo = Path(__file__).resolve().parents[1] / "resources" / "demo_pairs"
tokenizer = AutoTokenizer.from_pretrained(model_dir)
model = AutoModelForCausalLM.from_pretrained(model_dir)
data = load_dataset("json", data_files={"train": str(demo / "train.jsonl"), "eval": str(demo / "eval.jsonl")})
data = data.map(lambda r: {
    "prompt": [{"role": "user", "content": r["prompt"]}],
    "chosen": [{"role": "assistant", "content": r["chosen"]}],
    "rejected": [{"role": "assistant", "content": r["rejected"]}],
}, remove_columns=data["train"].column_names)

args = DPOConfig(output_dir=out_dir, max_steps=steps, eval_strategy="steps", eval_steps=eval_steps,
                 save_strategy="no", report_to="none", logging_steps=1, use_cpu=not torch.cuda.is_available())
trainer = DPOTrainer(model=model, args=args, train_dataset=data["train"], eval_dataset=data["eval"],
                     processing_class=tokenizer,
                     peft_config=LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear",
                                            task_type="CAUSAL_LM"))
result = trainer.train()
tokens = max(h.get("num_tokens", 0) for h in trainer.state.log_history)
evals = [h for h in trainer.state.log_history if "eval_rewards/accuracies" in h]
print(json.dumps({
    "who": "TRL defaults", "tokens": tokens, "train_runtime_s": result.metrics["train_runtime"],
    "tokens_per_s": tokens / result.metrics["train_runtime"], "wall_s": time.perf_counter() - t_start,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "eval_accuracy": evals[-1]["eval_rewards/accuracies"] if evals else float("nan"),
    "note": f"batch {args.per_device_train_batch_size}, lr {args.learning_rate:g}, "
            f"checkpointing {args.gradient_checkpointing}, bf16 {args.bf16}, max length {args.max_length}",
}))
