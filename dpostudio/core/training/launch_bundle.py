"""A launch bundle: one folder that trains a run on another machine or a cluster, with accelerate.

``write_bundle(config, folder)`` writes:

* ``config.toml``: the resolved run configuration (a local dataset file is copied into ``data/`` and the config
  points there, relative to the bundle);
* ``accelerate.yaml``: the accelerate config for ``config.strategy`` (``distributed.accelerate_config``);
* ``launch.sh``: ``accelerate launch ... -m dpostudio train --config config.toml``; environment variables override
  the Python, the number of processes and the machines (``PYTHON``/``DPOSTUDIO_PYTHON``, ``NUM_PROCESSES``,
  ``NUM_MACHINES``, ``MACHINE_RANK``, ``MAIN_PROCESS_IP``, ``MAIN_PROCESS_PORT``) and its arguments are passed on
  to ``dpostudio train`` (e.g. ``--device cpu`` to try it without GPUs);
* ``slurm.sbatch``: a SLURM batch script (one task per node, each running launch.sh);
* ``sky.yaml``: a SkyPilot task;
* ``README.md``: how to run each, and how to bring the run folder back (``dpostudio runs import`` or the app's
  File ▸ Import Run Folder…); the run then opens in the Metrics, Comparison and Export panes like a local one.

The run folder is made under ``dpostudio-home/runs/`` next to launch.sh (``DPOSTUDIO_HOME`` moves it).
"""

from __future__ import annotations

import shlex
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

from dpostudio.core.errors import UserError
from dpostudio.core.training.distributed import DEEPSPEED_STRATEGIES, write_accelerate_config
from dpostudio.core.training.run_config import RunConfig

BUNDLE_FILES = ("config.toml", "accelerate.yaml", "launch.sh", "slurm.sbatch", "sky.yaml", "README.md")
HOME_FOLDER = "dpostudio-home"


class BundleError(UserError, ValueError):
    """The bundle cannot be written where asked."""


@dataclass
class Bundle:
    folder: Path
    config: RunConfig
    notes: list[str] = field(default_factory=list)  # what the user must see to before running it elsewhere

    @property
    def files(self) -> list[Path]:
        return [self.folder / name for name in BUNDLE_FILES]


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text).strip("-")[:40] or "run"


def write_bundle(config: RunConfig, folder: str | Path, *, machines: int = 1, copy_data: bool = True) -> Bundle:
    """Write the launch bundle of ``config`` into ``folder`` (new or empty). ``machines``: how many computers share
    the run (``config.devices`` processes on each). Returns the bundle with notes on what was not packed."""
    folder = Path(folder).expanduser()
    if machines < 1:
        raise BundleError(f"machines must be at least 1, not {machines}")
    if folder.exists() and not folder.is_dir():
        raise BundleError(f"{folder} is a file; choose a folder for the launch bundle")
    if folder.is_dir() and any(p.name not in BUNDLE_FILES and p.name != "data" for p in folder.iterdir()):
        raise BundleError(f"{folder} already holds other files; choose a new or empty folder for the launch bundle")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BundleError(f"cannot make the folder {folder}: {exc.strerror or exc}") from exc
    config, notes = _pack_inputs(config, folder, copy_data)
    name = _slug(config.name or "dpostudio-run")
    config.save(folder / "config.toml")
    write_accelerate_config(folder / "accelerate.yaml", config, processes=config.devices * machines, machines=machines)
    _write(folder / "launch.sh", launch_script(config), executable=True)
    _write(folder / "slurm.sbatch", slurm_script(config, name, machines), executable=True)
    _write(folder / "sky.yaml", skypilot_task(config, name, machines))
    _write(folder / "README.md", readme(config, name, machines, notes))
    return Bundle(folder, config, notes)


