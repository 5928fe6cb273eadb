"""The Training pane's form: generated from RunConfig, validated inline, filled by presets; plus the core helpers."""

from __future__ import annotations

import pytest

from dpostudio.core.training.memory import estimate_memory, model_config_for, model_shape
from dpostudio.core.training.presets import PRESETS, get_preset, preset_names
from dpostudio.core.training.run_config import RunConfig
from dpostudio.ui.app import create_application
from dpostudio.ui.training.pane import DATA_FIELDS, TrainingPane

BRIEF_DATA_FIELDS = {"dataset", "dataset_config", "dataset_split", "first_n", "eval_ratio", "split_seed",
                     "prompt_template", "system_prompt", "data_format", "column_prompt", "column_chosen",
                     "column_rejected", "column_system", "data_filters", "drop_problems", "eval_split"}


@pytest.fixture
def pane(qtbot):
    create_application()
    widget = TrainingPane()
    qtbot.addWidget(widget)
    widget.show()
    return widget


def test_form_has_every_non_data_field_with_help_tooltips(pane):
    expected = {f.name for f in RunConfig.field_specs()} - BRIEF_DATA_FIELDS - {"model"}
    assert set(pane.editors) == expected
    assert set(DATA_FIELDS) >= BRIEF_DATA_FIELDS
    for editor in pane.editors.values():
        assert editor.widget.toolTip().startswith(editor.spec.metadata["help"])
    assert set(pane.group_boxes) >= {"DPO", "LoRA", "Optimisation", "Precision & device", "Evaluation & saving"}
    assert pane.model_spec() == "embedded:smollm2-135m-instruct"  # the embedded default is preselected


def test_bad_value_shows_the_fields_message(pane, qtbot):
    beta = pane.editors["beta"]
    beta.widget.setText("0")
    assert beta.error.isVisible()
    assert "greater than 0" in beta.error.text()
    beta.widget.setText("abc")
    assert "must be a number" in beta.error.text()
    batch = pane.editors["per_device_batch_size"]
    batch.widget.setText("2.5")
    assert "whole number" in batch.error.text()
    # Train refuses and says why, in the log message
    messages = []
    pane.message.connect(lambda level, text: messages.append((level, text)))
    assert not pane.start_training()
    assert messages and messages[-1][0] == "error" and "beta" in messages[-1][1]
    beta.widget.setText("0.3")
    batch.widget.setText("2")
    assert not beta.error.isVisible() and not batch.error.isVisible()
    assert pane.build_config().beta == 0.3


def test_optional_fields_accept_empty(pane):
    pane.editors["max_steps"].widget.setText("")
    pane.editors["eval_steps"].widget.setText("")
    config = pane.build_config()
    assert config.max_steps is None and config.eval_steps is None
    pane.editors["lora_target_modules"].widget.setText("q_proj, v_proj")
    assert pane.build_config().lora_target_modules == ["q_proj", "v_proj"]


