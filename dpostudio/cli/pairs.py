"""``dpostudio pairs RUN ...``: how a run's adapter scores each preference pair against the base model.

    dpostudio pairs RUN                                 the evaluation pairs, final adapter, in data order
    dpostudio pairs RUN --split train --sort disagree   training pairs the model gets most wrong first
    dpostudio pairs RUN --checkpoint 200 --sort displacement --limit 100 --csv pairs.csv

For every pair: the margin (chosen reward − rejected reward, TRL's implicit rewards ``beta × (log π − log π_ref)``),
whether the model agrees with the label, and how each answer's log-probability moved against the reference (the
base model, adapter off). A progress bar follows the pairs on stderr; the table and a summary line go to stdout.
Ctrl-C stops after the current batch and shows the pairs scored so far.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dpostudio.cli.interrupt import stop_on_ctrl_c
from dpostudio.cli.train import printable

PROMPT_WIDTH = 44


def add_parser(subparsers) -> argparse.ArgumentParser:
    from dpostudio.core.diagnostics.pair_rewards import SORTS, SPLITS

    p = subparsers.add_parser(
        "pairs",
        help="score each training or evaluation pair with a run's adapter: rewards, margin, displacement",
        description="Score every preference pair of a run with its adapter (policy) and the base model "
        "(reference): implicit rewards, margin, whether the model agrees with the label, and how much each "
        "answer's log-probability moved.",
    )
    p.add_argument("run", help="run id (or a unique prefix, or the run folder)")
    p.add_argument(
        "--split",
        default="eval",
        metavar="SPLIT",
        help=f"which pairs to score: {', '.join(SPLITS)} or the name of one of the run's extra eval sets, e.g. "
        "styled (default: eval)",
    )
    p.add_argument(
        "--checkpoint",
        metavar="STEP",
        help="score with the adapter of checkpoint STEP ('latest') instead of the final one",
    )
    p.add_argument(
        "--sort",
        choices=SORTS,
        default="row",
        help="row: data order (default); disagree: most negative margin first; displacement: chosen log-prob "
        "fallen most first; margin: largest margin first; nothing: smallest |margin| first",
    )
    p.add_argument("--limit", type=int, metavar="N", help="score only the first N pairs of each split")
    p.add_argument("--show", type=int, metavar="N", help="print only the first N rows of the table (after sorting)")
    p.add_argument("--csv", metavar="FILE", help="also write every score to FILE (one line per pair)")
    p.add_argument("--batch-size", type=int, default=8, metavar="N", help="pairs per forward pass (default: 8)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_pairs)
    return p


class PairsProgress:
    """Loading lines, then a tqdm bar over the pairs, on stderr."""

    def __init__(self, quiet: bool = False, stream=sys.stderr):
        self.quiet, self.stream = quiet, stream
        self.bar: Any = None  # a tqdm bar (untyped) once scoring starts

    def stage(self, message: str, fraction: float) -> None:
        if not self.quiet and fraction < 1:
            print(f"… {message}", file=self.stream)

    def __call__(self, done: int, total: int) -> None:
        if self.quiet:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="pair", file=self.stream, dynamic_ncols=True, desc="scoring")
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def score_table(scores, show: int | None = None) -> str:
    """One line per pair: row, split, margin, agrees, Δlogp chosen/rejected (and per token), prompt."""
    head = f"{'row':>5} {'split':<5} {'margin':>8} {'agrees':<6} {'Δlogp chosen':>18} {'Δlogp rejected':>18}  prompt"
    lines = [head, "-" * (len(head) + PROMPT_WIDTH - 6)]
    shown = scores[:show] if show else scores
    for s in shown:
        chosen = f"{s.delta_chosen_logp:+.2f} ({s.delta_chosen_logp_per_token:+.3f})"
        rejected = f"{s.delta_rejected_logp:+.2f} ({s.delta_rejected_logp_per_token:+.3f})"
        lines.append(
            f"{s.row:>5} {s.split:<5} {s.margin:>+8.3f} {'yes' if s.agrees else 'no':<6} {chosen:>18} "
            f"{rejected:>18}  {_short(s.prompt, PROMPT_WIDTH)}"
        )
    if show and len(scores) > show:
        lines.append(f"… {len(scores) - show} more (--show, --csv)")
    return "\n".join(lines)


def _quiet_libraries() -> None:
    import warnings

    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*is deprecated", category=FutureWarning)
    try:
        import transformers

        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()
    except ImportError:  # pragma: no cover - transformers is a dependency
        pass


def cmd_pairs(args: argparse.Namespace) -> int:
    from dpostudio.core.diagnostics.pair_rewards import score_pairs, sort_scores, summarize, write_csv

    if args.limit is not None and args.limit < 1:
        print("error: --limit must be at least 1", file=sys.stderr)
        return 2
    if args.show is not None and args.show < 1:
        print("error: --show must be at least 1", file=sys.stderr)
        return 2
    _quiet_libraries()
    progress = PairsProgress(args.quiet)
    try:
        with stop_on_ctrl_c("stopping after the current batch…") as cancel:
            scores = score_pairs(
                args.run,
                split=args.split,
                checkpoint=args.checkpoint,
                batch_size=args.batch_size,
                limit=args.limit,
                on_progress=progress,
                cancel=cancel,
                on_stage=progress.stage,
            )
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        progress.close()
    ordered = sort_scores(scores, args.sort)
    out = sys.stdout
    print(
        printable(
            f"run {scores.run_id}, {scores.adapter}, beta {scores.beta:g}: {len(scores)} "
            f"{'pair' if len(scores) == 1 else 'pairs'} ({args.split})",
            out,
        )
    )
    if ordered:
        print(printable(score_table(ordered, args.show), out))
        print()
    print(printable(summarize(ordered).line(), out))
    if scores.skipped:
        print(
            f"note: {scores.skipped} {'pair' if scores.skipped == 1 else 'pairs'} left out: the prompt alone fills "
            "max_length (not trained on either)"
        )
    if args.csv:
        path = write_csv(ordered, args.csv)
        print(f"saved {len(ordered)} scores in {path}")
    if scores.cancelled:
        print("stopped early: only the pairs scored before the stop are shown", file=sys.stderr)
        return 130
    return 0
