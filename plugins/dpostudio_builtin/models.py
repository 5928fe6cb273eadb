"""Built-in model sources: Hub id, local folder, GGUF import and the embedded default.

Thin wrappers over ``dpostudio.core.model_store``; registered through the ``dpostudio`` entry-point group
exactly like a community plugin.
"""

from __future__ import annotations

from pathlib import Path

from dpostudio.plugins import ModelEntry, ModelSource, PluginError, ResolvedModel, SourceOption, hookimpl

DPOSTUDIO_HOOK_API = 1

EMBEDDED, HUB, FOLDER, GGUF = "embedded", "hub", "folder", "gguf"


@hookimpl
def dpostudio_model_sources():
    """The four built-in model sources."""
    from dpostudio.core.model_store import EMBEDDED_MODELS

    keys = sorted(EMBEDDED_MODELS)
    return [
        ModelSource(
            EMBEDDED,
            "Embedded default",
            "A small instruct model that ships with DPO Studio and works offline.",
            [SourceOption("name", "Model", kind="choice", choices=keys, default=keys[0] if keys else None)],
        ),
        ModelSource(
            HUB,
            "Hugging Face Hub",
            "A model id such as HuggingFaceTB/SmolLM2-135M-Instruct "
            "(downloaded on first use, then read from the cache).",
            [SourceOption("model", "Model id", required=True, help="owner/name")],
        ),
        ModelSource(
            FOLDER,
            "Local folder",
            "A transformers model folder (config.json + safetensors).",
            [SourceOption("path", "Folder", kind="path", required=True)],
        ),
        ModelSource(
            GGUF,
            "GGUF file",
            "A .gguf file (LM Studio, Ollama, ...), converted once into the model store.",
            [
                SourceOption("path", "GGUF file", kind="path", required=True),
                SourceOption("name", "Name in the store", help="defaults to the file name"),
            ],
        ),
    ]


@hookimpl
def dpostudio_list_models():
    """The embedded default (when its package is installed) and every model already imported into the store."""
    from dpostudio.core.model_store import EMBEDDED_MODELS, ModelError, embedded_gguf_path, list_store

    entries = []
    for key, (_, _, display) in sorted(EMBEDDED_MODELS.items()):
        try:
            embedded_gguf_path(key)
        except ModelError:
            continue
        entries.append(
            ModelEntry(
                spec=f"embedded:{key}",
                display_name=display,
                source=EMBEDDED,
                options={"name": key},
                description="embedded default",
            )
        )
    embedded_names = {v[2] for v in EMBEDDED_MODELS.values()}
    for item in list_store():
        name = str(item.get("name") or Path(item["path"]).name)
        if name in embedded_names:
            continue
        entries.append(
            ModelEntry(
                spec=item["path"],
                display_name=name,
                source=FOLDER,
                options={"path": item["path"]},
                description=f"imported from {Path(str(item.get('source_path', ''))).name or 'GGUF'}",
            )
        )
    return entries


def _required(options: dict, key: str, what: str) -> str:
    value = str(options.get(key) or "").strip()
    if not value:
        raise PluginError(f"enter {what}")
    return value


@hookimpl
def dpostudio_resolve_model(source_id, options, on_progress):
    """Resolve one of the built-in sources through the model store; None for other plugins' ids."""
    from dpostudio.core.model_store import EMBEDDED_MODELS, ModelError, import_gguf, resolve_model

    if source_id == EMBEDDED:
        key = str(options.get("name") or next(iter(EMBEDDED_MODELS)))
        return resolve_model(f"embedded:{key}", on_progress)
    if source_id == HUB:
        spec = _required(options, "model", "a Hugging Face model id (owner/name)")
        if Path(spec).expanduser().exists() or spec.lower().endswith(".gguf"):
            raise PluginError(f"{spec} is a local path; choose the local folder or GGUF source")
        resolved = resolve_model(spec, on_progress)
        if resolved.kind != "hub":
            raise ModelError(f"{spec!r} is not a Hugging Face model id")
        return resolved
    if source_id == FOLDER:
        spec = _required(options, "path", "a model folder")
        path = Path(spec).expanduser()
        if not path.is_dir():
            raise ModelError(f"model folder not found: {path}")
        return resolve_model(str(path), on_progress)
    if source_id == GGUF:
        spec = _required(options, "path", "a .gguf file")
        path = Path(spec).expanduser()
        if path.suffix.lower() != ".gguf":
            raise ModelError(f"{path.name} is not a .gguf file")
        name = str(options.get("name") or "").strip() or None
        if name is None:
            return resolve_model(str(path), on_progress)
        folder = import_gguf(path, name=name, on_progress=on_progress)
        return ResolvedModel(spec, "gguf", str(folder), folder.name)
    return None
