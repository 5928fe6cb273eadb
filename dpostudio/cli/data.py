"""``dpostudio data inspect SOURCE``: what the dataset pane shows, in a terminal.

Prints the detected format and column mapping, row counts, filters and problems found (with row numbers and
columns), length statistics (tokens with ``--model``, characters without) and optionally one row exactly as the
model will see it. The lead's ``cli.py`` calls ``add_parser(subparsers)``; handlers return an exit code.
"""

from __future__ import annotations

import argparse
import json
import sys

from dpostudio.core.data.formats import DATA_FORMATS
from dpostudio.core.data.problems import PROBLEM_KINDS
from dpostudio.core.data.templates import TEMPLATES


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``data`` (with ``data inspect``) to an argparse ``add_subparsers()`` object."""
    data = subparsers.add_parser(
        "data",
        help="inspect preference data (format, problems, statistics)",
        description="Work with preference datasets without training.",
    )
    sub = data.add_subparsers(dest="data_command")
    data.set_defaults(func=lambda args: (data.print_help(), 2)[1])
    p = sub.add_parser(
        "inspect",
        help="show format, mapping, counts, problems and length statistics",
        description="Load a preference dataset as training would, and describe it. The source file is never modified.",
    )
    p.add_argument(
        "source", help="'builtin:demo', a Hugging Face dataset id or folder, or a JSONL/JSON/CSV/Parquet file"
    )
    p.add_argument("--config", dest="dataset_config", help="dataset configuration (subset) name, e.g. harmless-base")
    p.add_argument("--split", default="train", help="split to read (default: train)")
    p.add_argument("--eval-split", help="split to use as evaluation rows instead of a ratio split, e.g. test")
    p.add_argument("--first-n", type=int, help="read only the first N rows")
    p.add_argument(
        "--format",
        dest="data_format",
        choices=DATA_FORMATS,
        default=None,
        help="force a format instead of detecting it",
    )
    p.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="PART=COLUMN",
        help="use COLUMN for PART (prompt, chosen, rejected or system); repeatable",
    )
    p.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="EXPR",
        help="keep rows matching EXPR, e.g. 'status != tie'; repeatable",
    )
    p.add_argument(
        "--drop",
        default=None,
        metavar="KINDS",
        help=f"comma-separated problem kinds to leave out ({', '.join(PROBLEM_KINDS)}); "
        "'' keeps every row that can form a pair",
    )
    p.add_argument(
        "--model",
        help="model whose tokenizer measures lengths and renders the preview "
        "(e.g. embedded:smollm2-135m-instruct); without it lengths are in characters",
    )
    p.add_argument("--max-length", type=int, default=None, help="max tokens of prompt + answer (default 256)")
    p.add_argument(
        "--template",
        dest="prompt_template",
        choices=TEMPLATES,
        default=None,
        help="prompt template: the model's chat template, Alpaca, or raw text",
    )
    p.add_argument("--system-prompt", help="system message for the chat template")
    p.add_argument("--eval-ratio", type=float, default=None, help="share of rows held out for evaluation")
    p.add_argument("--seed", dest="split_seed", type=int, default=None, help="seed of the train/eval split")
    p.add_argument("--run-config", help="start from this run configuration file (TOML or YAML)")
    p.add_argument("--problems", type=int, default=10, help="how many problems to print (default 10)")
    p.add_argument("--preview", type=int, metavar="ROW", help="show source row ROW exactly as the model sees it")
    p.add_argument("--stats-rows", type=int, default=2000, help="measure lengths on at most this many rows")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_inspect)
    return data


def build_config(args):
    """RunConfig from ``--run-config`` (or defaults) with the command-line choices applied."""
    from dpostudio.core.training.run_config import RunConfig

    base = RunConfig.load(args.run_config) if args.run_config else RunConfig()
    changes = {
        "dataset": args.source,
        "dataset_config": args.dataset_config,
        "dataset_split": args.split,
        "eval_split": args.eval_split,
        "first_n": args.first_n,
    }
    for key in ("data_format", "max_length", "prompt_template", "system_prompt", "eval_ratio", "split_seed"):
        if getattr(args, key) is not None:
            changes[key] = getattr(args, key)
    for item in args.map:
        part, sep, column = item.partition("=")
        part = part.strip().lower()
        if not sep or part not in ("prompt", "chosen", "rejected", "system") or not column.strip():
            raise ValueError(f"--map {item!r}: write PART=COLUMN with PART one of prompt, chosen, rejected, system")
        changes[f"column_{part}"] = column.strip()
    if args.filter:
        changes["data_filters"] = list(base.data_filters) + list(args.filter)
    if args.drop is not None:
        changes["drop_problems"] = [k.strip() for k in args.drop.split(",") if k.strip()]
    return base.replace(**changes)


def _load_tokenizer(spec: str | None):
    if not spec:
        return None
    from dpostudio.core.model_store import load_tokenizer, resolve_model

    return load_tokenizer(resolve_model(spec))


def cmd_inspect(args) -> int:
    from dpostudio.core.data.pipeline import DataError, inspect_data, preview_row
    from dpostudio.core.model_store import ModelError
    from dpostudio.core.training.run_config import ConfigError

    try:
        from datasets.utils.logging import disable_progress_bar

        disable_progress_bar()
    except ImportError:  # pragma: no cover - datasets is a hard dependency
        pass
    try:
        config = build_config(args)
        tokenizer = _load_tokenizer(args.model)
        report = inspect_data(config, tokenizer, stats_rows=args.stats_rows)
        preview = preview_row(config, args.preview, tokenizer, prepared=report.pairs) if args.preview else None
    except (DataError, ConfigError, ModelError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        out = report.to_dict(max_problems=args.problems)
        if preview is not None:
            out["preview"] = preview.to_dict()
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    for line in format_report(report, max_problems=args.problems):
        print(line)
    if preview is not None:
        print()
        print(
            f"row {preview.row} as the model sees it ({preview.template} template"
            + (
                f", {preview.prompt_tokens}+{preview.chosen_tokens}/{preview.rejected_tokens} tokens"
                if preview.prompt_tokens is not None
                else ""
            )
            + "):"
        )
        for name, text in (
            ("prompt", preview.prompt_text),
            ("chosen", preview.chosen_text),
            ("rejected", preview.rejected_text),
        ):
            print(f"--- {name} ---")
            print(text)
    return 0


def format_report(report, *, max_problems: int = 10) -> list[str]:
    from dpostudio.core.data.stats import format_stats

    d = report.detection
    lines = [
        f"source: {report.source}",
        f"format: {d.format} ({'forced' if d.forced else 'detected'}: {d.reason})",
        "mapping: " + ", ".join(f"{part} <- {col!r}" for part, col in d.mapping.items() if col),
        "columns: " + ", ".join(report.columns),
    ]
    read = ", ".join(f"{k} {v}" for k, v in report.rows_read.items())
    used = ", ".join(f"{k} {v}" for k, v in report.rows_used.items())
    lines.append(f"rows read: {read}; rows used: {used}")
    lines.extend(f"note: {n}" for n in report.notes[1:])
    if report.suggested_filters:
        lines.append("suggested filters: " + "; ".join(f"--filter '{f}'" for f in report.suggested_filters))
    if report.problems:
        counts = ", ".join(f"{k} {v}" for k, v in report.problem_counts.items())
        lines.append(f"problems: {len(report.problems)} ({counts})")
        for p in report.problems[:max_problems]:
            kept = "" if p.kind == "unusable" or p.kind in report.drop_kinds else " [kept]"
            lines.append(f"  {p.kind}: {p.message()}{kept}")
        if len(report.problems) > max_problems:
            lines.append(f"  … and {len(report.problems) - max_problems} more (--problems N shows more)")
    else:
        lines.append("problems: none")
    lines.extend(format_stats(report.stats))
    if report.stats.unit == "characters":
        lines.append("(pass --model to measure tokens and check truncation at the max length)")
    return lines
