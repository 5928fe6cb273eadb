"""What the Training pane says while a run goes and after: phases with their progress, Stop in words, Resume offered
explicitly, texts that follow the form, remembered values, "Train again", the first-run preset and time estimate.

A stand-in controller replays the events a run sends (no training): the pane only reacts to them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dpostudio.core.training.device import HardwareInfo
from dpostudio.core.training.run_config import RunConfig
from dpostudio.core.training.runs import create_run
from dpostudio.ui.app import create_application
from dpostudio.ui.training.pane import TrainingPane
from dpostudio.ui.training.worker import TrainingController


class FakeController(TrainingController):
    """Starts nothing: the test sends the run's events and its end."""

    def __init__(self):
        super().__init__()
        self.running, self.asked, self.started_with = False, False, None

    def is_running(self):
        return self.running

    def start(self, config=None, resume=None):
        self.running, self.asked, self.started_with = True, False, (config, resume)

    def stop(self):
        self.asked = self.running
        return self.running

    def stop_requested(self):
        return self.asked

    def end(self, final):
        self.running = False
        self.finished.emit(final)


@pytest.fixture
def pane(qtbot):
    create_application()
    widget = TrainingPane(controller=FakeController())
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitUntil(lambda: widget.history is not None, timeout=10_000)
    messages = []
    widget.message.connect(lambda level, text: messages.append((level, text)))
    widget.messages = messages
    return widget


def _run_with_checkpoint(name: str, step: int, **config):
    run = create_run(RunConfig(name=name, **config))
    folder = run.checkpoints_dir / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    for file in ("adapter_config.json", "adapter_model.safetensors", "trainer_state.json"):
        (folder / file).write_text("{}", encoding="utf-8")
    return run


def _train_to_step_6_of_12(pane, run_id="r1"):
    assert pane.start_training()
    send = pane.controller.event.emit
    send(
        {
            "type": "started",
            "run_id": run_id,
            "run_dir": "",
            "config": {},
            "device": "cpu",
            "precision": "fp32",
            "device_reason": "no GPU",
            "model": "m",
            "resumed_from_step": None,
        }
    )
    send({"type": "stage", "message": "loading model weights", "fraction": 0.7})
    assert pane.status.text() == "Preparing: loading model weights…" and pane.progress.text() == "loading model weights"
    send({"type": "stage", "message": "training", "fraction": 1.0})
    send({"type": "phase", "phase": "evaluating", "step": 6, "done": 0, "total": None})
    send(
        {
            "type": "log",
            "step": 6,
            "max_steps": 12,
            "epoch": 0.5,
            "metrics": {"loss": 0.6},
            "elapsed_s": 20,
            "eta_s": 21.0,
        }
    )


def test_an_evaluation_shows_its_own_progress_and_stop_says_when_it_takes_effect(pane):
    _train_to_step_6_of_12(pane)
    send = pane.controller.event.emit
    # the log of the step the evaluation follows does not hide the evaluation
    assert pane.status.text() == "Evaluating the held-out pairs at step 6 of 12…"
    send({"type": "phase", "phase": "evaluating", "step": 6, "done": 3, "total": 10})
    assert pane.status.text() == "Evaluating the held-out pairs (3/10 batches) at step 6 of 12…"
    assert pane.progress.text() == "eval 3/10 batches · step 6/12"
    assert "ETA" not in pane.progress.text()

    pane.stop_training()
    assert not pane.stop_button.isEnabled()
    assert pane.status.text() == "Stopping after the evaluation at step 6 (3/10 batches), then saving a checkpoint…"
    send({"type": "phase", "phase": "evaluating", "step": 6, "done": 7, "total": 10})
    assert "(7/10 batches)" in pane.status.text() and pane.progress.text().startswith("stopping · eval 7/10")
    assert pane.messages[-1][0] == "info" and "after the evaluation" in pane.messages[-1][1]
    send({"type": "eval", "step": 6, "epoch": 0.5, "metrics": {"eval_loss": 0.5}})
    send({"type": "phase", "phase": "saving", "step": 6, "done": 0, "total": 1})
    assert pane.status.text() == "Stopping: saving a checkpoint at step 6…"
    send({"type": "checkpoint", "step": 6, "path": "x/checkpoint-6"})
    assert pane.status.text() == "Stopping after the step in progress, then saving a checkpoint…"


def test_an_evaluation_without_a_stop_ends_with_the_eval_event(pane):
    _train_to_step_6_of_12(pane)
    send = pane.controller.event.emit
    send({"type": "phase", "phase": "evaluating", "step": 6, "done": 2, "total": 2, "eval_set": "hard"})
    assert "the eval set 'hard' (2/2 batches)" in pane.status.text()
    send({"type": "eval", "step": 6, "epoch": 0.5, "metrics": {"eval_loss": 0.5}})
    assert pane.status.text().startswith("Step 6: loss 0.6000")
    assert pane.progress.text() == "step 6 / 12 · ETA 21 s"
    send(
        {
            "type": "log",
            "step": 7,
            "max_steps": 12,
            "epoch": 0.6,
            "metrics": {"loss": 0.5},
            "elapsed_s": 22,
            "eta_s": 18.0,
        }
    )
    assert pane.status.text().startswith("Step 7: loss 0.5000")


