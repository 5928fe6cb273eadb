"""The Export dialog (pytest-qt, offscreen): export with a progress bar, push to a fake Hub, errors in words."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fake_hub import FakeHub

from dpostudio.ui.export.dialog import ExportDialog

TOKEN = "hf_ui_token_0123456789abcdefgh"


@pytest.fixture
def run_id(fake_run_id):
    return fake_run_id


def test_dialog_exports_with_progress(qtbot, run_id, tmp_path, memory_keyring, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    dialog = ExportDialog(run_id)
    qtbot.addWidget(dialog)
    assert dialog.selected_run() == run_id
    assert [dialog.checkpoint_combo.itemText(i) for i in range(dialog.checkpoint_combo.count())] == [
        "final adapter (end of training)",
        "checkpoint at step 2",
    ]
    assert "no token" in dialog.token_label.text() and not dialog.push_button.isEnabled()
    assert not dialog.export_button.isEnabled()
    assert not dialog.dtype_combo.isEnabled()
    dialog.merged_radio.setChecked(True)
    assert dialog.dtype_combo.isEnabled() and "MB on disk" in dialog.estimate_label.text()
    dialog.adapter_radio.setChecked(True)
    dialog.folder_edit.setText(str(tmp_path / "exported"))
    assert dialog.export_button.isEnabled()

    values, messages, results = [], [], []
    dialog.progress.valueChanged.connect(values.append)
    dialog.message.connect(lambda level, text: messages.append((level, text)))
    dialog.exported.connect(results.append)
    task = dialog.start_export()
    assert not dialog.export_button.isEnabled() and not dialog.run_combo.isEnabled()
    with qtbot.waitSignal(task.finished, timeout=120_000):
        pass
    qtbot.waitUntil(lambda: dialog.export_button.isEnabled(), timeout=5000)
    assert results and (tmp_path / "exported" / "adapter_config.json").is_file()
    assert values[-1] == 1000 and len(set(values)) > 3 and values == sorted(values)
    assert messages[-1][0] == "info" and "Exported the adapter" in messages[-1][1]
    assert dialog.progress.format() == "done"

    # exporting again into the same (now full) folder fails in words
    task = dialog.start_export()
    with qtbot.waitSignal(task.finished, timeout=60_000):
        pass
    qtbot.waitUntil(lambda: messages[-1][0] == "error", timeout=5000)
    assert "not empty" in messages[-1][1] and "not empty" in dialog.status_label.text()
    assert dialog.progress.format() == "failed"


def test_dialog_pushes_and_shows_the_masked_token(qtbot, run_id, memory_keyring, monkeypatch, tmp_path):
    import huggingface_hub.constants as constants

    from dpostudio.core.secrets import set_token

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    set_token("huggingface", TOKEN)
    with FakeHub({TOKEN: "dora"}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        dialog = ExportDialog(run_id)
        qtbot.addWidget(dialog)
        assert "…efgh" in dialog.token_label.text() and TOKEN not in dialog.token_label.text()
        dialog.repo_edit.setText("ui-adapter")
        dialog.commit_edit.setText("pushed from the dialog")
        dialog.folder_edit.setText(str(Path.home() / "exports" / "smollm2-dpo"))
        dialog.resize(700, dialog.sizeHint().height())
        dialog.show()
        qtbot.waitExposed(dialog)
        shots = os.environ.get("DPOSTUDIO_SCREENSHOT_DIR")
        if shots:  # docs/screenshots/export.png is made with this
            dialog.grab().save(os.path.join(shots, "export.png"))
        messages = []
        dialog.message.connect(lambda level, text: messages.append((level, text)))
        task = dialog.start_push()
        with qtbot.waitSignal(task.finished, timeout=120_000):
            pass
        qtbot.waitUntil(lambda: bool(messages), timeout=5000)
        assert messages[-1] == ("info", f"Published the adapter to {hub.url}/dora/ui-adapter (private)")
        assert hub.repo("dora/ui-adapter").private
        assert hub.repo("dora/ui-adapter").commits[0]["summary"] == "pushed from the dialog"

        hub.fail["commit"] = 403
        dialog.repo_edit.setText("ui-adapter-2")
        task = dialog.start_push()
        with qtbot.waitSignal(task.finished, timeout=120_000):
            pass
        qtbot.waitUntil(lambda: messages[-1][0] == "error", timeout=5000)
        assert "no permission" in messages[-1][1] and "nothing was published" in messages[-1][1]
        assert TOKEN not in dialog.status_label.text()


def test_dialog_without_runs(qtbot):
    dialog = ExportDialog()
    qtbot.addWidget(dialog)
    assert dialog.selected_run() is None and "no runs yet" in dialog.estimate_label.text()
    assert not dialog.export_button.isEnabled() and not dialog.push_button.isEnabled()
