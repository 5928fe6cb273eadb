"""The model card (README.md) written into every export and every pushed repository.

YAML front matter the Hub understands (``base_model``, ``library_name``, ``license``, ``tags``, ``datasets``,
``pipeline_tag``), then in words: the base model, the preference data and its filters, the run's DPO/LoRA
hyperparameters, the final training and evaluation metrics, the base-vs-tuned comparison summary when the run
has one (``comparisons/*/summary.json``, read defensively), and how to load the result.

The licence is carried from the base model where it is known: the ``license`` of the base folder's README front
matter, or of its GGUF source file (``general.license``); for a Hub base only what is cached locally is read.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from dpostudio.core.training import event_types as m
from dpostudio.core.training.runs import Run

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")
HYPERPARAMETERS = (
    ("beta", "DPO beta"),
    ("loss_type", "loss"),
    ("loss_weights", "loss weights"),
    ("label_smoothing", "label smoothing"),
    ("max_length", "max length (tokens)"),
    ("learning_rate", "learning rate"),
    ("lr_scheduler_type", "scheduler"),
    ("warmup_steps", "warm-up steps"),
    ("warmup_ratio", "warm-up ratio"),
    ("weight_decay", "weight decay"),
    ("optimizer", "optimizer"),
    ("per_device_batch_size", "batch size"),
    ("gradient_accumulation_steps", "gradient accumulation"),
    ("num_train_epochs", "epochs"),
    ("max_steps", "max steps"),
    ("max_grad_norm", "max grad norm"),
    ("seed", "seed"),
    ("lora_r", "LoRA rank (r)"),
    ("lora_alpha", "LoRA alpha"),
    ("lora_dropout", "LoRA dropout"),
    ("lora_target_modules", "LoRA target modules"),
    ("precision", "precision (requested)"),
    ("gradient_checkpointing", "gradient checkpointing"),
)
TRAIN_METRICS = (
    m.LOSS,
    m.REWARDS_CHOSEN,
    m.REWARDS_REJECTED,
    m.REWARDS_MARGINS,
    m.REWARDS_ACCURACIES,
    m.LOGPS_CHOSEN,
    m.LOGPS_REJECTED,
    m.GRAD_NORM,
    m.LEARNING_RATE,
)


# ---- reading what is known about the base model ----------------------------------------------------
def read_front_matter(text: str) -> dict[str, Any]:
    """The YAML front matter of a README (an empty dict when there is none or it does not parse)."""
    if not text.startswith("---"):
        return {}
    end = text.find("\n---", 3)
    if end < 0:
        return {}
    try:
        import yaml

        data = yaml.safe_load(text[3:end])
    except Exception:
        return {}
    return data if isinstance(data, dict) else {}


def _gguf_fields(path: Path) -> dict[str, str]:
    try:
        from gguf import GGUFReader

        reader = GGUFReader(str(path))
        out = {}
        for key in (
            "general.license",
            "general.organization",
            "general.basename",
            "general.size_label",
            "general.finetune",
            "general.name",
        ):
            field = reader.fields.get(key)
            if field is not None:
                out[key] = bytes(field.parts[field.data[0]]).decode("utf-8", "replace")
        return out
    except Exception:
        return {}


def base_model_facts(spec: str) -> dict[str, Any]:
    """What the card says about the base: ``name``, ``hub_id`` (when known), ``license``, ``license_source``."""
    facts: dict[str, Any] = {"spec": spec, "name": spec, "hub_id": None, "license": None, "license_source": None}
    try:
        from dpostudio.core.model_store import resolve_model

        resolved = resolve_model(spec)
    except Exception:
        if _HUB_ID.match(spec or ""):
            facts["hub_id"] = spec
        return facts
    facts["name"] = resolved.display_name
    facts["kind"] = resolved.kind
    folder: Path | None = Path(resolved.location) if resolved.kind != "hub" else None
    if resolved.kind == "hub":
        facts["hub_id"] = resolved.location
        try:  # only what is already cached: never download for a model card
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(resolved.location, "README.md")
            if isinstance(cached, str):
                folder = Path(cached).parent
        except Exception:
            pass
    if folder is not None:
        readme = folder / "README.md"
        try:
            meta = read_front_matter(readme.read_text(encoding="utf-8")) if readme.is_file() else {}
        except OSError:
            meta = {}
        if meta.get("license"):
            facts["license"], facts["license_source"] = str(meta["license"]), "the base model's model card"
        if not facts["hub_id"] and isinstance(meta.get("base_model"), str) and _HUB_ID.match(meta["base_model"]):
            facts["hub_id"] = meta["base_model"]
        gguf = _gguf_source(folder, resolved)
        if gguf is not None:
            fields = _gguf_fields(gguf)
            facts["gguf"] = gguf.name
            if not facts["license"] and fields.get("general.license"):
                facts["license"], facts["license_source"] = fields["general.license"], f"the GGUF file {gguf.name}"
            org, name = fields.get("general.organization"), resolved.display_name
            if not facts["hub_id"] and org and re.fullmatch(r"[\w.\-]+", name or ""):
                facts["probable_hub_id"] = f"{org}/{name}"
    return facts


def _gguf_source(folder: Path, resolved) -> Path | None:
    if resolved.kind == "embedded":
        try:
            from dpostudio.core.model_store import embedded_gguf_path

            return embedded_gguf_path(resolved.spec.split(":", 1)[1])
        except Exception:
            return None
    marker = folder / "dpostudio-model.json"
    try:
        source = json.loads(marker.read_text(encoding="utf-8")).get("source_path")
    except (OSError, ValueError):
        return None
    return Path(source) if source and Path(source).is_file() else None


def read_comparison_summaries(run: Run) -> list[dict[str, Any]]:
    """Every readable ``comparisons/*/summary.json`` of the run, newest first; broken files are skipped."""
    out = []
    for path in (run.path / "comparisons").glob("*/summary.json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            out.append({"_name": path.parent.name, "_mtime": path.stat().st_mtime, **data})
    return sorted(out, key=lambda d: d["_mtime"], reverse=True)


