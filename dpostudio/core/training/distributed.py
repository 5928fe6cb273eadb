"""The engine on several processes: what changes when ``train`` runs under ``accelerate launch``.

Every process runs the same engine code (DDP, FSDP or DeepSpeed: TRL's trainer and accelerate do the splitting);
these helpers make the run folder and the events come out as from one process:

* ``open_run``: the main process makes (or checks, to resume) the one run folder and tells the others where it is;
  they get a ``FollowerRun``, which reads that folder and writes nothing to it (run.json, metrics log, text log).
* ``event_listener``: only the main process hears events; with ``DPOSTUDIO_EVENT_STREAM=1`` (set by
  ``launcher``) it prints each as one JSON line on stdout, prefixed ``EVENT_PREFIX``, for the process that launched
  the run to relay.
* ``shared_cancel`` / ``stop_callbacks``: a stop reaches every process at the same step. Each process's own flag
  (Ctrl-C, the file named by ``DPOSTUDIO_STOP_FILE``) is combined with the others' (a max all-reduce) at each step
  end, so all stop at the same step and save one checkpoint together.
* ``record_layout``: processes, strategy and effective batch (per-device batch × processes × accumulation) in
  run.json and the text log.

Outside a launch (``launched()`` false) each helper gives back what the engine had before, unchanged.
Training on one process never imports accelerate's state from here.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dpostudio.core.errors import UserError
from dpostudio.core.training.event_types import RUNNING
from dpostudio.core.training.run_config import STRATEGIES, RunConfig
from dpostudio.core.training.runs import Run, RunError, create_run, get_run

EVENT_STREAM_ENV = "DPOSTUDIO_EVENT_STREAM"  # "1": the main process prints its events as JSON lines on stdout
STOP_FILE_ENV = "DPOSTUDIO_STOP_FILE"  # a file whose appearance asks every process to stop at the next step
EVENT_PREFIX = "@dpostudio-event "
DEEPSPEED_STRATEGIES = {"deepspeed-zero2": 2, "deepspeed-zero3": 3}

__all__ = ["EVENT_PREFIX", "STRATEGIES", "LaunchError", "launched", "open_run", "shared_cancel"]


class LaunchError(UserError, ValueError):
    """A run cannot be spread over the processes asked for (too few GPUs, deepspeed missing, ...)."""


def launched() -> bool:
    """Whether this process is one of several started by ``accelerate launch`` / torchrun."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1
    except ValueError:
        return False


def _state(config: RunConfig | None = None) -> Any:
    """accelerate's PartialState, started for the device the run will use: gloo on the CPU, NCCL on NVIDIA GPUs
    (the trainer later finds the same process group)."""
    import torch
    from accelerate import PartialState

    if PartialState._shared_state:  # started already (by open_run, or by the trainer's arguments)
        return PartialState()
    cpu = not torch.cuda.is_available() or (config is not None and config.device == "cpu")
    return PartialState(cpu=cpu)


def is_main_process() -> bool:
    return not launched() or bool(_state().is_main_process)


def process_count() -> int:
    return int(_state().num_processes) if launched() else 1


# ---- the run folder ---------------------------------------------------------------------------------------
@dataclass
class FollowerRun(Run):
    """The run folder as the processes other than the main one see it: they read it, they never write it. What
    the engine would have written to run.json stays in memory (``status()`` tells how this process ended)."""

    kept: dict[str, Any] = field(default_factory=dict)

    def info(self) -> dict[str, Any]:
        return {**super().info(), **self.kept}

    def update_info(self, **changes: Any) -> dict[str, Any]:
        self.kept.update(changes)
        return self.info()

    def append_event(self, event: Any) -> None:
        return None

    def log(self, message: str) -> None:
        return None


def _open_here(config: RunConfig | None, resume: str | Run | None) -> tuple[Run, RunConfig]:
    if resume is not None:
        run = resume if isinstance(resume, Run) else get_run(resume)
        if run.status() == RUNNING:  # before anything is written: the live run's files are not ours to touch
            raise RunError(f"run {run.id} is still training (process {run.info().get('pid')}); stop it before resuming")
        return run, run.config()
    config = config or RunConfig()
    return create_run(config), config


