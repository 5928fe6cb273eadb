"""``dpostudio sweep start|resume|status|top|list|worker``: hyperparameter sweeps on Optuna, headless.

Each trial is a normal run (its own folder, shown by ``dpostudio runs``); the sweep itself is an Optuna study in
``<data dir>/sweeps/NAME.sqlite`` (or at ``--storage URL``, which several machines can share).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from typing import Any

from dpostudio.core.sweeps.space import EXAMPLES, KINDS
from dpostudio.core.sweeps.spec import OBJECTIVES, PRESETS, PRUNERS, SAMPLERS

SPACE_HELP = (
    "a search dimension FIELD=KIND:VALUES, KIND one of "
    + ", ".join(KINDS)
    + ", e.g. ; ".join(EXAMPLES.values())
    + " (repeatable; lr, batch, accum, steps are short names)"
)


def add_parser(subparsers) -> None:
    sweep = subparsers.add_parser("sweep", help="hyperparameter sweeps (Optuna): start, resume, status, top")
    sub = sweep.add_subparsers(dest="sweep_command", metavar="ACTION")

    start = sub.add_parser("start", help="define a sweep and run its trials")
    start.add_argument("name", help="the sweep's name (letters, digits, - _ .)")
    start.add_argument("--space", metavar="FIELD=KIND:VALUES", action="append", default=[], help=SPACE_HELP)
    start.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="start from a preset space: " + "; ".join(f"{name}: {text}" for name, (text, _) in PRESETS.items()),
    )
    start.add_argument("--trials", type=int, metavar="N", help="budget: trials that finish (pruned ones count)")
    start.add_argument(
        "--timeout", type=float, metavar="S", help="budget: seconds of trial time (no trial starts after)"
    )
    start.add_argument("--sampler", choices=SAMPLERS, default="tpe", help="how values are picked (default tpe)")
    start.add_argument("--seed", type=int, default=0, help="the sampler's seed (default 0)")
    start.add_argument(
        "--objective",
        default="eval_loss",
        metavar="METRIC",
        help=f"what ranks trials: {', '.join(OBJECTIVES)}, or an extra eval set's metric such as "
        "eval_<set>_loss (add :min or :max when the name does not tell)",
    )
    start.add_argument("--pruner", choices=PRUNERS, default="median", help="stop weak trials early (default median)")
    start.add_argument("--prune-after", type=int, default=2, metavar="N", help="trials that finish before pruning")
    start.add_argument("--config", metavar="FILE", help="the base run configuration (.toml or .yaml)")
    start.add_argument(
        "--set", metavar="FIELD=VALUE", action="append", default=[], help="change a base setting (repeatable)"
    )
    start.add_argument("--storage", metavar="URL", help="an RDB URL to keep the sweep in (default: a SQLite file)")
    start.add_argument("--no-run", action="store_true", help="only define the sweep (run it with resume or worker)")
    start.set_defaults(func=cmd_start)

    resume = sub.add_parser("resume", help="continue a stopped or crashed sweep")
    resume.add_argument("name")
    resume.add_argument("--storage", metavar="URL", help="where the sweep is kept, if not in the data dir")
    resume.set_defaults(func=cmd_resume)

    worker = sub.add_parser("worker", help="run trials of a shared sweep (start one per machine or GPU)")
    worker.add_argument("--study", required=True, metavar="URL", help="the sweep's storage, e.g. postgresql://...")
    worker.add_argument("--name", help="the sweep, when the storage holds several")
    worker.set_defaults(func=cmd_worker)

    status = sub.add_parser("status", help="where a sweep stands")
    status.add_argument("name")
    status.add_argument("--storage", metavar="URL")
    status.set_defaults(func=cmd_status)

    top = sub.add_parser("top", help="the top-runs table")
    top.add_argument("name")
    top.add_argument("--by", choices=("value", "eval_loss", "eval_accuracy"), default="value", help="sort column")
    top.add_argument("--limit", type=int, metavar="N", help="show only the best N")
    top.add_argument("--csv", metavar="FILE", help="also write the whole table as CSV")
    top.add_argument("--storage", metavar="URL")
    top.set_defaults(func=cmd_top)

    listing = sub.add_parser("list", help="the sweeps in the data dir")
    listing.set_defaults(func=cmd_list)
    sweep.set_defaults(func=cmd_list)


# ---- start / resume / worker ---------------------------------------------------------------------
def spec_from_args(args: argparse.Namespace):
    from dpostudio.core.sweeps.space import parse_space
    from dpostudio.core.sweeps.spec import SweepError, SweepSpec, objective_of, preset_space
    from dpostudio.core.training.run_config import RunConfig, parse_override

    base: dict[str, Any] = RunConfig.load(args.config).to_dict() if args.config else {}
    for text in args.set:
        key, value = parse_override(text)
        base[key] = value
    space = preset_space(args.preset) if args.preset else []
    given = parse_space(args.space)
    space = [p for p in space if p.name not in {g.name for g in given}] + given
    if not space:
        raise SweepError("give a search space: --space FIELD=KIND:VALUES (repeatable) or --preset NAME")
    metric, direction = objective_of(args.objective)
    return SweepSpec(
        name=args.name,
        space=space,
        base=base,
        sampler=args.sampler,
        seed=args.seed,
        n_trials=args.trials,
        timeout_s=args.timeout,
        metric=metric,
        direction=direction,
        pruner=args.pruner,
        prune_after_trials=args.prune_after,
    )


def cmd_start(args: argparse.Namespace) -> int:
    from dpostudio.core.sweeps.store import create_sweep

    sweep = create_sweep(spec_from_args(args), args.storage)
    print(sweep.spec.describe())
    if args.no_run:
        print(f"Defined. Run its trials with: dpostudio sweep resume {sweep.name}")
        return 0
    return _run(sweep)


def cmd_resume(args: argparse.Namespace) -> int:
    from dpostudio.core.sweeps.store import open_sweep

    sweep = open_sweep(args.name, args.storage)
    print(sweep.spec.describe())
    return _run(sweep)


def cmd_worker(args: argparse.Namespace) -> int:
    from dpostudio.core.sweeps.store import open_sweep

    sweep = open_sweep(args.name, args.study, worker=True)
    print(f"worker for {sweep.spec.describe()}", flush=True)
    return _run(sweep)


class SweepDisplay:
    """Terminal view of a sweep: a line per trial start and end, and each trial's training as ``dpostudio train``
    shows it."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.training: Any = None

    def __call__(self, event: dict[str, Any]) -> None:
        from dpostudio.cli.train import TrainingDisplay

        kind = event.get("type")
        if kind == "note":
            print(f"· {event['message']}", file=self.stream)
        elif kind == "trial":
            params = ", ".join(f"{k}={_short(v)}" for k, v in event["params"].items())
            if event["state"] == "running":
                self.training = TrainingDisplay(self.stream)
                print(f"\n▶ trial {event['trial']}: {params}", file=self.stream)
            else:
                value = f" · value {event['value']:.4f}" if isinstance(event.get("value"), float) else ""
                message = f" · {event['message']}" if event.get("message") and event["state"] != "finished" else ""
                print(f"■ trial {event['trial']} {event['state']}{value}{message}", file=self.stream)
        elif self.training is not None:
            self.training(event)


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _run(sweep) -> int:
    from dpostudio.core.sweeps.runner import run_sweep
    from dpostudio.core.sweeps.store import budget_spent

    cancel = threading.Event()
    presses: list[float] = []

    def on_sigint(signum, frame):
        presses.append(time.monotonic())
        if len(presses) == 1:
            print(
                "\nStopping the sweep after this step (the trial is queued again for resume)… Ctrl-C again to quit",
                file=sys.stderr,
            )
            cancel.set()
        else:
            raise KeyboardInterrupt

    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_sigint) if on_main_thread else None
    started = time.monotonic()
    try:
        ran = run_sweep(sweep, SweepDisplay(), cancel)
    except KeyboardInterrupt:
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    print(f"\n{len(ran)} trial(s) in {time.monotonic() - started:.0f} s this session.")
    _print_top(sweep, "value", limit=10)
    if cancel.is_set():
        print(f"Stopped. Continue with: dpostudio sweep resume {sweep.name}")
        return 130
    if not budget_spent(sweep) and sweep.spec.sampler != "grid":
        print(f"The budget is not spent. Continue with: dpostudio sweep resume {sweep.name}")
    return 0