def test_a_stop_is_told_in_words_and_resume_says_where_it_continues(pane, qtbot):
    run = _run_with_checkpoint("stopped", 7)
    _train_to_step_6_of_12(pane, run.id)
    pane.stop_training()
    message = f"stopped at step 7; resume with: dpostudio train --resume {run.id}"
    pane.controller.end(
        {
            "type": "cancelled",
            "step": 7,
            "message": message,
            "run_id": run.id,
            "checkpoint": str(run.checkpoints_dir / "checkpoint-7"),
        }
    )
    assert pane.status.text() == "Stopped at step 7 — Resume continues from the checkpoint at step 7."
    assert pane.progress.text() == "stopped at step 7"
    assert pane.messages[-1] == ("info", pane.status.text())
    assert not any("dpostudio train" in text for _level, text in pane.messages)
    assert pane.resume_button.isEnabled() and pane.train_button.isEnabled()
    assert not pane.resume_label.isVisible()  # the status line says it already
    assert "Resume continues" in pane.resume_button.toolTip() and run.id in pane.resume_button.toolTip()


def test_a_stop_before_any_checkpoint_says_train_starts_anew(pane):
    run = create_run(RunConfig(name="early"))
    _train_to_step_6_of_12(pane, run.id)
    pane.controller.end(
        {"type": "cancelled", "step": 0, "message": "interrupted", "run_id": run.id, "checkpoint": None}
    )
    assert pane.status.text() == "Stopped at step 0, before any checkpoint was saved; Train starts a new run."
    assert not pane.resume_button.isEnabled() and not pane.resume_label.isVisible()


def test_on_relaunch_the_run_to_resume_is_named_with_its_step_and_resume_shows_its_settings(qtbot):
    create_application()
    empty = TrainingPane(controller=FakeController())
    qtbot.addWidget(empty)
    empty.show()
    qtbot.waitUntil(lambda: empty.history is not None, timeout=10_000)
    assert not empty.resume_button.isEnabled() and not empty.resume_label.isVisible()
    assert "none yet" in empty.resume_button.toolTip()

    run = _run_with_checkpoint("killed", 4, beta=0.37, max_steps=9, dataset="my-pairs.jsonl")
    run.update_info(status="cancelled", step=5)
    pane = TrainingPane(controller=FakeController())
    qtbot.addWidget(pane)
    pane.show()
    qtbot.waitUntil(pane.resume_button.isEnabled, timeout=10_000)
    assert (
        pane.resume_label.text() == "Run killed was stopped at step 5 — Resume continues from its checkpoint at step 4."
    )
    assert pane.values()["beta"] != 0.37  # the form is not the run's until it is resumed
    data = []
    pane.dataPresetRequested.connect(data.append)
    assert pane.resume_training()
    assert pane.controller.started_with == (None, run.id)
    assert (pane.values()["beta"], pane.values()["max_steps"]) == (0.37, 9)
    assert data[-1]["dataset"] == "my-pairs.jsonl"
    assert pane.status.text() == "Preparing: resuming: loading the model and the data…"


def test_fix_this_first_goes_when_the_field_is_fixed(pane, qtbot):
    pane.editors["beta"].widget.setText("0")
    assert not pane.start_training()
    assert pane.status.text().startswith("Fix this first: beta")
    pane.editors["beta"].widget.setText("0.2")
    qtbot.waitUntil(lambda: pane.status.text() == "Ready.", timeout=2_000)
    pane.editors["max_length"].widget.setText("x")
    assert not pane.start_training()
    pane.editors["max_length"].widget.setText("128")
    pane.editors["beta"].widget.setText("-1")  # a new problem replaces the old one
    qtbot.waitUntil(lambda: pane.status.text().startswith("Fix this first: beta"), timeout=2_000)


def test_the_memory_estimate_appears_once_the_model_is_here(pane, embedded_model, tmp_path, qtbot):
    folder = tmp_path / "my-model"
    folder.mkdir()
    pane.set_model_spec(str(folder))
    pane.update_estimates()
    assert "cannot estimate yet" in pane.memory_label.text()
    shutil.copy(Path(embedded_model.location) / "config.json", folder / "config.json")  # the import finished
    pane.controller.event.emit({"type": "stage", "message": "loading tokenizer", "fraction": 0.5})
    qtbot.waitUntil(lambda: "GiB" in pane.memory_label.text(), timeout=5_000)
    (folder / "config.json").unlink()
    pane.hide()
    pane.show()  # shown again: read again
    qtbot.waitUntil(lambda: "cannot estimate yet" in pane.memory_label.text(), timeout=5_000)


