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


def _backend_like(module: str, name: str = "Keyring"):
    """A working in-memory keyring backend that presents itself as the given keyring module's class."""
    from conftest import MemoryKeyring

    return type(name, (MemoryKeyring,), {"__module__": module})()


@pytest.mark.parametrize(
    ("module", "words"),
    [
        ("keyring.backends.macOS", "Saved tokens are kept in the macOS Keychain"),
        ("keyring.backends.Windows", "Saved tokens are kept in the Windows Credential Locker"),
        ("keyring.backends.SecretService", "Saved tokens are kept in the desktop's Secret Service"),
        ("keyrings.cryptfile.cryptfile", "Saved tokens are kept in an encrypted file"),
    ],
)
def test_the_keyring_notice_names_the_store_in_words(qtbot, module, words):
    import keyring

    previous = keyring.get_keyring()
    keyring.set_keyring(_backend_like(module))
    try:
        pane = SettingsPane()
        qtbot.addWidget(pane)
        text = pane.keyring_label.text()
        assert text.startswith(words), text
        assert "(Keyring)" not in text and "found Keyring" not in text
    finally:
        keyring.set_keyring(previous)


def test_a_chain_of_keyrings_is_described_by_its_first_store():
    from keyring.backends.chainer import ChainerBackend

    from dpostudio.ui.settings.pane import keyring_store_words

    mac = _backend_like("keyring.backends.macOS")
    chain = type("Chain", (), {"__module__": ChainerBackend.__module__, "backends": [mac]})()
    assert keyring_store_words(chain) == "in the macOS Keychain"


def test_without_a_keyring_the_notice_says_so_in_words(qtbot):
    import keyring
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        pane = SettingsPane()
        qtbot.addWidget(pane)
        text = pane.keyring_label.text()
        assert "found Keyring" not in text and "(Keyring)" not in text
        assert "no macOS Keychain, Windows Credential Locker or desktop Secret Service was found" in text
        assert "they cannot be saved" in text and "this session only" in text
    finally:
        keyring.set_keyring(previous)


def test_the_default_boxes_ignore_the_wheel_until_focused(qtbot):
    from PySide6.QtCore import Qt

    pane = SettingsPane()
    qtbot.addWidget(pane)
    for combo in (pane.device_combo, pane.precision_combo):
        assert combo.focusPolicy() == Qt.FocusPolicy.StrongFocus