def test_loss_field_offers_every_loss_with_its_words_and_takes_a_combination(pane):
    from PySide6.QtCore import Qt

    from dpostudio.core.training.losses import LOSS_HELP, LOSS_SUGGESTIONS

    loss, weights = pane.editors["loss_type"], pane.editors["loss_weights"]
    combo = loss.widget
    assert [combo.itemText(i) for i in range(combo.count())] == list(LOSS_SUGGESTIONS)
    for i in range(combo.count()):
        assert combo.itemData(i, Qt.ItemDataRole.ToolTipRole) == LOSS_HELP[combo.itemText(i)]
    assert combo.isEditable()
    assert "sigmoid: The original DPO loss" in combo.toolTip()  # the chosen loss's words under the help

    combo.setCurrentText("ipo")
    assert "ipo: IPO" in combo.toolTip() and not loss.error.isVisible()
    combo.setEditText("sigmoid+sfft")  # typed: checked as it is typed
    assert loss.error.isVisible() and "did you mean 'sft'" in loss.error.text()
    combo.setEditText("sigmoid+sft")
    assert not loss.error.isVisible()
    assert "sigmoid+sft: RPO" in combo.toolTip()

    weights.widget.setText("1.0, 0.5, 2")  # three weights for two losses: said under the weights
    assert weights.error.isVisible() and "3 weights for 2 losses" in weights.error.text()
    weights.widget.setText("1.0, 0.5")
    assert not weights.error.isVisible()
    config = pane.build_config()
    assert (config.loss_type, config.loss_weights) == ("sigmoid+sft", [1.0, 0.5])
    combo.setCurrentText("sigmoid")  # changing the loss checks the weights again
    assert weights.error.isVisible() and "2 weights for 1 loss" in weights.error.text()
    assert not loss.error.isVisible()
    weights.widget.setText("")
    assert not weights.error.isVisible()

    smoothing = pane.editors["label_smoothing"]
    smoothing.widget.setText("0.1")
    assert "change nothing" in smoothing.error.text()
    combo.setCurrentText("robust")
    assert not smoothing.error.isVisible()
    assert pane.build_config().label_smoothing == 0.1

    pane.load_config(RunConfig(loss_type="sigmoid+bco_pair+sft", loss_weights=[0.8, 0.2, 1.0]))
    assert combo.currentText() == "sigmoid+bco_pair+sft" and weights.widget.text() == "0.8, 0.2, 1.0"
    assert pane.build_config().loss_weights == [0.8, 0.2, 1.0]


@pytest.mark.parametrize("name", preset_names())
def test_presets_fill_the_form(pane, name):
    data_requests = []
    pane.dataPresetRequested.connect(data_requests.append)
    pane.apply_preset(name)
    preset = get_preset(name)
    values = pane.values()
    for key, value in preset.training_values().items():
        if key == "model":
            assert pane.model_spec() == value
        else:
            assert values[key] == value, key
    if preset.data_values():
        assert data_requests[-1] == preset.data_values()
    config = pane.build_config()  # the whole preset validates
    for key, value in preset.values.items():
        assert getattr(config, key) == value, key


def test_twinllama_and_gpt2_recipes_match_the_write_ups():
    twin = get_preset("Recipe: TwinLlama").apply()
    assert (twin.beta, twin.learning_rate, twin.lr_scheduler_type, twin.warmup_steps) == (0.5, 2e-6, "linear", 10)
    assert (twin.per_device_batch_size, twin.gradient_accumulation_steps, twin.num_train_epochs) == (2, 8, 1.0)
    assert (twin.eval_ratio, twin.lora_r, twin.lora_alpha, twin.lora_dropout) == (0.05, 32, 32, 0.0)
    gpt2 = get_preset("Recipe: GPT-2").apply()
    gpt2_batch = (gpt2.beta, gpt2.learning_rate, gpt2.per_device_batch_size, gpt2.gradient_accumulation_steps)
    assert gpt2_batch == (0.2, 5.4e-5, 8, 4)
    assert (gpt2.max_steps, gpt2.max_length, gpt2.warmup_steps, gpt2.gradient_checkpointing) == (500, 512, 50, True)
    mac = get_preset("Recipe: Mistral").apply()
    assert (mac.device, mac.precision, mac.optimizer, mac.eval_ratio) == ("mps", "fp16", "adamw_torch", 0.1)
    assert len(PRESETS) == 5


def test_memory_estimate_shapes():
    mistral = model_config_for("mistralai/Mistral-7B-Instruct-v0.3")
    assert 7.1e9 < model_shape(mistral).parameters() < 7.4e9
    gpt2 = model_config_for("openai-community/gpt2")
    assert 1.2e8 < model_shape(gpt2).parameters() < 1.3e8
    small = estimate_memory(mistral, precision="fp16", device="mps", batch_size=1, max_length=512)
    big = estimate_memory(mistral, precision="fp16", device="mps", batch_size=4, max_length=2048)
    fp32 = estimate_memory(mistral, precision="fp32", device="cuda", batch_size=1, max_length=512)
    assert small.total_bytes < big.total_bytes and small.total_bytes < fp32.total_bytes
    checkpointed = estimate_memory(mistral, precision="fp16", device="mps", batch_size=4, max_length=2048,
                                   gradient_checkpointing=True)
    assert checkpointed.parts["activations"] < big.parts["activations"]
    assert "estimate" in small.describe()


