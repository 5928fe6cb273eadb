"""Export a run's LoRA adapter, or the base model with the adapter merged in, into a folder.

Two kinds of export, both from the finished run or from any of its checkpoints:

``adapter``  the PEFT adapter (``adapter_config.json`` + ``adapter_model.safetensors``), the base model's
             tokenizer and chat template, and a model card. Loads with plain ``PeftModel.from_pretrained``.
``merged``   the base model with the adapter folded in (``merge_and_unload``), saved as safetensors in fp16,
             bf16 or fp32 with tokenizer, chat template, generation config and a model card. Loads with plain
             ``AutoModelForCausalLM.from_pretrained``.

Every export checks the free disk space against an estimate before writing anything, writes into a hidden
temporary folder next to the destination and renames it at the end, so a failure never leaves half a model.
A destination that exists and is not empty is refused unless ``force`` is given.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dpostudio.core.errors import UserError
from dpostudio.core.training.runs import ADAPTER_CONFIG, ADAPTER_WEIGHTS, Run, get_run

ProgressFn = Callable[[float, str], None]  # (fraction 0..1, what is happening)
KINDS = ("adapter", "merged")
DTYPES = ("fp16", "bf16", "fp32")
DTYPE_BYTES = {"fp16": 2, "bf16": 2, "fp32": 4}
ADAPTER_FILES = (ADAPTER_CONFIG, *ADAPTER_WEIGHTS)
SAFETENSORS_DTYPE_BYTES = {
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
    "I64": 8,
    "I32": 4,
    "I16": 2,
    "I8": 1,
    "U8": 1,
    "BOOL": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
}
MARGIN_BYTES = 20 * 1024 * 1024  # tokenizer, configs, model card and file-system slack


class ExportError(UserError, ValueError):
    """An export cannot be done; the message says why in words."""


@dataclass
class ExportResult:
    folder: Path
    kind: str  # "adapter" | "merged"
    run_id: str
    checkpoint: int | None  # None: the run's final adapter
    dtype: str | None  # merged exports only
    size_bytes: int
    files: list[str] = field(default_factory=list)


def _noop(fraction: float, message: str) -> None:
    pass


# ---- what can be exported ------------------------------------------------------------------------
def _as_run(run: Run | str) -> Run:
    return run if isinstance(run, Run) else get_run(run)


def checkpoint_steps(run: Run | str) -> list[int]:
    """Steps of the run's checkpoints that hold a PEFT adapter, in increasing order."""
    return _as_run(run).checkpoint_steps()


def adapter_source(run: Run | str, checkpoint: int | None = None) -> Path:
    """The folder holding the adapter to export: the final adapter, or checkpoint ``checkpoint``."""
    run = _as_run(run)
    folder = run.adapter_for(checkpoint)
    if folder is not None:
        return folder
    steps = run.checkpoint_steps()
    if checkpoint is None:
        hint = (
            f"; export a checkpoint instead (available: {', '.join(map(str, steps))})"
            if steps
            else "; it has no checkpoint with an adapter either"
        )
        raise ExportError(f"run {run.id} has no final adapter (status: {run.status()}){hint}")
    available = f"available: {', '.join(map(str, steps))}" if steps else "the run has no checkpoints"
    raise ExportError(f"run {run.id} has no checkpoint at step {checkpoint} ({available})")


# ---- size estimates --------------------------------------------------------------------------------
def _safetensors_numel(path: Path) -> tuple[int, int]:
    """(number of values, bytes of tensor data) in a safetensors file, read from its header only."""
    with open(path, "rb") as fh:
        (length,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(length))
    numel = nbytes = 0
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        count = 1
        for dim in meta.get("shape", []):
            count *= int(dim)
        numel += count
        start, end = meta.get("data_offsets", (0, 0))
        nbytes += int(end) - int(start)
    return numel, nbytes