def open_run(config: RunConfig | None, resume: str | Run | None) -> tuple[Run, RunConfig]:
    """The run to train (a new folder for ``config``, or ``resume``'s) and its configuration. Under a launch the
    main process opens it and sends its path to the others (or the reason it cannot, which all of them raise)."""
    if not launched():
        return _open_here(config, resume)
    from accelerate.utils import broadcast_object_list

    if config is None and resume is not None:  # the device decides the process group's backend
        config = (resume if isinstance(resume, Run) else get_run(resume)).config()
    state = _state(config)
    answer: list[Any] = [None]
    opened = None
    if state.is_main_process:
        try:
            opened = _open_here(config, resume)
            answer = [str(opened[0].path)]
        except RunError as exc:
            answer = [{"error": str(exc)}]
    broadcast_object_list(answer, from_process=0)
    if isinstance(answer[0], dict):
        raise RunError(answer[0]["error"])
    if opened is not None:
        return opened
    follower = FollowerRun(Path(answer[0]))
    return follower, follower.config()


def record_layout(run: Run, config: RunConfig) -> None:
    """How the run is spread, in run.json and the text log: processes, strategy, effective batch, host."""
    processes = process_count()
    effective = config.per_device_batch_size * processes * config.gradient_accumulation_steps
    run.update_info(
        processes=processes,
        strategy=config.strategy if processes > 1 else None,
        effective_batch_size=effective,
        host=socket.gethostname(),
    )
    if processes > 1:
        run.log(
            f"{processes} processes ({config.strategy}); effective batch {effective} = {config.per_device_batch_size}"
            f" per device × {processes} processes × {config.gradient_accumulation_steps} accumulation"
        )


def placement(device: str) -> Any:
    """Where this process puts the model: its own GPU under a launch (``cuda:<local rank>``), else ``device``."""
    if launched() and device == "cuda":
        return _state().device
    return device


def single_process() -> bool:
    """False under a launch. The reference cache is used on one process only: its hits differ between processes,
    and a forward pass run by some processes and not others would hang the collective operations."""
    return not launched()


# ---- events -----------------------------------------------------------------------------------------------
def event_listener(on_event: Any) -> Any:
    """The listener the engine calls: ``on_event`` on the main process (or the JSON-line printer when the
    launcher asked for the event stream), nothing on the others."""
    if not is_main_process():
        return lambda event: None
    if os.environ.get(EVENT_STREAM_ENV) == "1":
        return print_event
    return on_event or (lambda event: None)


def print_event(event: Any) -> None:
    sys.stdout.write(EVENT_PREFIX + json.dumps(event, default=_jsonable) + "\n")
    sys.stdout.flush()


