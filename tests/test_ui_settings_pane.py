"""The Settings pane: tokens go to the OS keyring (a memory backend here) and never into DPO Studio's files."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from dpostudio.core import secrets, settings  # noqa: E402
from dpostudio.ui.settings.pane import SettingsPane, default_device  # noqa: E402

HF = "hf_TestTokenValue0123456789abcd"
GEMINI = "AIzaTestGeminiKey987654321wxyz"


@pytest.fixture(autouse=True)
def _no_token_env(monkeypatch):
    for name in ("HF_TOKEN", "GEMINI_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.setenv(name, "placeholder")  # recorded, so the test's own changes are undone
        monkeypatch.delenv(name)


def _files_containing(root, needle: str) -> list[str]:
    found = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as fh:
                if needle.encode() in fh.read():
                    found.append(path)
    return found


def test_tokens_round_trip_through_the_keyring_and_stay_out_of_files(qtbot, memory_keyring, dpostudio_home):
    pane = SettingsPane()
    qtbot.addWidget(pane)
    messages = []
    pane.message.connect(lambda level, text: messages.append((level, text)))
    assert "keyring" in pane.keyring_label.text() and "No secure keyring" not in pane.keyring_label.text()
    for name, value in (("huggingface", HF), ("gemini", GEMINI)):
        row = pane.token_rows[name]
        assert row.edit.echoMode() == row.edit.EchoMode.Password
        row.edit.setText(value)
        row.save_button.click()
        assert secrets.get_token(name) == value
        assert memory_keyring.store[(secrets.SERVICE, name)] == value
        assert row.edit.text() == ""
        assert value[-4:] in row.status.text() and value not in row.status.text()
    assert all(HF not in text and GEMINI not in text for _, text in messages)
    # other settings are written, and the tokens are in none of DPO Studio's files
    pane.device_combo.setCurrentIndex(pane.device_combo.findData("cpu"))
    assert default_device() == "cpu" and settings.get("defaults.device") == "cpu"
    assert _files_containing(dpostudio_home, HF) == [] and _files_containing(dpostudio_home, GEMINI) == []
    # a fresh pane reads them back masked; Remove deletes from the keyring
    again = SettingsPane()
    qtbot.addWidget(again)
    assert "Stored in the keyring" in again.token_rows["huggingface"].status.text()
    again.token_rows["huggingface"].remove_button.click()
    assert secrets.get_token("huggingface") is None
    assert "Not set" in again.token_rows["huggingface"].status.text()
    assert secrets.get_token("gemini") == GEMINI


def test_bad_token_is_refused_in_words(qtbot, memory_keyring):
    pane = SettingsPane()
    qtbot.addWidget(pane)
    with qtbot.waitSignal(pane.message) as blocker:
        pane.token_rows["gemini"].edit.setText("has a space")
        pane.token_rows["gemini"].save_button.click()
    assert blocker.args[0] == "error" and "spaces" in blocker.args[1]
    assert secrets.get_token("gemini") is None


def test_without_a_secure_keyring_it_says_so_and_offers_session_only(qtbot, dpostudio_home):
    import keyring
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        pane = SettingsPane()
        qtbot.addWidget(pane)
        assert "No secure keyring" in pane.keyring_label.text()
        row = pane.token_rows["huggingface"]
        assert not row.save_button.isEnabled() and row.session_button.isVisibleTo(pane)
        row.edit.setText(HF)
        row.session_button.click()
        assert secrets.get_token("huggingface") == HF  # in this process's memory only
        assert "this session only" in row.status.text() and HF not in row.status.text()
        assert _files_containing(dpostudio_home, HF) == []
        row.remove_button.click()
        assert secrets.get_token("huggingface") is None
    finally:
        keyring.set_keyring(previous)


def test_data_folder_is_shown(qtbot, dpostudio_home):
    pane = SettingsPane()
    qtbot.addWidget(pane)
    assert pane.data_dir_edit.isReadOnly()
    assert pane.data_dir_edit.text() == str(dpostudio_home)
