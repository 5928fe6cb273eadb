"""Start a run on several processes through ``accelerate launch`` and relay its events as if it ran here.

``train_anywhere(config, on_event, cancel, resume=)`` is what the app's training process and ``dpostudio train``
call: with ``devices`` 1 (or inside a launch already) it is the engine's ``train``; with ``devices`` N > 1 it

1. checks, in words with the fix, that the machine can run it (``distributed.check_launch``: enough NVIDIA GPUs,
   the deepspeed package for the DeepSpeed strategies; without GPUs N CPU processes, ddp only);
2. writes an accelerate config file for the strategy (``distributed.write_accelerate_config``) and the resolved
   run config into a scratch folder, and starts ``python -m accelerate.commands.launch --config_file ...
   --num_processes N -m dpostudio train --config ...`` (``--resume RUN`` to resume) in a session of its own;
3. reads the main process's events, one JSON line each on its stdout (``distributed.EVENT_PREFIX``), and hands
   them to ``on_event`` as the engine would; the processes' other output goes to ``launch.log`` (copied into the
   run folder at the end);
4. passes Stop on as a file (``DPOSTUDIO_STOP_FILE``) that every process checks at each step end; they agree on
   it and stop at the same step with one checkpoint. A second interrupt (Ctrl-C) ends them at once.

A launch that dies without its final event (a process killed, out of memory) ends with a ``failed`` event in
words, the end of the processes' output and run.json marked failed; files written so far stay.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dpostudio.core.training import distributed
from dpostudio.core.training.event_types import END_STATES, FAILED, RUNNING, STARTED
from dpostudio.core.training.run_config import RunConfig
from dpostudio.core.training.runs import Run, RunError, get_run

EventFn = Callable[[Any], None]  # the engine's events (plain dicts, see event_types)
LAUNCH_LOG = "launch.log"


def needs_launch(config: RunConfig) -> bool:
    """Whether ``config`` is to be started on several processes from here."""
    return config.devices > 1 and not distributed.launched()


def train_anywhere(
    config: RunConfig | None,
    on_event: EventFn | None = None,
    cancel: Any = None,
    *,
    resume: str | Run | None = None,
) -> Run | None:
    """``engine.train``, or the same run on ``config.devices`` processes through accelerate. Returns the run (None
    only when a launch ended before it made its folder; the ``failed`` event then says why)."""
    from dpostudio.core.training.engine import train

    if resume is not None:
        run = resume if isinstance(resume, Run) else get_run(resume)
        if run.status() == RUNNING:  # as the engine refuses it, before any process starts
            raise RunError(f"run {run.id} is still training (process {run.info().get('pid')}); stop it before resuming")
        if needs_launch(run.config()):
            return launch(run.config(), on_event, cancel, resume=run)
        return train(None, on_event, cancel, resume=run)
    config = config or RunConfig()
    if needs_launch(config):
        return launch(config, on_event, cancel)
    return train(config, on_event, cancel)


def launch_command(python: str, accelerate_file: Path, processes: int, port: int, train_args: list[str]) -> list[str]:
    return [
        python,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(accelerate_file),
        "--num_processes",
        str(processes),
        "--num_machines",
        "1",
        "--main_process_port",
        str(port),
        "-m",
        "dpostudio",
        "train",
        *train_args,
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def check_here(config: RunConfig) -> bool:
    """``distributed.check_launch`` against this machine's GPUs; True when the processes run on the CPU."""
    import torch

    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return distributed.check_launch(config, gpus, mps=mps)


