"""Training on several processes through ``accelerate launch``: a real 2-process CPU DDP run (gloo) of the embedded
model, stopped at a step boundary and resumed; the accelerate config files per strategy; bad inputs in words."""

from __future__ import annotations

import json
import threading

import pytest

from dpostudio.core.paths import RESOURCES_DIR
from dpostudio.core.training.distributed import LaunchError, accelerate_config, check_launch, write_accelerate_config
from dpostudio.core.training.run_config import STRATEGIES, ConfigError, RunConfig


@pytest.fixture
def eight_pairs(tmp_path):
    rows = (RESOURCES_DIR / "demo_pairs" / "train.jsonl").read_text(encoding="utf-8").splitlines()[:8]
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def tiny_config(dataset, **changes) -> RunConfig:
    base = dict(
        dataset=str(dataset), eval_ratio=0.0, devices=2, device="cpu", per_device_batch_size=1,
        gradient_accumulation_steps=2, max_steps=4, max_length=64, save_steps=50, lora_r=4, lora_alpha=8,
        learning_rate=5e-4, lr_scheduler_type="constant", seed=1, name="ddp",
    )  # fmt: skip
    return RunConfig(**{**base, **changes})


def raw_log_steps(run) -> list[int]:
    lines = run.metrics_path.read_text(encoding="utf-8").splitlines()
    return [e["step"] for e in map(json.loads, lines) if e["type"] == "log"]


@pytest.mark.slow
def test_two_cpu_processes_train_stop_together_and_resume(embedded_model, eight_pairs):
    from dpostudio.core.training.launcher import train_anywhere

    cancel, events = threading.Event(), []

    def listen(event):
        events.append(event)
        if event["type"] == "log" and event["step"] == 2:
            cancel.set()  # reaches both processes through the stop file; they agree at a step end

    run = train_anywhere(tiny_config(eight_pairs), listen, cancel)
    assert run is not None
    info = run.info()
    assert info["status"] == "cancelled", (info, events[-1])
    assert events[-1]["type"] == "cancelled"
    stopped = events[-1]["step"]
    assert 2 <= stopped < 4
    # one checkpoint, at the step both processes stopped at, with each process's random state in it
    checkpoints = run.checkpoints(resumable=True)
    assert [c.step for c in checkpoints] == [stopped]
    assert {"rng_state_0.pth", "rng_state_1.pth"} <= {p.name for p in checkpoints[0].path.iterdir()}
    # only the main process wrote: one log record per step, one started event, the layout in run.json
    assert raw_log_steps(run) == list(range(1, stopped + 1))
    assert sum(e["type"] == "started" for e in events) == 1
    assert info["processes"] == 2 and info["strategy"] == "ddp"
    assert info["effective_batch_size"] == 1 * 2 * 2
    assert {e["max_steps"] for e in events if e["type"] == "log"} == {4}
    assert "2 processes (ddp); effective batch 4" in run.log_path.read_text(encoding="utf-8")
    assert (run.path / "launch.log").is_file()

    # resumed through the app's training-process entry (the Training pane's Resume), which launches it again
    from dpostudio.ui.training.worker import _train

    resumed_events: list[dict] = []
    ended = _train(None, run.id, resumed_events.append, threading.Event())
    assert ended["run_id"] == run.id and ended["status"] == "finished", resumed_events[-1]
    resumed = run
    assert resumed_events[0]["type"] == "started" and resumed_events[0]["resumed_from_step"] == stopped
    assert next(e for e in resumed_events if e["type"] == "log")["step"] == stopped + 1
    assert raw_log_steps(run) == [1, 2, 3, 4]  # no step logged twice, none missing
    assert [m["step"] for m in run.metrics("log")] == [1, 2, 3, 4]
    assert resumed.info()["step"] == 4

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(embedded_model.location)
    tuned = PeftModel.from_pretrained(base, str(run.final_adapter()))
    lora = {name: p for name, p in tuned.named_parameters() if "lora_B" in name}
    assert lora and any(torch.count_nonzero(p) > 0 for p in lora.values())  # trained: B starts at zero


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_accelerate_reads_the_config_written_for_each_strategy(tmp_path, strategy):
    from accelerate.commands.config.config_args import load_config_from_file

    config = RunConfig(devices=4, strategy=strategy, gradient_accumulation_steps=3)
    path = write_accelerate_config(tmp_path / "accelerate.yaml", config, processes=8, machines=2)
    loaded = load_config_from_file(str(path))
    expected = {"ddp": "MULTI_GPU", "fsdp": "FSDP"}.get(strategy, "DEEPSPEED")
    assert str(loaded.distributed_type).split(".")[-1] == expected
    assert (loaded.num_processes, loaded.num_machines) == (8, 2)
    assert loaded.mixed_precision == "no"  # the engine turns bf16/fp16 on itself
    if expected == "DEEPSPEED":
        assert loaded.deepspeed_config["zero_stage"] == int(strategy[-1])
        assert loaded.deepspeed_config["gradient_accumulation_steps"] == 3
    if expected == "FSDP":
        assert loaded.fsdp_config["fsdp_version"] == 2


def test_bad_devices_and_strategies_are_refused_in_words():
    with pytest.raises(ConfigError, match="devices: must be at least 1"):
        RunConfig(devices=0)
    with pytest.raises(ConfigError, match="strategy: must be one of ddp, fsdp, deepspeed-zero2, deepspeed-zero3"):
        RunConfig(strategy="zero9")
    with pytest.raises(LaunchError, match="needs the deepspeed package.*pip install deepspeed"):
        check_launch(RunConfig(devices=2, strategy="deepspeed-zero3"), gpus=4, has_deepspeed=False)
    with pytest.raises(LaunchError, match="devices is 8, but this machine has 2 NVIDIA GPUs: set devices to 2"):
        check_launch(RunConfig(devices=8), gpus=2)
    with pytest.raises(LaunchError, match="fsdp needs NVIDIA GPUs; on the CPU several processes can only use ddp"):
        check_launch(RunConfig(devices=2, strategy="fsdp"), gpus=0)
    with pytest.raises(LaunchError, match="Apple MPS has no NVIDIA GPU"):
        check_launch(RunConfig(devices=2), gpus=0, mps=True)
    assert check_launch(RunConfig(devices=2), gpus=0) is True  # CPU processes (gloo)
    assert check_launch(RunConfig(devices=2, device="cpu"), gpus=8) is True
    assert check_launch(RunConfig(devices=4, strategy="deepspeed-zero2"), gpus=4, has_deepspeed=True) is False
    assert accelerate_config(RunConfig(devices=3))["num_processes"] == 3


def test_cli_says_what_is_wrong_before_launching(capsys, eight_pairs):
    import importlib.util

    from dpostudio.cli import main

    assert main(["train", "--devices", "0", "--dataset", str(eight_pairs)]) == 2
    assert "devices: must be at least 1, not 0" in capsys.readouterr().err
    if importlib.util.find_spec("deepspeed") is None:
        argv = ["train", "--dataset", str(eight_pairs), "--devices", "2", "--strategy", "deepspeed-zero2"]
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert "error: strategy deepspeed-zero2 needs the deepspeed package" in err
        assert "Traceback" not in err
