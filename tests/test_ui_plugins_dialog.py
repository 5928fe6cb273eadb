"""The Plugins dialog lists the real built-in plugins, disables/enables them and reports install failures in words."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from dpostudio.core import settings  # noqa: E402
from dpostudio.plugins.manager import get_manager, reset_manager  # noqa: E402
from dpostudio.ui.plugins.dialog import PluginsDialog  # noqa: E402

BUILTINS = {"builtin-datasets", "builtin-models", "builtin-judges"}


@pytest.fixture
def autoload(monkeypatch):
    monkeypatch.delenv("DPOSTUDIO_NO_PLUGINS")  # this test asks for plugin autoloading
    reset_manager()


def _row_text(dialog, name: str) -> list[str]:
    row = dialog.plugin_names().index(name)
    return [dialog.table.item(row, c).text() for c in range(dialog.table.columnCount())]


def test_lists_builtins_and_disables_and_enables_one(qtbot, autoload):
    dialog = PluginsDialog()
    qtbot.addWidget(dialog)
    assert BUILTINS <= set(dialog.plugin_names())
    name, version, source, hooks, status = _row_text(dialog, "builtin-judges")
    assert source == "built-in" and status == "active" and "judge_pair" in hooks and version

    dialog.select("builtin-judges")
    assert dialog.disable_button.isEnabled() and not dialog.uninstall_button.isEnabled()
    dialog.disable_button.click()
    assert get_manager().info("builtin-judges").status == "disabled"
    assert "builtin-judges" in settings.disabled_plugins()
    assert _row_text(dialog, "builtin-judges")[4] == "disabled"
    assert get_manager().judges() == [] or all(j.id for j in get_manager().judges())

    dialog.select("builtin-judges")
    assert dialog.enable_button.isEnabled()
    dialog.enable_button.click()
    assert get_manager().info("builtin-judges").status == "active"
    assert "builtin-judges" not in settings.disabled_plugins()
    assert _row_text(dialog, "builtin-judges")[4] == "active"


def test_a_failing_plugin_is_listed_with_its_error(qtbot, autoload):
    class NoApiVersion:  # forgets DPOSTUDIO_HOOK_API
        pass

    get_manager().register(NoApiVersion(), "forgetful")
    dialog = PluginsDialog()
    qtbot.addWidget(dialog)
    row = dialog.plugin_names().index("forgetful")
    status = dialog.table.item(row, 4)
    assert status.text().startswith("failed") and "DPOSTUDIO_HOOK_API" in status.toolTip()
    dialog.select("forgetful")
    assert "Failed" in dialog.details.text() and "DPOSTUDIO_HOOK_API" in dialog.details.text()
    assert not dialog.enable_button.isEnabled()


def test_installing_a_missing_wheel_fails_in_words(qtbot, autoload, tmp_path):
    dialog = PluginsDialog()
    qtbot.addWidget(dialog)
    messages = []
    dialog.message.connect(lambda level, text: messages.append((level, text)))
    from PySide6.QtWidgets import QLabel

    assert any("your user rights" in label.text() for label in dialog.findChildren(QLabel))  # the warning is shown
    missing = tmp_path / "no_such_plugin-0.1-py3-none-any.whl"
    dialog.target_edit.setText(str(missing))
    dialog.install_button.click()
    qtbot.waitUntil(lambda: not dialog.is_busy(), timeout=30_000)
    text = dialog.result_label.text()
    assert "does not exist" in text and "Nothing was changed" in text
    assert messages and messages[-1][0] == "error" and "Traceback" not in messages[-1][1]
    assert dialog.install_button.isEnabled()
