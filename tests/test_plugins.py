"""The plugin host: hook specs, built-in plugins through entry points, settings, disabling, tracing, CLI."""

from __future__ import annotations

import inspect
import json

import pluggy
import pytest

from dpostudio.core import settings
from dpostudio.plugins import HOOK_API_VERSION, PluginError, hookimpl, hookspecs
from dpostudio.plugins.manager import HOOK_NAMES, HookCallError, PluginManager, get_manager

BUILTINS = {"builtin-datasets", "builtin-models", "builtin-judges"}


def _specs():
    return {name: getattr(hookspecs, name) for name in HOOK_NAMES}


def test_every_hook_is_documented_and_says_whether_it_is_firstresult():
    assert set(HOOK_NAMES) >= {"dpostudio_dataset_sources", "dpostudio_load_dataset", "dpostudio_model_sources",
                               "dpostudio_list_models", "dpostudio_resolve_model", "dpostudio_judges",
                               "dpostudio_judge_pair", "dpostudio_judge_single"}
    for name, fn in _specs().items():
        doc = inspect.getdoc(fn) or ""
        assert len(doc) > 60, f"{name} needs a docstring"
        assert "Receives" in doc and "Returns" in doc, f"{name}: say what it receives and returns"
        opts = fn.dpostudio_spec
        if opts.get("firstresult"):
            assert "firstresult" in doc and "Not firstresult" not in doc, name
        else:
            assert "Not firstresult" in doc, name


def _impl_modules():
    import dpostudio_builtin.datasets
    import dpostudio_builtin.judges
    import dpostudio_builtin.models
    import dpostudio_builtin.rankers

    return [dpostudio_builtin.datasets, dpostudio_builtin.models, dpostudio_builtin.judges, dpostudio_builtin.rankers]


def test_builtin_implementations_match_the_specs_argument_names():
    specs = _specs()
    seen = set()
    for module in _impl_modules():
        assert module.DPOSTUDIO_HOOK_API == HOOK_API_VERSION
        for attr, fn in vars(module).items():
            if not attr.startswith("dpostudio_"):
                continue
            assert hasattr(fn, "dpostudio_impl"), f"{module.__name__}.{attr} lacks @hookimpl"
            assert attr in specs, f"{module.__name__}.{attr} is not a hook"
            spec_args = list(inspect.signature(specs[attr]).parameters)
            impl_args = list(inspect.signature(fn).parameters)
            assert impl_args == spec_args, f"{module.__name__}.{attr}{impl_args} vs spec {spec_args}"
            seen.add(attr)
    assert seen == set(specs), f"hooks with no built-in implementation: {set(specs) - seen}"


def test_builtins_are_registered_through_the_entry_point_group():
    from importlib.metadata import entry_points

    names = {ep.name for ep in entry_points(group="dpostudio")}
    assert BUILTINS <= names
    manager = PluginManager().load()
    infos = {i.name: i for i in manager.plugins()}
    for name in BUILTINS:
        assert infos[name].status == "active", infos[name]
        assert infos[name].source == "built-in"
        assert infos[name].distribution == "dpostudio"
        assert infos[name].api_version == HOOK_API_VERSION
    assert "dpostudio_judge_pair" in infos["builtin-judges"].hooks
    pm = manager.pluggy_manager
    pm.check_pending()  # nothing implements an unknown hook
    assert isinstance(pm, pluggy.PluginManager)


def test_builtin_sources_and_judge_are_listed():
    manager = get_manager()
    assert {s.id for s in manager.dataset_sources()} >= {"local-file", "hub", "demo"}
    assert {s.id for s in manager.model_sources()} >= {"embedded", "hub", "folder", "gguf"}
    judges = {j.id: j for j in manager.judges()}
    assert "local-model" in judges and "pairwise" in judges["local-model"].modes


def test_local_file_source_loads_rows(tmp_path):
    data = tmp_path / "pairs.jsonl"
    rows = [{"prompt": f"q{i}", "chosen": "good", "rejected": "bad"} for i in range(3)]
    data.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    loaded = get_manager().load_dataset("local-file", {"path": str(data)})
    assert len(loaded.train) == 3 and loaded.heldout is None
    assert set(loaded.train.column_names) >= {"prompt", "chosen", "rejected"}
    assert loaded.label == "pairs.jsonl"


