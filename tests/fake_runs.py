"""The one fake run the tests share: a finished-looking run of the embedded SmolLM2 whose adapters are real PEFT
LoRA weights, perturbed deterministically (no training, made in seconds). ``conftest.py`` builds it once per session
(``fake_run_template``) and copies it into each test's home (``fake_run``, ``fake_run_id``)."""

from __future__ import annotations

from dpostudio.core.training.run_config import RunConfig
from dpostudio.core.training.runs import create_run


def make_fake_run(model_location: str, *, checkpoints=(2,), final=True, name="fake"):
    """A finished-looking run whose adapters are deterministic perturbed LoRA weights (no training)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    config = RunConfig(model=model_location, name=name, lora_r=4, lora_alpha=8, beta=0.25,
                       learning_rate=3e-5, data_filters=["chosen_score >= 8"], max_steps=4)
    run = create_run(config)
    base = AutoModelForCausalLM.from_pretrained(model_location)
    peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                 task_type="CAUSAL_LM"))
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for pname, param in peft_model.named_parameters():
            if "lora_" in pname:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.05)
    for step in checkpoints:
        peft_model.save_pretrained(str(run.checkpoints_dir / f"checkpoint-{step}"))
    if final:
        with torch.no_grad():
            for pname, param in peft_model.named_parameters():
                if "lora_B" in pname:
                    param.mul_(1.5)
        peft_model.save_pretrained(str(run.adapter_dir))
    for step, loss in ((1, 0.6931), (2, 0.61), (3, 0.52), (4, 0.47)):
        run.append_event({"type": "log", "step": step, "epoch": step / 4,
                          "metrics": {"loss": loss, "rewards/margins": 0.1 * step, "rewards/accuracies": 0.75,
                                      "rewards/chosen": 0.05 * step, "rewards/rejected": -0.05 * step}})
    run.append_event({"type": "eval", "step": 4, "metrics": {"eval_loss": 0.5123, "eval_rewards/accuracies": 0.8}})
    run.update_info(status="finished" if final else "cancelled", step=4, device="cpu", precision="fp32")
    return run
