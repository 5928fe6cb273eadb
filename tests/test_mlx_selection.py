"""Which backend a config trains on, and why (no MLX needed: ``choose_backend`` only looks for the packages)."""

import json

import pytest

from dpostudio.core.training.backends.selection import (
    MLX_UNUSED_FIELDS,
    BackendError,
    choose_backend,
    mlx_problems,
)
from dpostudio.core.training.run_config import ConfigError, RunConfig

MAC = {"apple_silicon": True, "have_mlx": True, "model_type": "llama"}


def test_auto_picks_mlx_on_apple_silicon_with_mlx_and_a_supported_architecture(monkeypatch):
    monkeypatch.setattr("dpostudio.core.training.backends.selection.mlx_supports_architecture", lambda t: t == "llama")
    choice = choose_backend(RunConfig(), **MAC)
    assert choice.name == "mlx"
    assert "Apple Silicon" in choice.reason
    assert choice.describe().startswith("Backend: mlx — because ")
    assert set(MLX_UNUSED_FIELDS) <= set(choice.unused) and "reference_cache" in choice.unused


@pytest.mark.parametrize(
    ("where", "changes", "words"),
    [
        ({"apple_silicon": False}, {}, "not an Apple Silicon Mac"),
        ({"have_mlx": False}, {}, "MLX is not installed (pip install mlx mlx-lm mlx-lm-lora"),
        ({"model_type": "no_such_arch"}, {}, "no implementation of the no_such_arch architecture"),
        ({}, {"loss_type": "robust"}, "the 'robust' loss"),
        ({}, {"optimizer": "adamw_8bit"}, "the adamw_8bit optimizer"),
        ({}, {"device": "mps"}, "device mps"),
    ],
    ids=["linux", "no-mlx", "architecture", "loss", "optimizer", "device"],
)
def test_auto_falls_back_to_torch_and_says_why(monkeypatch, where, changes, words):
    monkeypatch.setattr("dpostudio.core.training.backends.selection.mlx_supports_architecture", lambda t: t == "llama")
    choice = choose_backend(RunConfig(**changes), **{**MAC, **where})
    assert choice.name == "torch"
    assert words in choice.reason
    assert choice.unused == {}


def test_torch_chosen_by_hand_is_used_even_on_a_mac():
    choice = choose_backend(RunConfig(backend="torch"), **MAC)
    assert (choice.name, choice.reason) == ("torch", "you chose it")


@pytest.mark.parametrize(
    ("where", "changes", "words"),
    [
        ({"have_mlx": False}, {}, "needs the mlx, mlx-lm and mlx-lm-lora packages"),
        ({"model_type": "no_such_arch"}, {}, "no implementation of this model's architecture (no_such_arch)"),
        ({}, {"loss_type": "sigmoid+sft", "loss_weights": [1.0, 1.0]}, "MLX cannot train with the 'sigmoid+sft' loss"),
    ],
    ids=["not-installed", "architecture", "loss"],
)
def test_mlx_chosen_where_it_cannot_run_is_refused_in_words(monkeypatch, where, changes, words):
    monkeypatch.setattr("dpostudio.core.training.backends.selection.mlx_supports_architecture", lambda t: t == "llama")
    with pytest.raises(BackendError) as caught:
        choose_backend(RunConfig(backend="mlx", **changes), **{**MAC, **where})
    assert words in str(caught.value)
    assert "torch" in str(caught.value) or "pip install" in str(caught.value)  # says what to do


def test_mlx_by_hand_off_a_mac_runs_on_the_cpu_and_says_so(monkeypatch):
    monkeypatch.setattr("dpostudio.core.training.backends.selection.mlx_supports_architecture", lambda t: True)
    choice = choose_backend(RunConfig(backend="mlx"), **{**MAC, "apple_silicon": False})
    assert choice.name == "mlx" and "runs on the CPU" in choice.reason


def test_the_architecture_is_read_from_mlx_lms_files_and_its_remapping():
    pytest.importorskip("mlx_lm", reason="mlx-lm is not installed")
    from dpostudio.core.training.backends.selection import mlx_supports_architecture

    assert mlx_supports_architecture("llama")
    assert mlx_supports_architecture("mistral")  # remapped to llama by mlx-lm
    assert not mlx_supports_architecture("no_such_arch")


def test_the_model_type_comes_from_a_local_folder(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen2"}), encoding="utf-8")
    choice = choose_backend(RunConfig(model=str(tmp_path)), apple_silicon=True, have_mlx=True)
    assert choice.name == ("mlx" if "qwen2" in _mlx_models() else "torch")


def _mlx_models():
    from dpostudio.core.training.backends.selection import _mlx_models as models

    folder, _ = models()
    return {p.stem for p in folder.glob("*.py")} if folder else set()


def test_backend_is_a_config_field_with_plain_words():
    assert RunConfig().backend == "auto"
    spec = next(f for f in RunConfig.field_specs() if f.name == "backend")
    assert spec.metadata["choices"] == ("auto", "torch", "mlx")
    assert "Apple" in spec.metadata["help"]
    with pytest.raises(ConfigError, match="backend"):
        RunConfig(backend="jax")
    assert mlx_problems(RunConfig()) == []