def launch(
    config: RunConfig, on_event: EventFn | None = None, cancel: Any = None, *, resume: Run | None = None
) -> Run | None:
    """Run ``config`` (or resume ``resume``) on ``config.devices`` processes; blocks until they end."""
    listener = on_event or (lambda event: None)
    on_cpu = check_here(config)
    scratch = Path(tempfile.mkdtemp(prefix="dpostudio-launch-"))
    accelerate_file = distributed.write_accelerate_config(scratch / "accelerate.yaml", config)
    if resume is not None:
        train_args = ["--resume", str(resume.path)]
    else:
        config.save(scratch / "config.toml")
        train_args = ["--config", str(scratch / "config.toml")]
    stop_file = scratch / "stop"
    env = {**os.environ, distributed.EVENT_STREAM_ENV: "1", distributed.STOP_FILE_ENV: str(stop_file)}
    env["PYTHONUNBUFFERED"] = "1"
    if on_cpu:  # torchrun gives each process one thread; share the cores out instead
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // config.devices)))
    command = launch_command(sys.executable, accelerate_file, config.devices, free_port(), train_args)
    relay = Relay(listener, scratch / LAUNCH_LOG, resume)
    log_file = open(scratch / LAUNCH_LOG, "ab")  # noqa: SIM115 - closed below, after the processes end
    try:
        log_file.write(("$ " + " ".join(command) + "\n").encode())
        log_file.flush()
        proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=log_file,
            env=env,
            start_new_session=os.name == "posix",  # Ctrl-C in a terminal reaches this process only: it asks to stop
        )
        watcher = threading.Thread(target=_pass_stop_on, args=(proc, cancel, stop_file), daemon=True)
        watcher.start()
        try:
            assert proc.stdout is not None
            for raw in proc.stdout:
                relay.line(raw.decode("utf-8", "replace"), log_file)
            code = proc.wait()
        except KeyboardInterrupt:  # asked twice: end the processes now
            _end_processes(proc)
            raise
    finally:
        log_file.close()
    run = relay.finish(code)
    shutil.rmtree(scratch, ignore_errors=True)
    return run


def _pass_stop_on(proc: subprocess.Popen, cancel: Any, stop_file: Path) -> None:
    while proc.poll() is None:
        if cancel is not None and cancel.is_set():
            stop_file.touch()
            return
        time.sleep(0.2)


def _end_processes(proc: subprocess.Popen) -> None:
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            proc.terminate()
        proc.wait(30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        if os.name == "posix":
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


class Relay:
    """Turns the launch's stdout lines into events for ``listener`` and remembers what the end needs."""

    def __init__(self, listener: EventFn, log_path: Path, resume: Run | None):
        self.listener = listener
        self.log_path = log_path
        self.run: Run | None = resume
        self.last_end: dict[str, Any] | None = None
        self.step = 0
        self.tail: deque[str] = deque(maxlen=20)

    def line(self, text: str, log_file: Any) -> None:
        if not text.startswith(distributed.EVENT_PREFIX):
            log_file.write(text.encode("utf-8", "replace"))
            log_file.flush()
            return
        try:
            event = json.loads(text[len(distributed.EVENT_PREFIX) :])
        except ValueError:
            return
        kind = event.get("type")
        if kind == STARTED and event.get("run_dir"):
            self.run = Run(Path(event["run_dir"]))
        if isinstance(event.get("step"), int):
            self.step = event["step"]
        if kind in END_STATES:
            self.last_end = event
        try:
            self.listener(event)
        except Exception:  # a broken listener must not stop the relay: the processes would block on a full pipe
            pass

    def finish(self, code: int) -> Run | None:
        if self.run is not None:
            try:
                shutil.copyfile(self.log_path, self.run.path / LAUNCH_LOG)
            except OSError:
                pass
        if self.last_end is not None:
            return self.run
        message = (
            f"the training processes ended (exit code {code}) without finishing the run: {last_error(self.log_path)}"
        )
        if self.run is not None:
            try:
                self.run.update_info(status=FAILED, message=message)
                self.run.log(f"failed: {message}")
            except OSError:
                pass
            message += f"; their output is in {self.run.path / LAUNCH_LOG}"
        event = {"type": FAILED, "step": self.step, "message": message, "checkpoint": None}
        if self.run is not None:
            latest = self.run.latest_checkpoint()
            event["checkpoint"] = str(latest) if latest else None
        self.listener(event)
        return self.run


def last_error(log_path: Path) -> str:
    """The most telling line of the processes' output: the last one naming an error, else the last line."""
    try:
        lines = [line.strip() for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines()]
    except OSError:
        return "no output"
    lines = [line for line in lines if line]
    for marks in (("error: ",), ("Error:", "error:")):  # dpostudio's own words first, then an exception's
        for line in reversed(lines):
            if any(mark in line for mark in marks) and "ChildFailedError" not in line:
                return line[:300]
    return lines[-1][:300] if lines else "no output"
