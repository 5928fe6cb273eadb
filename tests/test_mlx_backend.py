"""The MLX backend on a tiny local Llama: the torch engine's numbers, TRL's metric names, the run folder, stop and
resume, and adapters that convert both ways with the same logits.

MLX on this CPU is far too slow for SmolLM2-135M, so the model is a 2-layer random-weight Llama with SmolLM2's
tokenizer (``mlx_fixtures``). Tolerances: log-prob sums agree with the torch engine within 1e-3 relative (measured
here ~1e-6); logits of converted adapters within 1e-4 absolute (measured ~1e-6, fp32 on both sides).
"""

from __future__ import annotations

import json
import threading

import pytest

pytest.importorskip("mlx.core", reason="MLX is not installed (on Linux: pip install 'mlx[cpu]' mlx-lm mlx-lm-lora)")
pytest.importorskip("mlx_lm", reason="mlx-lm is not installed (pip install mlx-lm)")
pytest.importorskip("mlx_lm_lora", reason="mlx-lm-lora is not installed (pip install mlx-lm-lora)")

import mlx.core as mx  # noqa: E402
import numpy as np  # noqa: E402
from mlx_fixtures import make_tiny_llama  # noqa: E402

from dpostudio.core.paths import RESOURCES_DIR  # noqa: E402
from dpostudio.core.training.backends.mlx_adapters import (  # noqa: E402
    LoraShape,
    attach_lora,
    block_linear_keys,
    load_peft_into_mlx,
    lora_weights,
    mlx_adapter_to_peft,
    peft_to_mlx_adapter,
    save_mlx_adapter,
    save_peft_adapter,
)
from dpostudio.core.training.engine import train  # noqa: E402
from dpostudio.core.training.run_config import RunConfig  # noqa: E402

TRL_METRICS = (
    "loss",
    "grad_norm",
    "learning_rate",
    "rewards/chosen",
    "rewards/rejected",
    "rewards/margins",
    "rewards/accuracies",
    "logps/chosen",
    "logps/rejected",
)


@pytest.fixture(scope="session")
def tiny_model(embedded_model, tmp_path_factory):
    return make_tiny_llama(embedded_model.location, tmp_path_factory.mktemp("tiny-llama") / "tiny")


@pytest.fixture
def pairs(tmp_path):
    rows = (RESOURCES_DIR / "demo_pairs" / "train.jsonl").read_text(encoding="utf-8").splitlines()[:12]
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def tiny_config(model, dataset, **changes):
    base = dict(
        model=str(model),
        dataset=str(dataset),
        eval_ratio=0.25,
        per_device_batch_size=3,
        max_steps=4,
        eval_steps=4,
        save_steps=2,
        learning_rate=5e-3,
        lr_scheduler_type="constant",
        max_length=96,
        lora_r=8,
        lora_alpha=16,
        lora_dropout=0.0,
        seed=1,
        precision="fp32",
        backend="mlx",
    )
    return RunConfig(**{**base, **changes})


@pytest.mark.slow
def test_first_step_matches_the_torch_engine_on_the_same_weights_and_pairs(tiny_model, pairs):
    # one batch holding every training pair: the same pairs in both engines whatever their shuffling
    changes = dict(per_device_batch_size=9, max_steps=1, eval_steps=None, eval_ratio=0.25)
    torch_run = train(tiny_config(tiny_model, pairs, backend="torch", **changes))
    mlx_run = train(tiny_config(tiny_model, pairs, **changes))
    assert torch_run.info()["status"] == mlx_run.info()["status"] == "finished", (torch_run.info(), mlx_run.info())
    t, m = torch_run.metrics("log")[0], mlx_run.metrics("log")[0]
    assert m["loss"] == pytest.approx(t["loss"], abs=1e-5)  # ln 2: policy == reference at step 1
    assert m["logps/chosen"] == pytest.approx(t["logps/chosen"], rel=1e-3)
    assert m["logps/rejected"] == pytest.approx(t["logps/rejected"], rel=1e-3)
    assert m["rewards/margins"] == pytest.approx(0.0, abs=1e-6)
    assert mlx_run.info()["backend"] == "mlx" and mlx_run.info()["device"] == "mlx-cpu"


@pytest.mark.slow
def test_mlx_run_learns_logs_trls_metrics_and_saves_a_peft_adapter(tiny_model, pairs):
    events = []
    run = train(tiny_config(tiny_model, pairs, max_steps=6, eval_steps=3, save_steps=3), events.append)
    info = run.info()
    assert info["status"] == "finished", info
    kinds = [e["type"] for e in events]
    assert {"started", "stage", "log", "eval", "checkpoint", "summary", "finished"} <= set(kinds)
    logs = run.metrics("log")
    assert [m["step"] for m in logs] == [1, 2, 3, 4, 5, 6]
    for name in TRL_METRICS:
        assert name in logs[-1], name
    assert logs[-1]["loss"] < logs[0]["loss"] - 0.05  # the preference loss falls on the pairs it trains on
    assert logs[-1]["rewards/margins"] > 0
    evals = run.metrics("eval")
    assert [e["step"] for e in evals] == [3, 6]
    for name in ("eval_loss", "eval_rewards/accuracies", "eval_rewards/margins", "eval_logps/chosen"):
        assert name in evals[-1], name
    assert run.checkpoint_steps() == [3, 6]
    assert (run.checkpoints_dir / "checkpoint-6" / "trainer_state.json").is_file()

    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    tuned = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(tiny_model)), str(run.adapter_dir))
    assert any("lora_B" in name and param.abs().sum() > 0 for name, param in tuned.named_parameters())


