"""``dpostudio export`` and ``dpostudio push``: the export dialog, in a terminal.

    dpostudio export RUN (--adapter | --merged) DIR [--checkpoint N] [--dtype fp16|bf16|fp32] [--force]
    dpostudio push RUN --repo NAME [--merged] [--private] [--message TEXT] [--checkpoint N] [--dtype ...]
    dpostudio push --dataset FOLDER --repo NAME [--private] [--message TEXT]

Progress is a tqdm bar on stderr; errors are one line in words on stderr with exit status 1.
The Hugging Face token comes from the keyring (or HF_TOKEN) and is never printed.
"""

from __future__ import annotations

import argparse
import sys

DTYPES = ("fp16", "bf16", "fp32")


def add_parser(subparsers) -> None:
    exp = subparsers.add_parser(
        "export",
        help="export a run's LoRA adapter, or the merged model, into a folder",
        description="Write the run's adapter (loads with PeftModel.from_pretrained) or the base model with the "
        "adapter merged in (loads with AutoModelForCausalLM.from_pretrained), with tokenizer, chat "
        "template and a model card.",
    )
    exp.add_argument("run", help="run id (or a unique prefix of it, or its folder)")
    kind = exp.add_mutually_exclusive_group(required=True)
    kind.add_argument("--adapter", dest="kind", action="store_const", const="adapter", help="export the LoRA adapter")
    kind.add_argument(
        "--merged",
        dest="kind",
        action="store_const",
        const="merged",
        help="merge the adapter into the base model and export a full model",
    )
    exp.add_argument("dest", metavar="DIR", help="folder to create (must be new or empty unless --force)")
    exp.add_argument("--checkpoint", type=int, metavar="N", help="export the checkpoint at step N instead of the end")
    exp.add_argument("--dtype", choices=DTYPES, default="fp16", help="precision of a merged model (default fp16)")
    exp.add_argument("--force", action="store_true", help="replace the folder if it is not empty")
    exp.set_defaults(func=cmd_export)

    push = subparsers.add_parser(
        "push",
        help="publish a run's adapter or merged model (or a dataset folder) to the Hugging Face Hub",
        description="Create the repository if needed and upload one commit with a generated model card. "
        "The token is read from the keyring (Settings) or HF_TOKEN; HF_ENDPOINT selects another Hub.",
    )
    push.add_argument("run", nargs="?", help="run id (omit with --dataset)")
    push.add_argument("--repo", required=True, help="repository name: name or owner/name")
    push.add_argument("--merged", action="store_true", help="push the merged model instead of the adapter")
    push.add_argument("--dataset", metavar="FOLDER", help="push this preference dataset folder as a dataset repo")
    push.add_argument("--private", action="store_true", help="create the repository as private")
    push.add_argument("--message", help="commit message")
    push.add_argument("--checkpoint", type=int, metavar="N", help="push the checkpoint at step N")
    push.add_argument("--dtype", choices=DTYPES, default="fp16", help="precision of a merged model (default fp16)")
    push.set_defaults(func=cmd_push)


class _Bar:
    """A tqdm bar fed with (fraction, message) callbacks."""

    def __init__(self, desc: str):
        from tqdm import tqdm

        self.bar = tqdm(
            total=100,
            unit="%",
            desc=desc,
            file=sys.stderr,
            dynamic_ncols=True,
            bar_format="{desc:<34.34}{percentage:3.0f}%|{bar}| {elapsed}",
        )

    def __call__(self, fraction: float, message: str) -> None:
        self.bar.set_description_str(message[:34], refresh=False)
        self.bar.update(max(0, round(fraction * 100) - self.bar.n))

    def close(self) -> None:
        self.bar.close()


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def cmd_export(args: argparse.Namespace) -> int:
    from dpostudio.core.publish.export import ExportError, export_run, human_size
    from dpostudio.core.training.runs import RunError, get_run

    bar = None
    try:
        run = get_run(args.run)
        bar = _Bar("exporting")
        result = export_run(
            run, args.dest, args.kind, checkpoint=args.checkpoint, dtype=args.dtype, force=args.force, on_progress=bar
        )
    except (ExportError, RunError) as exc:
        if bar:
            bar.close()
        return _fail(str(exc))
    bar.close()
    what = "adapter" if result.kind == "adapter" else f"merged {result.dtype} model"
    origin = f"checkpoint {result.checkpoint}" if result.checkpoint is not None else "final"
    print(f"Exported the {what} ({origin}) of run {result.run_id} to {result.folder} ({human_size(result.size_bytes)})")
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from dpostudio.core.publish.hub import PublishError, push_dataset, push_run, token_status
    from dpostudio.core.training.runs import RunError

    if bool(args.run) == bool(args.dataset):
        return _fail("give either a RUN or --dataset FOLDER to push")
    print(f"Hugging Face {token_status()}", file=sys.stderr)
    bar = _Bar("publishing")
    try:
        if args.dataset:
            result = push_dataset(args.dataset, args.repo, private=args.private, message=args.message, on_progress=bar)
        else:
            result = push_run(
                args.run,
                args.repo,
                merged=args.merged,
                private=args.private,
                message=args.message,
                checkpoint=args.checkpoint,
                dtype=args.dtype,
                on_progress=bar,
            )
    except (PublishError, RunError) as exc:
        bar.close()
        return _fail(str(exc))
    bar.close()
    visibility = "private" if result.private else "public"
    print(f"Published the {result.what} to {result.url} ({visibility}, {len(result.files)} files)")
    if result.commit_url:
        print(f"Commit: {result.commit_url}")
    return 0