def test_the_form_remembers_its_values_across_launches(qtbot, tmp_path):
    create_application()
    first = TrainingPane(controller=FakeController())
    qtbot.addWidget(first)
    first.editors["beta"].widget.setText("0.25")
    first.editors["max_steps"].widget.setText("")
    first.editors["loss_type"].widget.setCurrentText("ipo")
    first.set_model_spec(str(tmp_path / "some-model"))
    qtbot.waitUntil(lambda: (first.remembered_form() or {}).get("loss_type") == "ipo", timeout=5_000)
    qtbot.waitUntil(lambda: first.history is not None, timeout=10_000)  # its reading of the runs is done
    again = TrainingPane(controller=FakeController())
    qtbot.addWidget(again)
    qtbot.waitUntil(lambda: again.history is not None, timeout=10_000)
    values = again.values()
    assert (values["beta"], values["max_steps"], values["loss_type"]) == (0.25, None, "ipo")
    assert again.model_spec() == str(tmp_path / "some-model")
    assert again.form_restored


def test_train_again_fills_the_form_with_a_past_runs_settings(pane, qtbot):
    run = create_run(RunConfig(name="past", beta=0.33, learning_rate=3e-5, max_steps=9, dataset="pairs.jsonl"))
    pane.refresh_resumable()
    qtbot.waitUntil(lambda: pane.train_again_menu.actions() != [], timeout=10_000)
    assert pane.train_again_button.isEnabled()
    action = pane.train_again_menu.actions()[0]
    assert action.text().startswith("past · created")
    data = []
    pane.dataPresetRequested.connect(data.append)
    action.trigger()
    values = pane.values()
    assert (values["beta"], values["learning_rate"], values["max_steps"]) == (0.33, 3e-5, 9)
    assert data[-1]["dataset"] == "pairs.jsonl"
    assert pane.build_config().dataset == "pairs.jsonl"
    assert run.id in pane.messages[-1][1]


def test_a_first_run_on_a_cpu_only_machine_gets_the_quick_preset(pane):
    pane.set_hardware(HardwareInfo(cuda_available=True))
    assert pane.preset.currentIndex() == 0  # a GPU: the defaults stay
    pane._first_run_checked = False
    pane.set_hardware(HardwareInfo())
    assert pane.preset.currentText() == "Quick demo (CPU)" and pane.values()["max_steps"] == 20


def test_no_quick_preset_when_runs_exist_or_the_form_was_remembered(qtbot):
    create_application()
    create_run(RunConfig(name="before"))
    pane = TrainingPane(controller=FakeController())
    qtbot.addWidget(pane)
    qtbot.waitUntil(lambda: pane.history is not None, timeout=10_000)
    pane.set_hardware(HardwareInfo())
    assert pane.preset.currentIndex() == 0


def test_the_time_estimate_comes_from_past_runs_step_times(pane, qtbot):
    pane.set_hardware(HardwareInfo())  # a CPU
    pane.editors["max_steps"].widget.setText("40")
    pane.update_estimates()
    assert pane.time_label.text().startswith("Time: unknown — no past run of this model on CPU")
    config = RunConfig(name="timed", max_steps=10, per_device_batch_size=2, max_length=128)
    run = create_run(config)
    run.update_info(status="finished", device="cpu")
    for step in (1, 2, 3):
        run.append_event(
            {
                "type": "log",
                "step": step,
                "max_steps": 10,
                "epoch": 0.1,
                "metrics": {},
                "elapsed_s": 3.0 * step,
                "eta_s": None,
            }
        )
    pane.set_values({"per_device_batch_size": 4, "max_length": 128, "max_steps": 40, "gradient_accumulation_steps": 1})
    pane.refresh_resumable()
    qtbot.waitUntil(lambda: pane.history is not None and bool(pane.history.timings), timeout=10_000)
    pane.update_estimates()
    # 3 s per step at 2 pairs × 128 tokens → 6 s per step at 4 × 128 → 40 steps ≈ 240 s
    assert pane.duration_estimate.seconds == pytest.approx(240)
    assert pane.time_label.text().startswith("Time: roughly 4 min for 40 steps on CPU")
    pane.editors["max_steps"].widget.setText("")
    pane.update_estimates()
    assert "about 6 s per step" in pane.time_label.text()


def test_remembered_form_survives_junk(qtbot):
    from dpostudio.ui.main_window import window_settings

    window_settings().setValue(TrainingPane.FORM_KEY, "{not json")
    assert TrainingPane.remembered_form() is None
    window_settings().setValue(TrainingPane.FORM_KEY, json.dumps({"beta": 0.4, "no_such_field": 1}))
    create_application()
    pane = TrainingPane(controller=FakeController())
    qtbot.addWidget(pane)
    assert pane.values()["beta"] == 0.4
    qtbot.waitUntil(lambda: pane.history is not None, timeout=10_000)


def test_the_data_line_names_the_split_the_run_will_use(pane):
    pane.set_data_provider(lambda: {"dataset": "builtin:demo-minimal", "eval_ratio": 0.1})
    assert pane.data_summary.text() == (
        "Data: builtin:demo-minimal, the demo's own 40 held-out eval pairs (set in the Dataset pane)"
    )
    pane.set_data_provider(lambda: {"dataset": "pairs.jsonl", "eval_ratio": 0.2, "first_n": 100})
    assert pane.data_summary.text() == "Data: pairs.jsonl, first 100 rows, 80/20 train/eval split (set in the Dataset pane)"
