"""Recognise the shape of a preference dataset and turn each row into one canonical pair.

Canonical pair (a plain dict): ``{"row": 1-based source row, "prompt": [{"role", "content"}, ...], "chosen": str,
"rejected": str}`` — the prompt is a (possibly multi-turn) conversation ending with a user turn, the answers are the
final assistant turns. Templates (pair_templates) turn it into what the model sees.

Recognised automatically (a forced format or per-column mapping overrides detection):
TRL standard and conversational, implicit prompt, Anthropic HH-RLHF transcripts, Intel/orca_dpo_pairs,
argilla distilabel-intel-orca-dpo-pairs and UltraFeedback-binarized. Rows may mix shapes (text in one row,
message lists in the next; ``{role, content}`` or ShareGPT ``{from, value}``; message lists stored as JSON text).
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field

from dpostudio.core.data.problems import DataError

FORMATS = {
    "standard": "TRL standard: prompt, chosen and rejected as text",
    "conversational": "TRL conversational: prompt, chosen and rejected as {role, content} message lists",
    "implicit_prompt": "implicit prompt: only chosen and rejected, whole conversations sharing the prompt",
    "hh_rlhf": "Anthropic HH-RLHF: chosen and rejected are 'Human: … Assistant: …' transcripts",
    "orca": "Intel/orca_dpo_pairs: system, question, chosen, rejected",
    "distilabel": "argilla distilabel: input, chosen, rejected with status / chosen_score / in_gsm8k_train",
    "ultrafeedback": "UltraFeedback binarized: prompt, chosen/rejected message lists, score_chosen/score_rejected",
}
DATA_FORMATS = ("auto", *FORMATS)
ROLES = ("prompt", "chosen", "rejected", "system")
_DEFAULTS = {
    "standard": ("prompt", None),
    "conversational": ("prompt", None),
    "implicit_prompt": (None, None),
    "hh_rlhf": (None, None),
    "orca": ("question", "system"),
    "distilabel": ("input", "system"),
    "ultrafeedback": ("prompt", None),
}
PROMPT_ALIASES = ("prompt", "question", "instruction", "input", "query")
SYSTEM_ALIASES = ("system", "system_prompt")
DISTILABEL_COLUMNS = ("status", "chosen_score", "in_gsm8k_train")
_ROLE_NAMES = {
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "gpt": "assistant",
    "bot": "assistant",
    "model": "assistant",
    "system": "system",
}
_HH_TURN = re.compile(r"(?:\A|\n\n)(Human|Assistant):[ \t]?")


@dataclass
class Detection:
    """The recognised format and which source column plays which part (None: not present)."""

    format: str
    mapping: dict[str, str | None]
    reason: str
    forced: bool = False
    overridden: list[str] = field(default_factory=list)

    def describe(self) -> str:
        how = "forced" if self.forced else "detected"
        cols = ", ".join(f"{role} <- {col!r}" for role, col in self.mapping.items() if col)
        return f"{FORMATS[self.format]} ({how}: {self.reason}); columns: {cols}"

    def to_dict(self) -> dict:
        return {
            "format": self.format,
            "mapping": dict(self.mapping),
            "reason": self.reason,
            "forced": self.forced,
            "overridden": list(self.overridden),
        }


def _no_column_error(label: str, role: str, columns: list[str]) -> DataError:
    found = ", ".join(repr(c) for c in columns) or "none"
    if {"completion", "label"} <= set(columns):  # unpaired answers (see unpaired): only KTO trains on them
        return DataError(
            f"{label}: has single answers marked good or bad (completion, label) rather than pairs; train on it "
            "with the kto method (--method kto), or give it chosen and rejected columns"
        )
    return DataError(
        f"{label}: no column for the {role} answer; found {found}. "
        f"Map one with --map {role}=COLUMN (or in the dataset pane)"
    )


def detect_format(
    columns: list[str],
    sample: list[dict],
    *,
    forced: str = "auto",
    overrides: dict[str, str | None] | None = None,
    label: str = "data",
) -> Detection:
    """Pick the format and column mapping from the column names and a few sample rows."""
    overrides = {k: v for k, v in (overrides or {}).items() if v}
    for role, col in overrides.items():
        if role not in ROLES:
            raise DataError(f"column mapping: unknown part {role!r} (use prompt, chosen, rejected or system)")
        if col not in columns:
            raise DataError(
                f"{label}: column {col!r} (mapped to {role}) not found; found {', '.join(map(repr, columns))}"
            )
    if forced not in DATA_FORMATS:
        raise DataError(f"data_format: unknown format {forced!r}; known: {', '.join(DATA_FORMATS)}")
    chosen = overrides.get("chosen") or ("chosen" if "chosen" in columns else None)
    rejected = overrides.get("rejected") or ("rejected" if "rejected" in columns else None)
    if not chosen:
        raise _no_column_error(label, "chosen", columns)
    if not rejected:
        raise _no_column_error(label, "rejected", columns)
    cols = set(columns)
    if forced != "auto":
        prompt, system = _DEFAULTS[forced]
        prompt = overrides.get("prompt") or (prompt if prompt in cols else None)
        system = overrides.get("system") or (system if system in cols else None)
        if _DEFAULTS[forced][0] and not prompt:
            raise DataError(
                f"{label}: format {forced!r} needs a {_DEFAULTS[forced][0]!r} column for the prompt; "
                f"found {', '.join(map(repr, columns))}. Map one with --map prompt=COLUMN"
            )
        mapping = {"prompt": prompt, "chosen": chosen, "rejected": rejected, "system": system}
        return Detection(forced, mapping, "chosen by the user", True, sorted(overrides))
    prompt = overrides.get("prompt") or next((c for c in PROMPT_ALIASES if c in cols), None)
    system = overrides.get("system") or next((c for c in SYSTEM_ALIASES if c in cols), None)
    mapping = {"prompt": prompt, "chosen": chosen, "rejected": rejected, "system": system}
    values = [row.get(chosen) for row in sample] + [row.get(rejected) for row in sample]
    as_messages = [v for v in values if _looks_like_messages(v)]
    texts = [v for v in values if isinstance(v, str) and not _looks_like_messages(v)]
    if prompt is None:
        if any(looks_like_hh(t) for t in texts):
            fmt, reason = "hh_rlhf", "no prompt column; chosen/rejected are Human/Assistant transcripts"
        else:
            fmt, reason = "implicit_prompt", "no prompt column; the prompt is the part chosen and rejected share"
    elif prompt == "question" and system:
        fmt, reason = "orca", "system + question columns"
    elif prompt == "input" and any(c in cols for c in DISTILABEL_COLUMNS):
        fmt, reason = "distilabel", "input column with distilabel quality columns"
    elif as_messages and ({"score_chosen", "score_rejected"} & cols):
        fmt, reason = "ultrafeedback", "message-list answers with score_chosen/score_rejected"
    elif as_messages:
        fmt, reason = "conversational", "answers are message lists"
    else:
        fmt, reason = "standard", f"prompt in {prompt!r}, answers are text"
    if as_messages and texts and fmt not in ("hh_rlhf",):
        reason += " (rows mix text and message lists)"
    return Detection(fmt, mapping, reason, False, sorted(overrides))


def looks_like_hh(text) -> bool:
    return (
        isinstance(text, str) and "Assistant:" in text and ("\n\nHuman:" in text or text.lstrip().startswith("Human:"))
    )


def _looks_like_messages(value) -> bool:
    if isinstance(value, list):
        return True
    return isinstance(value, str) and value.lstrip().startswith("[{") and value.rstrip().endswith("]")


# ---- values -> text / messages ------------------------------------------------------------------------------------
class RowError(Exception):
    """A row cannot become a pair: ``column`` and ``reason`` say why, in words."""

    def __init__(self, column: str | None, reason: str):
        super().__init__(reason)
        self.column, self.reason = column, reason


def _describe_type(value) -> str:
    return {bool: "true/false", int: "a number", float: "a number", dict: "an object", list: "a list"}.get(
        type(value), type(value).__name__
    )


def as_text(value, column: str | None) -> str | None:
    """Source value -> text (CRLF becomes LF); None for missing; numbers become their digits."""
    if value is None or isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, str):
        return value.replace("\r\n", "\n")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise RowError(column, f"expected text, found {_describe_type(value)}")


def as_messages(value, column: str | None) -> list[dict]:
    """A message list in any common shape -> ``[{"role", "content"}]``; RowError says what is malformed."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise RowError(column, f"looks like a message list but is not valid JSON ({exc})") from exc
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise RowError(column, f"expected a list of messages, found {_describe_type(value)}")
    out = []
    for i, msg in enumerate(value, 1):
        if not isinstance(msg, dict):
            raise RowError(column, f"message {i} is {_describe_type(msg)}, not a {{role, content}} object")
        # Arrow merges {role, content} and {from, value} rows into one struct with None for the absent keys.
        role = msg.get("role") if msg.get("role") is not None else msg.get("from")
        content = msg.get("content") if msg.get("content") is not None else msg.get("value")
        if role is None:
            raise RowError(column, f"message {i} has no role")
        if not isinstance(role, str) or role.strip().lower() not in _ROLE_NAMES:
            raise RowError(column, f"message {i} has role {role!r} (expected system, user or assistant)")
        if isinstance(content, list):  # multimodal-style parts: keep the text parts
            parts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type", "text") == "text"]
            texts = [p for p in parts if isinstance(p, str)]
            if len(texts) != len(content):
                raise RowError(column, f"message {i} has content parts that are not text")
            content = "".join(texts)
        if content is None:
            raise RowError(column, f"message {i} has no content")
        if not isinstance(content, str):
            raise RowError(column, f"message {i} content is {_describe_type(content)}, not text")
        out.append({"role": _ROLE_NAMES[role.strip().lower()], "content": content.replace("\r\n", "\n")})
    return out


