"""``dpostudio plugins list|info|install|uninstall|enable|disable`` (the headless twin of the plugin dialog).

Registered in the main parser by ``dpostudio.cli``; each handler returns an exit code.
"""

from __future__ import annotations

import argparse
import json
import sys

from dpostudio.plugins import installer
from dpostudio.plugins.manager import ACTIVE, ENV_DISABLE, ENV_NO_PLUGINS, PluginManager, get_manager


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "plugins",
        help="list, install, enable or disable plugins",
        description="Manage DPO Studio plugins (dataset sources, model sources, judges).",
    )
    sub = parser.add_subparsers(dest="plugins_command", metavar="{list,info,install,uninstall,enable,disable}")
    parser.set_defaults(func=cmd_list, json=False)

    p = sub.add_parser("list", help="every plugin with its source, status and hooks")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("info", help="details of one plugin, including its error")
    p.add_argument("name", help="plugin name (or the package that provides it)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("install", help="install a community plugin from PyPI, a .whl file or a project folder")
    p.add_argument("target", help="a PyPI name (e.g. dpostudio-keyword-judge), a .whl file or a project folder")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation (you read the warning)")
    p.add_argument(
        "--allow-changes",
        action="store_true",
        help="allow the plugin to upgrade or downgrade packages DPO Studio already uses",
    )
    p.add_argument("--no-build-isolation", action="store_true", help="build with the installed setuptools (offline)")
    p.add_argument("--no-index", action="store_true", help="do not contact a package index")
    p.set_defaults(func=cmd_install)

    p = sub.add_parser("uninstall", help="uninstall the package that provides a community plugin")
    p.add_argument("name", help="plugin name or package name")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=cmd_uninstall)

    for action, helptext in (("enable", "turn a plugin on again"), ("disable", "turn a plugin off (kept installed)")):
        p = sub.add_parser(action, help=helptext)
        p.add_argument("name", help="plugin name")
        p.set_defaults(func=cmd_enable if action == "enable" else cmd_disable)
    return parser


def _manager() -> PluginManager:
    return get_manager()


def _status(info) -> str:
    if info.status == "failed":
        return f"failed: {info.error}"
    if info.status == "disabled":
        return f"disabled ({info.disabled_by})" if info.disabled_by else "disabled"
    return info.status


def cmd_list(args) -> int:
    infos = _manager().plugins()
    if getattr(args, "json", False):
        print(json.dumps([i.as_dict() for i in infos], indent=2, default=str))
        return 0
    if not infos:
        print("no plugins found")
        return 0
    width = max(len(i.name) for i in infos)
    for i in infos:
        hooks = ", ".join(h.removeprefix("dpostudio_") for h in i.hooks) or "-"
        print(f"{i.name:<{width}}  {i.version or '?':<8} {i.source:<9}  {_status(i)}")
        print(f"{'':<{width}}  hooks: {hooks}")
        for w in i.warnings:
            print(f"{'':<{width}}  warning: {w}")
    return 0


def cmd_info(args) -> int:
    try:
        info = _manager().info(args.name)
    except KeyError as exc:
        print(exc.args[0], file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(info.as_dict(), indent=2, default=str))
        return 0
    print(f"name:         {info.name}")
    print(f"module:       {info.module}")
    print(f"package:      {info.distribution or '-'} {info.version or ''}".rstrip())
    print(f"source:       {info.source}")
    print(f"status:       {_status(info)}")
    print(f"hook API:     {info.api_version if info.api_version is not None else '-'}")
    print(f"hooks:        {', '.join(info.hooks) or '-'}")
    for w in info.warnings:
        print(f"warning:      {w}")
    if info.detail:
        print("traceback:\n" + info.detail.rstrip())
    return 0


def _confirm(question: str, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin or not sys.stdin.isatty():
        print("not confirmed: run again with --yes to go ahead", file=sys.stderr)
        return False
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def cmd_install(args) -> int:
    print(installer.INSTALL_WARNING)
    if not _confirm(f"Install {args.target}?", args.yes):
        return 1

    def show(line: str) -> None:
        if line != installer.INSTALL_WARNING:  # already printed above
            print(f"  {line}", flush=True)

    result = installer.install(
        args.target,
        on_line=show,
        allow_changes=args.allow_changes,
        build_isolation=not args.no_build_isolation,
        index=not args.no_index,
    )
    print(result.message, file=sys.stdout if result.ok else sys.stderr)
    return 0 if result.ok else 1


def cmd_uninstall(args) -> int:
    if not _confirm(f"Uninstall {args.name}?", args.yes):
        return 1
    result = installer.uninstall(args.name, on_line=lambda line: print(f"  {line}", flush=True))
    print(result.message, file=sys.stdout if result.ok else sys.stderr)
    return 0 if result.ok else 1


def _set_enabled(name: str, enabled: bool) -> int:
    manager = _manager()
    try:
        info = manager.set_enabled(name, enabled)
    except KeyError as exc:
        print(exc.args[0], file=sys.stderr)
        return 1
    if enabled and info.status != ACTIVE:
        if info.disabled_by in (ENV_DISABLE, ENV_NO_PLUGINS):
            print(f"{info.name} is enabled in the settings, but {info.disabled_by} still turns it off in this shell")
        else:
            print(f"{info.name} is enabled, but could not be loaded: {_status(info)}", file=sys.stderr)
            return 1
    else:
        print(f"{info.name} {'enabled' if enabled else 'disabled'}")
    return 0


def cmd_enable(args) -> int:
    return _set_enabled(args.name, True)


def cmd_disable(args) -> int:
    return _set_enabled(args.name, False)
