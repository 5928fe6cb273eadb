"""Will it fit? The memory check before a run: ok / tight / too big on CUDA, MPS and CPU, fixes in words, and the
engine refusing a run that cannot fit before it loads anything."""

from __future__ import annotations

from dpostudio.core.training.device import HardwareInfo
from dpostudio.core.training.fit import OK, TIGHT, TOO_BIG, check_fit
from dpostudio.core.training.memory import KNOWN_CONFIGS

MISTRAL = KNOWN_CONFIGS["mistralai/Mistral-7B-Instruct-v0.3"]
GIB = 2**30
BASE = {"per_device_batch_size": 4, "gradient_accumulation_steps": 1, "max_length": 1024, "lora_r": 16,
        "lora_target_modules": ["all-linear"], "gradient_checkpointing": False}


def test_a_7b_model_on_a_small_gpu_is_refused_with_fixes_and_fits_on_a_big_one():
    small = HardwareInfo(cuda_available=True, cuda_name="RTX 3060", cuda_memory_bytes=12 * GIB)
    verdict = check_fit(MISTRAL, BASE, "cuda", "bf16", small)
    assert verdict.verdict == TOO_BIG
    words = verdict.words()
    assert "will not fit" in words and "RTX 3060" in words and "12.0 GiB" in words
    big = HardwareInfo(cuda_available=True, cuda_name="H200", cuda_memory_bytes=140 * GIB)
    assert check_fit(MISTRAL, BASE, "cuda", "bf16", big).verdict == OK
    roomy = HardwareInfo(cuda_available=True, cuda_name="L4", cuda_memory_bytes=24 * GIB)
    refused = check_fit(MISTRAL, BASE, "cuda", "bf16", roomy)
    assert refused.verdict == TOO_BIG  # no single change is enough on 24 GiB: the changes together
    assert refused.fixes == [refused.fixes[0]] and "gradient checkpointing, batch size 2" in refused.fixes[0]
    fixed = {**BASE, "gradient_checkpointing": True, "per_device_batch_size": 2}
    assert check_fit(MISTRAL, fixed, "cuda", "bf16", roomy).verdict == OK  # the suggestion, applied, fits
    tight = check_fit(MISTRAL, BASE, "cuda", "bf16", HardwareInfo(cuda_available=True, cuda_memory_bytes=48 * GIB))
    assert tight.verdict == TIGHT and "may run slowly or run out of memory" in tight.words()
    assert tight.fixes[0].startswith("turn on gradient checkpointing (about ")
    # too small for even the smallest settings: the words say so
    tiny = check_fit(MISTRAL, BASE, "cuda", "bf16", small)
    assert "even the smallest settings do not fit" in tiny.words()


def test_mps_counts_the_share_of_unified_memory_the_gpu_may_use():
    mac = HardwareInfo(mps_available=True, memory_bytes=16 * GIB)
    verdict = check_fit(MISTRAL, BASE, "mps", "fp16", mac)
    assert verdict.available == int(16 * GIB * 2 / 3) and "the memory the GPU may use" in verdict.words()
    assert verdict.verdict == TOO_BIG


def test_unknown_memory_says_so_and_never_refuses():
    verdict = check_fit(MISTRAL, BASE, "cuda", "bf16", HardwareInfo(cuda_available=True))
    assert verdict.verdict == OK and "unknown" in verdict.words()


def test_the_engine_refuses_a_run_that_cannot_fit_before_loading_the_model(embedded_model):
    from dpostudio.core.training.engine import train
    from dpostudio.core.training.run_config import RunConfig

    events = []
    config = RunConfig(per_device_batch_size=512, max_length=8192, max_steps=1)  # ~ hundreds of GiB of activations
    run = train(config, events.append)
    final = events[-1]
    assert final["type"] == "failed" and "will not fit" in final["message"], final
    assert "Try:" in final["message"] and "batch size" in final["message"]
    assert not any(e["type"] == "stage" and "loading model weights" in e.get("message", "") for e in events)
    assert run.info()["status"] == "failed"


def test_the_training_pane_says_before_train_whether_the_run_fits(qtbot, embedded_model):
    from dpostudio.ui.app import create_application
    from dpostudio.ui.training.pane import TrainingPane

    create_application()
    pane = TrainingPane()
    qtbot.addWidget(pane)
    pane.show()
    pane.set_hardware(HardwareInfo(cuda_available=True, cuda_name="Small GPU", cuda_memory_bytes=2 * GIB))
    pane.editors["max_length"].set_value(256)
    pane.editors["per_device_batch_size"].set_value(2)
    pane.update_estimates()
    assert "✓ This run needs about" in pane.memory_label.text() and "Small GPU" in pane.memory_label.text()
    pane.editors["max_length"].set_value(4096)
    pane.editors["per_device_batch_size"].set_value(64)
    pane.update_estimates()
    text = pane.memory_label.text()
    assert "✗ Train will refuse it:" in text and "Try:" in text, text