def base_parameter_count(location: str) -> int | None:
    """Number of weights in a local model folder (from safetensors headers), or None when unknown."""
    folder = Path(location)
    files = sorted(folder.glob("*.safetensors")) if folder.is_dir() else []
    if not files:
        return None
    try:
        return sum(_safetensors_numel(f)[0] for f in files)
    except (OSError, ValueError, struct.error):
        return None


def estimate_size(run: Run | str, kind: str, dtype: str = "fp16", checkpoint: int | None = None) -> int | None:
    """Bytes the export will take on disk (without the safety margin); None when the base model size is unknown."""
    run = _as_run(run)
    _check_kind(kind, dtype)
    source = adapter_source(run, checkpoint)
    adapter_bytes = sum((source / name).stat().st_size for name in ADAPTER_WEIGHTS if (source / name).is_file())
    from dpostudio.core.model_store import resolve_model

    try:
        resolved = resolve_model(run.config().model)
    except Exception:
        return adapter_bytes if kind == "adapter" else None
    if kind == "adapter":
        folder = Path(resolved.location)
        tokenizer_files = ("tokenizer", "special_tokens", "vocab", "merges", "chat_template")
        tokenizer_bytes = 0
        if resolved.kind != "hub" and folder.is_dir():
            tokenizer_bytes = sum(
                p.stat().st_size for p in folder.glob("*") if p.is_file() and p.name.startswith(tokenizer_files)
            )
        return adapter_bytes + tokenizer_bytes
    count = base_parameter_count(resolved.location) if resolved.kind != "hub" else None
    return None if count is None else count * DTYPE_BYTES[dtype]