@pytest.mark.slow
def test_stop_saves_a_checkpoint_and_resume_ends_where_an_unbroken_run_ends(tiny_model, pairs):
    cancel = threading.Event()

    def stop_after_step_2(event):
        if event["type"] == "log" and event["step"] == 2:
            cancel.set()

    config = tiny_config(tiny_model, pairs, save_steps=50, eval_steps=None)
    run = train(config, stop_after_step_2, cancel)
    assert run.info()["status"] == "cancelled"
    assert "dpostudio train --resume" in run.info()["message"]
    assert run.latest_checkpoint().name == "checkpoint-2"
    assert not run.adapter_dir.exists()

    events = []
    resumed = train(None, events.append, resume=run.id)
    assert resumed.info()["status"] == "finished", resumed.info()
    assert events[0]["resumed_from_step"] == 2
    assert next(e for e in events if e["type"] == "log")["step"] == 3
    assert [m["step"] for m in run.metrics("log")] == [1, 2, 3, 4]

    unbroken = train(config)
    for name in ("loss", "logps/chosen"):  # the same batches, optimizer state and weights after the resume
        assert run.metrics("log")[-1][name] == pytest.approx(unbroken.metrics("log")[-1][name], rel=1e-4)
    a = mx.load(str(run.adapter_dir / "adapter_model.safetensors"))
    b = mx.load(str(unbroken.adapter_dir / "adapter_model.safetensors"))
    assert max(float(mx.abs(a[k] - b[k]).max()) for k in a) < 1e-5


def _mlx_logits(model, ids):
    return np.array(model(mx.array([ids])).astype(mx.float32))


def _torch_logits(folder, adapter, ids):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(folder)), str(adapter)).eval()
    with torch.no_grad():
        return model(torch.tensor([ids])).logits.float().numpy()


@pytest.mark.slow
def test_adapters_convert_both_ways_with_the_same_logits(tiny_model, tmp_path):
    from mlx_lm.utils import load_model

    ids = [1, 504, 3145, 314, 253, 2418, 30, 216, 2, 7]
    model, _ = load_model(tiny_model)
    mx.random.seed(3)
    shape = LoraShape(4, 8.0, 0.0, block_linear_keys(model, ["all-linear"]))
    attach_lora(model, shape)
    model.load_weights([(k, mx.random.normal(v.shape) * 0.05) for k, v in lora_weights(model).items()], strict=False)
    model.eval()
    mlx_out = _mlx_logits(model, ids)

    # MLX -> PEFT: PEFT's model with the converted adapter gives MLX's logits
    peft_dir = save_peft_adapter(lora_weights(model), tmp_path / "peft", shape, str(tiny_model))
    torch_out = _torch_logits(tiny_model, peft_dir, ids)
    base_out = _mlx_logits(load_model(tiny_model)[0], ids)
    assert np.abs(mlx_out - base_out).max() > 1e-2  # the adapter changes the logits: the comparison means something
    assert np.abs(torch_out - mlx_out).max() < 1e-4
    assert json.loads((peft_dir / "adapter_config.json").read_text())["target_modules"] == sorted(
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )

    # PEFT -> MLX: a PEFT adapter made by torch, loaded into MLX, gives torch's logits
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(5)
    peft_model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(str(tiny_model)),
        LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False),
    )
    peft_model.save_pretrained(str(tmp_path / "from-torch"))
    torch_made = _torch_logits(tiny_model, tmp_path / "from-torch", ids)
    fresh, _ = load_model(tiny_model)
    loaded_shape = load_peft_into_mlx(fresh, tmp_path / "from-torch")
    fresh.eval()
    assert loaded_shape.keys == ("self_attn.q_proj", "self_attn.v_proj") and loaded_shape.scale == 4.0
    assert np.abs(_mlx_logits(fresh, ids) - torch_made).max() < 1e-4

    # whole folders: mlx-lm's adapter format <-> PEFT, and mlx-lm's own loader reads what we write
    from mlx_lm.tuner.utils import load_adapters

    mlx_dir = peft_to_mlx_adapter(tmp_path / "from-torch", tmp_path / "mlx-format", num_layers=len(fresh.layers))
    via_mlx_lm = load_adapters(load_model(tiny_model)[0], str(mlx_dir))
    via_mlx_lm.eval()
    assert np.abs(_mlx_logits(via_mlx_lm, ids) - torch_made).max() < 1e-4
    back = mlx_adapter_to_peft(mlx_dir, tmp_path / "peft-again", str(tiny_model))
    assert np.abs(_torch_logits(tiny_model, back, ids) - torch_made).max() < 1e-5
    save_mlx_adapter(lora_weights(fresh), tmp_path / "direct", loaded_shape, len(fresh.layers))
    assert (tmp_path / "direct" / "adapters.safetensors").is_file()


@pytest.mark.slow
def test_mlx_chosen_for_an_option_it_lacks_fails_in_words(tiny_model, pairs):
    run = train(tiny_config(tiny_model, pairs, loss_type="robust"))
    assert run.info()["status"] == "failed"
    assert "MLX cannot train with the 'robust' loss" in run.info()["message"]
