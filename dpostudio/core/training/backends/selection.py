"""Which training backend a ``RunConfig`` uses, why, and which of its options that backend leaves out.

Qt-free and light: it never imports torch or MLX (it only looks for the installed packages), so the Training form
can ask on every edit. ``choose_backend(config)`` gives a ``BackendChoice`` (the backend, the reason in words, and
the form fields the backend does not use, each with its reason) or raises ``BackendError`` in words when the config
asks for MLX where MLX cannot run it.

``auto`` picks MLX on Apple Silicon (macOS on arm64) when ``mlx`` and ``mlx-lm`` are installed, mlx-lm implements
the model's architecture and every chosen option is available on MLX; otherwise PyTorch (TRL). ``mlx`` chosen by
hand also runs on Linux with ``mlx[cpu]`` (slowly: that is how the tests check it).
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dpostudio.core.training.device import DeviceError

AUTO, TORCH, MLX = "auto", "torch", "mlx"
BACKENDS = (AUTO, TORCH, MLX)
BACKEND_HELP = {
    AUTO: "MLX on an Apple Silicon Mac when it is installed and can train this model with these options; "
    "PyTorch everywhere else.",
    TORCH: "PyTorch with Hugging Face TRL: NVIDIA GPUs, Apple MPS or the CPU; every option.",
    MLX: "Apple's MLX (mlx-lm-lora's DPO loss): the fast way on Apple Silicon; fewer options.",
}
MLX_INSTALL = "pip install mlx mlx-lm mlx-lm-lora (on Linux: pip install 'mlx[cpu]' mlx-lm mlx-lm-lora)"

MLX_LOSSES = ("sigmoid", "hinge", "ipo")  # the losses of mlx-lm-lora's dpo_loss that TRL computes the same way
MLX_OPTIMIZERS = ("adamw_torch", "adamw_torch_fused", "adafactor", "sgd")
MLX_DEVICES = ("auto", "cpu")
# Form fields MLX does not use at all (greyed in the Training form while MLX is the backend), with the reason.
MLX_UNUSED_FIELDS = {
    "reference_cache": "MLX computes the reference log-probs with the adapter switched off at each step",
    "extra_eval_sets": "MLX evaluates only the run's own evaluation split",
    "loss_weights": "MLX trains one loss at a time (" + ", ".join(MLX_LOSSES) + ")",
    "label_smoothing": "only the robust, exo_pair and aot losses use it, and MLX has none of them",
    "discopop_tau": "only the discopop loss uses it, and MLX does not have it",
    "init_adapter": "MLX starts from a fresh adapter",
    "group_by_length": "MLX draws its batches in its own random order",
    "share_prompts": "MLX computes each prompt with each answer",
    "devices": "MLX trains on one Apple GPU",
    "strategy": "MLX trains on one Apple GPU",
}


class BackendError(DeviceError):
    """The chosen backend cannot train this config on this machine (the message says why and what to do)."""


@dataclass(frozen=True)
class BackendChoice:
    name: str  # "torch" | "mlx"
    reason: str
    unused: dict[str, str] = field(default_factory=dict)  # form field -> why this backend does not use it

    def describe(self) -> str:
        return f"Backend: {self.name} — because {self.reason}"


def is_apple_silicon() -> bool:
    return sys.platform == "darwin" and platform.machine() == "arm64"


def mlx_installed() -> bool:
    return all(_find(name) is not None for name in ("mlx", "mlx_lm", "mlx_lm_lora"))


def _find(name: str) -> Any:
    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None


@functools.lru_cache(maxsize=1)
def _mlx_models() -> tuple[Path | None, dict[str, str]]:
    """mlx-lm's models folder and its model-type remapping, read from its files without importing it."""
    spec = _find("mlx_lm")
    if spec is None or not spec.origin:
        return None, {}
    root = Path(spec.origin).parent
    remap: dict[str, str] = {}
    try:
        tree = ast.parse((root / "utils.py").read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "MODEL_REMAPPING" for t in node.targets):
                remap = dict(ast.literal_eval(node.value))
    except (OSError, SyntaxError, ValueError):
        pass
    return root / "models", remap


