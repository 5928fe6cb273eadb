"""Helpers for comparison tests: a run with a real (untrained, non-zero) LoRA adapter, made in seconds."""

from __future__ import annotations

import shutil


def make_adapter_run(resolved_model, name: str = "adapter-run", checkpoint_step: int | None = 1):
    """A finished run of the embedded model whose adapter (and checkpoint) really changes the model's output."""
    import torch
    from peft import LoraConfig, get_peft_model

    from dpostudio.core.model_store import load_model
    from dpostudio.core.training.run_config import RunConfig
    from dpostudio.core.training.runs import create_run

    run = create_run(RunConfig(model=resolved_model.spec, name=name, eval_ratio=0))
    torch.manual_seed(0)
    base = load_model(resolved_model, dtype=torch.float32)
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():  # a small nudge, like a few training steps (B starts at zero, which changes nothing)
        for param_name, param in model.named_parameters():
            if "lora_B" in param_name:
                param.normal_(0.0, 0.02)
    model.save_pretrained(str(run.adapter_dir))
    if checkpoint_step is not None:
        shutil.copytree(run.adapter_dir, run.checkpoints_dir / f"checkpoint-{checkpoint_step}")
    run.update_info(status="finished", message="made by a test")
    return run


def fake_adapter_folder_run(name: str = "no-model-run"):
    """A finished run with an adapter_config.json only (for tests that replace the model with a stand-in)."""
    from dpostudio.core.training.run_config import RunConfig
    from dpostudio.core.training.runs import create_run

    run = create_run(RunConfig(name=name, eval_ratio=0))
    run.adapter_dir.mkdir(parents=True)
    (run.adapter_dir / "adapter_config.json").write_text("{}", encoding="utf-8")
    (run.adapter_dir / "adapter_model.safetensors").write_bytes(b"")  # present (a stand-in replaces the model)
    run.update_info(status="finished")
    return run