def _write(path: Path, text: str, executable: bool = False) -> None:
    path.write_text(text, encoding="utf-8", newline="\n")
    if executable:
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def _pack_inputs(config: RunConfig, folder: Path, copy_data: bool) -> tuple[RunConfig, list[str]]:
    """Copy a local dataset file into ``data/`` (the config then names it relative to the bundle); note what
    stays on this computer."""
    notes: list[str] = []
    changes: dict[str, object] = {}
    dataset = Path(config.dataset).expanduser()
    if dataset.is_file():
        if copy_data:
            (folder / "data").mkdir(exist_ok=True)
            shutil.copyfile(dataset, folder / "data" / dataset.name)
            changes["dataset"] = f"data/{dataset.name}"
            notes.append(f"the dataset {dataset} is copied into data/{dataset.name}")
        else:
            notes.append(
                f"the dataset {dataset} is a file on this computer: copy it over and set dataset in config.toml"
            )
    model = Path(config.model).expanduser()
    if model.exists():
        notes.append(
            f"the model {model} is on this computer and not in the bundle: copy it over (or name a Hugging Face id) "
            "and set model in config.toml"
        )
    if config.init_adapter and Path(config.init_adapter).expanduser().exists():
        notes.append(f"init_adapter {config.init_adapter} is on this computer: copy it over and set it in config.toml")
    for entry in config.extra_eval_sets:
        source = entry.split("=", 1)[-1]
        if Path(source).expanduser().is_file():
            notes.append(f"the extra eval set {source} is on this computer: copy it over and set it in config.toml")
    if config.strategy in DEEPSPEED_STRATEGIES:
        notes.append(f"strategy {config.strategy} needs 'pip install deepspeed' on the machines that train")
    if config.device == "mps":
        notes.append("device is mps (Apple): set device to auto or cuda in config.toml for a machine with NVIDIA GPUs")
    return (config.replace(**changes) if changes else config), notes


def launch_script(config: RunConfig) -> str:
    return f"""#!/usr/bin/env bash
# DPO Studio launch bundle: train this run with accelerate ({config.strategy}, {config.devices} process(es) a machine).
# Usage: ./launch.sh [more `dpostudio train` options, e.g. --max-steps 100, or --device cpu to try it without GPUs]
# Environment (all optional):
#   PYTHON / DPOSTUDIO_PYTHON  the Python that has dpostudio and accelerate installed (default: python3)
#   NUM_PROCESSES              processes (GPUs) on this machine (default: {config.devices})
#   NUM_MACHINES, MACHINE_RANK, MAIN_PROCESS_IP, MAIN_PROCESS_PORT   for several machines (slurm.sbatch sets them)
#   DPOSTUDIO_HOME             where the run folder goes (default: {HOME_FOLDER}/ next to this script)
set -euo pipefail
HERE="$(cd "$(dirname "${{BASH_SOURCE[0]}}")" && pwd)"
cd "$HERE"
PYTHON="${{DPOSTUDIO_PYTHON:-${{PYTHON:-python3}}}}"
NUM_PROCESSES="${{NUM_PROCESSES:-{config.devices}}}"
NUM_MACHINES="${{NUM_MACHINES:-1}}"
export DPOSTUDIO_HOME="${{DPOSTUDIO_HOME:-$HERE/{HOME_FOLDER}}}"
exec "$PYTHON" -m accelerate.commands.launch --config_file "$HERE/accelerate.yaml" \\
  --num_processes "$((NUM_PROCESSES * NUM_MACHINES))" --num_machines "$NUM_MACHINES" \\
  --machine_rank "${{MACHINE_RANK:-0}}" --main_process_ip "${{MAIN_PROCESS_IP:-127.0.0.1}}" \\
  --main_process_port "${{MAIN_PROCESS_PORT:-29500}}" \\
  -m dpostudio train --config "$HERE/config.toml" "$@"
"""


def slurm_script(config: RunConfig, name: str, machines: int) -> str:
    return f"""#!/bin/bash
# DPO Studio launch bundle for SLURM. Submit it from this folder: sbatch slurm.sbatch
# One task per machine; each runs launch.sh, which starts {config.devices} process(es) there with accelerate.
# Add the lines your cluster needs (partition, account, QOS) below; the run folder must be on a shared disk.
#SBATCH --job-name={shlex.quote("dpostudio-" + name)}
#SBATCH --nodes={machines}
#SBATCH --ntasks-per-node=1
#SBATCH --gres=gpu:{config.devices}
#SBATCH --cpus-per-task={8 * config.devices}
#SBATCH --time=24:00:00
#SBATCH --output=%x-%j.out
##SBATCH --partition=gpu
##SBATCH --account=my-account
set -euo pipefail
cd "${{SLURM_SUBMIT_DIR:-$(pwd)}}"
export NUM_PROCESSES={config.devices}
export NUM_MACHINES="${{SLURM_NNODES:-{machines}}}"
export MAIN_PROCESS_IP="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"
export MAIN_PROCESS_PORT="${{MAIN_PROCESS_PORT:-29500}}"
srun --ntasks-per-node=1 bash -c 'MACHINE_RANK=$SLURM_NODEID ./launch.sh'
"""


