"""Install and uninstall community plugins with pip, run as a subprocess of the app's own interpreter.

How "a failed install leaves the environment as it was" is kept (honestly, in layers):

1. The target is checked first (the wheel exists, the folder has a pyproject.toml or setup.py, the name is a
   valid requirement). Nothing runs if it is not.
2. ``pip install --dry-run --report`` resolves the plugin against the installed packages. This downloads and
   builds what it needs (so a project that fails to build, a missing name or an unreachable index fails
   here) but installs nothing.
3. The report lists every distribution pip would install. If any of them is already installed at another
   version (a plugin that would upgrade or downgrade torch, transformers, ... under the app's feet), the
   install is refused unless ``allow_changes=True``. So by default an install only *adds* distributions.
4. The real ``pip install`` runs. If it still fails, every distribution that appeared since the snapshot
   taken in step 2 is uninstalled again, and the final package list is compared with the snapshot; any
   difference that could not be undone (only possible with ``allow_changes=True``) is reported by name.

Plugins run with the user's rights (``INSTALL_WARNING``); a restart activates a newly installed plugin.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dpostudio.core.errors import UserError
from dpostudio.plugins.manager import BUILTIN_DISTRIBUTION, ENTRY_POINT_GROUP

INSTALL_WARNING = (
    "Warning: a plugin is Python code that runs inside DPO Studio with your user rights: it can read and change "
    "your files, use your network and see your tokens. Install plugins only from authors you trust."
)
RESTART_NOTE = "Restart DPO Studio to activate it."
UNINSTALL_NOTE = "Restart DPO Studio to finish: a plugin already loaded stays in memory until then."

LineFn = Callable[[str], None]
_REQUIREMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*(\[[A-Za-z0-9._,\- ]+\])?\s*([<>=!~]=?.*)?$")
_SNAPSHOT = (
    "import importlib.metadata as m, json\n"
    "out = {}\n"
    "for d in m.distributions():\n"
    "    name = d.metadata['Name']\n"
    "    if not name: continue\n"
    "    key = name.lower().replace('_', '-').replace('.', '-')\n"
    "    if key in out: continue\n"
    f"    eps = [e.name for e in d.entry_points if e.group == {ENTRY_POINT_GROUP!r}]\n"
    "    out[key] = {'name': name, 'version': d.version, 'plugins': eps}\n"
    "print(json.dumps(out))\n"
)


class InstallError(UserError, RuntimeError):
    """Installing or uninstalling could not start or did not finish; the message says why."""


@dataclass
class InstallResult:
    ok: bool
    message: str
    added: list[str] = field(default_factory=list)  # "name version" of distributions now present that were not
    removed: list[str] = field(default_factory=list)
    plugins: list[str] = field(default_factory=list)  # entry-point names the installed package declares
    log: list[str] = field(default_factory=list)  # pip's output lines


def _key(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _noop(line: str) -> None:
    pass


def snapshot(python: str = sys.executable) -> dict[str, dict]:
    """Installed distributions of ``python``'s environment: normalised name -> {name, version, plugins}."""
    proc = subprocess.run([python, "-c", _SNAPSHOT], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise InstallError(f"cannot list the packages of {python}: {proc.stderr.strip().splitlines()[-1:]}")
    return json.loads(proc.stdout)


def _run_pip(python: str, args: list[str], on_line: LineFn, log: list[str]) -> int:
    cmd = [python, "-m", "pip", *args]
    env = dict(
        os.environ, PYTHONUNBUFFERED="1", PIP_NO_INPUT="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_PROGRESS_BAR="off"
    )
    on_line("$ " + " ".join(["pip", *args]))
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, env=env)
    except OSError as exc:
        raise InstallError(f"cannot run pip with {python}: {exc.strerror or exc}") from exc
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip("\n")
        log.append(line)
        on_line(line)
    return proc.wait()