def test_memory_estimate_in_the_pane(pane, embedded_model, qtbot):
    pane.update_memory_estimate()
    assert "estimate" in pane.memory_label.text() and "GiB" in pane.memory_label.text()
    before = pane.memory_estimate.total_bytes
    pane.editors["per_device_batch_size"].widget.setText("16")
    pane.update_memory_estimate()
    assert pane.memory_estimate.total_bytes > before
    pane.set_model_spec("someone/not-downloaded-model")
    pane.update_memory_estimate()
    assert "cannot estimate" in pane.memory_label.text().lower()


def test_models_offered_by_plugins_appear_in_the_picker(qtbot):
    from dpostudio.plugins import ModelEntry, ModelSource, hookimpl
    from dpostudio.plugins.manager import get_manager
    from dpostudio.ui.training.model_picker import MODEL_PLUGIN, plugin_model_choices
    from dpostudio.ui.training.pane import TrainingPane

    class Shelf:
        DPOSTUDIO_HOOK_API = 1

        @hookimpl
        def dpostudio_model_sources(self):
            return [ModelSource(id="shelf", title="Shelf")]

        @hookimpl
        def dpostudio_list_models(self):
            return [ModelEntry(spec="plugin:shelf?name=m1", display_name="Shelf model", source="shelf",
                               options={"name": "m1"})]

    get_manager().register(Shelf(), "shelf-plugin")
    assert plugin_model_choices() == [("Shelf model", "plugin:shelf?name=m1")]
    pane = TrainingPane()
    qtbot.addWidget(pane)
    pane.refresh_model_list()
    qtbot.waitUntil(lambda: any(pane.model_source.itemData(i)[0] == MODEL_PLUGIN
                                for i in range(pane.model_source.count())), timeout=10_000)
    pane.set_model_spec("plugin:shelf?name=m1")
    assert pane.model_spec() == "plugin:shelf?name=m1"
    assert pane.model_source.currentText() == "Plugin: Shelf model"


def _interrupted_run(name: str, checkpoint_step: int | None):
    """A run as a hard kill of its training process leaves it: run.json still says running, its pid is gone."""
    import subprocess
    import sys
    import time

    from dpostudio.core.training.runs import create_run

    run = create_run(RunConfig(name=name))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    run.update_info(status="running", pid=int(dead.stdout), started_at=time.time())
    if checkpoint_step is not None:
        folder = run.checkpoints_dir / f"checkpoint-{checkpoint_step}"
        folder.mkdir(parents=True)
        for name in ("adapter_config.json", "adapter_model.safetensors", "trainer_state.json"):
            (folder / name).write_text("{}", encoding="utf-8")
    return run


def test_resume_is_offered_only_when_a_run_can_be_resumed(pane, qtbot):
    assert not pane.resume_button.isEnabled()  # nothing on disk to resume
    _interrupted_run("no-checkpoint", None)
    pane.refresh_resumable()
    qtbot.waitUntil(lambda: not pane._resumable_task.is_running(), timeout=10_000)
    assert pane.resumable_run_id() is None and not pane.resume_button.isEnabled()
    run = _interrupted_run("killed", 2)
    pane.refresh_resumable()
    qtbot.waitUntil(pane.resume_button.isEnabled, timeout=10_000)
    assert pane.resumable_run_id() == run.id and run.id in pane.resume_button.toolTip()


def test_a_new_window_offers_resume_for_a_run_killed_before_it_closed(qtbot):
    from dpostudio.ui.main_window import MainWindow

    run = _interrupted_run("killed", 2)
    create_application()
    window = MainWindow(probe_device=False)
    qtbot.addWidget(window)
    window.show()
    metrics, pane = window.metrics_pane, window.training_pane
    qtbot.waitUntil(lambda: any(r["id"] == run.id for r in metrics.rows), timeout=10_000)
    row = next(r for r in metrics.rows if r["id"] == run.id)
    assert row["status"] == "interrupted" and row["resumable"]
    qtbot.waitUntil(lambda: window.actions_by_name["resume"].isEnabled(), timeout=10_000)
    assert pane.resumable_run_id() == run.id and pane.resume_button.isEnabled()