def parse_hh(text: str, column: str | None) -> list[dict]:
    """Split an HH-RLHF transcript ("\\n\\nHuman: … \\n\\nAssistant: …") into messages."""
    text = text.replace("\r\n", "\n")
    parts = _HH_TURN.split(text)
    if len(parts) < 3:
        raise RowError(column, "is not a 'Human: … Assistant: …' transcript")
    if parts[0].strip():
        raise RowError(column, f"has text before the first 'Human:' turn ({parts[0].strip()[:40]!r})")
    roles, contents = parts[1::2], parts[2::2]
    return [{"role": "user" if r == "Human" else "assistant", "content": c.strip()} for r, c in zip(roles, contents)]


def _answer_value(value, column: str | None, hh: bool):
    """Chosen/rejected value -> text, or a message list for conversations/transcripts.

    An answer must be text (or messages): a bare number or true/false in a JSON row is a data error, reported
    with its value, not silently turned into digits."""
    if _looks_like_messages(value) or isinstance(value, dict):
        return as_messages(value, column)
    if isinstance(value, (int, float, bool)) and not (isinstance(value, float) and math.isnan(value)):
        raise RowError(column, f"'{column}' is {_describe_type(value)} ({value!r}), not text")
    text = as_text(value, column)
    if text is None:
        return ""
    return parse_hh(text, column) if hh and looks_like_hh(text) else text