def _why(log: list[str]) -> str:
    """The most telling lines of pip's output."""
    errors = [ln.strip() for ln in log if ln.strip().lower().startswith(("error", "×", "╰─>"))]
    picked = [ln for ln in errors if ln not in ("×", "╰─>")]
    if not picked:
        picked = [ln.strip() for ln in log if ln.strip()][-3:]
    text = " / ".join(dict.fromkeys(picked[:4]))
    return text[:600] or "pip gave no reason"


def classify_target(target: str) -> tuple[str, str]:
    """Return ("wheel" | "folder" | "name", normalised target); raise InstallError when it cannot be used."""
    target = (target or "").strip()
    if not target:
        raise InstallError("nothing to install: give a PyPI name, a .whl file or a project folder")
    path = Path(target).expanduser()
    if path.is_dir():
        if not (path / "pyproject.toml").is_file() and not (path / "setup.py").is_file():
            raise InstallError(f"{path} is a folder but not a Python project (it has no pyproject.toml or setup.py)")
        return "folder", str(path.resolve())
    if target.endswith((".whl", ".tar.gz", ".zip")) or os.sep in target or target.startswith((".", "~")):
        if not path.is_file():
            raise InstallError(f"{path} does not exist")
        if not path.name.endswith((".whl", ".tar.gz", ".zip")):
            raise InstallError(f"{path.name} is not a wheel (.whl) or source archive")
        return "wheel" if path.name.endswith(".whl") else "archive", str(path.resolve())
    if not _REQUIREMENT.match(target):
        raise InstallError(f"{target!r} is not a package name (or a .whl file or project folder that exists)")
    return "name", target


def install(
    target: str,
    *,
    python: str = sys.executable,
    on_line: LineFn | None = None,
    allow_changes: bool = False,
    build_isolation: bool = True,
    index: bool = True,
    extra_args: list[str] | None = None,
) -> InstallResult:
    """Install a plugin from a PyPI name, a local wheel or a local project folder (see the module doc).

    ``on_line`` receives every progress line (pip's output included) as it comes. ``index=False`` installs
    without contacting any package index (only local files and what is installed). Never raises for pip
    failures: the result says what happened.
    """
    emit = on_line or _noop
    log: list[str] = []
    try:
        kind, spec = classify_target(target)
    except InstallError as exc:
        return InstallResult(False, f"Not installed: {exc}. Nothing was changed.")
    emit(INSTALL_WARNING)
    args = list(extra_args or [])
    if not build_isolation:
        args.append("--no-build-isolation")
    if not index:
        args.append("--no-index")
    try:
        before = snapshot(python)
        with tempfile.TemporaryDirectory(prefix="dpostudio-install-") as tmp:
            report_file = Path(tmp) / "report.json"
            emit(f"Checking {target} (resolving and building, nothing is installed yet)...")
            rc = _run_pip(python, ["install", "--dry-run", "--report", str(report_file), *args, spec], emit, log)
            if rc != 0 or not report_file.is_file():
                return InstallResult(
                    False, f"Not installed: pip could not prepare {target}: {_why(log)}. Nothing was changed.", log=log
                )
            report = json.loads(report_file.read_text(encoding="utf-8"))
        planned = [(item["metadata"]["name"], item["metadata"]["version"]) for item in report.get("install", [])]
        changes = [
            f"{before[_key(n)]['name']} {before[_key(n)]['version']} -> {v}"
            for n, v in planned
            if _key(n) in before and before[_key(n)]["version"] != v
        ]
        if any(_key(n) == BUILTIN_DISTRIBUTION for n, _ in planned):
            return InstallResult(
                False, f"Not installed: {target} would reinstall DPO Studio itself. Nothing was changed.", log=log
            )
        if changes and not allow_changes:
            return InstallResult(
                False,
                "Not installed: it would change packages DPO Studio already uses ("
                + "; ".join(changes)
                + "). Nothing was changed. Install a version of the "
                "plugin that fits, or allow changes if you know they are safe.",
                log=log,
            )
        if not planned:
            return InstallResult(True, f"{target} is already installed; nothing to do.", log=log)
        emit("Installing " + ", ".join(f"{n} {v}" for n, v in planned) + "...")
        rc = _run_pip(python, ["install", *args, spec], emit, log)
        after = snapshot(python)
    except InstallError as exc:
        return InstallResult(False, f"Not installed: {exc}", log=log)
    except subprocess.TimeoutExpired as exc:
        return InstallResult(False, f"Not installed: listing the installed packages timed out ({exc})", log=log)

    added_keys = [k for k in after if k not in before]
    added = [f"{after[k]['name']} {after[k]['version']}" for k in added_keys]
    if rc != 0:
        reason = _why(log)
        emit("The install failed; removing what it added...")
        if added_keys:
            _run_pip(python, ["uninstall", "-y", *[after[k]["name"] for k in added_keys]], emit, log)
        final = snapshot(python)
        leftovers = [
            f"{final[k]['name']} {final[k]['version']}"
            for k in final
            if k not in before or final[k]["version"] != before[k]["version"]
        ]
        missing = [f"{before[k]['name']} {before[k]['version']}" for k in before if k not in final]
        if leftovers or missing:
            return InstallResult(
                False,
                f"Install failed: {reason}. The environment could not be fully restored: "
                f"still changed: {', '.join(leftovers + missing)}; reinstall those versions "
                "by hand.",
                log=log,
            )
        return InstallResult(
            False,
            f"Install failed: {reason}. Everything it added was removed again; the environment is as it was.",
            log=log,
        )
    plugins = sorted({p for k in added_keys for p in after[k]["plugins"]})
    main_key = next((_key(n) for n, _ in planned if _key(n) in after), None)
    if not plugins and main_key is not None:
        plugins = after[main_key]["plugins"]
    if added:
        message = f"Installed {', '.join(added)}."
    else:  # pip reinstalls local wheels and folders even at the same version
        message = "Reinstalled " + ", ".join(f"{n} {v}" for n, v in planned) + "."
    if plugins:
        message += f" Plugins: {', '.join(plugins)}. {RESTART_NOTE}"
    else:
        message += (
            " It declares no DPO Studio plugin (no entry point in the 'dpostudio' group), so it adds "
            "nothing to the app; uninstall it if that was not meant."
        )
    return InstallResult(True, message, added=added, plugins=plugins, log=log)