def test_dataset_errors_are_readable_and_keep_the_plugin_active(tmp_path):
    manager = get_manager()
    with pytest.raises(HookCallError, match="not found") as info:
        manager.load_dataset("local-file", {"path": str(tmp_path / "missing.jsonl")})
    assert info.value.user_error
    with pytest.raises(HookCallError, match="choose a file"):
        manager.load_dataset("local-file", {})
    with pytest.raises(HookCallError, match="unknown dataset source 'nope'; available: local-file"):
        manager.load_dataset("nope", {})
    assert manager.info("builtin-datasets").status == "active"


def test_hub_dataset_offline_says_so(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(HookCallError, match="not in the local Hugging Face cache.*offline mode is on"):
        get_manager().load_dataset("hub", {"dataset": "someone/not-cached-pairs-xyz"})
    with pytest.raises(HookCallError, match="not a Hugging Face dataset id"):
        get_manager().load_dataset("hub", {"dataset": "a b c"})


def test_demo_source_loads_when_the_demo_pairs_are_shipped():
    from dpostudio.core.data.pipeline import BUILTIN_DEMO_DIR

    if not (BUILTIN_DEMO_DIR / "train.jsonl").is_file():
        with pytest.raises(HookCallError):
            get_manager().load_dataset("demo", {})
        pytest.skip("resources/demo_pairs is not there yet (issue 4)")
    loaded = get_manager().load_dataset("demo", {})
    assert len(loaded.train) > 0


def test_model_sources_resolve_folders_and_refuse_wrong_inputs(tmp_path):
    manager = get_manager()
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "config.json").write_text("{}", encoding="utf-8")
    resolved = manager.resolve_model("folder", {"path": str(folder)})
    assert resolved.kind == "folder" and resolved.location == str(folder.resolve())
    assert manager.resolve_model("hub", {"model": "HuggingFaceTB/SmolLM2-135M-Instruct"}).kind == "hub"
    with pytest.raises(HookCallError, match="model folder not found"):
        manager.resolve_model("folder", {"path": str(tmp_path / "nope")})
    with pytest.raises(HookCallError, match="not a .gguf file"):
        manager.resolve_model("gguf", {"path": str(folder / "config.json")})
    with pytest.raises(HookCallError, match="GGUF file not found"):
        manager.resolve_model("gguf", {"path": str(tmp_path / "x.gguf")})
    assert manager.info("builtin-models").status == "active"


@pytest.mark.slow
def test_embedded_model_source_and_listing(embedded_model):
    manager = get_manager()
    resolved = manager.resolve_model("embedded", {})
    assert resolved.location == embedded_model.location
    specs = [m.spec for m in manager.list_models()]
    assert "embedded:smollm2-135m-instruct" in specs


def test_settings_roundtrip_and_corrupt_file(dpostudio_home):
    assert settings.get("plugins.disabled", []) == []
    settings.set("ui.theme", "dark")
    settings.set_plugin_enabled("x", False)
    settings.set_plugin_enabled("y", False)
    settings.set_plugin_enabled("x", True)
    assert settings.get("ui.theme") == "dark"
    assert settings.disabled_plugins() == ["y"]
    settings.set("ui.theme", None)
    assert settings.get("ui.theme", "light") == "light"
    from dpostudio.core.paths import settings_file

    settings_file().write_text("this is = = not toml", encoding="utf-8")
    assert settings.get("ui.theme", "fallback") == "fallback"
    with pytest.raises(settings.SettingsError, match="not valid TOML"):
        settings.set("a", 1)
    assert PluginManager().load().info("builtin-judges").status == "active"  # unreadable settings never stop the app


