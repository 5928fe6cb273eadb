"""The baseline: LoRA-DPO written the obvious way with TRL, no DPO Studio code.

Usage: python bench/plain_trl_dpo.py MODEL_FOLDER PAIRS.jsonl STEPS BATCH MAX_LENGTH PRECISION OUT_DIR
Prints one JSON line: tokens/s over the training phase, wall time, peak RSS.
"""

import json
import resource
import sys
import time

t_start = time.perf_counter()
import torch  # noqa: E402
from datasets import load_dataset  # noqa: E402
from peft import LoraConfig  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402
from trl import DPOConfig, DPOTrainer  # noqa: E402

model_dir, pairs, steps, batch, max_length, precision, out_dir = sys.argv[1:8]

tokenizer = AutoTokenizer.from_pretrained(model_dir)
model = AutoModelForCausalLM.from_pretrained(model_dir)
dataset = load_dataset("json", data_files=pairs, split="train")
dataset = dataset.map(lambda r: {
    "prompt": [{"role": "user", "content": r["prompt"]}],
    "chosen": [{"role": "assistant", "content": r["chosen"]}],
    "rejected": [{"role": "assistant", "content": r["rejected"]}],
}, remove_columns=dataset.column_names)

args = DPOConfig(
    output_dir=out_dir, max_steps=int(steps), per_device_train_batch_size=int(batch), max_length=int(max_length),
    learning_rate=1e-4, lr_scheduler_type="cosine", beta=0.1, logging_steps=1, save_strategy="no",
    eval_strategy="no", report_to="none", use_cpu=not torch.cuda.is_available(), bf16=precision == "bf16",
    activation_checkpointing=False, seed=42, data_seed=42,
)
trainer = DPOTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                     peft_config=LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear",
                                            task_type="CAUSAL_LM"))
result = trainer.train()
tokens = max(h.get("num_tokens", 0) for h in trainer.state.log_history)
print(json.dumps({
    "who": "plain TRL", "tokens": tokens, "train_runtime_s": result.metrics["train_runtime"],
    "tokens_per_s": tokens / result.metrics["train_runtime"], "wall_s": time.perf_counter() - t_start,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "final_loss": trainer.state.log_history[-2].get("loss"),
}))
