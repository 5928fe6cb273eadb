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
    assert set(dialog.plugin_names()) >= BUILTINS
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


def _community_plugin(name: str = "keyword-judge", dist: str = "dpostudio-keyword-judge"):
    from dpostudio.plugins.discovery import PluginInfo

    return PluginInfo(
        name=name,
        module="dpostudio_keyword_judge",
        distribution=dist,
        version="0.1",
        source="community",
        hooks=["dpostudio_judge_pair"],
    )


def test_uninstall_asks_first_then_the_list_shows_it_gone(qtbot, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from dpostudio.plugins.installer import InstallResult
    from dpostudio.ui.plugins import dialog as dialog_module

    installed = {"dpostudio-keyword-judge"}
    real_plugins = type(get_manager()).plugins
    monkeypatch.setattr(type(get_manager()), "plugins", lambda self: [*real_plugins(self), _community_plugin()])
    monkeypatch.setattr(dialog_module, "_distribution_installed", lambda dist: dist in installed)
    uninstalled = []

    def fake_uninstall(name, progress):  # pip, as far as this process can tell
        progress(0.0, f"Uninstalling {name}")
        installed.discard(name)
        uninstalled.append(name)
        return InstallResult(True, f"Uninstalled {name}. Restart DPO Studio to unload it.", removed=[name])

    monkeypatch.setattr(dialog_module, "_uninstall", fake_uninstall)
    questions = []
    answer = QMessageBox.StandardButton.Cancel

    def ask(parent, title, text, *args):
        questions.append(text)
        return answer

    monkeypatch.setattr(QMessageBox, "question", ask)
    dialog = PluginsDialog()
    qtbot.addWidget(dialog)
    assert _row_text(dialog, "keyword-judge")[4] == "active"
    dialog.select("keyword-judge")
    assert dialog.uninstall_button.isEnabled()

    dialog.uninstall_button.click()  # answered "Cancel": nothing happens
    assert len(questions) == 1 and "dpostudio-keyword-judge" in questions[0]
    assert not dialog.is_busy() and uninstalled == [] and _row_text(dialog, "keyword-judge")[4] == "active"

    answer = QMessageBox.StandardButton.Yes
    dialog.uninstall_button.click()
    qtbot.waitUntil(lambda: not dialog.is_busy(), timeout=30_000)
    assert uninstalled == ["dpostudio-keyword-judge"]
    status = _row_text(dialog, "keyword-judge")[4]
    assert status != "active" and status.startswith("uninstalled")
    dialog.select("keyword-judge")
    assert "uninstalled" in dialog.details.text() and not dialog.uninstall_button.isEnabled()
    assert not dialog.disable_button.isEnabled()


def test_installing_offers_a_restart_and_lists_the_new_plugin(qtbot, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from dpostudio.plugins.installer import InstallResult
    from dpostudio.ui.plugins import dialog as dialog_module

    monkeypatch.setattr(
        dialog_module,
        "_install",
        lambda target, allow, progress: InstallResult(
            True,
            "Installed dpostudio-keyword-judge 0.1.",
            added=["dpostudio-keyword-judge 0.1"],
            plugins=["keyword-judge"],
        ),
    )
    offered = []

    def exec_box(box):
        offered.append([b.text() for b in box.buttons()])
        box.buttons()[0].click()  # "Restart now"
        return 0

    monkeypatch.setattr(QMessageBox, "exec", exec_box)
    dialog = PluginsDialog()
    qtbot.addWidget(dialog)
    dialog.target_edit.setText("dpostudio-keyword-judge")
    with qtbot.waitSignal(dialog.restartRequested, timeout=30_000):
        dialog.install_button.click()
    assert offered == [["Restart now", "Later"]]
    assert _row_text(dialog, "keyword-judge")[4] == "installed (restart to load)"
