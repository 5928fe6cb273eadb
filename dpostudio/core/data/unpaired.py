"""Unpaired preference data for KTO: single answers marked good (thumbs up) or bad (thumbs down).

Two kinds of source give the same rows, ``{"prompt", "completion", "label": bool}`` in the shape TRL's
``KTOTrainer`` takes (message lists for the chat template, text otherwise):

- **native unpaired files** with ``prompt``, ``completion`` and ``label`` columns (TRL's unpaired format; the prompt
  may be in any column the pair formats accept, or the one mapped with ``column_prompt``). A label is true/false,
  1/0, yes/no, good/bad or up/down (thumbs); a row whose label is anything else is left out and reported, with its
  row number and value, like every other row that cannot be used.
- **preference pairs** in any format the pipeline reads: each pair becomes its chosen answer marked good and its
  rejected answer marked bad (what TRL's ``unpair_preference_dataset`` does).

KTO's trainer reads the training rows in order (its KL estimate pairs each answer with its batch neighbours' prompts),
so the rows are shuffled once here, by the run's seed, to mix good and bad answers and different prompts in a batch.
"""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING, Any

from dpostudio.core.data.filters import apply_filters
from dpostudio.core.data.formats import PROMPT_ALIASES, SYSTEM_ALIASES, RowError, as_messages, as_text
from dpostudio.core.data.pipeline import (
    PreferenceSplits,
    left_out_rows,
    load_splits,
    split_pairs,
)
from dpostudio.core.data.problems import UNUSABLE, DataError, Problem, check_drop_kinds, summarize
from dpostudio.core.data.sources import load_raw, source_label
from dpostudio.core.data.templates import template_pairs

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from dpostudio.core.training.run_config import RunConfig

COMPLETION, LABEL = "completion", "label"
UNPAIRED_FORMAT = "unpaired"
_TRUE = {"true", "1", "yes", "y", "good", "up", "thumbs up", "thumbs_up", "👍", "desirable", "positive"}
_FALSE = {"false", "0", "no", "n", "bad", "down", "thumbs down", "thumbs_down", "👎", "undesirable", "negative"}


def is_unpaired(columns: list[str]) -> bool:
    """True for a source in the unpaired format: completion and label columns, not chosen and rejected."""
    cols = set(columns)
    return COMPLETION in cols and LABEL in cols and not {"chosen", "rejected"} <= cols


