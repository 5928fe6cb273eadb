"""Will it fit? The memory estimate turned into a check before a run starts, with the fix in words.

``check_fit`` compares ``memory.estimate_memory`` for a run config with what the device has: the GPU's memory on
CUDA, about two thirds of the unified memory on Apple MPS (the share macOS lets the GPU wire by default), and the
memory available right now on the CPU. It says *ok*, *tight* (a warning: it may fit, or swap) or *too big* (the
engine refuses before loading anything, and says which setting to change, with the estimate for each change).
The estimate is rough (±30 %), so "too big" is only said well past the limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dpostudio.core.training.memory import MemoryEstimate, estimate_memory, format_bytes

OK, TIGHT, TOO_BIG = "ok", "tight", "too big"
TIGHT_SHARE = 0.8  # above this share of the available memory: a warning
REFUSE_SHARE = 1.3  # above this share: refused (the estimate's own error is about ±30 %)
MPS_SHARE = 2 / 3  # macOS lets the GPU wire about this share of unified memory by default


@dataclass
class FitVerdict:
    verdict: str  # OK | TIGHT | TOO_BIG
    needed: int  # estimated bytes
    available: int  # bytes the device has for it (0 = unknown)
    where: str  # "the GPU (NVIDIA ...)", "unified memory", "free memory"
    fixes: list[str] = field(default_factory=list)

    def words(self) -> str:
        head = f"needs about {format_bytes(self.needed)}"
        if not self.available:
            return f"This run {head}; how much memory {self.where} has is unknown."
        share = f"{format_bytes(self.available)} of {self.where}"
        if self.verdict == OK:
            return f"This run {head}, which fits in {share}."
        fixes = (" Try: " + "; ".join(self.fixes) + ".") if self.fixes else ""
        if self.verdict == TIGHT:
            return f"This run {head}, close to the {share}: it may run slowly or run out of memory.{fixes}"
        return f"This run {head}, more than the {share}: it will not fit.{fixes}"


def available_memory(device: str, hardware: Any) -> tuple[int, str]:
    """Bytes the run can use on ``device`` and the words for where, from a ``device.HardwareInfo``."""
    if device == "cuda":
        return int(getattr(hardware, "cuda_memory_bytes", 0) or 0), f"the GPU's memory ({hardware.cuda_name or 'CUDA'})"
    if device == "mps":
        return int((getattr(hardware, "memory_bytes", 0) or 0) * MPS_SHARE), "the memory the GPU may use"
    try:
        import psutil

        return int(psutil.virtual_memory().available), "memory free now"
    except Exception:
        return int(getattr(hardware, "memory_bytes", 0) or 0), "memory"


def _estimate(model_config: dict[str, Any], values: dict[str, Any], device: str, precision: str) -> MemoryEstimate:
    return estimate_memory(
        model_config,
        precision=precision,
        device=device,
        batch_size=int(values.get("per_device_batch_size") or 1),
        max_length=int(values.get("max_length") or 256),
        lora_r=int(values.get("lora_r") or 16),
        lora_targets=list(values.get("lora_target_modules") or ["all-linear"]),
        gradient_checkpointing=bool(values.get("gradient_checkpointing")),
    )


def check_fit(
    model_config: dict[str, Any], values: dict[str, Any], device: str, precision: str, hardware: Any
) -> FitVerdict:
    """The verdict for run settings ``values`` (RunConfig field names) on ``device`` at ``precision``."""
    needed = _estimate(model_config, values, device, precision).total_bytes
    available, where = available_memory(device, hardware)
    if not available:
        return FitVerdict(OK, needed, 0, where)
    share = needed / available
    verdict = OK if share <= TIGHT_SHARE else TIGHT if share <= REFUSE_SHARE else TOO_BIG
    result = FitVerdict(verdict, needed, available, where)
    if verdict != OK:
        result.fixes = suggest_fixes(model_config, values, device, precision, available)
    return result


def suggest_fixes(
    model_config: dict[str, Any], values: dict[str, Any], device: str, precision: str, available: int
) -> list[str]:
    """Single changes that bring the estimate under the limit, each with its estimate (best first)."""
    options: list[tuple[str, dict[str, Any]]] = []
    if not values.get("gradient_checkpointing"):
        options.append(("turn on gradient checkpointing", {"gradient_checkpointing": True}))
    batch = int(values.get("per_device_batch_size") or 1)
    accum = int(values.get("gradient_accumulation_steps") or 1)
    while batch > 1:
        batch //= 2
        factor = int(values.get("per_device_batch_size") or 1) // batch
        options.append(
            (
                f"batch size {batch} with gradient accumulation {accum * factor} (same pairs per update)",
                {"per_device_batch_size": batch},
            )
        )
    length = int(values.get("max_length") or 256)
    for shorter in (length // 2, length // 4):
        if shorter >= 64:
            options.append((f"max length {shorter} (longer pairs are truncated)", {"max_length": shorter}))
    fixes = []
    for words, change in options:
        needed = _estimate(model_config, {**values, **change}, device, precision).total_bytes
        if needed <= TIGHT_SHARE * available:
            fixes.append(f"{words} (about {format_bytes(needed)})")
    if fixes:
        return fixes[:3]
    # no single change is enough: the changes together, in the order above, until it fits
    combined: dict[str, Any] = {}
    said: list[str] = []
    for words, change in options:
        key = next(iter(change))
        if key in combined and key != "gradient_checkpointing":
            said = [w for w in said if not w.startswith(words.split(" ")[0])]  # a smaller value of the same setting
        combined.update(change)
        said.append(words)
        needed = _estimate(model_config, {**values, **combined}, device, precision).total_bytes
        if needed <= TIGHT_SHARE * available:
            return [", ".join(said) + f" together (about {format_bytes(needed)})"]
    return ["a smaller model, or a machine with more memory (even the smallest settings do not fit)"]


def fit_values(config: Any) -> dict[str, Any]:
    """The settings ``check_fit`` reads, from a RunConfig."""
    names = (
        "per_device_batch_size",
        "gradient_accumulation_steps",
        "max_length",
        "lora_r",
        "lora_target_modules",
        "gradient_checkpointing",
    )
    return {name: getattr(config, name) for name in names}


__all__ = ["OK", "TIGHT", "TOO_BIG", "FitVerdict", "available_memory", "check_fit", "fit_values"]
