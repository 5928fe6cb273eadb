"""``dpostudio train``, ``dpostudio runs [show RUN]`` and ``dpostudio import-gguf FILE``: the Training pane's twin."""

from __future__ import annotations

import argparse
import signal
import sys
import textwrap
import threading
import time
from collections.abc import Mapping
from typing import Any

from dpostudio.core.training.event_types import (
    CANCELLED,
    CHECKPOINT,
    END_STATES,
    EVAL,
    EVAL_LOSS,
    EVALUATING,
    FAILED,
    FINDING,
    FINISHED,
    LOG,
    LOSS,
    PHASE,
    REWARDS_ACCURACIES,
    REWARDS_MARGINS,
    STAGE,
    STARTED,
    extra_eval_sets_in,
)
from dpostudio.core.training.presets import get_preset
from dpostudio.core.training.run_config import ConfigError, RunConfig, parse_override

END_LABELS = {FINISHED: "Done", FAILED: "Failed", CANCELLED: "Stopped"}
EXIT_CODES = {FINISHED: 0, CANCELLED: 130}  # any other end: 1


def add_parser(subparsers) -> None:
    train = subparsers.add_parser("train", help="train a LoRA adapter with DPO (headless)")
    train.add_argument("--config", metavar="FILE", help="run configuration (.toml or .yaml)")
    train.add_argument("--resume", metavar="RUN", help="continue RUN from its last checkpoint")
    train.add_argument(
        "--preset",
        metavar="NAME",
        help="start from a named preset (as in the Training pane), e.g. --preset quick for 'Quick demo (CPU)'; "
        "its values go over the config file's, and options and --set still win",
    )
    train.add_argument(
        "--set",
        metavar="FIELD=VALUE",
        action="append",
        default=[],
        help="override any configuration field, e.g. --set beta=0.2 (repeatable)",
    )
    train.add_argument(
        "--bundle",
        metavar="DIR",
        help="do not train: write a launch bundle for this configuration into DIR (accelerate config, launch.sh, "
        "SLURM and SkyPilot files, README) to run it on another machine or a cluster",
    )
    for spec in RunConfig.field_specs():
        flag = "--" + spec.name.replace("_", "-")
        train.add_argument(flag, dest=f"opt_{spec.name}", metavar="VALUE", help=spec.metadata["help"])
    train.set_defaults(func=cmd_train)

    runs = subparsers.add_parser("runs", help="list runs, or show one")
    runs_sub = runs.add_subparsers(dest="runs_command", metavar="ACTION")
    show = runs_sub.add_parser("show", help="print a run's configuration and final metrics")
    show.add_argument("run")
    show.set_defaults(func=cmd_runs_show)
    bring = runs_sub.add_parser(
        "import", help="copy a run folder trained elsewhere (a cluster, a launch bundle) into this computer's runs"
    )
    bring.add_argument("path", help="the run folder (the one holding run.json)")
    bring.set_defaults(func=cmd_runs_import)
    runs.set_defaults(func=cmd_runs_list)

    imp = subparsers.add_parser("import-gguf", help="convert a GGUF model file into the model store")
    imp.add_argument("file")
    imp.add_argument("--name", help="name in the model store (default: the file name)")
    imp.add_argument("--force", action="store_true", help="import again even if already imported")
    imp.set_defaults(func=cmd_import_gguf)


# ---- train ----------------------------------------------------------------------------------------
def config_from_args(args: argparse.Namespace) -> RunConfig:
    data: dict[str, Any] = RunConfig.load(args.config).to_dict() if args.config else {}
    if getattr(args, "preset", None):
        try:
            data.update(get_preset(args.preset).values)
        except KeyError as exc:
            raise ConfigError("--preset", exc.args[0]) from None
    for spec in RunConfig.field_specs():
        raw = getattr(args, f"opt_{spec.name}", None)
        if raw is not None:
            data[spec.name] = parse_override(f"{spec.name}={raw}")[1]
    for text in args.set:
        key, value = parse_override(text)
        data[key] = value
    return RunConfig.from_dict(data)


def metrics_text(metrics: Mapping[str, Any], prefix: str = "") -> str:
    """Loss, margin and accuracy of one record (``prefix``: "eval_" or "eval_<set>_"); a metric the method does not
    log (KTO has no reward accuracy) is left out rather than shown as nan."""
    shown = ((LOSS, "loss", ".4f"), (REWARDS_MARGINS, "margin", "+.3f"), (REWARDS_ACCURACIES, "acc", ".2f"))
    return " · ".join(
        f"{label} {metrics[prefix + key]:{spec}}" for key, label, spec in shown if prefix + key in metrics
    )


def finding_mark(severity: str) -> str:
    from dpostudio.core.diagnostics.findings import WARNING

    return "⚠" if severity == WARNING else "ℹ"


