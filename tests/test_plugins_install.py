"""Installing community plugins: the example plugin is built, pip-installed into a throw-away virtual
environment, discovered through its entry point, used, disabled, uninstalled; failed installs change nothing.

The throw-away environment is a ``venv --without-pip`` whose ``.pth`` file adds this project's environment
(so it sees dpostudio, pip and setuptools) while pip installs into the throw-away one only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

from dpostudio.plugins import installer

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "dpostudio-keyword-judge"
OFFLINE = {"build_isolation": False, "index": False}


@pytest.fixture(scope="module")
def venv_python(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("plugin-venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")], check=True)
    python = str(root / "venv" / ("Scripts/python.exe" if os.name == "nt" else "bin/python"))
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    parent = sysconfig.get_paths()["purelib"]
    Path(purelib, "_dpostudio_parent_env.pth").write_text(f"import site; site.addsitedir({parent!r})\n")
    return python


def _build(project: Path, out: Path) -> Path:
    existing = set(out.glob("*.whl")) if out.is_dir() else set()
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                    "-q", "-w", str(out), str(project)], check=True, capture_output=True, text=True)
    (wheel,) = set(out.glob("*.whl")) - existing
    return wheel


@pytest.fixture(scope="module")
def example_wheel(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("example")
    project = work / "src"
    shutil.copytree(EXAMPLE, project)  # build a copy: in-tree builds leave build/ and *.egg-info behind
    return _build(project, work / "dist")


def _env(**extra) -> dict:
    env = dict(os.environ)
    env.pop("DPOSTUDIO_NO_PLUGINS", None)  # these tests ask for community plugins
    env.update(extra)
    return env


def _cli(python: str, *args: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([python, "-m", "dpostudio", "plugins", *args], capture_output=True, text=True,
                          env=_env(**env), timeout=300)


def _plugins(python: str, **env) -> dict:
    proc = _cli(python, "list", "--json", **env)
    assert proc.returncode == 0, proc.stderr
    return {p["name"]: p for p in json.loads(proc.stdout)}


USE = """
import json, sys
from dpostudio.plugins.manager import get_manager
m = get_manager()
v = m.judge_pair("keyword", "What is the capital of France?", "The capital of France is Paris, on the Seine.",
                 "dog dog dog dog", ["coherence", "relevance", "depth"], {"keywords": "paris"})
print(json.dumps({"judges": [j.id for j in m.judges()], "winner": v.winner, "scores": v.scores,
                  "reasoning": v.reasoning}))