def uninstall(name: str, *, python: str = sys.executable, on_line: LineFn | None = None) -> InstallResult:
    """Uninstall the package that provides a community plugin (by plugin name or package name).

    Refuses DPO Studio itself (disable built-in plugins instead) and packages that declare no DPO Studio
    plugin, so this cannot remove torch or the like by mistake. The plugin's own dependencies stay installed.
    """
    emit = on_line or _noop
    log: list[str] = []
    try:
        installed = snapshot(python)
    except (InstallError, subprocess.TimeoutExpired) as exc:
        return InstallResult(False, f"Not uninstalled: {exc}")
    key = _key(name or "")
    entry = installed.get(key)
    if entry is None:
        entry = next((e for e in installed.values() if name in e["plugins"]), None)
    if entry is None:
        return InstallResult(False, f"Not uninstalled: no installed package provides a plugin named {name!r}.")
    if _key(entry["name"]) == BUILTIN_DISTRIBUTION:
        return InstallResult(False, f"{name} is built into DPO Studio and cannot be uninstalled; disable it instead.")
    if not entry["plugins"]:
        return InstallResult(
            False,
            f"Not uninstalled: {entry['name']} is not a DPO Studio plugin package "
            "(it declares no 'dpostudio' entry point).",
        )
    try:
        rc = _run_pip(python, ["uninstall", "-y", entry["name"]], emit, log)
    except InstallError as exc:
        return InstallResult(False, f"Not uninstalled: {exc}", log=log)
    if rc != 0:
        return InstallResult(False, f"Not uninstalled: {_why(log)}", log=log)
    return InstallResult(
        True,
        f"Uninstalled {entry['name']} {entry['version']} "
        f"(plugins: {', '.join(entry['plugins'])}). "
        f"{UNINSTALL_NOTE} Its dependencies were left installed.",
        removed=[f"{entry['name']} {entry['version']}"],
        plugins=list(entry["plugins"]),
        log=log,
    )
