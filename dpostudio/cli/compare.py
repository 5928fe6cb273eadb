"""``dpostudio compare RUN ...``: the headless twin of the Comparison pane.

    dpostudio compare RUN                               the built-in five prompts, answers only
    dpostudio compare RUN --judge gemini                judged by Gemini (key from the keyring / GEMINI_API_KEY)
    dpostudio compare RUN --eval-prompts --limit 10     the run's held-out prompts
    dpostudio compare RUN --prompts my.txt --judge openai-compatible \\
        --judge-option base_url=http://localhost:11434/v1 --judge-option model=llama3.1:8b
    dpostudio compare RUN --list                        past comparisons of RUN

A progress bar follows the prompts; the summary table is printed at the end; everything is saved under
``<run>/comparisons/<timestamp>/``. Ctrl-C stops after the current step and keeps what is finished.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dpostudio.cli.interrupt import stop_on_ctrl_c
from dpostudio.core.training.event_types import CANCELLED, END_STATES, FINISHED


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "compare",
        help="compare a run's base and tuned models side by side, judged by a judge plugin",
        description="Answer a prompt set with the base model (adapter off) and the tuned model (adapter on), "
        "let a judge score both in both orders, and save the results with the run.",
    )
    p.add_argument("run", help="run id (or a unique prefix, or the run folder)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--prompts", metavar="FILE", help='prompt file: .txt one per line, or .jsonl with "prompt"')
    src.add_argument("--eval-prompts", action="store_true", help="the run's held-out evaluation prompts")
    src.add_argument("--prompt", action="append", metavar="TEXT", help="a prompt (repeatable)")
    src.add_argument("--prompt-set", metavar="NAME", help="a built-in prompt set (default: published_five)")
    p.add_argument("--limit", type=int, metavar="N", help="use only the first N prompts")
    p.add_argument(
        "--judge",
        metavar="ID",
        help="judge id (see `dpostudio plugins list`): gemini, "
        "openai-compatible, local-model, ...; omit for answers only",
    )
    p.add_argument(
        "--judge-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a judge option, e.g. model=gemini-2.5-flash (repeatable)",
    )
    p.add_argument("--max-new-tokens", type=int, default=256, metavar="N")
    p.add_argument("--temperature", type=float, default=0.0, metavar="T", help="0 = greedy (default)")
    p.add_argument("--top-p", type=float, default=1.0, metavar="P")
    p.add_argument("--seed", type=int, default=42, metavar="S")
    p.add_argument(
        "--checkpoint", metavar="N", help="compare the adapter of checkpoint N ('latest') instead of the final one"
    )
    p.add_argument("--judge-timeout", type=float, default=900.0, metavar="SECONDS")
    p.add_argument("--list", action="store_true", help="list past comparisons of RUN and exit")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_compare)
    return p


def _options(pairs: list[str]) -> dict:
    options = {}
    for text in pairs:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--judge-option needs KEY=VALUE, not {text!r}")
        options[key.strip()] = value.strip()
    return options


def _prompts(args, run):
    from dpostudio.core.compare import prompt_sets

    if args.prompts:
        prompts = prompt_sets.from_file(args.prompts)
    elif args.eval_prompts:
        prompts = prompt_sets.eval_prompts(run.config())
    elif args.prompt:
        prompts = prompt_sets.from_lines(args.prompt, label="command line")
    else:
        prompts = prompt_sets.builtin_set(args.prompt_set or prompt_sets.DEFAULT_SET)
    return prompts[: args.limit] if args.limit else prompts


class CompareDisplay:
    """Terminal view of comparison events: stage lines and a progress bar over prompts."""

    def __init__(self, total: int, quiet: bool = False, stream=sys.stderr):
        self.total, self.quiet, self.stream = total, quiet, stream
        self.bar: Any = None  # a tqdm bar (untyped) once the first prompt starts
        self.tokens = 0

    def __call__(self, event: dict) -> None:
        kind = event["type"]
        if self.quiet:
            return
        if kind == "started":
            print(
                f"Comparing {event['run_id']} ({event['adapter']}) on {len(event['prompts'])} prompts; "
                f"judge: {event['judge'] or 'none'}\n  saving in {event['dir']}",
                file=self.stream,
            )
        elif kind == "stage" and event.get("fraction", 0) < 1:
            print(f"… {event['message']}", file=self.stream)
        elif kind == "prompt":
            if self.bar is None:
                from tqdm import tqdm

                self.bar = tqdm(total=self.total, unit="prompt", file=self.stream, dynamic_ncols=True, desc="comparing")
            self.tokens = 0
            self.bar.set_postfix_str(f"#{event['prompt_index'] + 1}: base answering")
        elif kind == "token" and self.bar is not None:
            self.tokens += 1
            if self.tokens % 8 == 0:
                self.bar.set_postfix_str(
                    f"#{event['prompt_index'] + 1}: {event['side']} answering ({self.tokens} pieces)"
                )
        elif kind == "judging" and self.bar is not None:
            self.bar.set_postfix_str(f"#{event['prompt_index'] + 1}: judging ({event['order'].replace('_', ' ')})")
        elif kind == "judge_error" and self.bar is not None:
            self.bar.write(
                f"  judge error on prompt {event['prompt_index'] + 1} "
                f"({event['order'].replace('_', ' ')}): {event['message']}",
                file=self.stream,
            )
        elif kind == "item" and self.bar is not None:
            verdict = event["item"].get("verdict")
            self.bar.set_postfix_str(f"#{event['prompt_index'] + 1}: {verdict or 'answered'}")
            self.bar.update(1)
        elif kind in END_STATES and self.bar is not None:
            self.bar.close()


def summary_table(result) -> str:
    """A plain-text table: one row per prompt, then means and the headline."""
    s = result.summary
    criteria = s.get("criteria") or []
    short = {c: c[:4] for c in criteria}
    head = (
        f"{'#':>2}  {'prompt':<38} {'verdict':<8}"
        + "".join(f" {short[c] + ' b/t':>11}" for c in criteria)
        + f" {'words b/t':>11}"
    )
    lines = [head, "-" * len(head)]
    for it in result.items:
        prompt = it["prompt"].replace("\n", " ")
        prompt = prompt if len(prompt) <= 38 else prompt[:37] + "…"
        verdict = it.get("verdict") or "-"
        cells = "".join(
            f" {it['scores'][c]['base']:>5g}/{it['scores'][c]['tuned']:<5g}" if it.get("scores") else f" {'-':>11}"
            for c in criteria
        )
        lines.append(
            f"{it['index'] + 1:>2}  {prompt:<38} {verdict:<8}{cells} {it['base']['words']:>5}/{it['tuned']['words']:<5}"
        )
    lines.append("-" * len(head))
    means = "".join(
        f" {_fmt(s['mean_scores'][c]['base']):>5}/{_fmt(s['mean_scores'][c]['tuned']):<5}" for c in criteria
    )
    lines.append(
        f"{'':>2}  {'mean':<38} {'':<8}{means} {_fmt(s['mean_words']['base']):>5}/{_fmt(s['mean_words']['tuned']):<5}"
    )
    lines.append("")
    lines.append(s["headline"])
    lines.append(
        f"mean answer length: base {_fmt(s['mean_words']['base'])} words / {_fmt(s['mean_tokens']['base'])} "
        f"tokens, tuned {_fmt(s['mean_words']['tuned'])} words / {_fmt(s['mean_tokens']['tuned'])} tokens"
    )
    lines += [f"note: {n}" for n in s.get("notes", [])]
    return "\n".join(lines)


def _fmt(value) -> str:
    return "-" if value is None else f"{value:g}"


def cmd_compare(args: argparse.Namespace) -> int:
    from dpostudio.core.compare import store as comparison_store
    from dpostudio.core.compare.comparison import ComparisonError, GenerationSettings
    from dpostudio.core.compare.prompt_sets import PromptSetError
    from dpostudio.core.training.runs import RunError, get_run

    try:
        run = get_run(args.run)
        if args.list:
            rows = comparison_store.list_comparisons(run)
            if not rows:
                print(f"run {run.id} has no comparisons yet")
            for row in rows:
                print(
                    f"{row['id']}  {row['status']:<11} {row['prompts']:>3} prompts  "
                    f"judge {row['judge'] or 'none':<18} {row['headline']}"
                )
            return 0
        prompts = _prompts(args, run)
        options = _options(args.judge_option)
        settings = GenerationSettings(
            max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_p=args.top_p, seed=args.seed
        )
    except (RunError, PromptSetError, ComparisonError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        user_error = isinstance(exc, (RunError, PromptSetError, ComparisonError))
        return 2 if isinstance(exc, ValueError) and not user_error else 1

    with stop_on_ctrl_c("stopping after the current step…") as cancel:
        return _compare(args, run, prompts, options, settings, cancel)


def _compare(args, run, prompts, options, settings, cancel) -> int:
    from dpostudio.core.compare.comparison import ComparisonError, compare

    try:
        result = compare(
            run,
            prompts,
            settings,
            args.judge or None,
            options,
            CompareDisplay(len(prompts), args.quiet),
            cancel,
            checkpoint=args.checkpoint,
            judge_timeout=args.judge_timeout,
        )
    except ComparisonError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; finished prompts are saved", file=sys.stderr)
        return 130
    if result.items:
        print(summary_table(result))
    print(
        f"{result.status}: {result.message}" if result.status != FINISHED else f"saved in {result.path}",
        file=sys.stderr if result.status != FINISHED else sys.stdout,
    )
    return {FINISHED: 0, CANCELLED: 130}.get(result.status, 1)