"""


def test_example_plugin_install_use_disable_uninstall(venv_python, example_wheel):
    before = installer.snapshot(venv_python)
    proc = _cli(venv_python, "install", str(example_wheel), "--yes", "--no-build-isolation", "--no-index")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "runs inside DPO Studio with your user rights" in proc.stdout
    assert "Installed dpostudio-keyword-judge 0.1.0. Plugins: keyword-judge. Restart DPO Studio" in proc.stdout
    assert "Successfully installed dpostudio-keyword-judge-0.1.0" in proc.stdout  # pip's own lines streamed

    plugins = _plugins(venv_python)
    judge = plugins["keyword-judge"]
    assert judge["status"] == "active" and judge["source"] == "community"
    assert judge["distribution"] == "dpostudio-keyword-judge" and judge["version"] == "0.1.0"
    assert set(judge["hooks"]) == {"dpostudio_judges", "dpostudio_judge_pair", "dpostudio_judge_single"}

    used = subprocess.run([venv_python, "-c", USE], capture_output=True, text=True, env=_env(), timeout=300)
    assert used.returncode == 0, used.stderr
    result = json.loads(used.stdout)
    assert "keyword" in result["judges"] and "local-model" in result["judges"]
    assert result["winner"] == "A"
    assert result["scores"]["relevance"]["A"] > result["scores"]["relevance"]["B"]

    # the test environment itself does not autoload it
    assert _plugins(venv_python, DPOSTUDIO_NO_PLUGINS="1")["keyword-judge"]["disabled_by"] == "DPOSTUDIO_NO_PLUGINS"
    assert _plugins(venv_python, DPOSTUDIO_DISABLE_PLUGINS="keyword-judge")["keyword-judge"]["status"] == "disabled"

    proc = _cli(venv_python, "disable", "keyword-judge")
    assert proc.returncode == 0 and "keyword-judge disabled" in proc.stdout
    assert _plugins(venv_python)["keyword-judge"]["status"] == "disabled"
    used = subprocess.run([venv_python, "-c", USE], capture_output=True, text=True, env=_env(), timeout=300)
    assert used.returncode != 0 and "unknown judge 'keyword'" in used.stderr
    assert _cli(venv_python, "enable", "keyword-judge").returncode == 0
    assert _plugins(venv_python)["keyword-judge"]["status"] == "active"

    proc = _cli(venv_python, "uninstall", "keyword-judge", "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Uninstalled dpostudio-keyword-judge 0.1.0" in proc.stdout
    assert "keyword-judge" not in _plugins(venv_python)
    assert installer.snapshot(venv_python) == before


def test_install_from_project_folder_streams_progress(venv_python, tmp_path):
    before = installer.snapshot(venv_python)
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE, project)
    lines: list[str] = []
    result = installer.install(str(project), python=venv_python, on_line=lines.append, **OFFLINE)
    assert result.ok, result.message
    assert result.plugins == ["keyword-judge"] and result.added == ["dpostudio-keyword-judge 0.1.0"]
    assert lines[0] == installer.INSTALL_WARNING
    assert any(line.startswith("Checking") for line in lines) and any("Successfully installed" in ln for ln in lines)
    again = installer.install(str(project), python=venv_python, **OFFLINE)
    assert again.ok and again.message.startswith("Reinstalled dpostudio-keyword-judge 0.1.0. Plugins: keyword-judge")
    gone = installer.uninstall("dpostudio-keyword-judge", python=venv_python)
    assert gone.ok, gone.message
    assert installer.snapshot(venv_python) == before


def test_failed_installs_leave_the_environment_unchanged_and_say_why(venv_python, tmp_path):
    before = installer.snapshot(venv_python)

    result = installer.install(str(tmp_path / "dist" / "missing_plugin-1.0-py3-none-any.whl"), python=venv_python)
    assert not result.ok and "does not exist" in result.message and "Nothing was changed" in result.message

    junk = tmp_path / "junk_plugin-1.0-py3-none-any.whl"
    junk.write_bytes(b"this is not a zip file")
    result = installer.install(str(junk), python=venv_python, **OFFLINE)
    assert not result.ok and "could not prepare" in result.message and "Nothing was changed" in result.message

    broken = tmp_path / "broken-plugin"
    broken.mkdir()
    (broken / "pyproject.toml").write_text(textwrap.dedent("""
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"
    """))
    (broken / "setup.py").write_text("raise RuntimeError('this plugin cannot be built')\n")
    result = installer.install(str(broken), python=venv_python, **OFFLINE)
    assert not result.ok
    assert "could not prepare" in result.message and "Nothing was changed" in result.message
    assert any("this plugin cannot be built" in line for line in result.log)

    empty = tmp_path / "not-a-project"
    empty.mkdir()
    result = installer.install(str(empty), python=venv_python)
    assert not result.ok and "not a Python project" in result.message

    result = installer.install("not a name!", python=venv_python)
    assert not result.ok and "is not a package name" in result.message

    assert installer.snapshot(venv_python) == before
    refused = installer.uninstall("setuptools", python=venv_python)
    assert not refused.ok and "not a DPO Studio plugin package" in refused.message


def test_failure_during_the_real_install_is_rolled_back(venv_python, example_wheel, monkeypatch):
    """pip fails after the dry run succeeded (simulated after the real pip ran): what it added is removed."""
    before = installer.snapshot(venv_python)
    real = installer._run_pip

    def failing(python, args, on_line, log):
        rc = real(python, args, on_line, log)
        if args[0] == "install" and "--dry-run" not in args:
            log.append("ERROR: simulated failure after installing")
            return 1
        return rc

    monkeypatch.setattr(installer, "_run_pip", failing)
    result = installer.install(str(example_wheel), python=venv_python, **OFFLINE)
    assert not result.ok
    assert "simulated failure" in result.message and "the environment is as it was" in result.message
    assert installer.snapshot(venv_python) == before


def test_install_that_would_change_installed_packages_is_refused(venv_python, tmp_path):
    def project(name, version, deps=()):
        folder = tmp_path / f"{name}-{version}"
        (folder / name.replace("-", "_")).mkdir(parents=True)
        (folder / name.replace("-", "_") / "__init__.py").write_text("DPOSTUDIO_HOOK_API = 1\n")
        (folder / "pyproject.toml").write_text(textwrap.dedent(f"""
            [build-system]
            requires = ["setuptools>=68"]
            build-backend = "setuptools.build_meta"
            [project]
            name = "{name}"
            version = "{version}"
            dependencies = {list(deps)!r}
            [project.entry-points.dpostudio]
            {name} = "{name.replace('-', '_')}"
            [tool.setuptools]
            packages = ["{name.replace('-', '_')}"]
        """).replace("'", '"'))
        return folder

    wheels = tmp_path / "wheels"
    _build(project("dpt-dep", "1.0"), wheels)
    _build(project("dpt-dep", "2.0"), wheels)
    plugin = _build(project("dpt-needs-old", "0.1", ["dpt-dep==1.0"]), wheels)
    subprocess.run([venv_python, "-m", "pip", "install", "-q", "--no-index", "--find-links", str(wheels), "dpt-dep==2.0"],
                   check=True, capture_output=True)
    try:
        before = installer.snapshot(venv_python)
        result = installer.install(str(plugin), python=venv_python, extra_args=["--find-links", str(wheels)], **OFFLINE)
        assert not result.ok
        assert "would change packages DPO Studio already uses (dpt-dep 2.0 -> 1.0)" in result.message
        assert installer.snapshot(venv_python) == before
    finally:
        subprocess.run([venv_python, "-m", "pip", "uninstall", "-y", "-q", "dpt-dep"], capture_output=True)
