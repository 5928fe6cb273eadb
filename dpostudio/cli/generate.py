"""``dpostudio generate``: make a preference dataset from the model's own answers (the Generate view's twin).

    dpostudio generate --out mydata                                  demo prompts, 5 answers each, self-judged
    dpostudio generate --out mydata --prompts lima.jsonl --first-n 50 -k 5 --ranker judge:gemini
    dpostudio generate --out mydata --prompts GAIR/lima --column conversations --sample 50 \\
        --ranker ranker:reward-model --rank-option model=/models/my-rm
    dpostudio generate --out mydata --run RUN --checkpoint latest     answers from a run's adapter
    dpostudio generate --resume mydata                               go on after a crash or a Stop

The folder holds pairs.jsonl (train on it: ``dpostudio train --dataset mydata``), every answer, the rankings and a
card with the provenance. Ctrl-C stops after the current batch or prompt; everything finished is kept.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dpostudio.cli.interrupt import stop_on_ctrl_c
from dpostudio.core.training.event_types import CANCELLED, FINISHED


def add_common(p: argparse.ArgumentParser) -> None:
    """Options ``generate`` and ``iterate start`` share: prompts, sampling, ranking, pairing."""
    g = p.add_argument_group("prompts")
    g.add_argument(
        "--prompts",
        default="set:demo",
        metavar="SOURCE",
        help="set:NAME (built-in), a .txt/.jsonl prompt file, or a dataset (Hub id, folder, file, "
        "plugin:...) whose --column holds the prompts (default set:demo)",
    )
    g.add_argument("--column", help="the dataset column holding the prompts (default: prompt)")
    g.add_argument("--config-name", help="the dataset's configuration (subset)")
    g.add_argument("--split", default="train", help="the dataset split (default train)")
    g.add_argument("--first-n", type=int, metavar="N", help="use the first N prompts")
    g.add_argument("--sample", type=int, metavar="N", help="draw N prompts at random")
    g.add_argument("--prompt-seed", type=int, default=0, metavar="S", help="seed of --sample (default 0)")
    s = p.add_argument_group("sampling")
    s.add_argument("-k", "--answers", type=int, default=5, metavar="K", help="answers per prompt (default 5)")
    s.add_argument("--temperature", type=float, default=0.7, metavar="T")
    s.add_argument("--top-p", type=float, default=0.9, metavar="P")
    s.add_argument("--max-new-tokens", type=int, default=256, metavar="N")
    s.add_argument("--seed", type=int, default=0, metavar="S")
    s.add_argument("--batch-size", type=int, default=4, metavar="N", help="prompts per generate call (default 4)")
    r = p.add_argument_group("ranking and pairs")
    r.add_argument(
        "--ranker",
        default="self",
        metavar="self|judge:ID|ranker:ID",
        help="self (the model judges itself, Self-Rewarding rubric), a judge plugin or a ranker plugin (default self)",
    )
    r.add_argument("--judge-mode", choices=("all-pairs", "tournament", "pointwise"), default="all-pairs")
    r.add_argument("--rank-option", action="append", default=[], metavar="KEY=VALUE", help="judge/ranker option")
    r.add_argument("--criteria", help="judge criteria, comma-separated (default coherence,relevance,depth)")
    r.add_argument("--retries", type=int, default=1, help="extra tries for a failed judge call (default 1)")
    r.add_argument("--judge-timeout", type=float, default=300.0, metavar="SECONDS")
    r.add_argument("--self-samples", type=int, default=1, metavar="N", help="self-judgements per answer (paper: 3)")
    r.add_argument("--pairs", choices=("best-worst", "gap"), default="best-worst")
    r.add_argument("--min-gap", type=float, default=0.0, help="smallest score gap that makes a pair")


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "generate",
        help="make a preference dataset: K answers per prompt, ranked, best vs worst",
        description="Sample K answers per prompt from a model, rank them with a judge, a reward model or the model "
        "itself, and keep best vs worst (or every pair above a score gap) as a preference dataset folder.",
    )
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", metavar="FOLDER", help="a new folder for the dataset")
    where.add_argument("--resume", metavar="FOLDER", help="go on with the job in FOLDER")
    m = p.add_argument_group("model")
    m.add_argument("--model", help="base model spec (default: the embedded model)")
    m.add_argument("--adapter", metavar="FOLDER", help="a LoRA adapter folder on the base model")
    m.add_argument("--run", help="answer with a run's adapter (its base model, template and system prompt)")
    m.add_argument("--checkpoint", help="with --run: a checkpoint step or 'latest' instead of the final adapter")
    m.add_argument("--template", choices=("chat", "alpaca", "none"), default="chat")
    m.add_argument("--system-prompt", help="a system message before every prompt")
    add_common(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_generate)
    return p


def options(pairs: list[str]) -> dict:
    found = {}
    for text in pairs:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"an option needs KEY=VALUE, not {text!r}")
        found[key.strip()] = value.strip()
    return found


def common_settings(args: argparse.Namespace):
    """(PromptSource, Sampling, RankSettings, PairSettings) from the shared options."""
    from dpostudio.core.compare.judging import CRITERIA
    from dpostudio.core.loop import PairSettings, PromptSource, RankSettings, Sampling

    prompts = PromptSource(
        args.prompts, args.column, args.config_name, args.split, args.first_n, args.sample, args.prompt_seed
    )
    sampling = Sampling(args.answers, args.temperature, args.top_p, args.max_new_tokens, args.seed, args.batch_size)
    kind, _, ident = args.ranker.partition(":")
    if kind not in ("self", "judge", "ranker") or (kind != "self" and not ident):
        raise ValueError(f"--ranker must be self, judge:ID or ranker:ID, not {args.ranker!r}")
    criteria = [c.strip() for c in args.criteria.split(",") if c.strip()] if args.criteria else list(CRITERIA)
    ranker = RankSettings(
        kind=kind,
        id=ident or None,
        mode=args.judge_mode,
        options=options(args.rank_option),
        criteria=criteria,
        timeout=args.judge_timeout,
        retries=args.retries,
        samples=args.self_samples,
        seed=args.seed,
    )
    return prompts, sampling, ranker, PairSettings(args.pairs, args.min_gap)


class LoopDisplay:
    """Terminal view of generation, ranking, loop and training events: one progress bar per phase."""

    def __init__(self, quiet: bool = False, stream=sys.stderr):
        self.quiet, self.stream = quiet, stream
        self.bars: dict[str, Any] = {}

    def say(self, text: str) -> None:
        bar = next(iter(self.bars.values()), None)
        (bar.write if bar is not None else print)(text, file=self.stream)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()

    def __call__(self, event: dict) -> None:
        if self.quiet:
            return
        kind = event["type"]
        if kind == "progress":
            phase = event["phase"]
            if phase not in self.bars:
                from tqdm import tqdm

                self.close()
                self.bars[phase] = tqdm(
                    total=event["total"],
                    initial=event["done"],
                    desc=phase,
                    unit="prompt",
                    file=self.stream,
                    dynamic_ncols=True,
                )
            bar = self.bars[phase]
            bar.n = event["done"]
            bar.refresh()
        elif kind == "stage" and event.get("fraction", 0) < 1:
            self.say(f"… {event['message']}")
        elif kind == "prompt_marked":
            self.say(f"  prompt {event['index'] + 1} left out: {event['reason']}")
        elif kind in ("note", "round"):
            self.close()
            prefix = f"round {event['round']}: " if kind == "round" else ""
            self.say(prefix + event["message"])
        elif kind == "train":
            self._train(event["event"])
        elif kind in ("finished", "cancelled", "failed"):
            self.close()

    def _train(self, event: dict) -> None:
        kind = event["type"]
        if kind == "log":
            metrics = event["metrics"]
            loss = metrics.get("loss")
            self.say(f"  train step {event['step']}/{event['max_steps']}" + (f"  loss {loss:.4f}" if loss else ""))
        elif kind == "eval":
            m = event["metrics"]
            self.say(f"  eval at step {event['step']}: loss {m.get('eval_loss', float('nan')):.4f}")
        elif kind in ("started", "finished", "cancelled", "failed"):
            self.say(f"  training {kind}" + (f": {event['message']}" if event.get("message") else ""))


def cmd_generate(args: argparse.Namespace) -> int:
    from dpostudio.core.loop import GenerateJob, Generator, create_job, run_job

    display = LoopDisplay(args.quiet)
    if args.out:
        try:
            prompts, sampling, ranker, pairs = common_settings(args)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        generator = Generator(
            model=args.model or Generator().model,
            adapter=args.adapter,
            run=args.run,
            checkpoint=args.checkpoint,
            prompt_template=args.template,
            system_prompt=args.system_prompt,
        )
        folder = create_job(args.out, GenerateJob(prompts, generator, sampling, ranker, pairs))
        secrets = ranker.options
    else:
        folder, secrets = args.resume, {}
    with stop_on_ctrl_c("stopping after the current batch…") as cancel:
        result = run_job(folder, display, cancel, judge_options=secrets)
    display.close()
    stream = sys.stdout if result["status"] == FINISHED else sys.stderr
    print(f"{result['status']}: {result['message']}", file=stream)
    if result["status"] == CANCELLED:
        print(f"resume with: dpostudio generate --resume {folder}", file=sys.stderr)
    return {FINISHED: 0, CANCELLED: 130}.get(result["status"], 1)
