"""Preference pairs for training: load, detect the format, filter, normalise, validate, split, template, describe.

The contract the engine relies on: ``load_splits(config, tokenizer)`` returns ``PreferenceSplits`` whose
``train``/``eval`` are ``datasets.Dataset`` objects with ``prompt``/``chosen``/``rejected`` columns in a shape
TRL's ``DPOTrainer`` accepts (conversational message lists for the chat template, plain strings otherwise).

The dataset pane and ``dpostudio data inspect`` use ``inspect_data`` (everything the pane shows, as plain data)
and ``preview_row`` (exactly what the model sees for one row). Pipeline, in order: first N source rows ->
filters -> format detection and normalisation (rows that cannot form a pair are reported) -> per-row validation
(the user's ``drop_problems`` choice leaves rows out; the source is never modified) -> train/eval split by ratio
and seed (unless the source has a held-out split) -> template.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dpostudio.core.data.filters import apply_filters, suggest_filters
from dpostudio.core.data.formats import Detection, RowError, detect_format, normalize_row
from dpostudio.core.data.problems import UNUSABLE, DataError, Problem, check_drop_kinds, summarize
from dpostudio.core.data.sources import BUILTIN_DEMO_DIR, LOCAL_FORMATS, load_raw, source_label  # noqa: F401  (public names)
from dpostudio.core.data.stats import PairStats, compute_stats, length_bias, measure
from dpostudio.core.data.templates import ALPACA_TEMPLATE, PairPreview, preview_pair, template_pairs  # noqa: F401
from dpostudio.core.data.validation import apply_policy, validate_pairs
from dpostudio.core.errors import UserError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from dpostudio.core.training.run_config import RunConfig

REQUIRED_COLUMNS = ("prompt", "chosen", "rejected")
DETECT_SAMPLE = 50

__all__ = [
    "DataError",
    "PreferenceSplits",
    "PreparedPairs",
    "DataReport",
    "load_raw",
    "load_splits",
    "load_extra_eval_sets",
    "prepare_pairs",
    "inspect_data",
    "preview_row",
    "split_pairs",
    "ALPACA_TEMPLATE",
]


@dataclass
class PreferenceSplits:
    train: Any  # datasets.Dataset
    eval: Any | None  # datasets.Dataset or None
    source: str
    notes: list[str] = field(default_factory=list)
    format: str = ""
    mapping: dict = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)  # every problem found, dropped or kept
    dropped: dict[str, int] = field(default_factory=dict)  # rows left out, per problem kind (+ "unusable")
    train_rows: list[int] = field(default_factory=list)  # source row numbers (1-based) in each split
    eval_rows: list[int] = field(default_factory=list)
    length_bias: dict[str, Any] | None = None  # the training pairs' chosen-vs-rejected lengths (stats.length_bias)


@dataclass
class PreparedPairs:
    """Canonical pairs (see pair_formats) after filtering, validation and the drop choice, split train/eval."""

    source: str
    detection: Detection
    columns: list[str]
    rows_read: dict[str, int]
    train: list[dict]
    eval: list[dict] | None
    problems: list[Problem]
    dropped: dict[str, int]
    notes: list[str]
    suggested_filters: list[str]
    eval_from_source: bool
    lengths: dict[tuple[str, int], tuple[int, int, int]] = field(default_factory=dict)


def config_mapping(config: RunConfig) -> dict[str, str | None]:
    return {
        "prompt": config.column_prompt,
        "chosen": config.column_chosen,
        "rejected": config.column_rejected,
        "system": config.column_system,
    }


def _normalise(raw, keep: list[int], detection: Detection, label: str, split: str):
    pairs, problems = [], []
    for i in keep:
        row = raw[i]
        try:
            pairs.append(normalize_row(row, detection, i + 1))
        except RowError as exc:
            problems.append(Problem(i + 1, exc.column, UNUSABLE, exc.reason, label, split))
    return pairs, problems


def left_out_rows(problems: list[Problem], drop, limit: int = 5) -> str:
    """Which rows were left out and why, in words (the first ``limit``), for errors about too few rows."""
    gone = [p for p in problems if not p.droppable or p.kind in drop]
    if not gone:
        return "No rows were left out."
    shown = "; ".join(
        f"row {p.row}{f' ({p.split})' if p.split not in ('train', '') else ''}: {p.reason}" for p in gone[:limit]
    )
    more = f"; and {len(gone) - limit} more (see `dpostudio data inspect`)" if len(gone) > limit else ""
    return f"Left out: {shown}{more}."


def split_pairs(pairs: list[dict], ratio: float, seed: int, *, label: str = "data") -> tuple[list[dict], list[dict]]:
    """Reproducible train/eval split: the same rows, ratio and seed always give the same split (source order kept)."""
    if ratio <= 0:
        return list(pairs), []
    n = len(pairs)
    n_eval = max(1, round(n * ratio))
    if n < 2 or n - n_eval < 1:
        raise DataError(
            f"{label}: only {n} usable row(s); need at least 2 to split off evaluation rows "
            "(set eval_ratio to 0 to train without evaluation)"
        )
    order = list(range(n))
    random.Random(seed).shuffle(order)
    held = set(order[:n_eval])
    return [p for i, p in enumerate(pairs) if i not in held], [p for i, p in enumerate(pairs) if i in held]


def prepare_pairs(
    config: RunConfig,
    tokenizer: PreTrainedTokenizerBase | None = None,
    *,
    check_truncation: bool | None = None,
    measure_limit: int | None = None,
) -> PreparedPairs:
    """Run the pipeline up to (not including) templating. Token lengths are measured when a tokenizer is given and
    truncation is checked (by default only when "truncated" is among ``config.drop_problems``)."""
    label = source_label(config.dataset)
    drop = check_drop_kinds(config.drop_problems)
    raw_train, raw_eval = load_raw(
        config.dataset,
        config_name=config.dataset_config,
        split=config.dataset_split,
        first_n=config.first_n,
        eval_split=config.eval_split,
    )
    if len(raw_train) == 0:
        raise DataError(f"{label}: the {config.dataset_split!r} split has no rows")
    sample = [raw_train[i] for i in range(min(DETECT_SAMPLE, len(raw_train)))]
    detection = detect_format(
        raw_train.column_names, sample, forced=config.data_format, overrides=config_mapping(config), label=label
    )
    notes = [f"format: {detection.describe()}"]
    if config.first_n:
        notes.append(f"first {config.first_n} rows of the source")
    if check_truncation is None:
        check_truncation = "truncated" in drop
    split_names = [("train", raw_train)] + ([("eval", raw_eval)] if raw_eval is not None else [])
    kept: dict[str, list[dict]] = {}
    problems: list[Problem] = []
    dropped: dict[str, int] = {}
    lengths: dict[tuple[str, int], tuple[int, int, int]] = {}
    for split, raw in split_names:
        where = label if split == "train" else f"{label} ({split})"
        keep, filter_notes = apply_filters(raw, list(config.data_filters), label=where)
        notes.extend(f"{split}: {n}" for n in filter_notes)
        pairs, unusable = _normalise(raw, keep, detection, label, split)
        row_lengths = None
        if tokenizer is not None and check_truncation:
            measured = pairs[:measure_limit] if measure_limit else pairs
            row_lengths = measure(
                measured, tokenizer, template=config.prompt_template, system_prompt=config.system_prompt
            )
            lengths.update({(split, p["row"]): ln for p, ln in zip(measured, row_lengths)})
            if len(measured) < len(pairs):
                notes.append(f"{split}: truncation checked on the first {len(measured)} of {len(pairs)} rows")
        found = validate_pairs(
            pairs, detection.mapping, source=label, split=split, lengths=row_lengths, max_length=config.max_length
        )
        split_problems = sorted(unusable + found, key=lambda p: p.row)
        problems.extend(split_problems)
        pairs, split_dropped = apply_policy(pairs, found, drop)
        if unusable:
            split_dropped[UNUSABLE] = len(unusable)
        for kind, n in split_dropped.items():
            dropped[kind] = dropped.get(kind, 0) + n
        kept[split] = pairs
    if not kept["train"]:
        counts = ", ".join(f"{k}: {v}" for k, v in summarize(problems).items()) or "none"
        raise DataError(
            f"{label}: no usable training rows are left (problems found: {counts}). " + left_out_rows(problems, drop)
        )
    if dropped:
        notes.append("left out: " + ", ".join(f"{n} {kind}" for kind, n in dropped.items()))
    train, heldout = kept["train"], kept.get("eval")
    eval_from_source = raw_eval is not None
    if heldout is None and config.eval_ratio > 0:
        try:
            train, heldout = split_pairs(train, config.eval_ratio, config.split_seed, label=label)
        except DataError as exc:
            raise DataError(f"{exc}. {left_out_rows(problems, drop)}") from None
        notes.append(
            f"split {len(train)}/{len(heldout)} rows (eval ratio {config.eval_ratio:g}, seed {config.split_seed})"
        )
    elif heldout is not None:
        heldout = heldout or None
    return PreparedPairs(
        label,
        detection,
        list(raw_train.column_names),
        {name: len(raw) for name, raw in split_names},
        train,
        heldout,
        problems,
        dropped,
        notes,
        suggest_filters(raw_train.column_names),
        eval_from_source,
        lengths,
    )


def _to_dataset(rows: list[dict]):
    from datasets import Dataset

    return Dataset.from_list(rows)


def load_splits(config: RunConfig, tokenizer: PreTrainedTokenizerBase | None = None) -> PreferenceSplits:
    """Load ``config.dataset`` and return training-ready train/eval Datasets in the shape DPOTrainer takes (for the
    kto method: unpaired prompt/completion/label rows, see ``unpaired``)."""
    if config.method == "kto":
        from dpostudio.core.data.unpaired import load_unpaired_splits

        return load_unpaired_splits(config, tokenizer)
    prepared = prepare_pairs(config, tokenizer)
    train = _to_dataset(
        template_pairs(prepared.train, config.prompt_template, system_prompt=config.system_prompt, tokenizer=tokenizer)
    )
    heldout = None
    if prepared.eval:
        heldout = _to_dataset(
            template_pairs(
                prepared.eval, config.prompt_template, system_prompt=config.system_prompt, tokenizer=tokenizer
            )
        )
    d = prepared.detection
    return PreferenceSplits(
        train,
        heldout,
        config.dataset,
        prepared.notes,
        d.format,
        dict(d.mapping),
        prepared.problems,
        prepared.dropped,
        [p["row"] for p in prepared.train],
        [p["row"] for p in prepared.eval or []],
        length_bias(measure(prepared.train, None, template=config.prompt_template), "characters"),
    )


def load_extra_eval_sets(config: RunConfig, tokenizer: PreTrainedTokenizerBase | None = None) -> dict[str, Any]:
    """``config.extra_eval_sets`` as ``{name: Dataset}`` in the order given (see ``load_extra_eval_set``)."""
    from dpostudio.core.training.run_config import parse_eval_set

    return {
        parse_eval_set(entry)[0]: load_extra_eval_set(config, entry, tokenizer).train
        for entry in config.extra_eval_sets
    }


def load_extra_eval_set(
    config: RunConfig, entry: str, tokenizer: PreTrainedTokenizerBase | None = None
) -> PreferenceSplits:
    """One extra eval set (``NAME=SOURCE``) through this same pipeline with the run's template, system prompt, max
    length and drop choice; all of the set's usable rows are evaluated, in ``.train`` (no split; the main dataset's
    column mapping, filters and first N do not apply). A set that cannot be loaded raises ``DataError`` naming it."""
    from dpostudio.core.data.versions import config_for_source
    from dpostudio.core.training.run_config import parse_eval_set

    name, source = parse_eval_set(entry)
    try:
        own = config_for_source(config, source).replace(eval_ratio=0.0, extra_eval_sets=[])
        return load_splits(own, tokenizer)
    except (DataError, UserError) as exc:
        raise DataError(f"extra eval set {name!r} ({source}) could not be loaded: {exc}") from None


@dataclass
class DataReport:
    """Everything the dataset pane and ``data inspect`` show about a source under a config."""

    source: str
    detection: Detection
    columns: list[str]
    rows_read: dict[str, int]
    rows_used: dict[str, int]
    problems: list[Problem]
    problem_counts: dict[str, int]
    dropped: dict[str, int]
    stats: PairStats
    notes: list[str]
    suggested_filters: list[str]
    pairs: PreparedPairs
    drop_kinds: list[str] = field(default_factory=list)  # problem kinds left out under this config

    def to_dict(self, max_problems: int | None = 50) -> dict:
        return {
            "source": self.source,
            "detection": self.detection.to_dict(),
            "columns": self.columns,
            "rows_read": self.rows_read,
            "rows_used": self.rows_used,
            "problem_counts": self.problem_counts,
            "problems": [p.to_dict() for p in self.problems[:max_problems]],
            "dropped": self.dropped,
            "stats": self.stats.to_dict(),
            "notes": self.notes,
            "suggested_filters": self.suggested_filters,
            "drop_kinds": self.drop_kinds,
        }


def inspect_data(
    config: RunConfig,
    tokenizer: PreTrainedTokenizerBase | None = None,
    *,
    stats_rows: int = 2000,
    measure_limit: int | None = 20000,
) -> DataReport:
    """Load and check a source under ``config`` without training: format, mapping, counts, problems (truncation
    included when a tokenizer is given), and length stats on up to ``stats_rows`` rows of the usable pairs."""
    prepared = prepare_pairs(config, tokenizer, check_truncation=tokenizer is not None, measure_limit=measure_limit)
    used = [("train", p) for p in prepared.train] + [("eval", p) for p in prepared.eval or []]
    sample = used[:stats_rows]
    origin = {id(p): s for s, p in used}
    if tokenizer is not None:
        missing = [p for s, p in sample if (origin[id(p)], p["row"]) not in prepared.lengths]
        extra = dict(
            zip(
                (id(p) for p in missing),
                measure(missing, tokenizer, template=config.prompt_template, system_prompt=config.system_prompt),
            )
        )
        lengths = [prepared.lengths.get((s, p["row"])) or extra[id(p)] for s, p in sample]
    else:
        lengths = measure([p for _, p in sample], None, template=config.prompt_template)
    stats = compute_stats(
        lengths,
        rows=len(used),
        unit="tokens" if tokenizer is not None else "characters",
        max_length=config.max_length if tokenizer is not None else None,
    )
    rows_used = {"train": len(prepared.train), "eval": len(prepared.eval or [])}
    return DataReport(
        prepared.source,
        prepared.detection,
        prepared.columns,
        prepared.rows_read,
        rows_used,
        prepared.problems,
        summarize(prepared.problems),
        prepared.dropped,
        stats,
        prepared.notes,
        prepared.suggested_filters,
        prepared,
        list(config.drop_problems),
    )


def preview_row(
    config: RunConfig,
    row: int,
    tokenizer: PreTrainedTokenizerBase | None = None,
    *,
    split: str = "train",
    prepared: PreparedPairs | None = None,
) -> PairPreview:
    """Exactly what the model sees for source row ``row`` (1-based) after templating with ``tokenizer``.

    Pass ``prepared`` (from a DataReport's ``pairs``) to avoid reloading. Rows that were left out can still be
    previewed; rows that cannot form a pair raise DataError with the reason.
    """
    prepared = prepared or prepare_pairs(config, None)
    label = prepared.source
    raw_train, raw_eval = load_raw(
        config.dataset,
        config_name=config.dataset_config,
        split=config.dataset_split,
        first_n=config.first_n,
        eval_split=config.eval_split,
    )
    raw = raw_eval if split == "eval" and raw_eval is not None else raw_train
    if not 1 <= row <= len(raw):
        raise DataError(f"{label}: there is no row {row} (the {split} split has {len(raw)} rows)")
    try:
        pair = normalize_row(raw[row - 1], prepared.detection, row)
    except RowError as exc:
        raise DataError(Problem(row, exc.column, UNUSABLE, exc.reason, label, split).message()) from exc
    return preview_pair(pair, tokenizer, config.prompt_template, config.system_prompt)
