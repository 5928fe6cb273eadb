"""Launch bundles: the files for a cluster (accelerate config, launch.sh, SLURM, SkyPilot, README), run for real with 2
CPU processes, and the run folder brought back with ``dpostudio runs import`` / File ▸ Import Run Folder…"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import yaml

from dpostudio.core.paths import RESOURCES_DIR
from dpostudio.core.training.launch_bundle import BUNDLE_FILES, BundleError, write_bundle
from dpostudio.core.training.launcher import free_port
from dpostudio.core.training.run_config import RunConfig
from dpostudio.core.training.runs import RunError, create_run, import_run, list_runs


@pytest.fixture
def eight_pairs(tmp_path):
    rows = (RESOURCES_DIR / "demo_pairs" / "train.jsonl").read_text(encoding="utf-8").splitlines()[:8]
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_bundle_holds_every_file_and_each_reads_back(tmp_path, eight_pairs):
    from accelerate.commands.config.config_args import load_config_from_file

    config = RunConfig(dataset=str(eight_pairs), devices=4, strategy="deepspeed-zero3", name="big run",
                       per_device_batch_size=2, gradient_accumulation_steps=8)  # fmt: skip
    bundle = write_bundle(config, tmp_path / "bundle", machines=2)
    folder = bundle.folder
    assert sorted(p.name for p in folder.iterdir()) == sorted([*BUNDLE_FILES, "data"])
    # the resolved config, with the data file packed and named relative to the bundle
    packed = RunConfig.load(folder / "config.toml")
    assert packed.dataset == "data/pairs.jsonl"
    assert (folder / "data" / "pairs.jsonl").read_bytes() == eight_pairs.read_bytes()
    assert packed.replace(dataset=config.dataset) == config
    # accelerate reads its config: ZeRO-3 on 2 machines × 4 processes
    accel = load_config_from_file(str(folder / "accelerate.yaml"))
    assert str(accel.distributed_type).endswith("DEEPSPEED") and accel.deepspeed_config["zero_stage"] == 3
    assert (accel.num_processes, accel.num_machines) == (8, 2)
    # the scripts are executable and bash can parse them
    for script in ("launch.sh", "slurm.sbatch"):
        assert os.access(folder / script, os.X_OK)
        assert subprocess.run(["bash", "-n", str(folder / script)], capture_output=True).returncode == 0
    slurm = (folder / "slurm.sbatch").read_text()
    assert "#SBATCH --nodes=2" in slurm and "#SBATCH --gres=gpu:4" in slurm and "./launch.sh" in slurm
    sky = yaml.safe_load((folder / "sky.yaml").read_text())
    assert sky["resources"]["accelerators"] == "A100:4" and sky["num_nodes"] == 2
    assert "deepspeed" in sky["setup"] and "./launch.sh" in sky["run"]
    readme = (folder / "README.md").read_text()
    assert "dpostudio runs import" in readme and "File ▸ Import Run Folder…" in readme
    assert "effective batch: 2 per device × 8 processes ×\n8 accumulation = **128**" in readme.lower()
    assert any("pip install deepspeed" in note for note in bundle.notes)


def test_bundle_errors_are_in_words(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    with pytest.raises(BundleError, match="already holds other files; choose a new or empty folder"):
        write_bundle(RunConfig(), tmp_path / "taken")
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"  # nothing lost
    with pytest.raises(BundleError, match="machines must be at least 1"):
        write_bundle(RunConfig(), tmp_path / "new", machines=0)
    (tmp_path / "file").write_text("x")
    with pytest.raises(BundleError, match="is a file; choose a folder"):
        write_bundle(RunConfig(), tmp_path / "file")


def test_cli_writes_a_bundle(tmp_path, eight_pairs, capsys):
    from dpostudio.cli import main

    out = tmp_path / "b"
    argv = ["train", "--bundle", str(out), "--dataset", str(eight_pairs), "--devices", "2", "--max-steps", "7"]
    assert main(argv) == 0
    assert f"Launch bundle written to {out}" in capsys.readouterr().out
    assert RunConfig.load(out / "config.toml").max_steps == 7
    assert yaml.safe_load((out / "accelerate.yaml").read_text())["num_processes"] == 2


def test_importing_run_folders(tmp_path, dpostudio_home, monkeypatch, capsys):
    from dpostudio.cli import main

    monkeypatch.setenv("DPOSTUDIO_HOME", str(tmp_path / "cluster"))
    away = create_run(RunConfig(name="away"))
    away.update_info(status="running", pid=os.getpid(), started_at=0)  # copied while it still trained there
    monkeypatch.setenv("DPOSTUDIO_HOME", str(dpostudio_home))
    assert list_runs() == []
    assert main(["runs", "import", str(away.path)]) == 0
    assert "Imported run" in capsys.readouterr().out
    [run] = list_runs()
    assert run.id == away.id and run.status() == "interrupted"
    again = import_run(away.path)  # a second copy gets its own name
    assert again.id == f"{away.id}-2"
    with pytest.raises(RunError, match="is not a run folder: it has no run.json.*it holds runs"):
        import_run(away.path.parent)
    assert main(["runs", "import", str(tmp_path / "nowhere")]) == 1
    assert "is not a folder" in capsys.readouterr().err


@pytest.mark.slow
def test_bundle_launch_sh_trains_on_two_cpu_processes_and_the_run_comes_back(
    embedded_model, tmp_path, eight_pairs, dpostudio_home
):
    config = RunConfig(dataset=str(eight_pairs), eval_ratio=0.0, devices=2, per_device_batch_size=1,
                       gradient_accumulation_steps=1, max_steps=2, max_length=64, save_steps=50, lora_r=4,
                       lora_alpha=8, name="from bundle")  # fmt: skip
    bundle = write_bundle(config, tmp_path / "bundle")
    env = {k: v for k, v in os.environ.items() if k != "DPOSTUDIO_HOME"}  # the bundle's own default home
    env.update(DPOSTUDIO_PYTHON=sys.executable, NUM_PROCESSES="2", MAIN_PROCESS_PORT=str(free_port()))
    done = subprocess.run(
        [str(bundle.folder / "launch.sh"), "--device", "cpu"], env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    [run_dir] = (bundle.folder / "dpostudio-home" / "runs").iterdir()
    assert "Done: finished after 2 steps" in done.stderr

    run = import_run(run_dir)
    assert run.path.parent == dpostudio_home / "runs"
    assert [r.id for r in list_runs()] == [run.id]  # the app's run lists see it
    from dpostudio.ui.metrics.run_rows import load_run_rows

    assert [(row["id"], row["status"], row["step"]) for row in load_run_rows()] == [(run.id, "finished", 2)]
    info = run.info()
    assert info["status"] == "finished" and info["processes"] == 2 and info["effective_batch_size"] == 2
    assert [m["step"] for m in run.metrics("log")] == [1, 2]
    assert run.final_adapter() is not None and run.config().dataset == "data/pairs.jsonl"
    shutil.rmtree(bundle.folder)  # nothing of the imported run points back into the bundle
    assert run.final_adapter() is not None and len(run.metrics("log")) == 2
