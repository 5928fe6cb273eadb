"""Turn canonical pairs into what the model sees: the model's chat template, the Alpaca template, or raw text.

``template_pair`` gives the row TRL's ``DPOTrainer`` receives; ``token_lengths`` tokenizes it exactly as TRL 1.16
does (prompt with the generation prompt, prompt+answer, the answer starting where the two diverge);
``preview_pair`` decodes those same tokens, so the preview is exactly the text the model is trained on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dpostudio.core.data.problems import DataError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

TEMPLATES = ("chat", "alpaca", "none")
ALPACA_TEMPLATE = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{}\n\n### Response:\n"
)


@dataclass
class PairPreview:
    """Exactly what the model sees for one row, as text and as token counts."""

    row: int
    template: str
    prompt_text: str
    chosen_text: str
    rejected_text: str
    prompt_tokens: int | None = None
    chosen_tokens: int | None = None
    rejected_tokens: int | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def flatten_prompt(messages: list[dict]) -> str:
    """A prompt conversation as plain text: one user turn is its text; several turns are a labelled transcript."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    turns = [m for m in messages if m["role"] != "system"]
    if len(turns) == 1 and turns[0]["role"] == "user":
        text = turns[0]["content"]
    else:
        text = "\n\n".join(f"{'User' if m['role'] == 'user' else 'Assistant'}: {m['content']}" for m in turns)
    return f"{system}\n\n{text}" if system and text else system or text


def supports_system_role(tokenizer: PreTrainedTokenizerBase) -> bool:
    """Whether the tokenizer's chat template accepts a system message (some, like Gemma's, raise)."""
    try:
        tokenizer.apply_chat_template(
            [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}],
            tokenize=False,
            add_generation_prompt=True,
        )
        return True
    except Exception:
        return False


def check_template(template: str, tokenizer: PreTrainedTokenizerBase | None) -> None:
    if template not in TEMPLATES:
        raise DataError(f"prompt_template: unknown template {template!r}; known: {', '.join(TEMPLATES)}")
    if template == "chat" and tokenizer is not None and not getattr(tokenizer, "chat_template", None):
        raise DataError("the model has no chat template; choose the Alpaca template or raw text (prompt_template)")


def template_pair(
    pair: dict,
    template: str,
    *,
    system_prompt: str | None = None,
    eos_token: str | None = None,
    fold_system: bool = False,
) -> dict:
    """Canonical pair -> ``{"prompt", "chosen", "rejected"}`` in the shape TRL's DPOTrainer takes.

    chat: message lists (``system_prompt`` is added when the row has no system message of its own;
    ``fold_system`` merges it into the first user turn for templates without a system role).
    alpaca / none: strings, with ``eos_token`` appended to both answers (TRL would append it too).
    """
    prompt = [dict(m) for m in pair["prompt"]]
    if template == "chat":
        if system_prompt and not (prompt and prompt[0]["role"] == "system"):
            prompt.insert(0, {"role": "system", "content": system_prompt})
        if fold_system and prompt and prompt[0]["role"] == "system":
            system = prompt.pop(0)["content"]
            if prompt and prompt[0]["role"] == "user":
                prompt[0] = {"role": "user", "content": f"{system}\n\n{prompt[0]['content']}"}
            else:
                prompt.insert(0, {"role": "user", "content": system})
        return {
            "prompt": prompt,
            "chosen": [{"role": "assistant", "content": pair["chosen"]}],
            "rejected": [{"role": "assistant", "content": pair["rejected"]}],
        }
    text = flatten_prompt(prompt)
    if template == "alpaca":
        text = ALPACA_TEMPLATE.format(text)
    elif template != "none":
        raise DataError(f"prompt_template: unknown template {template!r}; known: {', '.join(TEMPLATES)}")
    eos = eos_token or ""
    chosen, rejected = pair["chosen"], pair["rejected"]
    if eos and not chosen.endswith(eos):
        chosen += eos
    if eos and not rejected.endswith(eos):
        rejected += eos
    return {"prompt": text, "chosen": chosen, "rejected": rejected}


def template_pairs(
    pairs: list[dict],
    template: str,
    *,
    system_prompt: str | None = None,
    tokenizer: PreTrainedTokenizerBase | None = None,
) -> list[dict]:
    check_template(template, tokenizer)
    eos = getattr(tokenizer, "eos_token", None) if tokenizer is not None else None
    fold = template == "chat" and tokenizer is not None and not supports_system_role(tokenizer)
    return [template_pair(p, template, system_prompt=system_prompt, eos_token=eos, fold_system=fold) for p in pairs]


def _ids(tokenizer: PreTrainedTokenizerBase, value: str | list[dict], **kwargs: Any) -> list[int]:
    out: Any  # a BatchEncoding either way (apply_chat_template's annotation lists the types of all its modes)
    if isinstance(value, list):
        out = tokenizer.apply_chat_template(value, tokenize=True, return_dict=True, **kwargs)
    else:
        out = tokenizer(text=value)
    return list(out["input_ids"])


def _common(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def token_ids(trl_row: dict, tokenizer: PreTrainedTokenizerBase) -> tuple[list[int], list[int], list[int]]:
    """(prompt_ids, chosen_ids, rejected_ids) exactly as TRL 1.16's DPOTrainer tokenizes the row."""
    prompt = trl_row["prompt"]
    if isinstance(prompt, list):
        p = _ids(tokenizer, prompt, add_generation_prompt=True)
        pc = _ids(tokenizer, prompt + trl_row["chosen"])
        pr = _ids(tokenizer, prompt + trl_row["rejected"])
    else:
        p = _ids(tokenizer, prompt)
        pc = _ids(tokenizer, prompt + trl_row["chosen"])
        pr = _ids(tokenizer, prompt + trl_row["rejected"])
    n = min(_common(p, pc), _common(p, pr))
    return p[:n], pc[n:], pr[n:]


def token_lengths(trl_row: dict, tokenizer: PreTrainedTokenizerBase) -> tuple[int, int, int]:
    p, c, r = token_ids(trl_row, tokenizer)
    return len(p), len(c), len(r)


def preview_pair(
    pair: dict,
    tokenizer: PreTrainedTokenizerBase | None = None,
    template: str = "chat",
    system_prompt: str | None = None,
) -> PairPreview:
    """What the model sees for one canonical pair: prompt, chosen and rejected text after templating.

    With a tokenizer the texts are decoded from the very tokens TRL trains on (special tokens included);
    without one only the Alpaca/raw templates can be shown, and their EOS token is not known.
    """
    check_template(template, tokenizer)
    if tokenizer is None:
        if template == "chat":
            raise DataError("the chat-template preview needs the model's tokenizer; pick a model first")
        row = template_pair(pair, template, system_prompt=system_prompt)
        return PairPreview(pair.get("row", 0), template, row["prompt"], row["chosen"], row["rejected"])
    [row] = template_pairs([pair], template, system_prompt=system_prompt, tokenizer=tokenizer)
    p, c, r = token_ids(row, tokenizer)

    def decode(ids):
        return tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)

    return PairPreview(pair.get("row", 0), template, decode(p), decode(c), decode(r), len(p), len(c), len(r))
