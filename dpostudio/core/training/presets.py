"""Named run-config presets: a quick CPU demo and the published DPO recipes users try to reproduce.

Plain data (field name -> value over the ``RunConfig`` defaults), shared by the GUI's Training pane and the CLI.
A preset only lists the fields it sets; everything else keeps its default (or what the user already chose).
Data-group fields (dataset, first_n, eval_ratio, prompt_template, ...) are included where the recipe fixes them;
the GUI hands those to the Dataset pane.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dpostudio.core.training.run_config import RunConfig


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    values: dict[str, Any] = field(default_factory=dict)

    def data_values(self) -> dict[str, Any]:
        """The preset's Data-group fields (owned by the Dataset pane in the GUI)."""
        groups = {f.name: f.metadata["group"] for f in RunConfig.field_specs()}
        return {k: v for k, v in self.values.items() if groups.get(k) == "Data"}

    def training_values(self) -> dict[str, Any]:
        """The preset's fields outside the Data group."""
        data = self.data_values()
        return {k: v for k, v in self.values.items() if k not in data}

    def apply(self, config: dict[str, Any] | RunConfig | None = None) -> RunConfig:
        """``config`` (or the defaults) with this preset's values on top, validated."""
        base = config.to_dict() if isinstance(config, RunConfig) else dict(config or {})
        return RunConfig.from_dict({**base, **self.values})


PRESETS: tuple[Preset, ...] = (
    Preset(
        "Quick demo (CPU)",
        "Two minutes on a laptop CPU: the embedded SmolLM2-135M, 20 steps of 4 pairs from the demo pairs plus "
        "minimal pairs (same style on both sides, only the fact differs), DPO with an SFT term on the chosen answers "
        "(RPO, against likelihood displacement); also evaluated on the demo's differently-styled held-out set, to "
        "see whether it learned correctness or style.",
        {
            "model": "embedded:smollm2-135m-instruct",
            "dataset": "builtin:demo-minimal",
            "loss_type": "sigmoid+sft",
            "extra_eval_sets": ["styled=builtin:demo-styled"],
            "eval_ratio": 0.1,
            "beta": 0.1,
            "learning_rate": 1e-4,
            "lr_scheduler_type": "cosine",
            "warmup_steps": 0,
            "per_device_batch_size": 4,
            "gradient_accumulation_steps": 1,
            "max_steps": 20,
            "max_length": 256,
            "lora_r": 16,
            "lora_alpha": 32,
            "lora_dropout": 0.05,
            "device": "auto",
            "precision": "auto",
            "eval_steps": 10,
            "logging_steps": 1,
            "save_steps": 10,
        },
    ),
    Preset(
        "Recipe: Mistral-7B LoRA on a Mac (MPS, fp16, AdamW, 90/10 split)",
        "Mistral-7B-Instruct-v0.3 with LoRA on Apple Silicon: float16 on MPS, plain AdamW, small batch with "
        "gradient accumulation, evaluation limited; Anthropic HH-RLHF first 1000 rows, 90/10 split.",
        {
            "model": "mistralai/Mistral-7B-Instruct-v0.3",
            "dataset": "Anthropic/hh-rlhf",
            "first_n": 1000,
            "eval_ratio": 0.1,
            "device": "mps",
            "precision": "fp16",
            "optimizer": "adamw_torch",
            "per_device_batch_size": 1,
            "gradient_accumulation_steps": 8,
            "beta": 0.1,
            "learning_rate": 5e-5,
            "lr_scheduler_type": "cosine",
            "num_train_epochs": 1.0,
            "max_steps": None,
            "max_length": 512,
            "lora_r": 16,
            "lora_alpha": 32,
            "lora_dropout": 0.05,
            "gradient_checkpointing": True,
            "eval_steps": None,
            "save_steps": 50,
        },
    ),
    Preset(
        "Recipe: TwinLlama-style DPO (beta 0.5, lr 2e-6, linear, warmup 10, batch 2, accum 8, 1 epoch, 95/5 split)",
        "The LLM Engineer's Handbook TwinLlama-3.1-8B DPO: LoRA r=32 alpha=32 dropout 0 on all linear layers, "
        "Alpaca template, beta 0.5, lr 2e-6 linear, warm-up 10, weight decay 0.01, batch 2 x 8, 1 epoch, 95/5 split.",
        {
            "model": "mlabonne/TwinLlama-3.1-8B",
            "dataset": "mlabonne/llmtwin-dpo",
            "eval_ratio": 0.05,
            "prompt_template": "alpaca",
            "beta": 0.5,
            "learning_rate": 2e-6,
            "lr_scheduler_type": "linear",
            "warmup_steps": 10,
            "weight_decay": 0.01,
            "per_device_batch_size": 2,
            "gradient_accumulation_steps": 8,
            "num_train_epochs": 1.0,
            "max_steps": None,
            "max_length": 1024,
            "lora_r": 32,
            "lora_alpha": 32,
            "lora_dropout": 0.0,
            "lora_target_modules": ["all-linear"],
            "logging_steps": 1,
        },
    ),
    Preset(
        "Recipe: GPT-2 sweep winner (beta 0.2, lr 5.4e-5, batch 8, accum 4, 500 steps, max length 512)",
        "Best run of a W&B sweep of GPT-2 on argilla/distilabel-intel-orca-dpo-pairs: beta 0.2, lr 5.4e-5, "
        "batch 8 x 4, 500 steps, max length 512, warm-up 50, gradient checkpointing, logging every 5, eval every 50.",
        {
            "model": "openai-community/gpt2",
            "dataset": "argilla/distilabel-intel-orca-dpo-pairs",
            "prompt_template": "none",
            "beta": 0.2,
            "learning_rate": 5.4e-5,
            "per_device_batch_size": 8,
            "gradient_accumulation_steps": 4,
            "max_steps": 500,
            "max_length": 512,
            "warmup_steps": 50,
            "gradient_checkpointing": True,
            "logging_steps": 5,
            "eval_steps": 50,
        },
    ),
    Preset(
        "RPO: DPO plus an SFT term on the chosen answers (loss sigmoid+sft, weights 1.0, 1.0)",
        "Sets only the loss, over your other settings: TRL's sigmoid (DPO) and sft losses added with weights 1.0 "
        "and 1.0, as in the RPO paper. The SFT term keeps the chosen answers likely while the margin grows: the "
        "fix for likelihood displacement.",
        {"loss_type": "sigmoid+sft", "loss_weights": [1.0, 1.0]},
    ),
)


def preset_names() -> list[str]:
    return [p.name for p in PRESETS]


def get_preset(name: str) -> Preset:
    """A preset by its full name, or by an unambiguous start of it (case-insensitive)."""
    for preset in PRESETS:
        if preset.name == name:
            return preset
    matches = [p for p in PRESETS if p.name.lower().startswith(name.lower().strip())]
    if len(matches) == 1:
        return matches[0]
    raise KeyError(f"no preset called {name!r}; known: {', '.join(preset_names())}")
