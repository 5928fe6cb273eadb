"""The Training pane's "Export launch bundle…" dialog, its spread line, and File ▸ Import Run Folder…"""

from __future__ import annotations

import os

import pytest

from dpostudio.core.training.run_config import RunConfig
from dpostudio.core.training.runs import create_run, list_runs
from dpostudio.ui.app import create_application
from dpostudio.ui.training.bundle_dialog import LaunchBundleDialog, spread_words

SCREENSHOT = os.environ.get("DPOSTUDIO_SCREENSHOT_DIR")


@pytest.fixture
def app():
    return create_application()


def test_dialog_writes_the_bundle_and_says_where(app, qtbot, tmp_path):
    dialog = LaunchBundleDialog(RunConfig(devices=4, strategy="fsdp", per_device_batch_size=2, name="cluster"))
    qtbot.addWidget(dialog)
    dialog.show()
    assert "strategy fsdp · 4 process(es) a machine · 4 in all" in dialog.summary.text()
    dialog.machines.setValue(2)
    assert "effective batch 16 = 2 per device × 8 processes × 1 accumulation" in dialog.summary.text()
    assert not dialog.copy_data.isEnabled()  # the built-in demo data is not a file to copy

    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("x")
    dialog.folder.setText(str(tmp_path / "taken"))
    with qtbot.waitSignal(dialog.message) as said:
        dialog.export_button.click()
    assert said.args[0] == "error"
    assert "already holds other files" in dialog.result_label.text() and dialog.isVisible()

    dialog.folder.setText(str(tmp_path / "bundle"))
    assert dialog.result_label.text() == ""
    dialog.export_button.click()
    assert dialog.written == tmp_path / "bundle"
    assert (tmp_path / "bundle" / "launch.sh").is_file()
    said = dialog.result_label.text()
    assert f"Written to {tmp_path / 'bundle'}" in said and "./launch.sh" in said
    assert RunConfig.load(tmp_path / "bundle" / "config.toml").strategy == "fsdp"
    if SCREENSHOT:
        dialog.resize(640, dialog.sizeHint().height())
        dialog.grab().save(os.path.join(SCREENSHOT, "launch-bundle.png"))


def test_spread_words():
    assert spread_words({"devices": 1, "per_device_batch_size": 4, "gradient_accumulation_steps": 2}) == (
        "Effective batch 8 = 4 per step × 2 accumulation, on one device."
    )
    words = spread_words(
        {"devices": 2, "strategy": "ddp", "per_device_batch_size": 4, "gradient_accumulation_steps": 2}
    )
    assert (
        words
        == "2 processes (ddp, through accelerate). Effective batch 16 = 4 per device × 2 devices × 2 accumulation."
    )


def test_pane_button_and_menus(app, qtbot, tmp_path, monkeypatch):
    from dpostudio.ui.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    pane = window.training_pane
    pane.set_values({"devices": 2, "per_device_batch_size": 3})
    pane._update_spread()
    assert "2 processes (ddp" in pane.spread_label.text() and "Effective batch 6" in pane.spread_label.text()
    window.actions_by_name["launch_bundle"].trigger()
    dialog = pane.bundle_dialog
    assert dialog.isVisible() and dialog.config.devices == 2
    dialog.close()

    monkeypatch.setenv("DPOSTUDIO_HOME", str(tmp_path / "elsewhere"))
    away = create_run(RunConfig(name="away"))
    monkeypatch.setenv("DPOSTUDIO_HOME", str(tmp_path / "here"))
    from dpostudio.ui.training.bundle_dialog import import_run_folder

    assert "import_run" in window.actions_by_name
    results = []
    import_run_folder(window, str(away.path), on_done=results.append)
    qtbot.waitUntil(lambda: bool(results), timeout=10_000)
    assert results[0] is not None and [r.id for r in list_runs()] == [away.id]