def mlx_supports_architecture(model_type: str) -> bool:
    """Whether mlx-lm has an implementation of ``model_type`` (a config.json ``model_type``)."""
    folder, remap = _mlx_models()
    if folder is None or not model_type:
        return False
    name = remap.get(model_type, model_type)
    return (folder / f"{name}.py").is_file()


def mlx_problems(config: Any) -> list[str]:
    """What in ``config`` MLX cannot do, in words (empty: MLX can train it)."""
    problems = []
    if config.loss_type not in MLX_LOSSES:
        problems.append(f"the {config.loss_type!r} loss (MLX has {', '.join(MLX_LOSSES)})")
    if config.loss_weights not in (None, [1.0]):
        problems.append("loss weights")
    if config.optimizer not in MLX_OPTIMIZERS:
        problems.append(f"the {config.optimizer} optimizer (MLX has AdamW, Adafactor and SGD)")
    if config.device not in MLX_DEVICES:
        problems.append(f"device {config.device} (MLX picks the Apple GPU itself; 'cpu' forces its CPU)")
    if config.extra_eval_sets:
        problems.append("extra evaluation sets")
    if getattr(config, "method", "dpo") not in ("dpo", None):
        problems.append(f"the {config.method} method (MLX trains DPO-style losses only)")
    if getattr(config, "init_adapter", None):
        problems.append("starting from an existing adapter")
    if (getattr(config, "devices", 1) or 1) > 1:
        problems.append("several devices")
    if getattr(config, "report_to", None):
        problems.append("reporting to " + ", ".join(map(str, config.report_to)))
    return problems


def model_type_of(model: str) -> str | None:
    """The architecture (config.json ``model_type``) of a model spec when it is on this machine, else None."""
    from dpostudio.core.training.memory import find_model_config

    try:
        found = find_model_config(model)
    except (OSError, ValueError):
        return None
    return str(found.get("model_type") or "") or None if isinstance(found, dict) else None


def choose_backend(
    config: Any,
    *,
    model_type: str | None = None,
    apple_silicon: bool | None = None,
    have_mlx: bool | None = None,
) -> BackendChoice:
    """The backend ``config`` trains on, and why. Raises ``BackendError`` when MLX is chosen but cannot run it.

    ``model_type`` defaults to the one in the model's config.json when it is on this machine (unknown: the
    architecture is checked when the run loads the model); the other keywords stand in for this machine (tests).
    """
    requested = getattr(config, "backend", AUTO) or AUTO
    if requested == TORCH:
        return BackendChoice(TORCH, "you chose it")
    apple = is_apple_silicon() if apple_silicon is None else apple_silicon
    installed = mlx_installed() if have_mlx is None else have_mlx
    if model_type is None:
        model_type = model_type_of(config.model)
    unused = dict(MLX_UNUSED_FIELDS)
    if requested == MLX:
        if not installed:
            raise BackendError(f"the MLX backend needs the mlx, mlx-lm and mlx-lm-lora packages: {MLX_INSTALL}")
        if model_type and not mlx_supports_architecture(model_type):
            raise BackendError(
                f"MLX (mlx-lm) has no implementation of this model's architecture ({model_type}); "
                "choose backend torch or auto"
            )
        problems = mlx_problems(config)
        if problems:
            raise BackendError(f"MLX cannot train with {'; '.join(problems)}: change them or choose backend torch")
        where = "" if apple else " (no Apple GPU here: MLX runs on the CPU, slowly)"
        return BackendChoice(MLX, "you chose it" + where, unused)
    if not apple:
        return BackendChoice(TORCH, "this is not an Apple Silicon Mac (MLX is used there)")
    if not installed:
        return BackendChoice(TORCH, f"MLX is not installed ({MLX_INSTALL})")
    if model_type and not mlx_supports_architecture(model_type):
        return BackendChoice(TORCH, f"MLX has no implementation of the {model_type} architecture")
    problems = mlx_problems(config)
    if problems:
        return BackendChoice(TORCH, f"MLX cannot train with {'; '.join(problems)}")
    return BackendChoice(MLX, "this is an Apple Silicon Mac with MLX installed (faster than PyTorch's MPS)", unused)
