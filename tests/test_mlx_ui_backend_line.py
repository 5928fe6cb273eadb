"""The Training form says which backend a run will use and why, and greys the options that backend does not use.

``DPOSTUDIO_SCREENSHOT_DIR`` set: the form with MLX chosen is saved there as ``training-backend.png``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dpostudio.core.training.backends.selection import MLX_UNUSED_FIELDS, mlx_installed
from dpostudio.ui.app import create_application
from dpostudio.ui.training.pane import TrainingPane


@pytest.fixture
def pane(qtbot):
    create_application()
    widget = TrainingPane()
    qtbot.addWidget(widget)
    widget.resize(1250, 900)
    widget.show()
    return widget


def test_the_form_says_torch_and_why_on_this_linux_machine(pane):
    pane.editors["backend"].set_value("auto")
    assert (
        pane.backend_line.label.text()
        == "Backend: torch — because this is not an Apple Silicon Mac (MLX is used there)"
    )
    assert pane.editors["reference_cache"].widget.isEnabled()


def test_choosing_torch_by_hand_says_so(pane):
    pane.editors["backend"].set_value("torch")
    assert pane.backend_line.label.text() == "Backend: torch — because you chose it"


@pytest.mark.skipif(not mlx_installed(), reason="MLX is not installed (pip install 'mlx[cpu]' mlx-lm mlx-lm-lora)")
def test_mlx_greys_the_options_it_does_not_use_with_the_reason_and_gives_them_back(pane):
    before = pane.editors["reference_cache"].widget.toolTip()
    pane.editors["backend"].set_value("mlx")
    assert pane.backend_line.label.text().startswith("Backend: mlx — because you chose it (no Apple GPU here")
    for name in set(MLX_UNUSED_FIELDS) & set(pane.editors):
        widget = pane.editors[name].widget
        assert not widget.isEnabled(), name
        assert widget.toolTip().startswith(f"Not used by the mlx backend: {MLX_UNUSED_FIELDS[name]}."), name
    if folder := os.environ.get("DPOSTUDIO_SCREENSHOT_DIR"):
        pane.form_scroll.ensureWidgetVisible(pane.group_boxes["Precision & device"])
        pane.grab().save(str(Path(folder) / "training-backend.png"))

    pane.editors["backend"].set_value("torch")
    assert pane.editors["reference_cache"].widget.isEnabled()
    assert pane.editors["reference_cache"].widget.toolTip() == before


@pytest.mark.skipif(not mlx_installed(), reason="MLX is not installed (pip install 'mlx[cpu]' mlx-lm mlx-lm-lora)")
def test_mlx_with_an_option_it_lacks_says_why_it_cannot_run(pane):
    pane.editors["backend"].set_value("mlx")
    pane.editors["loss_type"].set_value("robust")
    text = pane.backend_line.label.text()
    assert text.startswith("Backend: mlx — cannot run here: MLX cannot train with the 'robust' loss")
    assert "choose backend torch" in text
