"""Broken plugins are each isolated with a readable error; the built-ins and good plugins keep working."""

from __future__ import annotations

import textwrap
import threading
from importlib.metadata import EntryPoint, entry_points

import pytest

from dpostudio.plugins.manager import HookCallError, PluginManager

GOOD = """
from dpostudio.plugins import hookimpl, JudgeInfo, Verdict
DPOSTUDIO_HOOK_API = 1

@hookimpl
def dpostudio_judges():
    return [JudgeInfo("good", "Good judge")]

@hookimpl
def dpostudio_judge_pair(judge_id, criteria):
    if judge_id != "good":
        return None
    return Verdict("A", {c: {"A": 7, "B": 3} for c in criteria}, "A is better")
"""

BROKEN = {
    "import_error": "import no_such_module_for_dpostudio_tests\n",
    "raising_hook": """
        from dpostudio.plugins import hookimpl
        DPOSTUDIO_HOOK_API = 1
        @hookimpl
        def dpostudio_dataset_sources():
            raise RuntimeError("boom in sources")
    """,
    "wrong_shape": """
        from dpostudio.plugins import hookimpl
        DPOSTUDIO_HOOK_API = 1
        @hookimpl
        def dpostudio_model_sources():
            return {"id": "not a list of ModelSource"}
    """,
    "bad_item": """
        from dpostudio.plugins import hookimpl, JudgeInfo
        DPOSTUDIO_HOOK_API = 1
        @hookimpl
        def dpostudio_judges():
            return [JudgeInfo("", "no id")]
    """,
    "wrong_api": """
        from dpostudio.plugins import hookimpl
        DPOSTUDIO_HOOK_API = 99
        @hookimpl
        def dpostudio_judges():
            return []
    """,
    "no_api": """
        from dpostudio.plugins import hookimpl
        @hookimpl
        def dpostudio_judges():
            return []
    """,
    "unknown_hook": """
        from dpostudio.plugins import hookimpl
        DPOSTUDIO_HOOK_API = 1
        @hookimpl
        def dpostudio_judgez():
            return []
    """,
    "bad_args": """
        from dpostudio.plugins import hookimpl
        DPOSTUDIO_HOOK_API = 1
        @hookimpl
        def dpostudio_judge_pair(judge_id, verdict_format):
            return None
    """,
    "hangs": """
        import threading
        from dpostudio.plugins import hookimpl
        DPOSTUDIO_HOOK_API = 1
        RELEASE = threading.Event()
        @hookimpl
        def dpostudio_dataset_sources():
            RELEASE.wait(30)
            return []
    """,
    "exits": """
        import sys
        sys.exit(3)
    """,
}