def printable(text: str, stream=None) -> str:
    """``text`` as ``stream`` can encode it (a console or pipe in a legacy code page gets ``?`` for ⚠, ≤, →)."""
    encoding = getattr(stream or sys.stdout, "encoding", None) or "utf-8"
    try:
        return text.encode(encoding, "replace").decode(encoding)
    except LookupError:
        return text


class TrainingDisplay:
    """Terminal view of training events: stage lines, a step progress bar, a compact metrics line, and one line
    (plus the advice) per diagnostics finding when it is first raised."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.bar = None
        self.last_stage = ""
        self.findings_shown = set[str]()  # kinds already printed (later events only update them)

    def __call__(self, event: Mapping[str, Any]) -> None:
        kind = event["type"]
        if kind == STAGE:
            category = event["message"].split(":")[0]
            if category != self.last_stage:  # one line per stage, not one per imported tensor
                self.last_stage = category
                print(f"… {event['message']}", file=self.stream)
        elif kind == STARTED:
            origin = f" (resuming from step {event['resumed_from_step']})" if event.get("resumed_from_step") else ""
            print(
                f"Run {event['run_id']} on {event['device'].upper()} · {event['precision']} "
                f"({event['device_reason']}){origin}\n  folder: {event['run_dir']}",
                file=self.stream,
            )
        elif kind == LOG:
            m = event["metrics"]
            self._bar(event, metrics_text(m))
        elif kind == EVAL:
            m = event["metrics"]
            sets = extra_eval_sets_in(m)
            if EVAL_LOSS in m or not sets:
                self._write(f"  eval @ step {event['step']}: {metrics_text(m, 'eval_')}")
            for name in sets:  # one line per extra eval set
                p = f"eval_{name}_"
                self._write(f"  eval {name} @ step {event['step']}: {metrics_text(m, p)}")
        elif kind == PHASE and self.bar is not None:  # the bar says what runs between steps
            if event["phase"] == EVALUATING:
                where = f" {event['eval_set']}" if event.get("eval_set") else ""
                total = f"/{event['total']}" if event.get("total") else ""
                self.bar.set_postfix_str(f"evaluating{where}: batch {event['done']}{total}", refresh=True)
            else:
                self.bar.set_postfix_str("saving a checkpoint", refresh=True)
        elif kind == CHECKPOINT:
            self._write(f"  checkpoint saved at step {event['step']}")
        elif kind == FINDING:
            self._finding(event.get("finding") or {})
        elif kind in END_STATES:
            if self.bar is not None:
                self.bar.close()
            print(f"{END_LABELS[kind]}: {event['message']}", file=self.stream)

    def _bar(self, event: Mapping[str, Any], postfix: str) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(
                total=event["max_steps"],
                initial=max(event["step"] - 1, 0),
                unit="step",
                file=self.stream,
                dynamic_ncols=True,
                desc="training",
            )
        self.bar.set_postfix_str(postfix, refresh=False)
        self.bar.update(event["step"] - self.bar.n)

    def _finding(self, data: Mapping[str, Any]) -> None:
        from dpostudio.core.diagnostics.findings import Finding

        try:
            finding = Finding.from_dict(dict(data))
        except TypeError:  # not a finding this version can read
            return
        if finding.kind in self.findings_shown:
            return
        self.findings_shown.add(finding.kind)
        self._write(printable(f"{finding_mark(finding.severity)} {finding.line()}\n    {finding.advice}", self.stream))

    def _write(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream)


def cmd_train(args: argparse.Namespace) -> int:
    from dpostudio.core.training import distributed
    from dpostudio.core.training.launcher import train_anywhere

    if args.bundle:
        return cmd_train_bundle(args)
    config = None if args.resume else config_from_args(args)
    cancel = threading.Event()
    presses = []

    def on_sigint(signum, frame):
        presses.append(time.monotonic())
        if len(presses) == 1:
            print("\nStopping after this step and saving a checkpoint… (Ctrl-C again to quit at once)", file=sys.stderr)
            cancel.set()
        else:
            raise KeyboardInterrupt

    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_sigint) if on_main_thread else None
    try:
        run = train_anywhere(config, TrainingDisplay(), cancel, resume=args.resume)
    except KeyboardInterrupt:
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if run is None:
        return 1
    if distributed.launched():  # one of several processes: exit 0 unless it failed (else torchrun ends the rest)
        return 0 if run.status() in EXIT_CODES else 1
    return EXIT_CODES.get(run.status(), 1)


def cmd_train_bundle(args: argparse.Namespace) -> int:
    from dpostudio.core.training.launch_bundle import write_bundle

    if args.resume:
        print("error: --bundle writes a new run's bundle; it cannot be combined with --resume", file=sys.stderr)
        return 2
    bundle = write_bundle(config_from_args(args), args.bundle)
    print(f"Launch bundle written to {bundle.folder}")
    for note in bundle.notes:
        print(printable(f"  note: {note}"))
    print(f"Run it with: {bundle.folder / 'launch.sh'}   (see README.md there)")
    return 0


# ---- runs -----------------------------------------------------------------------------------------
def _fmt(value: Any, spec: str = ".4f") -> str:
    return format(value, spec) if isinstance(value, (int, float)) else "—"


def cmd_runs_list(args: argparse.Namespace) -> int:
    from dpostudio.core.training.runs import list_runs

    runs = list_runs()
    if not runs:
        print("No runs yet. Start one with: dpostudio train")
        return 0
    from dpostudio.core.diagnostics.findings import FINDINGS_FILE, WARNING, load_findings

    print(printable(f"{'RUN':<28} {'STATUS':<11} {'STEP':>5} {'LOSS':>8} {'MARGIN':>8} {'ACC':>5} {'⚠':>2}  MODEL"))
    for run in runs:
        info = run.info()
        last = (run.metrics(LOG) or [{}])[-1]
        saved = (run.path / FINDINGS_FILE).is_file()  # (runs without the file are not replayed here: too slow)
        warnings = sum(f.severity == WARNING for f in load_findings(run.path)) if saved else None
        print(
            f"{run.id:<28} {run.status(info):<11} {last.get('step', 0):>5} {_fmt(last.get(LOSS)):>8} "
            f"{_fmt(last.get(REWARDS_MARGINS), '+.3f'):>8} {_fmt(last.get(REWARDS_ACCURACIES), '.2f'):>5} "
            f"{'—' if warnings is None else warnings:>2}  {info.get('model', '')}"
        )
    if any((run.path / FINDINGS_FILE).is_file() for run in runs):
        print(printable("⚠: warnings from the diagnostics; see them with: dpostudio runs show RUN"))
    return 0


def cmd_runs_show(args: argparse.Namespace) -> int:
    from dpostudio.core.training.runs import get_run

    run = get_run(args.run)
    info = run.info()
    status = run.status(info)
    print(f"Run {run.id}  [{status}]  {info.get('message', '')}")
    print(f"Folder: {run.path}")
    if run.resumable(status):
        print(f"Resume with: dpostudio train --resume {run.id}")
    print(f"Device: {info.get('device', '?')} · {info.get('precision', '?')}\n\nConfiguration:")
    print(run.config_path.read_text(encoding="utf-8"))
    for kind, title in ((LOG, "Last training metrics"), (EVAL, "Last evaluation metrics")):
        records = run.metrics(kind)
        if records:
            print(f"{title} (step {records[-1]['step']}):")
            for key, value in records[-1].items():
                if key not in ("step", "epoch"):
                    print(f"  {key:<28} {_fmt(value, '.5g')}")
    print_findings(run)
    return 0


def print_findings(run) -> None:
    """The run's findings with what they mean and what to try (a replay of its records if it has none saved)."""
    from dpostudio.core.diagnostics.findings import FINDINGS_FILE

    if not run.metrics(LOG) and not run.metrics(EVAL):
        return
    findings = run.findings()
    origin = "" if (run.path / FINDINGS_FILE).is_file() else " (replayed from its metrics)"
    if not findings:
        print(f"\nFindings{origin}: none: the curves show none of the patterns the diagnostics look for.")
        return
    print(f"\nFindings{origin}:")
    for finding in findings:
        until = f", still seen at step {finding.last_step}" if finding.last_step not in (None, finding.step) else ""
        print(printable(f"{finding_mark(finding.severity)} {finding.line()}{until}"))
        for label, text in (("What it means", finding.meaning), ("What to try", finding.advice)):
            wrapped = textwrap.fill(f"{label}: {text}", width=100, initial_indent="    ", subsequent_indent="    ")
            print(printable(wrapped))


def cmd_runs_import(args: argparse.Namespace) -> int:
    from dpostudio.core.training.runs import import_run

    run = import_run(args.path)
    print(f"Imported run {run.id} [{run.status()}] into {run.path}")
    print(f"It is in the app's run lists now; see it with: dpostudio runs show {run.id}")
    return 0


# ---- import-gguf ----------------------------------------------------------------------------------
def cmd_import_gguf(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from dpostudio.core.model_store import import_gguf

    with tqdm(total=100, unit="%", desc="importing", file=sys.stderr) as bar:

        def progress(fraction: float, message: str) -> None:
            bar.set_description(message[:40])
            bar.update(round(fraction * 100) - bar.n)

        folder = import_gguf(args.file, name=args.name, on_progress=progress, force=args.force)
    print(f"Imported into {folder}")
    return 0
