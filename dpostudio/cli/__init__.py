"""Headless twins of the panes: ``dpostudio train|runs|import-gguf|data|plugins|export|push|compare|pairs ...``.

One module per command group; each has ``add_parser(subparsers)`` and handlers named ``cmd_<what>`` that return
an exit code. ``dpostudio`` with no arguments opens the desktop app. Heavy libraries (torch, transformers) are
imported only inside the handlers that need them. A ``UserError`` is printed in words (exit 1; 2 for a bad
configuration); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys

from dpostudio.cli import compare, data, export, generate, iterate, pairs, plugins, sweep, train
from dpostudio.core.errors import UserError
from dpostudio.core.training.run_config import ConfigError

COMMAND_GROUPS = (train, data, plugins, export, compare, pairs, sweep, generate, iterate)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dpostudio", description="DPO Studio: preference fine-tuning, point and click."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from dpostudio.plugins import connect_core

    connect_core()  # the core reaches plugin: specs and judges through the plugin host
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        from dpostudio.ui.app import run_app

        return run_app()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1