# ---- formatting --------------------------------------------------------------------------------------
def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value) or "—"
    if value is None:
        return "—"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _scalar_items(data: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        (k, v)
        for k, v in data.items()
        if not k.startswith("_") and (isinstance(v, (int, float, bool)) or isinstance(v, str) and len(v) < 120)
    ]


def _front_matter(data: dict[str, Any]) -> str:
    import yaml

    return "---\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True) + "---\n"


def _final(run: Run, kind: str) -> dict[str, Any]:
    info_key = {"log": "final_train", "eval": "final_eval"}[kind]
    records = run.metrics(kind)
    if records:
        return records[-1]
    stored = run.info().get(info_key)
    return stored if isinstance(stored, dict) else {}


def build_model_card(
    run: Run,
    *,
    kind: str = "adapter",
    dtype: str | None = None,
    checkpoint: int | None = None,
    repo_id: str | None = None,
) -> str:
    """The README.md text for an export (``kind`` "adapter" or "merged") of ``run``."""
    config = run.config()
    info = run.info()
    base = base_model_facts(config.model)
    dataset_is_hub = bool(_HUB_ID.match(config.dataset)) and not Path(config.dataset).expanduser().exists()

    meta: dict[str, Any] = {}
    if base.get("hub_id"):
        meta["base_model"] = base["hub_id"]
    meta["library_name"] = "peft" if kind == "adapter" else "transformers"
    if base.get("license"):
        meta["license"] = base["license"]
    meta["tags"] = ["dpo", "trl", "dpostudio"] + (["lora", "peft"] if kind == "adapter" else ["merged-lora"])
    if dataset_is_hub:
        meta["datasets"] = [config.dataset]
    meta["pipeline_tag"] = "text-generation"

    title = repo_id.split("/")[-1] if repo_id else (config.name or info.get("name") or run.id)
    what = "a LoRA adapter" if kind == "adapter" else f"the base model with a LoRA adapter merged in ({dtype})"
    origin = f"checkpoint at step {checkpoint}" if checkpoint is not None else "the end of training"
    lines = [
        _front_matter(meta),
        f"# {title}",
        "",
        f"This is {what}, fine-tuned with Direct Preference Optimization (DPO) in "
        f"DPO Studio using TRL and PEFT. Exported from run `{run.id}` at {origin}.",
        "",
    ]

    # base model
    lines += ["## Base model", ""]
    base_line = f"- **Base model:** `{base['hub_id'] or base['name']}`"
    if base.get("kind") in ("embedded", "gguf"):
        base_line += f" (imported from the GGUF file `{base.get('gguf', config.model)}`, de-quantised to safetensors)"
        if base.get("probable_hub_id"):
            base_line += f"; originally published as `{base['probable_hub_id']}`"
    lines.append(base_line)
    lines.append(
        f"- **Licence:** {base['license']} (carried from {base['license_source']})"
        if base.get("license")
        else "- **Licence:** unknown — check the base model's licence before sharing"
    )
    lines.append("")

    # data
    lines += [
        "## Preference data",
        "",
        f"- **Dataset:** `{config.dataset}`"
        + (f" (configuration `{config.dataset_config}`)" if config.dataset_config else "")
        + f", split `{config.dataset_split}`",
    ]
    if config.first_n:
        lines.append(f"- **First rows used:** {config.first_n}")
    lines.append(
        f"- **Evaluation rows:** split `{config.eval_split}`"
        if config.eval_split
        else f"- **Evaluation rows:** {config.eval_ratio:.0%} held out (seed {config.split_seed})"
    )
    lines.append(
        f"- **Filters:** {'; '.join(f'`{f}`' for f in config.data_filters)}"
        if config.data_filters
        else "- **Filters:** none"
    )
    lines.append(f"- **Rows left out for problems:** {', '.join(config.drop_problems) or 'none'}")
    lines.append(
        f"- **Prompt template:** {config.prompt_template}"
        + (f" with system prompt \u201c{config.system_prompt}\u201d" if config.system_prompt else "")
    )
    lines.append("")

    # hyperparameters
    cfg = config.to_dict()
    lines += ["## Training hyperparameters", "", "| setting | value |", "|---|---|"]
    for key, label in HYPERPARAMETERS:
        if key in cfg and cfg[key] is not None:
            lines.append(f"| {label} | {_fmt(cfg[key])} |")
    if info.get("device"):
        lines.append(f"| device · precision used | {_fmt(info.get('device'))} · {_fmt(info.get('precision'))} |")
    if info.get("step") is not None:
        lines.append(f"| steps trained | {_fmt(info.get('step'))} |")
    lines.append("")

    # metrics
    train, evals = _final(run, "log"), _final(run, "eval")
    lines += ["## Results", ""]
    if not train and not evals:
        lines += ["No metrics were recorded for this run.", ""]
    else:
        lines += ["| metric | final value |", "|---|---|"]
        for key in TRAIN_METRICS:
            if key in train:
                lines.append(f"| train {key} (step {train.get('step', '?')}) | {_fmt(train[key])} |")
        for key, value in evals.items():
            if (
                key.startswith("eval_")
                and isinstance(value, (int, float))
                and "runtime" not in key
                and "per_second" not in key
            ):
                lines.append(f"| {key} (step {evals.get('step', '?')}) | {_fmt(value)} |")
        lines.append("")

    # comparisons
    summaries = read_comparison_summaries(run)
    if summaries:
        summary = summaries[0]
        lines += ["## Base vs tuned comparison", "", f"From the comparison `{summary['_name']}`:", ""]
        items = _scalar_items(summary)
        if items:
            lines += ["| | |", "|---|---|"] + [f"| {_fmt(k)} | {_fmt(v)} |" for k, v in items]
        for key, value in summary.items():
            if isinstance(value, dict) and not key.startswith("_"):
                flat = ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items() if not isinstance(v, (dict, list)))
                if flat:
                    lines.append(f"\n**{key}:** {flat}")
        lines.append("")

    # usage
    repo = repo_id or "path/to/this/folder"
    base_ref = base["hub_id"] or base.get("probable_hub_id") or "BASE_MODEL"
    lines += ["## How to use", "", "```python"]
    if kind == "adapter":
        lines += [
            "from peft import PeftModel",
            "from transformers import AutoModelForCausalLM, AutoTokenizer",
            "",
            f'base = AutoModelForCausalLM.from_pretrained("{base_ref}")',
            f'model = PeftModel.from_pretrained(base, "{repo}")',
            f'tokenizer = AutoTokenizer.from_pretrained("{repo}")',
        ]
    else:
        lines += [
            "from transformers import AutoModelForCausalLM, AutoTokenizer",
            "",
            f'model = AutoModelForCausalLM.from_pretrained("{repo}")',
            f'tokenizer = AutoTokenizer.from_pretrained("{repo}")',
        ]
    lines += [
        'messages = [{"role": "user", "content": "Explain DPO in one sentence."}]',
        'inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")',
        "print(tokenizer.decode(model.generate(inputs, max_new_tokens=64)[0]))",
        "```",
        "",
    ]
    if kind == "adapter" and base.get("kind") in ("embedded", "gguf"):
        lines += [
            "The adapter was trained on the de-quantised GGUF weights; results on the original "
            "full-precision base may differ slightly.",
            "",
        ]
    return "\n".join(lines)


def build_dataset_card(folder: Path, repo_id: str | None = None) -> str:
    """A minimal card for a pushed preference dataset folder that has no README.md of its own."""
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    meta = {"tags": ["dpo", "preference", "dpostudio"], "task_categories": ["text-generation"]}
    title = repo_id.split("/")[-1] if repo_id else folder.name
    return "\n".join(
        [
            _front_matter(meta),
            f"# {title}",
            "",
            "Preference pairs (prompt, chosen, rejected) made with DPO Studio, for DPO training.",
            "",
            "## Files",
            "",
        ]
        + [f"- `{f}`" for f in files]
        + [""]
    )