def _jsonable(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


# ---- stop ---------------------------------------------------------------------------------------------------
class SharedStop:
    """A stop flag all processes read alike. ``set`` raises this process's own flag; ``is_set`` is what the
    processes agreed at the last step end (``agree``, called by ``stop_callbacks``' callback on every process)."""

    def __init__(self, local: Any, stop_file: str | None):
        self.local = local
        self.stop_file = Path(stop_file) if stop_file else None
        self.agreed = False

    def set(self) -> None:
        self.local.set()

    def is_set(self) -> bool:
        return self.agreed

    def wanted_here(self) -> bool:
        return bool(self.local.is_set() or (self.stop_file is not None and self.stop_file.exists()))

    def agree(self) -> bool:
        import torch
        import torch.distributed as dist

        flag = torch.tensor([1 if self.wanted_here() else 0], device=_state().device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        self.agreed = self.agreed or bool(flag.item())
        return self.agreed


def shared_cancel(cancel: Any) -> Any:
    """``cancel`` itself on one process; under a launch a ``SharedStop`` around it."""
    if not launched():
        return cancel
    return SharedStop(cancel, os.environ.get(STOP_FILE_ENV))


def stop_callbacks(cancel: Any) -> list[Any]:
    """The trainer callbacks that make ``shared_cancel``'s flag agree across processes (none on one process).
    Put after the engine's callback: it reads the flag agreed at the previous step end, the same on every
    process, and the step's own log already sees this step's."""
    if not isinstance(cancel, SharedStop):
        return []
    from transformers import TrainerCallback

    class AgreeOnStop(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            cancel.agree()
            return control

    return [AgreeOnStop()]


# ---- what a launch needs ------------------------------------------------------------------------------------
def check_launch(config: RunConfig, gpus: int, *, has_deepspeed: bool | None = None, mps: bool = False) -> bool:
    """Refuse, in words with the fix, a spread this machine cannot run; True when it will run on CPU processes.
    ``gpus``: the NVIDIA GPUs here (``torch.cuda.device_count()``)."""
    if config.devices < 2:
        return config.device == "cpu" or gpus == 0
    if config.strategy not in STRATEGIES:
        raise LaunchError(f"strategy must be one of {', '.join(STRATEGIES)}, not {config.strategy!r}")
    if has_deepspeed is None:
        import importlib.util

        has_deepspeed = importlib.util.find_spec("deepspeed") is not None
    if config.strategy in DEEPSPEED_STRATEGIES and not has_deepspeed:
        raise LaunchError(
            f"strategy {config.strategy} needs the deepspeed package, which is not installed: install it with "
            "'pip install deepspeed' on a machine with NVIDIA GPUs and CUDA, or choose the ddp or fsdp strategy"
        )
    cpu = config.device == "cpu" or (gpus == 0 and config.device == "auto" and not mps)
    if cpu:
        if config.strategy != "ddp":
            raise LaunchError(
                f"strategy {config.strategy} needs NVIDIA GPUs; on the CPU several processes can only use ddp "
                "(set strategy to ddp, or devices to 1)"
            )
        return True
    if gpus == 0:
        where = "Apple MPS" if mps or config.device == "mps" else "this machine"
        raise LaunchError(
            f"devices is {config.devices}, but {where} has no NVIDIA GPU to spread the run over: set devices to 1, "
            "set device to cpu to try it with CPU processes, or export a launch bundle for a machine with GPUs"
        )
    if config.devices > gpus:
        raise LaunchError(
            f"devices is {config.devices}, but this machine has {gpus} NVIDIA GPU{'s' if gpus != 1 else ''}: "
            f"set devices to {gpus} or fewer, or export a launch bundle to run it on a bigger machine or a cluster"
        )
    return False


def accelerate_config(config: RunConfig, *, processes: int | None = None, machines: int = 1) -> dict[str, Any]:
    """The accelerate config file (as a dict, for YAML) for ``config.strategy`` on ``processes`` processes in all.

    Mixed precision is left to the engine ('no' here: the engine turns bf16/fp16 on from its own choice). The
    values follow TRL's example configs (trl/accelerate_configs)."""
    processes = processes or config.devices
    data: dict[str, Any] = {
        "compute_environment": "LOCAL_MACHINE",
        "debug": False,
        "distributed_type": "MULTI_GPU",
        "downcast_bf16": "no",
        "machine_rank": 0,
        "main_training_function": "main",
        "mixed_precision": "no",
        "num_machines": machines,
        "num_processes": processes,
        "rdzv_backend": "static",
        "same_network": True,
        "tpu_env": [],
        "tpu_use_cluster": False,
        "tpu_use_sudo": False,
        "use_cpu": False,
    }
    if config.strategy == "ddp":
        data["gpu_ids"] = "all"
    elif config.strategy == "fsdp":
        data["distributed_type"] = "FSDP"
        data["fsdp_config"] = {
            "fsdp_activation_checkpointing": False,
            "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
            "fsdp_cpu_ram_efficient_loading": False,
            "fsdp_offload_params": False,
            "fsdp_reshard_after_forward": True,
            "fsdp_state_dict_type": "FULL_STATE_DICT",
            "fsdp_version": 2,
        }
    else:
        stage = DEEPSPEED_STRATEGIES[config.strategy]
        data["distributed_type"] = "DEEPSPEED"
        data["deepspeed_config"] = {
            "deepspeed_multinode_launcher": "standard",
            "gradient_accumulation_steps": config.gradient_accumulation_steps,
            "offload_optimizer_device": "none",
            "offload_param_device": "none",
            "zero3_init_flag": False,
            "zero_stage": stage,
            **({"zero3_save_16bit_model": True} if stage == 3 else {}),
        }
    return data


def write_accelerate_config(path: str | Path, config: RunConfig, **kwargs: Any) -> Path:
    import yaml

    path = Path(path)
    path.write_text(yaml.safe_dump(accelerate_config(config, **kwargs), sort_keys=False), encoding="utf-8")
    return path
