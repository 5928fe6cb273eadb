"""Pick the device (CUDA, Apple MPS, CPU) and training precision.

Detection is split in two so it can be tested without the hardware: ``probe_hardware()``
reads what this machine has into a plain ``HardwareInfo``; ``choose_device()`` is a pure
function of that record and the user's overrides.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field

from dpostudio.core.errors import UserError

DEVICES = ("auto", "cuda", "mps", "cpu")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass(frozen=True)
class HardwareInfo:
    cuda_available: bool = False
    cuda_name: str = ""
    cuda_bf16: bool = False
    cuda_memory_bytes: int = 0
    mps_available: bool = False
    mps_autocast_fp16: bool = False
    mps_bf16: bool = False
    cpu_flags: frozenset[str] = field(default_factory=frozenset)
    cpu_name: str = ""
    memory_bytes: int = 0


@dataclass(frozen=True)
class DeviceChoice:
    device: str  # "cuda" | "mps" | "cpu"
    precision: str  # "fp32" | "bf16" | "fp16"
    reason: str

    def describe(self) -> str:
        return f"{self.device.upper()} · {self.precision} ({self.reason})"


class DeviceError(UserError, ValueError):
    """The requested device or precision cannot be used on this machine."""


def cpu_supports_fast_bf16(flags: frozenset[str]) -> bool:
    """True when the CPU has native bf16 arithmetic (AVX512-BF16 or AMX)."""
    return bool({"avx512_bf16", "amx_bf16"} & flags)


def choose_device(hw: HardwareInfo, device: str = "auto", precision: str = "auto") -> DeviceChoice:
    """Resolve ``device``/``precision`` ("auto" or explicit) against the hardware.

    Auto rules: CUDA with bf16 where the GPU supports it, else fp16; Apple MPS with fp16
    autocast where the installed torch supports it, else fp32; CPU with bf16 autocast when
    the CPU has native bf16 instructions (measured faster here, see bench/), else fp32.
    """
    if device not in DEVICES:
        raise DeviceError(f"device must be one of {', '.join(DEVICES)}, not {device!r}")
    if precision not in PRECISIONS:
        raise DeviceError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")

    if device == "auto":
        device = "cuda" if hw.cuda_available else "mps" if hw.mps_available else "cpu"
    elif device == "cuda" and not hw.cuda_available:
        raise DeviceError("CUDA was requested but no NVIDIA GPU is usable by this PyTorch build")
    elif device == "mps" and not hw.mps_available:
        raise DeviceError("Apple MPS was requested but this machine or PyTorch build has no MPS support")

    if device == "cuda":
        supported = {"fp32", "fp16"} | ({"bf16"} if hw.cuda_bf16 else set())
        auto = ("bf16", "GPU supports bf16") if hw.cuda_bf16 else ("fp16", "GPU lacks bf16")
    elif device == "mps":
        supported = {"fp32"} | ({"fp16"} if hw.mps_autocast_fp16 else set()) | ({"bf16"} if hw.mps_bf16 else set())
        auto = ("fp16", "MPS fp16 autocast") if hw.mps_autocast_fp16 else ("fp32", "no MPS autocast in this PyTorch")
    else:
        fast_bf16 = cpu_supports_fast_bf16(hw.cpu_flags)
        supported = {"fp32", "bf16"}
        auto = ("bf16", "CPU has native bf16") if fast_bf16 else ("fp32", "CPU lacks native bf16")

    if precision == "auto":
        return DeviceChoice(device, auto[0], auto[1])
    if precision not in supported:
        raise DeviceError(
            f"precision {precision} is not supported on {device.upper()} here "
            f"(supported: {', '.join(sorted(supported))})"
        )
    return DeviceChoice(device, precision, "chosen by you")


def _cpu_flags() -> tuple[frozenset[str], str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            text = fh.read()
    except OSError:
        return frozenset(), platform.processor()
    flags: set[str] = set()
    name = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "flags" and not flags:
            flags = set(value.split())
        elif key == "model name" and not name:
            name = value.strip()
    return frozenset(flags), name


def probe_hardware() -> HardwareInfo:
    """Read this machine's accelerators. Imports torch (slow the first time)."""
    import psutil
    import torch

    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    mps_fp16 = False
    if mps:
        try:
            mps_fp16 = torch.amp.autocast_mode.is_autocast_available("mps")
        except Exception:  # older torch
            mps_fp16 = False
    flags, name = _cpu_flags()
    return HardwareInfo(
        cuda_available=cuda,
        cuda_name=torch.cuda.get_device_name(0) if cuda else "",
        cuda_bf16=bool(cuda and torch.cuda.is_bf16_supported()),
        cuda_memory_bytes=torch.cuda.get_device_properties(0).total_memory if cuda else 0,
        mps_available=mps,
        mps_autocast_fp16=mps_fp16,
        mps_bf16=False,
        cpu_flags=flags,
        cpu_name=name,
        memory_bytes=psutil.virtual_memory().total,
    )


def probe_and_choose() -> tuple[HardwareInfo, DeviceChoice]:
    """Probe the accelerators and pick the automatic device/precision (imports torch: the app runs this in its
    background process, never in the window's)."""
    hardware = probe_hardware()
    return hardware, choose_device(hardware)


def prepare_environment(device: str) -> None:
    """Environment tweaks that must happen before training starts on ``device``."""
    if device == "mps":
        # Let PyTorch run ops MPS lacks on the CPU instead of failing.
        os.environ.setdefault("PYTORCH_ENABLE_MPS_FALLBACK", "1")