def skypilot_task(config: RunConfig, name: str, machines: int) -> str:
    return f"""# DPO Studio launch bundle for SkyPilot: sky launch -c {name} sky.yaml   (from this folder)
# The folder is synced to ~/sky_workdir on each machine; launch.sh runs there on every node.
name: {name}
resources:
  accelerators: A100:{config.devices}  # any GPU with enough memory, e.g. L4:{config.devices} or H100:{config.devices}
num_nodes: {machines}
workdir: .
envs:
  DPOSTUDIO_PACKAGE: dpostudio  # or a wheel / git URL of your DPO Studio
setup: |
  pip install "$DPOSTUDIO_PACKAGE" accelerate{" deepspeed" if config.strategy in DEEPSPEED_STRATEGIES else ""}
run: |
  export NUM_PROCESSES=$SKYPILOT_NUM_GPUS_PER_NODE
  export NUM_MACHINES=$SKYPILOT_NUM_NODES
  export MACHINE_RANK=$SKYPILOT_NODE_RANK
  export MAIN_PROCESS_IP=$(echo "$SKYPILOT_NODE_IPS" | head -n 1)
  ./launch.sh
"""


def readme(config: RunConfig, name: str, machines: int, notes: list[str]) -> str:
    processes = config.devices * machines
    effective = config.per_device_batch_size * processes * config.gradient_accumulation_steps
    note_lines = "".join(f"- {note}\n" for note in notes) or "- nothing: everything the run reads is named in it\n"
    return f"""# DPO Studio launch bundle: {name}

Trains the run configured in `config.toml` with accelerate, strategy **{config.strategy}**, on {config.devices}
process(es) (GPUs) a machine and {machines} machine(s): {processes} in all.
Effective batch: {config.per_device_batch_size} per device × {processes} processes ×
{config.gradient_accumulation_steps} accumulation = **{effective}** pairs per step.

| file | what it is |
|---|---|
| `config.toml` | the run configuration, as DPO Studio resolved it |
| `accelerate.yaml` | accelerate's config for {config.strategy} |
| `launch.sh` | starts the run: `accelerate launch ... -m dpostudio train --config config.toml` |
| `slurm.sbatch` | a SLURM batch script (one task a machine, each runs `launch.sh`) |
| `sky.yaml` | a SkyPilot task |

## Before you run it

Install DPO Studio and accelerate in the Python that will train: `pip install dpostudio accelerate`
(add `deepspeed` for the DeepSpeed strategies). Check:

{note_lines}
## Run it

- **This or another machine**: `./launch.sh` (arguments go on to `dpostudio train`, e.g. `./launch.sh --max-steps 50`).
  Set `PYTHON=/path/to/venv/bin/python` to choose the Python, `NUM_PROCESSES=2` for another number of GPUs.
  Without NVIDIA GPUs, `NUM_PROCESSES=2 ./launch.sh --device cpu` trains on 2 CPU processes (slow; ddp only).
- **SLURM**: edit the `#SBATCH` lines (partition, account, time), then from this folder `sbatch slurm.sbatch`.
  With several machines the bundle folder must be on a disk they all share.
- **SkyPilot**: `sky launch -c {name} sky.yaml`.

A run ended early (Ctrl-C, `scancel`, a time limit) keeps the checkpoints it saved (every `save_steps` steps).
Continue it with `./launch.sh --resume dpostudio-home/runs/<run id>` (the same number of processes; with sbatch,
add `--resume ...` after `./launch.sh` in slurm.sbatch).

## Bring the run back to the app

The run folder is `dpostudio-home/runs/<run id>/` next to `launch.sh` (`DPOSTUDIO_HOME` moves it). It holds
`run.json`, `metrics.jsonl`, `findings.json`, `log.txt`, `checkpoints/` and the final `adapter/`. Copy it to the
computer with the app, for example `rsync -a cluster:path/to/bundle/dpostudio-home/runs/<run id> .`
(SkyPilot: `rsync -a {name}:~/sky_workdir/dpostudio-home/runs/<run id> .`), then either

- `dpostudio runs import <run id folder>`, or
- in the app: File ▸ Import Run Folder…

It then opens in the Metrics, Comparison and Export panes like a run trained on this computer.
"""
