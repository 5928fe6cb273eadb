"""Layering: ``ui`` -> ``cli``/``plugins`` -> ``core``. The core never imports Qt, the plugin host or the UI (the CLI
and the GUI run the same Qt-free core, which reaches plugins only through the access it is given); the plugin
host never imports the UI."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "dpostudio"
CORE = PACKAGE / "core"
PLUGIN_HOST = PACKAGE / "plugins"
FORBIDDEN = ("PySide6", "pyqtgraph", "superqt", "qtpy", "dpostudio.ui")


def imported_modules(source: str, module: str) -> list[str]:
    """Every module ``source`` (the text of module ``module``) imports, at module level or inside functions,
    relative imports made absolute, plus string literals handed to ``importlib.import_module`` / ``__import__``."""
    package = module.split(".")[:-1]
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
            names += [base] + [f"{base}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__"):
                names.append(node.args[0].value)
    return names


def offenders(folder: Path, forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in sorted(folder.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        for name in imported_modules(path.read_text(encoding="utf-8"), module):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                found.append(f"{path.relative_to(PACKAGE.parent)}: {name}")
    return sorted(set(found))


def test_core_sources_do_not_import_qt():
    assert offenders(CORE, FORBIDDEN) == []


def test_core_imports_neither_the_plugin_host_nor_the_ui():
    assert offenders(CORE, ("dpostudio.plugins", "dpostudio.ui")) == []


def test_the_plugin_host_does_not_import_the_ui():
    assert offenders(PLUGIN_HOST, ("dpostudio.ui", "PySide6", "pyqtgraph")) == []


def test_the_layering_check_sees_function_level_relative_and_dynamic_imports():
    source = ("import os\n"
              "def f():\n    from dpostudio.plugins.manager import get_manager\n"
              "    from ...ui import app\n    from .. import plugins\n"
              "    importlib.import_module('dpostudio.plugins.calls')\n")
    names = imported_modules(source, "dpostudio.core.data.probe")
    assert {"dpostudio.plugins.manager", "dpostudio.ui", "dpostudio.core.plugins", "dpostudio.plugins.calls"} <= set(names)


# --- the core reaches plugins only through the access it is given ------------------------------------------

class FakeAccess:
    """What a host provides (``dpostudio.core.plugin_access.PluginAccess``), without any plugin machinery."""

    def __init__(self):
        self.calls = []

    def load_dataset(self, source_id, options=None):
        from types import SimpleNamespace

        self.calls.append(("load_dataset", source_id, dict(options or {})))
        rows = [{"prompt": "Say hi", "chosen": "Hi!", "rejected": "No."}, {"prompt": "2+2?", "chosen": "4", "rejected": "5"}]
        return SimpleNamespace(train=rows, heldout=None)

    def resolve_model(self, source_id, options=None, on_progress=None):
        from dpostudio.core.plugin_access import PluginCallError

        raise PluginCallError(f"unknown model source {source_id!r}; available: none")

    def judges(self):
        from types import SimpleNamespace

        return [SimpleNamespace(id="fake", options=[SimpleNamespace(name="api_key", kind="secret"),
                                                    SimpleNamespace(name="model", kind="text")])]

    def judge_pair(self, judge_id, prompt, answer_a, answer_b, criteria=None, options=None, *, timeout=None):
        from types import SimpleNamespace

        winner = "A" if answer_a.startswith("good") else "B"
        scores = {c: {"A": 8 if winner == "A" else 2, "B": 2 if winner == "A" else 8} for c in criteria}
        return SimpleNamespace(winner=winner, scores=scores, reasoning="the good one", method="fake", raw="")


@pytest.fixture
def given(monkeypatch):
    """Provide the core with ``FakeAccess`` (or nothing) for one test."""
    from dpostudio.core import plugin_access

    def provide(access):
        monkeypatch.setattr(plugin_access, "_provider", None if access is None else (lambda: access))
        return access
    return provide


def test_without_a_provider_plugin_specs_fail_in_words(given):
    from dpostudio.core.data.pipeline import DataError
    from dpostudio.core.data.sources import load_raw
    from dpostudio.core.errors import UserError
    from dpostudio.core.model_store import ModelError, resolve_model
    from dpostudio.core.plugin_access import plugins, plugins_provided

    given(None)
    assert not plugins_provided()
    with pytest.raises(UserError, match="plugin sources are not available in this process"):
        plugins()
    with pytest.raises(DataError, match=r"plugin:local-file\?path=x.jsonl: plugin sources are not available in this process"):
        load_raw("plugin:local-file?path=x.jsonl")
    with pytest.raises(ModelError, match=r"plugin:hub\?model=a/b: plugin sources are not available"):
        resolve_model("plugin:hub?model=a/b")


def test_a_plugin_dataset_spec_is_loaded_through_the_given_access(given):
    from dpostudio.core.data.sources import load_raw

    access = given(FakeAccess())
    train, heldout = load_raw("plugin:my-rows?topic=greetings&n=2")
    assert access.calls == [("load_dataset", "my-rows", {"topic": "greetings", "n": "2"})]
    assert train.column_names == ["prompt", "chosen", "rejected"] and len(train) == 2 and heldout is None


def test_plugin_errors_reach_the_core_as_its_own_error_type(given):
    from dpostudio.core.model_store import ModelError, resolve_model

    given(FakeAccess())
    with pytest.raises(ModelError, match="plugin:nope: unknown model source 'nope'"):
        resolve_model("plugin:nope")


def test_judging_and_secret_options_go_through_the_given_access(given):
    from dpostudio.core.compare.comparison import _safe_options, judge_both_orders

    given(FakeAccess())
    result = judge_both_orders("fake", "Q?", "bad answer", "good answer", ["depth"], {}, timeout=None)
    assert result["verdict"] == "tuned" and result["judge_error"] is None
    assert result["scores"] == {"depth": {"base": 2.0, "tuned": 8.0}}
    assert _safe_options("fake", {"api_key": "sk-1", "model": "m"}) == {"api_key": "(hidden)", "model": "m"}


def test_the_host_error_is_the_cores_error():
    from dpostudio.core.errors import UserError
    from dpostudio.core.plugin_access import PluginCallError
    from dpostudio.plugins.manager import HookCallError

    err = HookCallError("slow", "p", "dpostudio_judge_pair", timed_out=True)
    assert isinstance(err, PluginCallError) and isinstance(err, UserError) and isinstance(err, RuntimeError)
    assert err.timed_out and err.plugin == "p" and err.hook == "dpostudio_judge_pair"


def loaded_after(imports: list[str]) -> str:
    code = (
        "import sys, importlib\n"
        f"for m in {imports!r}: importlib.import_module(m)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'PySide6', 'pyqtgraph', 'torch', 'transformers'}))\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


def test_importing_core_loads_no_qt():
    modules = [".".join(("dpostudio", "core", *p.relative_to(CORE).with_suffix("").parts)).removesuffix(".__init__")
               for p in CORE.rglob("*.py")]
    loaded = loaded_after(modules)
    assert "PySide6" not in loaded and "pyqtgraph" not in loaded


def test_cli_start_up_does_not_import_torch():
    """Heavy libraries load only inside the commands that need them (fast `--help`, fast app start)."""
    loaded = loaded_after(["dpostudio.cli", "dpostudio.core.training.run_config", "dpostudio.core.training.runs"])
    assert "torch" not in loaded and "transformers" not in loaded
