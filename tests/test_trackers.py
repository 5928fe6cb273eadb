"""Experiment trackers through TRL's report_to: names checked in words, a missing package stops the run before the
model loads (with the install command), and TensorBoard event files appear in the run folder when chosen."""

import importlib.util

import pytest

from dpostudio.core.paths import RESOURCES_DIR
from dpostudio.core.training.engine import train
from dpostudio.core.training.run_config import ConfigError, RunConfig
from dpostudio.core.training.trackers import TRACKER_NAMES, check_tracker_names, missing_trackers


def test_names_are_checked_and_normalised():
    assert check_tracker_names("report_to", "TensorBoard, mlflow,tensorboard") == ["tensorboard", "mlflow"]
    assert check_tracker_names("report_to", "none") == []
    assert check_tracker_names("report_to", "[]") == []
    assert check_tracker_names("report_to", "['wandb', \"mlflow\"]") == ["wandb", "mlflow"]
    assert check_tracker_names("report_to", None) == []
    assert RunConfig(report_to=["wandb"]).report_to == ["wandb"]
    assert RunConfig.from_dict({"report_to": "trackio"}).report_to == ["trackio"]
    with pytest.raises(ConfigError) as err:
        RunConfig(report_to=["neptune"])
    assert "'neptune' is not a tracker" in str(err.value) and "tensorboard" in str(err.value)
    with pytest.raises(ConfigError, match="list of tracker names"):
        RunConfig(report_to=[3])


def test_every_tracker_is_one_transformers_knows():
    from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK

    assert set(TRACKER_NAMES) <= set(INTEGRATION_TO_CALLBACK)


def small_pairs(tmp_path, n=12):
    rows = (RESOURCES_DIR / "demo_pairs" / "train.jsonl").read_text(encoding="utf-8").splitlines()[:n]
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def tiny_config(tmp_path, **changes):
    base = dict(
        dataset=str(small_pairs(tmp_path)),
        eval_ratio=0.25,
        per_device_batch_size=2,
        max_steps=2,
        eval_steps=2,
        save_steps=2,
        max_length=96,
        lora_r=4,
        lora_alpha=8,
        seed=1,
    )
    return RunConfig(**{**base, **changes})


def test_a_missing_tracker_package_stops_the_run_before_the_model_loads(tmp_path):
    absent = next((t for t in TRACKER_NAMES if importlib.util.find_spec(t) is None), None)
    if absent is None:
        pytest.skip("every tracker package is installed here")
    events = []
    run = train(tiny_config(tmp_path, report_to=[absent]), events.append)
    assert events[-1]["type"] == "failed"
    message = events[-1]["message"]
    assert f"pip install {absent}" in message and "not installed" in message, message
    assert [t.name for t in missing_trackers([absent])] == [absent]
    stages = [e.get("message") for e in events if e["type"] == "stage"]
    assert "loading model weights" not in stages  # said before the model loads
    assert run.info()["status"] == "failed"


@pytest.mark.slow
def test_tensorboard_event_files_appear_in_the_run_folder(embedded_model, tmp_path):
    pytest.importorskip("tensorboard", reason="TensorBoard is in the dev extras")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = []
    run = train(tiny_config(tmp_path, report_to=["tensorboard"]), events.append)
    assert events[-1]["type"] == "finished", events[-1]
    files = list((run.path / "tensorboard").rglob("events.out.tfevents.*"))
    assert files, list(run.path.iterdir())
    board = EventAccumulator(str(files[0].parent))
    board.Reload()
    tags = board.Tags()["scalars"]
    assert "train/loss" in tags and "train/rewards/margins" in tags, tags
    assert "eval/loss" in tags, tags
    # The tracker got the same numbers as DPO Studio's own metric log.
    logged = [round(m["loss"], 4) for m in run.metrics("log")]
    boarded = [round(e.value, 4) for e in board.Scalars("train/loss")]
    assert boarded == logged
    assert "also reporting to TensorBoard" in run.log_path.read_text(encoding="utf-8")