def _split_conversations(
    c: list[dict], r: list[dict], ccol: str | None, rcol: str | None
) -> tuple[list[dict], str, str]:
    for msgs, col, name in ((c, ccol, "chosen"), (r, rcol, "rejected")):
        if not msgs:
            raise RowError(col, f"the {name} conversation is empty")
        if msgs[-1]["role"] != "assistant":
            raise RowError(col, f"the {name} conversation ends with a {msgs[-1]['role']} turn, not an assistant answer")
    if c[:-1] != r[:-1]:
        turn = next((i for i, (a, b) in enumerate(zip(c[:-1], r[:-1]), 1) if a != b), min(len(c), len(r)))
        raise RowError(
            ccol, f"chosen and rejected do not share a prompt: they differ at turn {turn}, before the final answer"
        )
    return c[:-1], c[-1]["content"], r[-1]["content"]


def normalize_row(row: dict, detection: Detection, row_no: int) -> dict:
    """One source row -> canonical pair. Raises RowError for rows that cannot become a pair."""
    m = detection.mapping
    ccol, rcol = m["chosen"], m["rejected"]
    hh = detection.format == "hh_rlhf" or m["prompt"] is None
    # A missing answer (JSON null, empty CSV cell) counts as an empty one: reported as "empty", droppable.
    # Both answers are checked before giving up, so one report names everything wrong with the row.
    answers, errors = [], []
    for col in (ccol, rcol):
        try:
            answers.append(_answer_value(row.get(col), col, hh))
        except RowError as exc:
            answers.append(None)
            errors.append(exc)
    if errors:
        reasons = [e.reason for e in errors]
        other = rcol if errors[0].column == ccol else ccol
        if len(errors) == 1 and answers[[ccol, rcol].index(other)] in ("", []):
            reasons.append(f"'{other}' is empty")
        raise RowError(errors[0].column, "; ".join(reasons))
    c, r = answers
    prompt: list[dict] | None = None
    if m["prompt"]:
        pv = row.get(m["prompt"])
        if _looks_like_messages(pv) or isinstance(pv, dict):
            prompt = as_messages(pv, m["prompt"])
        else:
            text = as_text(pv, m["prompt"])
            prompt = [{"role": "user", "content": text}] if text is not None else []
    if isinstance(c, str) and isinstance(r, str):
        if prompt is None:  # implicit prompt in plain text: the shared beginning is the prompt
            shared = os.path.commonprefix([c, r])
            prompt = [{"role": "user", "content": shared}] if shared.strip() else []
            c, r = c[len(shared) :], r[len(shared) :]
        chosen, rejected = c, r
    else:
        c = c if isinstance(c, list) else [{"role": "assistant", "content": c}]
        r = r if isinstance(r, list) else [{"role": "assistant", "content": r}]
        context, chosen, rejected = _split_conversations(c, r, ccol, rcol)
        if context:
            prompt = context
        elif prompt is None:
            prompt = []
    if m["system"]:
        system = as_text(row.get(m["system"]), m["system"])
        if system and system.strip() and not (prompt and prompt[0]["role"] == "system"):
            prompt = [{"role": "system", "content": system}, *prompt]
    if prompt and prompt[-1]["role"] == "assistant":
        raise RowError(m["prompt"] or ccol, "the prompt conversation ends with an assistant turn, not a user turn")
    return {"row": row_no, "prompt": prompt, "chosen": chosen, "rejected": rejected}