# ---- status / top / list -------------------------------------------------------------------------
def _print_top(sweep, by: str, limit: int | None = None) -> list[dict[str, Any]]:
    from dpostudio.cli.train import printable
    from dpostudio.core.sweeps.report import columns, format_table, importance, top

    table = top(sweep, by, limit)
    if not table:
        print("No trials yet.")
        return table
    print(printable(format_table(table, columns(sweep))))
    notes = [f"  trial {row['trial']}: {row['message']}" for row in table if row["message"] and row["value"] is None]
    if notes:
        print("\n".join(printable(n) for n in notes))
    found, words = importance(sweep)
    if found:
        print("Parameter importance (" + words + "): " + ", ".join(f"{k} {v:.2f}" for k, v in found.items()))
    return table


def cmd_status(args: argparse.Namespace) -> int:
    from dpostudio.core.sweeps.report import status
    from dpostudio.core.sweeps.store import open_sweep

    sweep = open_sweep(args.name, args.storage)
    for line in status(sweep).lines():
        print(line)
    return 0


def cmd_top(args: argparse.Namespace) -> int:
    from dpostudio.core.sweeps.report import columns, to_csv, top
    from dpostudio.core.sweeps.store import open_sweep

    sweep = open_sweep(args.name, args.storage)
    _print_top(sweep, args.by, args.limit)
    if args.csv:
        to_csv(top(sweep, args.by), columns(sweep), args.csv)
        print(f"Wrote {args.csv}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from dpostudio.core.sweeps.store import list_sweeps, sweeps_dir

    names = list_sweeps()
    if not names:
        print("No sweeps yet. Start one with: dpostudio sweep start NAME --space lr=loguniform:1e-6:1e-3 --trials 8")
        return 0
    print(f"Sweeps in {sweeps_dir()}:")
    for name in names:
        print(f"  {name}")
    return 0