def parse_label(value: Any) -> bool:
    """A thumbs-up / thumbs-down label as a bool; RowError says what the value is when it is neither."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    shown = "empty" if value is None or value == "" or isinstance(value, float) and math.isnan(value) else repr(value)
    raise RowError(
        LABEL, f"the label is {shown}, not true or false (thumbs up or down; 1/0, yes/no and good/bad also work)"
    )


def normalize_unpaired_row(row: dict, prompt_col: str | None, system_col: str | None, row_no: int) -> dict:
    """One source row -> ``{"row", "prompt": messages, "completion": text, "label": bool}``; RowError says why not."""
    label = parse_label(row.get(LABEL))
    value = row.get(COMPLETION)
    if isinstance(value, (list, dict)) or isinstance(value, str) and value.lstrip().startswith("[{"):
        messages = as_messages(value, COMPLETION)
        if not messages or messages[-1]["role"] != "assistant":
            raise RowError(COMPLETION, "the completion conversation does not end with an assistant answer")
        completion = messages[-1]["content"]
    elif isinstance(value, (bool, int, float)) and not (isinstance(value, float) and math.isnan(value)):
        raise RowError(COMPLETION, f"the completion is {value!r}, not text")
    else:
        completion = as_text(value, COMPLETION) or ""
    prompt: list[dict] = []
    if prompt_col:
        pv = row.get(prompt_col)
        if isinstance(pv, (list, dict)) or isinstance(pv, str) and pv.lstrip().startswith("[{"):
            prompt = as_messages(pv, prompt_col)
        else:
            text = as_text(pv, prompt_col)
            prompt = [{"role": "user", "content": text}] if text is not None else []
    if system_col:
        system = as_text(row.get(system_col), system_col)
        if system and system.strip() and not (prompt and prompt[0]["role"] == "system"):
            prompt = [{"role": "system", "content": system}, *prompt]
    return {"row": row_no, "prompt": prompt, "completion": completion, "label": label}


def _check_row(row: dict, prompt_col: str | None, source: str, split: str) -> list[Problem]:
    out = []
    turns = [m for m in row["prompt"] if m["role"] != "system"]
    if not turns or all(not m["content"].strip() for m in turns):
        out.append(Problem(row["row"], prompt_col, "missing_prompt", "the prompt is empty or missing", source, split))
    if not row["completion"].strip():
        out.append(
            Problem(row["row"], COMPLETION, "empty", "the completion is empty or only whitespace", source, split)
        )
    return out


def _native_rows(config: RunConfig, raw, split: str, label: str, drop: list[str]):
    """The usable rows of one native split, the problems found and the rows left out per kind."""
    cols = set(raw.column_names)
    prompt_col = config.column_prompt or next((c for c in PROMPT_ALIASES if c in cols), None)
    if prompt_col is None or prompt_col not in cols:
        columns = ", ".join(map(repr, raw.column_names))
        raise DataError(f"{label}: no prompt column for the unpaired rows; found {columns}. Map one with column_prompt")
    system_col = config.column_system or next((c for c in SYSTEM_ALIASES if c in cols), None)
    where = label if split == "train" else f"{label} ({split})"
    keep, notes = apply_filters(raw, list(config.data_filters), label=where)
    rows: list[dict] = []
    problems: list[Problem] = []
    dropped: dict[str, int] = {}
    for i in keep:
        try:
            row = normalize_unpaired_row(raw[i], prompt_col, system_col, i + 1)
        except RowError as exc:
            problems.append(Problem(i + 1, exc.column, UNUSABLE, exc.reason, label, split))
            dropped[UNUSABLE] = dropped.get(UNUSABLE, 0) + 1
            continue
        found = _check_row(row, prompt_col, label, split)
        problems.extend(found)
        gone = next((p.kind for p in found if p.kind in drop), None)
        if gone:
            dropped[gone] = dropped.get(gone, 0) + 1
        else:
            rows.append(row)
    return rows, problems, dropped, [f"{split}: {n}" for n in notes]


def _as_pairs(rows: list[dict]) -> list[dict]:
    """Unpaired rows in the pair shape the templates take (the completion stands in for both answers)."""
    return [
        {"row": r["row"], "prompt": r["prompt"], "chosen": r["completion"], "rejected": r["completion"]} for r in rows
    ]


def _shuffled_dataset(rows: list[dict], seed: int):
    """``rows`` (prompt, completion, label, row) shuffled by ``seed``, as a Dataset and the source row of each."""
    from datasets import Dataset

    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    data = [{k: rows[i][k] for k in ("prompt", "completion", "label")} for i in order]
    return Dataset.from_list(data), [rows[i]["row"] for i in order]


def _to_dataset(rows: list[dict], config: RunConfig, tokenizer, seed: int):
    shaped = template_pairs(
        _as_pairs(rows), config.prompt_template, system_prompt=config.system_prompt, tokenizer=tokenizer
    )
    return _shuffled_dataset(
        [{**r, "prompt": t["prompt"], "completion": t["chosen"]} for t, r in zip(shaped, rows)], seed
    )


def _count(rows: list[dict]) -> str:
    good = sum(1 for r in rows if r["label"])
    return f"{good} marked good, {len(rows) - good} marked bad"


def load_unpaired_splits(config: RunConfig, tokenizer: PreTrainedTokenizerBase | None = None) -> PreferenceSplits:
    """``config.dataset`` as unpaired train/eval Datasets (prompt, completion, label) for KTO: a native unpaired
    source read row by row, or preference pairs (through the pair pipeline) split into good and bad answers."""
    label = source_label(config.dataset)
    raw_train, raw_eval = load_raw(
        config.dataset,
        config_name=config.dataset_config,
        split=config.dataset_split,
        first_n=config.first_n,
        eval_split=config.eval_split,
    )
    if not is_unpaired(raw_train.column_names):
        if COMPLETION in raw_train.column_names and LABEL not in raw_train.column_names:
            raise DataError(
                f"{label}: has a {COMPLETION!r} column but no {LABEL!r} column; unpaired data needs a label "
                "(true for a good answer, false for a bad one) on every row"
            )
        return _from_pairs(config, tokenizer)
    if len(raw_train) == 0:
        raise DataError(f"{label}: the {config.dataset_split!r} split has no rows")
    drop = check_drop_kinds(config.drop_problems)
    notes = [f"format: unpaired answers (prompt, {COMPLETION}, {LABEL}) for KTO"]
    problems: list[Problem] = []
    dropped: dict[str, int] = {}
    kept: dict[str, list[dict]] = {}
    for split, raw in [("train", raw_train)] + ([("eval", raw_eval)] if raw_eval is not None else []):
        rows, found, gone, filter_notes = _native_rows(config, raw, split, label, drop)
        kept[split], notes = rows, notes + filter_notes
        problems.extend(found)
        for kind, n in gone.items():
            dropped[kind] = dropped.get(kind, 0) + n
    if not kept["train"]:
        counts = ", ".join(f"{k}: {v}" for k, v in summarize(problems).items()) or "none"
        raise DataError(
            f"{label}: no usable training rows are left (problems found: {counts}). " + left_out_rows(problems, drop)
        )
    if dropped:
        notes.append("left out: " + ", ".join(f"{n} {kind}" for kind, n in dropped.items()))
    train, heldout = kept["train"], kept.get("eval")
    if heldout is None and config.eval_ratio > 0:
        try:
            train, heldout = split_pairs(train, config.eval_ratio, config.split_seed, label=label)
        except DataError as exc:
            raise DataError(f"{exc}. {left_out_rows(problems, drop)}") from None
    notes.append(f"train: {_count(train)}" + (f"; eval: {_count(heldout)}" if heldout else ""))
    train_ds, train_rows = _to_dataset(train, config, tokenizer, config.seed)
    eval_ds, eval_rows = _to_dataset(heldout, config, tokenizer, config.seed) if heldout else (None, [])
    mapping = {"prompt": config.column_prompt, "completion": COMPLETION, "label": LABEL}
    return PreferenceSplits(
        train_ds, eval_ds, config.dataset, notes, UNPAIRED_FORMAT, mapping, problems, dropped, train_rows, eval_rows
    )


def _from_pairs(config: RunConfig, tokenizer) -> PreferenceSplits:
    """Preference pairs through the pair pipeline, each split into its chosen answer (good) and rejected (bad)."""
    pairs = load_splits(config.replace(method="dpo"), tokenizer)
    out: dict[str, tuple[Any, list[int]]] = {"train": (None, []), "eval": (None, [])}
    for name, dataset, rows in (("train", pairs.train, pairs.train_rows), ("eval", pairs.eval, pairs.eval_rows)):
        if dataset is not None and len(dataset):
            unpaired = [
                {"prompt": pair["prompt"], "completion": pair[part], "label": part == "chosen", "row": row}
                for part in ("chosen", "rejected")
                for pair, row in zip(dataset, rows)
            ]
            out[name] = _shuffled_dataset(unpaired, config.seed)
    (train, train_rows), (heldout, eval_rows) = out["train"], out["eval"]
    note = (
        f"{len(pairs.train)} training pairs split into {len(train)} single answers for KTO: each chosen answer "
        "marked good, each rejected one bad"
    )
    return PreferenceSplits(
        train,
        heldout,
        pairs.source,
        [*pairs.notes, note],
        pairs.format,
        pairs.mapping,
        pairs.problems,
        pairs.dropped,
        train_rows,
        eval_rows,
    )