EXPECTED = {
    "import_error": "could not be imported: ModuleNotFoundError: No module named 'no_such_module_for_dpostudio_tests'",
    "raising_hook": "dpostudio_dataset_sources raised RuntimeError: boom in sources",
    "wrong_shape": "dpostudio_model_sources returned a wrong shape: dpostudio_model_sources must return a list of ModelSource, got dict",
    "bad_item": "dpostudio_judges returned a wrong shape: judge id must be a non-empty string",
    "wrong_api": "targets hook API version 99, but this DPO Studio provides version 1",
    "no_api": "does not say which hook API it targets: add  DPOSTUDIO_HOOK_API = 1",
    "unknown_hook": "implements unknown hook(s) dpostudio_judgez",
    "bad_args": "does not match the hook specs",
    "hangs": "did not answer dpostudio_dataset_sources within 0.5 s",
    "exits": "could not be imported: SystemExit: 3",
}


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    folder = tmp_path / "plugin_modules"
    folder.mkdir()
    (folder / "dpt_good.py").write_text(GOOD, encoding="utf-8")
    for name, source in BROKEN.items():
        (folder / f"dpt_{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    import sys

    hang = sys.modules.get("dpt_hangs")
    if hang is not None:
        hang.RELEASE.set()
    for name in list(sys.modules):
        if name.startswith("dpt_"):
            del sys.modules[name]


def _entry_points(names):
    installed = [ep for ep in entry_points(group="dpostudio")]
    fakes = [EntryPoint(name=n.replace("_", "-"), value=f"dpt_{n}", group="dpostudio") for n in names]
    return installed + fakes


def test_each_broken_plugin_is_isolated_with_a_readable_error(plugin_dir):
    manager = PluginManager(entry_points=_entry_points(["good", *BROKEN]), community=True, list_timeout=0.5)
    manager.load()
    # listing hooks run every plugin; the broken ones are marked failed, the rest answer
    assert [s.id for s in manager.dataset_sources()] == ["local-file", "hub", "demo"]
    assert [s.id for s in manager.model_sources()] == ["embedded", "hub", "folder", "gguf"]
    assert sorted(j.id for j in manager.judges()) == ["gemini", "good", "local-model", "openai-compatible"]
    infos = {i.name: i for i in manager.plugins()}
    for name, expected in EXPECTED.items():
        info = infos[name.replace("_", "-")]
        assert info.status == "failed", (name, info)
        assert expected in info.error, (name, info.error)
        assert info.source == "community"
    assert infos["good"].status == "active"
    for name in ("builtin-datasets", "builtin-models", "builtin-judges"):
        assert infos[name].status == "active"
    assert infos["raising-hook"].detail and "boom in sources" in infos["raising-hook"].detail
    verdict = manager.judge_pair("good", "p", "a", "b", ["coherence"])
    assert verdict.winner == "A" and verdict.scores == {"coherence": {"A": 7, "B": 3}}
    # a failed plugin is not called again
    assert [s.id for s in manager.dataset_sources()] == ["local-file", "hub", "demo"]


def test_action_hook_junk_marks_the_plugin_failed(plugin_dir):
    (plugin_dir / "dpt_junk_verdict.py").write_text(textwrap.dedent("""
        from dpostudio.plugins import hookimpl, JudgeInfo, Verdict
        DPOSTUDIO_HOOK_API = 1
        @hookimpl
        def dpostudio_judges():
            return [JudgeInfo("junk", "Junk")]
        @hookimpl
        def dpostudio_judge_pair(judge_id, criteria):
            if judge_id == "junk":
                return Verdict("maybe", {c: {"A": 11, "B": 0} for c in criteria}, "made up")
    """), encoding="utf-8")
    manager = PluginManager(entry_points=_entry_points(["junk_verdict"]), community=True)
    with pytest.raises(HookCallError, match="wrong shape.*Verdict.winner must be one of A, B, tie"):
        manager.judge_pair("junk", "p", "a", "b", ["depth"])
    info = manager.info("junk-verdict")
    assert info.status == "failed" and "Verdict.winner" in info.error
    with pytest.raises(HookCallError, match="unknown judge 'junk'"):
        manager.judge_pair("junk", "p", "a", "b", ["depth"])


def test_missing_criteria_and_action_timeouts(plugin_dir):
    (plugin_dir / "dpt_slow_judge.py").write_text(textwrap.dedent("""
        import threading
        from dpostudio.plugins import hookimpl, JudgeInfo, Verdict
        DPOSTUDIO_HOOK_API = 1
        RELEASE = threading.Event()
        @hookimpl
        def dpostudio_judges():
            return [JudgeInfo("slow", "Slow"), JudgeInfo("partial", "Partial")]
        @hookimpl
        def dpostudio_judge_pair(judge_id, criteria):
            if judge_id == "slow":
                RELEASE.wait(30)
            return Verdict("tie", {"depth": {"A": 5, "B": 5}}, "only depth")
    """), encoding="utf-8")
    manager = PluginManager(entry_points=_entry_points(["slow_judge"]), community=True)
    with pytest.raises(HookCallError, match="within 0.3 s") as exc:
        manager.judge_pair("slow", "p", "a", "b", ["depth"], timeout=0.3)
    assert exc.value.timed_out
    import sys

    sys.modules["dpt_slow_judge"].RELEASE.set()
    assert manager.info("slow-judge").status == "active"  # a slow answer is not a broken plugin
    with pytest.raises(HookCallError, match="lacks the requested criteria: coherence"):
        manager.judge_pair("partial", "p", "a", "b", ["depth", "coherence"])


def test_duplicate_ids_are_dropped_with_a_warning(plugin_dir):
    (plugin_dir / "dpt_dupe.py").write_text(textwrap.dedent("""
        from dpostudio.plugins import hookimpl, DatasetSource
        DPOSTUDIO_HOOK_API = 1
        @hookimpl
        def dpostudio_dataset_sources():
            return [DatasetSource("local-file", "My local file"), DatasetSource("text-folder", "Text folder")]
    """), encoding="utf-8")
    manager = PluginManager(entry_points=_entry_points(["dupe"]), community=True)
    sources = manager.dataset_sources()
    assert [s.id for s in sources] == ["local-file", "hub", "demo", "text-folder"]
    assert sources[0].title == "Local file"
    assert any("already provided by plugin builtin-datasets" in w for w in manager.info("dupe").warnings)


def test_community_plugins_are_off_in_tests_unless_asked(plugin_dir, monkeypatch):
    manager = PluginManager(entry_points=_entry_points(["good"]))
    assert manager.load().info("good").status == "disabled"
    assert manager.info("good").disabled_by == "DPOSTUDIO_NO_PLUGINS"
    monkeypatch.delenv("DPOSTUDIO_NO_PLUGINS")
    manager = PluginManager(entry_points=_entry_points(["good"]))
    assert manager.load().info("good").status == "active"


def test_the_app_keeps_working_while_a_plugin_hangs(plugin_dir):
    manager = PluginManager(entry_points=_entry_points(["hangs", "good"]), community=True, list_timeout=0.3)
    done = threading.Event()
    result = {}

    def pane():
        result["sources"] = [s.id for s in manager.dataset_sources()]
        done.set()

    threading.Thread(target=pane, daemon=True).start()
    assert done.wait(10)
    assert result["sources"] == ["local-file", "hub", "demo"]
    assert manager.info("hangs").status == "failed"
