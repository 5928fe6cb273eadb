"""Runs' metrics as one tidy CSV file: one row per logged record, a ``run`` and a ``run_name`` column first.

Several runs go into the same file (what a sweep comparison or a plot in another tool wants), with the union of
their metric columns; a metric a record lacks is left empty. Used by the Metrics pane's "Export CSV".
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dpostudio.core.training.runs import Run

LEADING_COLUMNS = ("run", "run_name", "step", "epoch")


@dataclass(frozen=True)
class CsvExport:
    """What was written: the file, its data rows and the runs they came from."""

    path: Path
    rows: int
    runs: int

    def summary(self) -> str:
        runs = "1 run" if self.runs == 1 else f"{self.runs} runs"
        return f"saved {self.rows} rows from {runs} to {self.path}"


def tidy_rows(runs: list[Run]) -> tuple[list[str], list[dict[str, Any]]]:
    """The columns and rows of the runs' log and eval records, run after run, each in step order."""
    columns: list[str] = list(LEADING_COLUMNS)
    rows: list[dict[str, Any]] = []
    for run in runs:
        name = run.display_name
        for record in run.records():
            columns += [key for key in record if key not in columns]
            rows.append({"run": run.id, "run_name": name, **record})
    return columns, rows


def write_runs_csv(runs: list[Run], path: str | Path) -> CsvExport:
    """Write the runs' metrics to ``path`` as one tidy CSV file."""
    columns, rows = tidy_rows(runs)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, restval="", extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: "" if value is None else value for key, value in row.items()})
    return CsvExport(Path(path), len(rows), len(runs))
