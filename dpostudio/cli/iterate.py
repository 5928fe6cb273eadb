"""``dpostudio iterate start|resume|status|list``: iterative (self-rewarding) DPO, headless (the Loop view's twin).

    dpostudio iterate start myloop --rounds 2 --per-round 12 -k 3 --max-steps 10 --eval-judge local-model
    dpostudio iterate resume myloop                    after a crash or a Stop (generation and training resume)
    dpostudio iterate resume myloop --rounds 3         one round more
    dpostudio iterate status myloop                    the table: pairs, ties, eval metrics, win rates

Each round is a normal run (``dpostudio runs``); the loop's folder is ``<data dir>/loops/NAME``. Ctrl-C stops
at the next step boundary (training keeps a checkpoint); ``--stop-after-round N`` ends cleanly after round N.
"""

from __future__ import annotations

import argparse
import sys
import threading

from dpostudio.cli.generate import LoopDisplay, add_common, common_settings, options
from dpostudio.cli.interrupt import stop_on_ctrl_c
from dpostudio.core.training.event_types import CANCELLED, FINISHED


def add_parser(subparsers) -> None:
    iterate = subparsers.add_parser("iterate", help="iterative DPO: generate, judge, train, repeat (self-rewarding)")
    sub = iterate.add_subparsers(dest="iterate_command", metavar="ACTION")

    start = sub.add_parser("start", help="define a loop and run its rounds")
    start.add_argument("name", help="the loop's name (letters, digits, - _ .)")
    start.add_argument("--rounds", type=int, default=2, help="rounds to run (default 2)")
    start.add_argument("--per-round", type=int, default=12, metavar="N", help="new prompts per round (default 12)")
    start.add_argument("--heldout", type=int, default=10, metavar="N", help="held-out prompts for win rates")
    start.add_argument("--start-run", metavar="RUN", help="round 0 is this run's adapter (default: the base)")
    start.add_argument("--start-checkpoint", metavar="N", help="with --start-run: a checkpoint step or 'latest'")
    start.add_argument("--config", metavar="FILE", help="a run config (TOML/YAML) for every round's training")
    start.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="a run config field")
    start.add_argument("--max-steps", type=int, metavar="N", help="training steps per round (shortcut for --set)")
    start.add_argument("--eval-judge", metavar="ID", help="judge for the win rates (none: no win rates)")
    start.add_argument("--eval-option", action="append", default=[], metavar="KEY=VALUE")
    start.add_argument("--eval-max-new-tokens", type=int, default=128, metavar="N")
    start.add_argument("--loop-seed", type=int, default=0, help="seed of the prompt split (default 0)")
    start.add_argument("--no-run", action="store_true", help="only define the loop (run it with resume)")
    add_common(start)
    _run_options(start)
    start.set_defaults(func=cmd_start)

    resume = sub.add_parser("resume", help="go on with a loop after a crash or a Stop")
    resume.add_argument("name")
    resume.add_argument("--rounds", type=int, help="raise the number of rounds")
    resume.add_argument("--rank-option", action="append", default=[], metavar="KEY=VALUE", help="(API keys)")
    resume.add_argument("--eval-option", action="append", default=[], metavar="KEY=VALUE", help="(API keys)")
    _run_options(resume)
    resume.set_defaults(func=cmd_resume)

    status = sub.add_parser("status", help="a loop's table")
    status.add_argument("name")
    status.set_defaults(func=cmd_status)

    listing = sub.add_parser("list", help="the loops in the data dir")
    listing.set_defaults(func=cmd_list)
    iterate.set_defaults(func=cmd_list)


def _run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stop-after-round", type=int, metavar="N", help="end cleanly once round N is done")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def spec_from_args(args: argparse.Namespace):
    from dpostudio.core.loop import LoopSpec
    from dpostudio.core.training.run_config import RunConfig, parse_override

    prompts, sampling, ranker, pairs = common_settings(args)
    run_config: dict = RunConfig.load(args.config).to_dict() if args.config else {}
    for text in args.set:
        key, value = parse_override(text)
        run_config[key] = value
    if args.max_steps:
        run_config["max_steps"] = args.max_steps
    return LoopSpec(
        name=args.name,
        rounds=args.rounds,
        prompts=prompts,
        prompts_per_round=args.per_round,
        heldout=args.heldout,
        start_run=args.start_run,
        start_checkpoint=args.start_checkpoint,
        sampling=sampling,
        ranker=ranker,
        pairs=pairs,
        run_config=run_config,
        eval_judge=args.eval_judge,
        eval_judge_options=options(args.eval_option),
        eval_max_new_tokens=args.eval_max_new_tokens,
        seed=args.loop_seed,
    )


def cmd_start(args: argparse.Namespace) -> int:
    from dpostudio.core.loop import create_loop

    try:
        spec = spec_from_args(args)
    except ValueError as exc:
        if hasattr(exc, "field"):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    loop = create_loop(spec)
    print(f"loop {loop.name} created in {loop.path}", file=sys.stderr)
    if args.no_run:
        return 0
    secrets = {"ranker": spec.ranker.options, "eval_judge": spec.eval_judge_options}
    return _run(loop, args, None, secrets)


def cmd_resume(args: argparse.Namespace) -> int:
    from dpostudio.core.loop import open_loop

    loop = open_loop(args.name)
    secrets = {"ranker": options(args.rank_option), "eval_judge": options(args.eval_option)}
    return _run(loop, args, args.rounds, secrets)


def _run(loop, args, rounds, secrets) -> int:
    from dpostudio.core.loop import format_table, run_loop

    display = LoopDisplay(args.quiet)
    stop_after = threading.Event()

    def on_event(event: dict) -> None:
        display(event)
        if event["type"] == "round" and event.get("state") == "finished" and event["round"] == args.stop_after_round:
            stop_after.set()

    with stop_on_ctrl_c("stopping at the next step (training keeps a checkpoint)…") as cancel:
        result = run_loop(loop, on_event, cancel, stop_after_round=stop_after, rounds=rounds, secrets=secrets)
    display.close()
    print(format_table(result["table"]))
    print(f"{result['status']}: {result['message']}", file=sys.stdout if result["status"] == FINISHED else sys.stderr)
    if result["status"] == CANCELLED:
        print(f"resume with: dpostudio iterate resume {loop.name}", file=sys.stderr)
    return {FINISHED: 0, CANCELLED: 130}.get(result["status"], 1)


def cmd_status(args: argparse.Namespace) -> int:
    from dpostudio.core.loop import format_table, loop_table, open_loop

    loop = open_loop(args.name)
    data = loop.data()
    print(f"loop {loop.name}: {loop.status()}" + (f" ({data['message']})" if data.get("message") else ""))
    print(f"folder: {loop.path}")
    print(format_table(loop_table(loop)))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from dpostudio.core.loop import list_loops

    loops = list_loops()
    if not loops:
        print("no loops yet; start one with: dpostudio iterate start NAME")
    for loop in loops:
        spec = loop.data().get("spec") or {}
        done = sum(1 for r in loop.rounds() if r.get("step") == "done")
        print(f"{loop.name:<24} {loop.status():<12} {done}/{spec.get('rounds', '?')} rounds")
    return 0
