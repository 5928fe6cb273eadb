import json
import os
import signal
import subprocess
import sys
import time

import pytest

from dpostudio.cli import main
from dpostudio.core.paths import RESOURCES_DIR


def test_runs_list_when_empty(capsys):
    assert main(["runs"]) == 0
    assert "No runs yet" in capsys.readouterr().out


def test_bad_values_are_reported_by_field(capsys):
    assert main(["train", "--beta", "0"]) == 2
    assert "beta: must be greater than 0" in capsys.readouterr().err
    assert main(["train", "--set", "lerning_rate=1"]) == 2
    assert "did you mean 'learning_rate'" in capsys.readouterr().err


def test_unknown_run_and_bad_gguf(capsys, tmp_path):
    assert main(["runs", "show", "nope"]) == 1
    assert "no run called 'nope'" in capsys.readouterr().err
    bad = tmp_path / "x.gguf"
    bad.write_text("not gguf")
    assert main(["import-gguf", str(bad)]) == 1
    assert "not a readable GGUF file" in capsys.readouterr().err


def test_config_file_and_overrides_combine(tmp_path):
    from dpostudio.cli import build_parser
    from dpostudio.cli.train import config_from_args

    path = tmp_path / "run.yaml"
    path.write_text("beta: 0.5\nlearning_rate: 2.0e-6\nmax_steps: 10\n")
    args = build_parser().parse_args(["train", "--config", str(path), "--max-steps", "3", "--set", "lora_r=32"])
    config = config_from_args(args)
    assert (config.beta, config.learning_rate, config.max_steps, config.lora_r) == (0.5, 2e-6, 3, 32)


def test_a_preset_goes_over_the_config_file_and_options_still_win(tmp_path, capsys):
    from dpostudio.cli import build_parser
    from dpostudio.cli.train import config_from_args

    path = tmp_path / "run.toml"
    path.write_text('beta = 0.5\nweight_decay = 0.01\n')
    args = build_parser().parse_args(["train", "--config", str(path), "--preset", "quick", "--max-steps", "7"])
    config = config_from_args(args)
    # the Quick demo preset's data, loss, batch and beta over the file's; the file's weight decay (the preset has none)
    assert (config.dataset, config.loss_type, config.per_device_batch_size) == ("builtin:demo-minimal", "sigmoid+sft", 4)
    assert config.beta == 0.1 and config.weight_decay == 0.01 and config.max_steps == 7
    assert main(["train", "--preset", "no such preset"]) == 2
    error = capsys.readouterr().err
    assert "--preset: no preset called 'no such preset'; known: Quick demo (CPU)" in error


def test_runs_reports_a_killed_run_as_interrupted_and_how_to_resume_it(capsys):
    from dpostudio.core.training.run_config import RunConfig
    from dpostudio.core.training.runs import create_run

    run = create_run(RunConfig(name="killed"))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    run.update_info(status="running", pid=int(dead.stdout), started_at=time.time())
    run.append_event({"type": "log", "step": 3, "metrics": {"loss": 0.5, "rewards/margins": 0.25}})
    checkpoint = run.checkpoints_dir / "checkpoint-3"
    checkpoint.mkdir(parents=True)
    for name in ("adapter_config.json", "adapter_model.safetensors", "trainer_state.json"):
        (checkpoint / name).write_text("{}", encoding="utf-8")
    assert main(["runs"]) == 0
    listing = capsys.readouterr().out
    assert "interrupted" in listing and "running" not in listing and "+0.250" in listing
    assert main(["runs", "show", run.id]) == 0
    shown = capsys.readouterr().out
    assert "[interrupted]" in shown and f"Resume with: dpostudio train --resume {run.id}" in shown

    run.update_info(pid=os.getpid())  # as if it were still training
    assert main(["train", "--resume", run.id]) == 1
    assert "still training" in capsys.readouterr().err
    assert run.info()["status"] == "running"


@pytest.mark.slow
def test_headless_train_then_ctrl_c_then_resume(embedded_model, tmp_path, dpostudio_home):
    rows = (RESOURCES_DIR / "demo_pairs" / "train.jsonl").read_text(encoding="utf-8").splitlines()[:16]
    data = tmp_path / "pairs.jsonl"
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "dpostudio", "train", "--dataset", str(data), "--max-steps", "40",
           "--per-device-batch-size", "2", "--max-length", "128", "--eval-ratio", "0", "--save-steps", "100"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    output = []
    deadline = time.monotonic() + 300
    for line in iter(proc.stdout.readline, ""):
        output.append(line)
        if "step/s" in line or "s/step" in line:  # the progress bar is moving
            proc.send_signal(signal.SIGINT)
            break
        assert time.monotonic() < deadline, "".join(output)
    rest, _ = proc.communicate(timeout=300)
    text = "".join(output) + rest
    assert proc.returncode == 130, text
    assert "Stopping after this step" in text
    assert "resume with: dpostudio train --resume" in text

    run_dir = next((dpostudio_home / "runs").iterdir())
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "cancelled"
    stopped = info["step"]
    assert (run_dir / "checkpoints" / f"checkpoint-{stopped}").is_dir()

    # Resume (the run keeps its own config), and stop again as soon as one new step has run.
    proc = subprocess.Popen([sys.executable, "-m", "dpostudio", "train", "--resume", run_dir.name],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    for line in iter(proc.stdout.readline, ""):
        output.append(line)
        if ("s/step" in line or "step/s" in line) and f"{stopped + 1}/40" in line:
            proc.send_signal(signal.SIGINT)
            break
    rest, _ = proc.communicate(timeout=300)
    text = "".join(output) + rest
    assert f"resuming from step {stopped}" in text
    assert proc.returncode == 130, text
    from dpostudio.core.training.runs import Run

    history = [m["step"] for m in Run(run_dir).metrics("log")]
    assert history == list(range(1, len(history) + 1))
    assert history[-1] > stopped