def _existing_parent(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def human_size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def check_disk_space(dest: str | Path, needed: int, what: str) -> None:
    """Raise ExportError in words when the disk holding ``dest`` has less than ``needed`` bytes free."""
    where = _existing_parent(Path(dest))
    try:
        free = shutil.disk_usage(where).free
    except OSError as exc:
        raise ExportError(f"cannot check the free space on {where}: {exc.strerror or exc}") from exc
    if free < needed:
        raise ExportError(
            f"not enough free disk space for {what} in {where}: it needs about {human_size(needed)}, "
            f"but only {human_size(free)} is free. Free some space or choose a folder on another disk."
        )


# ---- export ----------------------------------------------------------------------------------------
def _check_kind(kind: str, dtype: str | None) -> None:
    if kind not in KINDS:
        raise ExportError(f"unknown export kind {kind!r}; choose adapter or merged")
    if kind == "merged" and dtype not in DTYPES:
        raise ExportError(f"unknown precision {dtype!r}; choose one of {', '.join(DTYPES)}")


def _prepare_destination(dest: Path, force: bool) -> None:
    if dest.exists() and not dest.is_dir():
        raise ExportError(f"{dest} is a file, not a folder; choose a folder to export into")
    if dest.is_dir() and any(dest.iterdir()) and not force:
        raise ExportError(
            f"{dest} already exists and is not empty; choose an empty or new folder, or allow overwriting it (--force)"
        )


def export_run(
    run: Run | str,
    dest: str | Path,
    kind: str = "adapter",
    *,
    checkpoint: int | None = None,
    dtype: str = "fp16",
    force: bool = False,
    on_progress: ProgressFn | None = None,
    model_card: bool = True,
    repo_id: str | None = None,
) -> ExportResult:
    """Export the adapter (``kind="adapter"``) or the merged model (``kind="merged"``) of a run into ``dest``.

    ``checkpoint`` picks a checkpoint step instead of the final adapter. ``dtype`` (merged only) is fp16, bf16
    or fp32. Raises ``ExportError`` (in words) for anything a user can fix; nothing is left half-written.
    """
    from dpostudio.core.model_store import ModelError

    progress = on_progress or _noop
    run = _as_run(run)
    _check_kind(kind, dtype)
    dest = Path(dest).expanduser().absolute()
    _prepare_destination(dest, force)
    source = adapter_source(run, checkpoint)

    progress(0.0, "checking free disk space")
    estimate = estimate_size(run, kind, dtype, checkpoint)
    label = "the adapter" if kind == "adapter" else f"the merged {dtype} model"
    needed = (estimate or 0) + MARGIN_BYTES
    needed += needed // 20  # 5 % slack
    check_disk_space(dest, needed, label)

    tmp = dest.with_name(f".{dest.name}.exporting-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        if kind == "adapter":
            _write_adapter(run, source, tmp, progress)
        else:
            _write_merged(run, source, tmp, dtype, progress)
        if model_card:
            from dpostudio.core.publish.model_card import build_model_card

            progress(0.95, "writing the model card")
            (tmp / "README.md").write_text(
                build_model_card(
                    run, kind=kind, dtype=dtype if kind == "merged" else None, checkpoint=checkpoint, repo_id=repo_id
                ),
                encoding="utf-8",
            )
        progress(0.98, "moving into place")
        if dest.exists():
            if any(dest.iterdir()):
                shutil.rmtree(dest)  # force was given (checked above)
            else:
                dest.rmdir()
        tmp.rename(dest)
    except ExportError:
        raise
    except ModelError as exc:
        raise ExportError(str(exc)) from exc
    except OSError as exc:
        import errno

        if exc.errno == errno.ENOSPC:
            raise ExportError(f"the disk filled up while writing to {dest.parent}; nothing was exported") from exc
        raise ExportError(f"could not write the export to {dest}: {exc.strerror or exc}") from exc
    except Exception as exc:
        text = str(exc).strip().splitlines()
        raise ExportError(f"export failed: {type(exc).__name__}: {text[0] if text else ''}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    files = sorted(p.name for p in dest.iterdir())
    size = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    progress(1.0, f"exported to {dest}")
    return ExportResult(dest, kind, run.id, checkpoint, dtype if kind == "merged" else None, size, files)


def export_adapter(run: Run | str, dest: str | Path, **kwargs) -> ExportResult:
    return export_run(run, dest, "adapter", **kwargs)


def export_merged(run: Run | str, dest: str | Path, dtype: str = "fp16", **kwargs) -> ExportResult:
    return export_run(run, dest, "merged", dtype=dtype, **kwargs)


def _base(run: Run):
    from dpostudio.core.model_store import resolve_model

    config = run.config()
    return config, resolve_model(config.model)


def _write_adapter(run: Run, source: Path, out: Path, progress: ProgressFn) -> None:
    from dpostudio.core.model_store import load_tokenizer

    progress(0.1, "copying the adapter")
    for name in ADAPTER_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, out / name)
    progress(0.6, "saving the tokenizer and chat template")
    config, resolved = _base(run)
    tokenizer = load_tokenizer(resolved, config.trust_remote_code)
    tokenizer.save_pretrained(str(out))


def _write_merged(run: Run, source: Path, out: Path, dtype: str, progress: ProgressFn) -> None:
    import torch
    from peft import PeftModel

    from dpostudio.core.model_store import load_model, load_tokenizer

    torch_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[dtype]
    progress(0.05, "resolving the base model")
    config, resolved = _base(run)
    progress(0.1, "loading the base model")
    # Merge in fp32 whatever the target, then cast once: merging in half precision adds rounding error.
    model = load_model(resolved, dtype=torch.float32, trust_remote_code=config.trust_remote_code)
    progress(0.4, "applying the adapter")
    model = PeftModel.from_pretrained(model, str(source))
    progress(0.5, "merging the adapter into the base weights")
    model = model.merge_and_unload()
    model = model.to(torch_dtype)
    progress(0.6, f"writing {dtype} safetensors")
    model.save_pretrained(str(out), safe_serialization=True)
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.save_pretrained(str(out))
    progress(0.85, "saving the tokenizer and chat template")
    tokenizer = load_tokenizer(resolved, config.trust_remote_code)
    tokenizer.save_pretrained(str(out))
    del model
