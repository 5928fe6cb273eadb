"""The run configuration: every knob a published DPO recipe turns, validated, saved as TOML or YAML.

Each field carries plain-words help, a group (for the GUI form) and its allowed values or range,
so the CLI, the GUI and the file loader all validate the same way. The checks themselves, the error and the
override parsing live in ``config_values``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import tomllib

from dpostudio.core.data.formats import DATA_FORMATS
from dpostudio.core.data.problems import DEFAULT_DROP, PROBLEM_KINDS
from dpostudio.core.training.backends.selection import BACKEND_HELP, BACKENDS
from dpostudio.core.training.config_values import (
    EVAL_SET_NAME,
    ConfigError,
    check_eval_sets,
    check_loss_settings,
    check_loss_type,
    check_value,
    check_weights,
    closest,
    eval_set_name,
    field_default,
    parse_eval_set,
    parse_override,
)
from dpostudio.core.training.device import DEVICES, PRECISIONS
from dpostudio.core.training.losses import LOSS_HELP, LOSS_NAMES, LOSS_SUGGESTIONS
from dpostudio.core.training.method_choices import METHOD_HELP, METHOD_NAMES, check_method_settings
from dpostudio.core.training.trackers import TRACKER_HELP, TRACKER_NAMES, TRACKER_SUGGESTIONS, check_tracker_names

__all__ = [  # the configuration, and the value helpers the CLI, the app and the tests import from here
    "DEFAULT_DATASET",
    "DEFAULT_MODEL",
    "EVAL_SET_NAME",
    "OPTIMIZERS",
    "PROMPT_TEMPLATES",
    "SCHEDULERS",
    "ConfigError",
    "RunConfig",
    "eval_set_name",
    "field_default",
    "parse_eval_set",
    "parse_override",
]

DEFAULT_MODEL = "embedded:smollm2-135m-instruct"
DEFAULT_DATASET = "builtin:demo"
SCHEDULERS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup")
OPTIMIZERS = ("adamw_torch", "adamw_torch_fused", "adafactor", "sgd", "adamw_8bit", "paged_adamw_8bit")
PROMPT_TEMPLATES = ("chat", "alpaca", "none")
STRATEGIES = ("ddp", "fsdp", "deepspeed-zero2", "deepspeed-zero3")  # how several GPUs share a run (``devices``)


def _f(
    default: Any,
    group: str,
    help: str,
    *,
    choices: tuple | None = None,
    min: float | None = None,
    max: float | None = None,
    min_exclusive: bool = False,
    max_exclusive: bool = False,
    optional: bool = False,
    check: Callable[[str, Any], Any] | None = None,
    suggestions: tuple[str, ...] | None = None,
    choice_help: dict[str, str] | None = None,
    related: tuple[str, ...] = (),
):
    """A config field with its metadata. ``check(name, value)`` replaces the type check for fields with their own
    syntax (it returns the normalised value or raises ConfigError); ``suggestions`` are values the form offers
    while accepting others (``choices`` allows only those); ``choice_help`` gives plain words per choice or
    suggestion; ``related`` names fields whose value this one is checked against (the form checks them together)."""
    meta = {
        "group": group,
        "help": help,
        "choices": choices,
        "min": min,
        "max": max,
        "min_exclusive": min_exclusive,
        "max_exclusive": max_exclusive,
        "optional": optional,
        "check": check,
        "suggestions": suggestions,
        "choice_help": choice_help,
        "related": related,
    }
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class RunConfig:
    # Model
    model: str = _f(
        DEFAULT_MODEL,
        "Model",
        "Base model: the embedded default, a Hugging Face id, a local folder, a "
        ".gguf file, or 'plugin:<source id>?option=value'.",
    )
    trust_remote_code: bool = _f(
        False, "Model", "Allow the model repository to run its own Python code. Only for models you trust."
    )
    init_adapter: str | None = _f(
        None,
        "Model",
        "Start from this LoRA adapter folder (a run's adapter or checkpoint) instead of a new adapter; its own LoRA "
        "settings apply and it is also the DPO reference. Iterative rounds use it. Empty: a new adapter.",
        optional=True,
    )
    # Data
    dataset: str = _f(
        DEFAULT_DATASET,
        "Data",
        "Preference data: 'builtin:demo', a Hugging Face dataset id, a local "
        "JSONL/JSON/CSV/Parquet file, or a plugin source as 'plugin:<source id>?option=value'.",
    )
    dataset_config: str | None = _f(
        None, "Data", "Hugging Face dataset configuration (subset) name, if it has several.", optional=True
    )
    dataset_split: str = _f("train", "Data", "Which split of the dataset to train on.")
    first_n: int | None = _f(
        None,
        "Data",
        "Use only the first N rows (e.g. 1000), before splitting off evaluation rows.",
        min=1,
        optional=True,
    )
    eval_ratio: float = _f(
        0.1,
        "Data",
        "Share of rows held out for evaluation when the dataset has no held-out split (0.1 = 90/10).",
        min=0.0,
        max=0.5,
    )
    split_seed: int = _f(42, "Data", "Random seed of the train/eval split, so the split is reproducible.", min=0)
    prompt_template: str = _f(
        "chat",
        "Data",
        "How prompts are shown to the model: its chat template, the Alpaca template, or raw text.",
        choices=PROMPT_TEMPLATES,
    )
    system_prompt: str | None = _f(
        None, "Data", "Optional system message put before every prompt (chat template only).", optional=True
    )
    data_format: str = _f(
        "auto",
        "Data",
        "Shape of the data: auto-detect, or force one (standard, conversational, "
        "implicit_prompt, hh_rlhf, orca, distilabel, ultrafeedback).",
        choices=DATA_FORMATS,
    )
    column_prompt: str | None = _f(
        None, "Data", "Column holding the prompt, when detection picks the wrong one (empty: detect).", optional=True
    )
    column_chosen: str | None = _f(
        None, "Data", "Column holding the chosen (preferred) answer (empty: 'chosen').", optional=True
    )
    column_rejected: str | None = _f(
        None, "Data", "Column holding the rejected answer (empty: 'rejected').", optional=True
    )
    column_system: str | None = _f(
        None, "Data", "Column holding a per-row system message (empty: 'system' if present).", optional=True
    )
    data_filters: list[str] = _f(
        [],
        "Data",
        "Keep only rows matching all of these, e.g. 'status != tie', "
        "'chosen_score >= 8', 'in_gsm8k_train == false'. Applied after first N.",
    )
    drop_problems: list[str] = _f(
        DEFAULT_DROP,
        "Data",
        "Rows with these problems are left out of training (the file "
        "is never changed): " + ", ".join(PROBLEM_KINDS) + ". Rows that cannot form a pair "
        "are always left out.",
    )
    eval_split: str | None = _f(
        None,
        "Data",
        "A split of the dataset to evaluate on (e.g. 'test') instead of splitting off rows by ratio.",
        optional=True,
    )
    # DPO
    method: str = _f(
        "dpo",
        "DPO",
        "The training method: 'dpo' (with the loss below), or a relative with its own trainer: 'orpo', 'cpo' and "
        "'simpo' need no reference model; 'kto' learns from answers marked good or bad (no pairs needed).",
        choices=METHOD_NAMES,
        choice_help=METHOD_HELP,
    )
    beta: float = _f(
        0.1,
        "DPO",
        "How far the tuned model may move from the base. Higher keeps it closer (0.1 is usual, 0.5 is conservative).",
        min=0.0,
        min_exclusive=True,
        max=10.0,
    )
    loss_type: str = _f(
        "sigmoid",
        "DPO",
        "The preference loss: 'sigmoid' is the original DPO; or another of TRL's losses ("
        + ", ".join(LOSS_NAMES[1:])
        + "); or several joined with '+', added up with loss_weights. 'sigmoid+sft' is RPO (DPO plus an SFT term "
        "that keeps the chosen answers likely).",
        check=check_loss_type,
        suggestions=LOSS_SUGGESTIONS,
        choice_help=LOSS_HELP,
        related=("method",),
    )
    loss_weights: list[float] | None = _f(
        None,
        "DPO",
        "Weight of each loss in loss_type, in the same order, e.g. [1.0, 1.0] for sigmoid+sft (empty: 1.0 each).",
        optional=True,
        check=check_weights,
        related=("loss_type", "method"),
    )
    label_smoothing: float | None = _f(
        None,
        "DPO",
        "Used by the robust, exo_pair and aot losses: for robust the share of pairs whose labels you think are "
        "wrong (e.g. 0.1); for exo_pair the paper's epsilon (e.g. 0.001, must be above 0). Empty: 0.1 for robust, "
        "0.001 for exo_pair, 0 otherwise.",
        min=0.0,
        max=0.5,
        max_exclusive=True,
        optional=True,
        related=("loss_type", "method"),
    )
    discopop_tau: float = _f(
        0.05,
        "DPO",
        "Temperature of the discopop loss (only it uses this): how sharply it switches between its two parts. The "
        "paper's 0.05 is the usual value.",
        min=0.0,
        min_exclusive=True,
        max=10.0,
    )
    simpo_gamma: float = _f(
        0.5,
        "DPO",
        "SimPO only: the margin by which the chosen answer's reward must beat the rejected one's (the paper's gamma; "
        "TRL divides it by beta). The paper keeps it about half of beta.",
        min=0.0,
        max=100.0,
    )
    desirable_weight: float = _f(
        1.0,
        "DPO",
        "KTO only: weight of the answers marked good. When good and bad answers are unequal in number, raise the "
        "weight of the rarer kind so that weight × count is about the same for both.",
        min=0.0,
        min_exclusive=True,
        max=100.0,
    )
    undesirable_weight: float = _f(
        1.0,
        "DPO",
        "KTO only: weight of the answers marked bad (see desirable weight).",
        min=0.0,
        min_exclusive=True,
        max=100.0,
    )
    max_length: int = _f(
        256, "DPO", "Longest prompt + answer in tokens; longer rows are truncated.", min=16, max=131072
    )
    # LoRA
    lora_r: int = _f(
        16,
        "LoRA",
        "LoRA rank: size of the adapter. 8-64 is common; bigger learns more and uses more memory.",
        min=1,
        max=1024,
    )
    lora_alpha: int = _f(32, "LoRA", "LoRA scaling; often equal to or twice the rank.", min=1, max=4096)
    lora_dropout: float = _f(0.05, "LoRA", "Dropout inside the adapter (0 to 0.5).", min=0.0, max=0.5)
    lora_target_modules: list[str] = _f(
        ["all-linear"], "LoRA", "Which layers get adapters: 'all-linear' or names such as q_proj, v_proj."
    )
    # Optimisation
    learning_rate: float = _f(
        1e-4,
        "Optimisation",
        "Step size. LoRA usually 1e-5 to 2e-4; full recipes use as low as 2e-6.",
        min=0.0,
        min_exclusive=True,
        max=1.0,
    )
    lr_scheduler_type: str = _f(
        "cosine", "Optimisation", "How the learning rate changes over training.", choices=SCHEDULERS
    )
    warmup_steps: int = _f(0, "Optimisation", "Steps over which the learning rate ramps up from 0.", min=0)
    warmup_ratio: float = _f(
        0.0, "Optimisation", "Warm-up as a share of all steps (used when warmup steps is 0).", min=0.0, max=1.0
    )
    weight_decay: float = _f(0.0, "Optimisation", "Weight decay (e.g. 0.01).", min=0.0, max=1.0)
    optimizer: str = _f(
        "adamw_torch",
        "Optimisation",
        "Optimizer. Plain AdamW works everywhere; 8-bit ones need bitsandbytes and CUDA.",
        choices=OPTIMIZERS,
    )
    per_device_batch_size: int = _f(
        4, "Optimisation", "Pairs per step on the device.", min=1, max=4096, related=("method",)
    )
    group_by_length: bool = _f(
        True,
        "Optimisation",
        "Put pairs of about the same length in one batch (random groups, shuffled each epoch): less padding, so "
        "the same pairs in less time. Off: batches drawn wholly at random.",
    )
    share_prompts: bool = _f(
        False,
        "Optimisation",
        "Compute each pair's prompt once for both of its answers (exact: the same numbers). It saves work only where "
        "prompts are long next to the answers; on a CPU with short prompts the two passes cost more than they save.",
    )
    gradient_accumulation_steps: int = _f(
        1,
        "Optimisation",
        "Steps whose gradients add up before one update: effective batch = batch × this.",
        min=1,
        max=4096,
    )
    num_train_epochs: float = _f(
        1.0,
        "Optimisation",
        "Passes over the training data (ignored when max steps is set).",
        min=0.0,
        min_exclusive=True,
        max=1000.0,
    )
    max_steps: int | None = _f(
        None, "Optimisation", "Stop after this many optimizer steps (overrides epochs).", min=1, optional=True
    )
    max_grad_norm: float = _f(1.0, "Optimisation", "Clip gradients to this norm.", min=0.0)
    seed: int = _f(42, "Optimisation", "Random seed for training.", min=0)
    # Precision & device
    device: str = _f(
        "auto", "Precision & device", "Where to train: auto picks CUDA, then Apple MPS, then CPU.", choices=DEVICES
    )
    precision: str = _f(
        "auto",
        "Precision & device",
        "Number format: auto picks bf16/fp16 where the hardware does it fast, else fp32.",
        choices=PRECISIONS,
    )
    gradient_checkpointing: bool = _f(
        False, "Precision & device", "Recompute activations to save memory, at some cost in speed."
    )
    reference_cache: bool = _f(
        True,
        "Precision & device",
        "Compute the reference model's log-probs once per pair and keep them on this computer for every later run "
        "(evaluations, resumes, sweeps, rounds): no reference forward pass at each step.",
    )
    devices: int = _f(
        1,
        "Precision & device",
        "How many GPUs (one process each) to train on. Above 1 the run is launched through accelerate on this "
        "machine; on a computer without NVIDIA GPUs it means that many CPU processes (slow: for trying the set-up "
        "out). Effective batch = batch × devices × accumulation. For a cluster, export a launch bundle.",
        min=1,
        max=1024,
    )
    strategy: str = _f(
        "ddp",
        "Precision & device",
        "How several devices share the work (used when devices is above 1, and in launch bundles).",
        choices=STRATEGIES,
        choice_help={
            "ddp": "every GPU holds the whole model; simplest and fastest when the model fits on one GPU",
            "fsdp": "weights, gradients and optimizer state are split across the GPUs (PyTorch FSDP); GPUs only",
            "deepspeed-zero2": "gradients and optimizer state are split (DeepSpeed ZeRO-2); needs deepspeed",
            "deepspeed-zero3": "weights too are split (DeepSpeed ZeRO-3): models too big for one GPU; needs deepspeed",
        },
    )
    backend: str = _f(
        "auto",
        "Precision & device",
        "Which library trains: auto uses Apple's MLX on an Apple Silicon Mac where it is installed and can train "
        "this model with these options (faster there), and PyTorch (TRL) everywhere else. MLX has fewer options.",
        choices=BACKENDS,
        choice_help=BACKEND_HELP,
    )
    # Evaluation & saving
    eval_steps: int | None = _f(
        10, "Evaluation & saving", "Evaluate every N steps (empty: only at the end).", min=1, optional=True
    )
    extra_eval_sets: list[str] = _f(
        [],
        "Evaluation & saving",
        "More held-out sets evaluated at every evaluation, each logged under its own name: 'name=source' (a "
        "local file, Hugging Face id or 'plugin:' source; just the source names it after the file), e.g. "
        "'styled=styled.jsonl'. All their rows are used, with this run's template, max length and drop choice.",
        check=check_eval_sets,
    )
    logging_steps: int = _f(1, "Evaluation & saving", "Record metrics every N steps.", min=1)
    save_steps: int = _f(20, "Evaluation & saving", "Save a checkpoint every N steps.", min=1)
    save_total_limit: int | None = _f(
        2, "Evaluation & saving", "Keep only the newest N checkpoints.", min=1, optional=True
    )
    report_to: list[str] = _f(
        [],
        "Evaluation & saving",
        "Also send the metrics to these experiment trackers (" + ", ".join(TRACKER_NAMES) + "); empty: none. "
        "DPO Studio's own charts and metric log are kept either way; each tracker writes inside the run folder.",
        check=check_tracker_names,
        suggestions=TRACKER_SUGGESTIONS,
        choice_help=TRACKER_HELP,
    )
    # Run
    name: str | None = _f(None, "Run", "A name for this run (shown in the run list).", optional=True)

    # ---- validation -------------------------------------------------------------------------
    def __post_init__(self) -> None:
        for f in fields(self):
            setattr(self, f.name, check_value(f, getattr(self, f.name)))
        if not self.lora_target_modules:
            raise ConfigError("lora_target_modules", "name at least one module or 'all-linear'")
        check_loss_settings(self)
        check_method_settings(self)

    def replace(self, **changes: Any) -> RunConfig:
        return RunConfig.from_dict({**self.to_dict(), **changes})

    # ---- (de)serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        if not isinstance(data, dict):
            raise ConfigError("(file)", "the configuration must be a table of field = value")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            hint = closest(unknown[0], known)
            raise ConfigError(unknown[0], "unknown setting" + (f" (did you mean {hint!r}?)" if hint else ""))
        return cls(**data)

    def save(self, path: str | Path) -> None:
        path = Path(path)
        # TOML has no null: an empty value stands for "none" where the default is something else
        # (eval_steps = "" means evaluate only at the end); None fields whose default is None are left out.
        defaults = RunConfig.__dataclass_fields__
        data = {}
        for key, value in self.to_dict().items():
            if value is not None:
                data[key] = value
            elif defaults[key].default is not None:
                data[key] = ""
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            text = yaml.safe_dump(data, sort_keys=False)
        else:
            import tomli_w

            text = tomli_w.dumps(data)
        path.write_text(text, encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> RunConfig:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError("(file)", f"cannot read {path}: {exc.strerror or exc}") from exc
        try:
            if path.suffix.lower() in (".yaml", ".yml"):
                import yaml

                data = yaml.safe_load(text) or {}
            else:
                data = tomllib.loads(text)
        except Exception as exc:  # yaml.YAMLError, tomllib.TOMLDecodeError
            kind = path.suffix.lstrip(".").upper() or "TOML"
            raise ConfigError("(file)", f"{path} is not valid {kind}: {exc}") from exc
        return cls.from_dict(data)

    @classmethod
    def field_specs(cls) -> list[dataclasses.Field]:
        """The fields with their metadata (group, help, choices, range) for forms and docs."""
        return list(fields(cls))
