"""Built-in ranker: a reward model -- any local ``AutoModelForSequenceClassification`` folder -- scores K answers.

Each (prompt, answer) is shown to the reward model as a conversation (the model's chat template when its tokenizer
has one, else ``prompt\\n\\nanswer``) and scored in batches; the score is the logit of its single output (the
usual reward-model head), or, for a two-class head, the log-odds of the second class ("good") over the first.
Models are loaded once per process. Only local folders are accepted (no download at ranking time).
"""

from __future__ import annotations

import threading
from pathlib import Path

from dpostudio.plugins import PluginError, RankerInfo, Ranking, SourceOption, hookimpl

DPOSTUDIO_HOOK_API = 1

REWARD_MODEL = "reward-model"
_cache: dict[str, tuple] = {}
_cache_lock = threading.Lock()


@hookimpl
def dpostudio_rankers():
    """The reward-model ranker."""
    return [
        RankerInfo(
            id=REWARD_MODEL,
            title="Reward model (sequence classification)",
            description="A local reward model (a transformers AutoModelForSequenceClassification folder) scores "
            "every answer to a prompt; higher is better.",
            options=[
                SourceOption("model", "Reward model folder", kind="path", required=True, help="a local folder"),
                SourceOption("batch_size", "Batch size", kind="int", default=8),
                SourceOption("max_length", "Max tokens per answer", kind="int", default=1024),
                SourceOption(
                    "trust_remote_code",
                    "Trust remote code",
                    kind="bool",
                    default=False,
                    help="only for models you trust",
                ),
            ],
        )
    ]


def _load(folder: str, trust_remote_code: bool):
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise PluginError(f"reward model folder not found: {path}")
    if not (path / "config.json").is_file():
        raise PluginError(f"{path} is not a transformers model folder (it has no config.json)")
    key = str(path.resolve())
    with _cache_lock:
        if key in _cache:
            return _cache[key]
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code)
            model = AutoModelForSequenceClassification.from_pretrained(str(path), trust_remote_code=trust_remote_code)
        except (OSError, ValueError, KeyError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise PluginError(f"{path} does not load as a sequence-classification reward model: {first}") from exc
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        model.config.pad_token_id = tokenizer.pad_token_id
        model.eval()
        if torch.cuda.is_available():
            model.to("cuda")
        _cache[key] = (model, tokenizer, threading.Lock())
        return _cache[key]


def conversation_text(tokenizer, prompt: str, answer: str) -> str:
    """How one answer is shown to the reward model."""
    if getattr(tokenizer, "chat_template", None):
        messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]
        return tokenizer.apply_chat_template(messages, tokenize=False)
    return f"{prompt}\n\n{answer}"


def _int(options: dict, name: str, default: int, low: int, high: int) -> int:
    value = options.get(name, default)
    try:
        number = int(value if value not in (None, "") else default)
    except (TypeError, ValueError):
        raise PluginError(f"{name} must be a whole number, not {value!r}") from None
    if not low <= number <= high:
        raise PluginError(f"{name} must be from {low} to {high}, not {number}")
    return number


@hookimpl
def dpostudio_rank_candidates(ranker_id, prompt, candidates, options):
    """Score every candidate with the reward model; None for other rankers."""
    if ranker_id != REWARD_MODEL:
        return None
    import torch

    options = dict(options or {})
    folder = str(options.get("model") or "").strip()
    if not folder:
        raise PluginError("name the reward model folder (model option)")
    batch_size = _int(options, "batch_size", 8, 1, 1024)
    max_length = _int(options, "max_length", 1024, 8, 131072)
    model, tokenizer, lock = _load(folder, bool(options.get("trust_remote_code")))
    texts = [conversation_text(tokenizer, prompt, answer) for answer in candidates]
    scores: list[float] = []
    with lock, torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(
                texts[start : start + batch_size],
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=max_length,
                add_special_tokens=False,
            ).to(model.device)
            logits = model(**batch).logits.float()
            if logits.shape[-1] == 1:
                values = logits[:, 0]
            else:
                log_probs = torch.log_softmax(logits, dim=-1)
                values = log_probs[:, -1] - log_probs[:, 0]
            scores.extend(float(v) for v in values)
    labels = model.config.num_labels
    return Ranking(
        scores=scores,
        reasoning=f"reward model {Path(folder).name}: higher is better",
        method="reward-logit" if labels == 1 else "reward-log-odds",
    )
