"""The Metrics pane's run list, read off the GUI thread: a summary row per run, and a run's records and findings.

Also how a row's cells read ("5/12" steps, numbers) and the older one-run CSV writer.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from dpostudio.core.diagnostics.findings import Finding
from dpostudio.core.training.event_types import (
    CANCELLED,
    EVAL,
    EVAL_LOSS,
    EVAL_REWARDS_ACCURACIES,
    INTERRUPTED,
    LOG,
    LOSS,
    REWARDS_ACCURACIES,
    extra_eval_sets_in,
    is_eval_metric,
)
from dpostudio.core.training.runs import Run

COLUMNS = ("Run", "Status", "Model", "Dataset", "β", "LR", "Batch", "Steps", "Eval loss", "Eval acc")


def load_run_rows() -> list[dict[str, Any]]:
    """Summaries of every run for the history table (reads run.json and config.toml; runs off the GUI thread)."""
    from dpostudio.core.training.runs import list_runs

    rows = []
    for run in list_runs():
        info = run.info()
        try:
            config = run.config().to_dict()
        except Exception:  # a run folder whose config cannot be read is still listed
            config = {}
        final_eval = info.get("final_eval") or {}
        status = run.status(info)  # not run.json's word: a run whose process died reads "interrupted"
        if not final_eval and status in (CANCELLED, INTERRUPTED):  # a stopped run shows its latest evaluation
            final_eval = next(iter(reversed(run.metrics(EVAL))), {})
        resumable = run.resumable(status)
        message, step = info.get("message", ""), info.get("step")
        if status == INTERRUPTED:
            step = next((record["step"] for record in reversed(run.metrics(LOG))), step)  # how far it got
            message = "its training process ended without finishing (killed, crashed or the computer restarted); " + (
                "Resume continues it from its last checkpoint" if resumable else "it saved no checkpoint to resume from"
            )
        elif status == CANCELLED and "--resume" in message:  # the engine's words are for the terminal
            message = (
                f"Stopped at step {step} — Resume continues from the checkpoint"
                if resumable
                else f"Stopped at step {step}, before a checkpoint was saved; Train starts a new run"
            )
        rows.append(
            {
                "id": run.id,
                "name": run.display_name,  # its short name (renamed in the run list), else a short form of its id
                "status": status,
                "resumable": resumable,
                "model": config.get("model", info.get("model", "")),
                "dataset": config.get("dataset", info.get("dataset", "")),
                "beta": config.get("beta"),
                "learning_rate": config.get("learning_rate"),
                "batch": config.get("per_device_batch_size"),
                "accum": config.get("gradient_accumulation_steps"),
                "step": step,
                "max_steps": config.get("max_steps"),
                "eval_loss": final_eval.get(EVAL_LOSS),
                "eval_acc": final_eval.get(EVAL_REWARDS_ACCURACIES),
                "extra_evals": {  # each extra eval set's final (loss, accuracy)
                    name: (final_eval.get(f"eval_{name}_{LOSS}"), final_eval.get(f"eval_{name}_{REWARDS_ACCURACIES}"))
                    for name in extra_eval_sets_in(final_eval)
                },
                "message": message,
            }
        )
    return rows


def load_run_records(run_id: str) -> list[dict[str, Any]]:
    """A run's log and eval records merged in step order (a crashed run yields up to its last logged step)."""
    from dpostudio.core.training.runs import get_run

    run = get_run(run_id)
    records = run.metrics(LOG) + run.metrics(EVAL)
    return sorted(records, key=lambda r: (r.get("step", 0), any(is_eval_metric(k) for k in r)))


def load_run_findings(run: Run) -> list[Finding]:
    """A run's findings (``Run.findings()``: its ``findings.json``, or a replay of its records); [] on any error, so
    a run whose findings cannot be read still shows its curves."""
    try:
        return run.findings()
    except Exception:
        return []


def load_run_view(run_id: str) -> tuple[list[dict[str, Any]], list[Finding]]:
    """What the charts show of a past run: its records and its findings (runs off the GUI thread)."""
    from dpostudio.core.training.runs import get_run

    records = load_run_records(run_id)
    return records, load_run_findings(get_run(run_id))


def write_metrics_csv(records: list[dict[str, Any]], path: str | Path) -> int:
    """Write records as CSV (step, epoch, then every metric column). Returns the number of rows."""
    keys: list[str] = []
    for record in records:
        keys += [k for k in record if k not in keys and k not in ("step", "epoch")]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["step", "epoch", *keys])
        for record in records:
            writer.writerow([record.get("step"), record.get("epoch"), *(record.get(k, "") for k in keys)])
    return len(records)


def _steps_text(row: dict[str, Any]) -> str:
    """A run's progress for the run list: "5/12", or the steps alone when its length is unknown."""
    steps = _fmt(row["step"], "d") if isinstance(row.get("step"), int) else ""
    if row.get("max_steps"):
        steps = f"{steps or 0}/{row['max_steps']}"
    return steps


def _file_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_. " else "-" for c in text).strip() or "metrics.csv"


def _fmt(value: Any, spec: str = ".4g") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    try:
        return format(value, spec)
    except (TypeError, ValueError):
        return str(value)