def test_disable_by_settings_and_environment(monkeypatch):
    settings.set_plugin_enabled("builtin-judges", False)
    manager = PluginManager().load()
    assert manager.info("builtin-judges").status == "disabled"
    assert manager.info("builtin-judges").disabled_by == "settings"
    assert "local-model" not in [j.id for j in manager.judges()]
    manager.set_enabled("builtin-judges", True)
    assert manager.info("builtin-judges").status == "active"
    assert "local-model" in [j.id for j in manager.judges()]
    assert settings.disabled_plugins() == []

    monkeypatch.setenv("DPOSTUDIO_DISABLE_PLUGINS", "builtin-models, builtin-datasets")
    manager = PluginManager().load()
    assert manager.info("builtin-models").disabled_by == "DPOSTUDIO_DISABLE_PLUGINS"
    assert manager.model_sources() == [] and manager.dataset_sources() == []
    with pytest.raises(HookCallError, match="unknown model source"):
        manager.resolve_model("hub", {"model": "a/b"})


def test_tracing_logs_hook_calls(monkeypatch, capsys):
    monkeypatch.setenv("DPOSTUDIO_TRACE_PLUGINS", "1")
    PluginManager().load().judges()
    err = capsys.readouterr().err
    assert "[dpostudio.plugins] loaded plugin builtin-judges" in err
    assert "dpostudio_judges -> builtin-judges" in err


def test_in_process_plugin_gets_the_same_treatment():
    class Plugin:
        DPOSTUDIO_HOOK_API = 1

        @hookimpl
        def dpostudio_judge_pair(self, judge_id, options):  # fewer arguments than the spec is fine
            if judge_id != "always-tie":
                return None
            if options.get("fail"):
                raise PluginError("needs an API key")
            return None

        @hookimpl
        def dpostudio_judges(self):
            from dpostudio.plugins import JudgeInfo

            return [JudgeInfo("always-tie", "Always tie")]

        def dpostudio_dataset_sources(self):  # forgot @hookimpl
            return []

    manager = PluginManager()
    info = manager.register(Plugin(), "tie")
    assert info.status == "active", info.error
    assert any("not decorated with @hookimpl" in w for w in info.warnings)
    with pytest.raises(HookCallError, match="needs an API key") as exc:
        manager.judge_pair("always-tie", "p", "a", "b", ["depth"], {"fail": True})
    assert exc.value.user_error and exc.value.plugin == "tie"
    with pytest.raises(HookCallError, match="returned nothing"):
        manager.judge_pair("always-tie", "p", "a", "b", ["depth"], {})
    assert manager.info("tie").status == "active"


def test_cli_list_info_disable_enable(capsys):
    from dpostudio import cli

    assert cli.main(["plugins", "list"]) == 0
    out = capsys.readouterr().out
    assert "builtin-judges" in out and "built-in" in out and "active" in out
    assert cli.main(["plugins", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {p["name"] for p in listed} >= BUILTINS
    assert cli.main(["plugins", "disable", "builtin-judges"]) == 0
    capsys.readouterr()
    from dpostudio.plugins.manager import reset_manager

    reset_manager()
    assert cli.main(["plugins", "info", "builtin-judges"]) == 0
    assert "disabled (settings)" in capsys.readouterr().out
    assert cli.main(["plugins", "enable", "builtin-judges"]) == 0
    assert settings.disabled_plugins() == []
    assert cli.main(["plugins", "info", "no-such-plugin"]) == 1
    assert "no plugin named 'no-such-plugin'" in capsys.readouterr().err
    assert cli.main(["plugins", "uninstall", "builtin-judges", "--yes"]) == 1
    assert "built into DPO Studio" in capsys.readouterr().err
    assert cli.main(["plugins", "install", "missing-dir/missing.whl", "--yes"]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_add_parser_wires_into_a_main_parser():
    import argparse

    from dpostudio import cli

    parser = argparse.ArgumentParser(prog="dpostudio")
    subparsers = parser.add_subparsers(dest="command")
    cli.plugins.add_parser(subparsers)
    args = parser.parse_args(["plugins", "install", "x.whl", "--yes", "--no-index"])
    assert args.command == "plugins" and args.target == "x.whl" and args.yes and args.no_index
    assert callable(args.func)
    assert parser.parse_args(["plugins"]).func(parser.parse_args(["plugins"])) == 0
