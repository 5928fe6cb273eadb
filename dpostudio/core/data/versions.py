"""Dataset versions: a run's pairs with a person's edits applied, saved next to the run as a new dataset.

The per-pair reward explorer lets a person swap a pair's chosen and rejected answers, drop a pair, or mark it with
a note. Saving writes a *new* file and never touches the source:

    <run folder>/data_versions/v1.jsonl    the pairs, one JSON object a line (TRL conversational shape)
    <run folder>/data_versions/v1.json     what it was made from and what changed

The pairs are exactly the ones the run trained and evaluated on: the run's configuration goes through the same
data pipeline (``pipeline.prepare_pairs``: source, first N, filters, format, the dropped problem kinds, the
train/eval split), training pairs first, then evaluation pairs. Each line holds ``prompt`` (a message list, a
system message included when the source had one), ``chosen`` and ``rejected`` (one assistant message each), and
where it came from (``source_split``, ``source_row``), the edit (``edit``: "" or "swapped") and the mark
(``note``). The file is a local JSONL dataset spec the pipeline loads like any other (``config_for_version`` gives
a run configuration for it); a run trained on it splits off its own evaluation rows by ``eval_ratio``.

Edits are keyed by ``(split, row)`` as the pair scores name pairs: the split the run used ("train" or "eval") and
the 1-based source row number within it. Qt-free; errors are ``VersionError`` in words.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dpostudio.core.errors import UserError

if TYPE_CHECKING:
    from dpostudio.core.training.run_config import RunConfig
    from dpostudio.core.training.runs import Run

VERSIONS_FOLDER = "data_versions"
SPLITS = ("train", "eval")
_NAME = re.compile(r"^v(\d+)\.jsonl$")

PairKey = tuple[str, int]  # (split, 1-based source row), as PairScore.split / PairScore.row


class VersionError(UserError, ValueError):
    """A dataset version cannot be made or read; the message says why in words."""


@dataclass
class PairEdit:
    """What a person decided about one pair. ``note`` is not None when the pair is marked (it may be empty)."""

    swap: bool = False
    drop: bool = False
    note: str | None = None

    @property
    def marked(self) -> bool:
        return self.note is not None

    def is_empty(self) -> bool:
        return not self.swap and not self.drop and self.note is None

    def describe(self) -> str:
        """The edit in a word or two: "dropped", "swapped", "marked", "swapped, marked", or ""."""
        if self.drop:
            return "dropped"
        parts = (["swapped"] if self.swap else []) + (["marked"] if self.marked else [])
        return ", ".join(parts)


@dataclass
class DatasetVersion:
    """A saved version: its JSONL file and what its meta file says."""

    path: Path  # the .jsonl file: a dataset spec for a new run
    number: int
    run_id: str
    source: str  # the run's dataset spec the pairs came from
    created: str  # ISO 8601, UTC
    rows: dict[str, int]  # pairs written, per source split
    swapped: list[PairKey] = field(default_factory=list)
    dropped: list[PairKey] = field(default_factory=list)
    marked: list[tuple[str, int, str]] = field(default_factory=list)  # (split, row, note)
    description: str = ""

    @property
    def meta_path(self) -> Path:
        return self.path.with_suffix(".json")

    @property
    def total(self) -> int:
        return sum(self.rows.values())

    def summary(self) -> str:
        """One line in words: what the version holds and what changed."""
        changes = [
            f"{len(self.swapped)} swapped" if self.swapped else "",
            f"{len(self.dropped)} dropped" if self.dropped else "",
            f"{len(self.marked)} marked" if self.marked else "",
        ]
        changed = ", ".join(c for c in changes if c) or "no changes"
        return f"version {self.number} of run {self.run_id}: {self.total} pairs ({changed}) in {self.path}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.number,
            "file": self.path.name,
            "run_id": self.run_id,
            "source": self.source,
            "created": self.created,
            "rows": dict(self.rows),
            "swapped": [list(k) for k in self.swapped],
            "dropped": [list(k) for k in self.dropped],
            "marked": [{"split": s, "row": r, "note": n} for s, r, n in self.marked],
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, path: Path, data: Mapping[str, Any]) -> DatasetVersion:
        try:
            return cls(
                path=path,
                number=int(data["version"]),
                run_id=str(data["run_id"]),
                source=str(data["source"]),
                created=str(data["created"]),
                rows={str(k): int(v) for k, v in dict(data["rows"]).items()},
                swapped=[(str(s), int(r)) for s, r in data.get("swapped", [])],
                dropped=[(str(s), int(r)) for s, r in data.get("dropped", [])],
                marked=[(str(m["split"]), int(m["row"]), str(m.get("note", ""))) for m in data.get("marked", [])],
                description=str(data.get("description", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise VersionError(f"{path.with_suffix('.json').name}: not a dataset version description ({exc})") from exc


# ---- where versions live ----------------------------------------------------------------------------


def versions_dir(run: Run) -> Path:
    return run.path / VERSIONS_FOLDER


def list_versions(run: Run) -> list[DatasetVersion]:
    """The run's saved versions, oldest first (files without a readable description are left out)."""
    folder = versions_dir(run)
    found = []
    for path in sorted(folder.glob("v*.jsonl")) if folder.is_dir() else []:
        if _NAME.match(path.name):
            try:
                found.append(read_version(path))
            except VersionError:
                continue
    return sorted(found, key=lambda v: v.number)


def read_version(path: str | Path) -> DatasetVersion:
    """The version whose JSONL file is ``path`` (its description is the ``.json`` file beside it)."""
    path = Path(path).expanduser()
    meta = path.with_suffix(".json")
    if not path.is_file():
        raise VersionError(f"no dataset version file at {path}")
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
    except OSError as exc:
        raise VersionError(f"cannot read {meta}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise VersionError(f"{meta.name} is not valid JSON: {exc}") from exc
    return DatasetVersion.from_dict(path, data)


def _next_number(folder: Path) -> int:
    numbers = [int(m.group(1)) for p in folder.glob("v*.jsonl") if (m := _NAME.match(p.name))]
    return max(numbers, default=0) + 1


# ---- making one -------------------------------------------------------------------------------------


def _check_edits(edits: Mapping[PairKey, PairEdit]) -> dict[PairKey, PairEdit]:
    clean: dict[PairKey, PairEdit] = {}
    for key, edit in edits.items():
        if not (isinstance(key, tuple) and len(key) == 2):
            raise VersionError(f"an edit must name a pair as (split, row), not {key!r}")
        split, row = key
        if split not in SPLITS:
            raise VersionError(f"an edit names split {split!r}; pairs are in 'train' or 'eval'")
        if isinstance(row, bool) or not isinstance(row, int) or row < 1:
            raise VersionError(f"an edit names row {row!r}; rows are numbered from 1")
        if not isinstance(edit, PairEdit):
            raise VersionError(f"the edit of {split} row {row} is not a PairEdit")
        if not edit.is_empty():
            clean[(split, row)] = edit
    return clean


def run_pairs(run: Run, tokenizer: Any = None) -> dict[str, list[dict]]:
    """The run's canonical pairs per split ("train", "eval"), as the pipeline prepares them for its training.

    The tokenizer matters only when the run leaves out pairs that would be truncated; it is loaded then if not
    given (that imports transformers: call this off the GUI process)."""
    from dpostudio.core.data.pipeline import prepare_pairs

    try:
        config = run.config()
    except (OSError, ValueError) as exc:
        raise VersionError(f"cannot read the configuration of run {run.id}: {exc}") from exc
    if tokenizer is None and "truncated" in config.drop_problems:
        from dpostudio.core.model_store import load_tokenizer, resolve_model

        tokenizer = load_tokenizer(resolve_model(config.model), trust_remote_code=config.trust_remote_code)
    prepared = prepare_pairs(config, tokenizer)
    return {"train": list(prepared.train), "eval": list(prepared.eval or [])}


def _line(split: str, pair: dict, edit: PairEdit | None) -> dict[str, Any]:
    chosen, rejected = pair["chosen"], pair["rejected"]
    swapped = edit is not None and edit.swap
    if swapped:
        chosen, rejected = rejected, chosen
    return {
        "prompt": [{"role": m["role"], "content": m["content"]} for m in pair["prompt"]],
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
        "source_split": split,
        "source_row": int(pair["row"]),
        "edit": "swapped" if swapped else "",
        "note": edit.note or "" if edit is not None and edit.marked else "",
    }


def create_version(
    run: Run | str,
    edits: Mapping[PairKey, PairEdit],
    *,
    description: str = "",
    tokenizer: Any = None,
    pairs: Mapping[str, list[dict]] | None = None,
) -> DatasetVersion:
    """Write the run's pairs with ``edits`` applied as the next version next to the run; returns it.

    Every edit must name a pair the run used (an unknown one raises ``VersionError``, and nothing is written).
    ``pairs`` (from ``run_pairs``) saves reloading the data. The source dataset is never written to.
    """
    from dpostudio.core.training.runs import get_run

    run = get_run(run) if isinstance(run, str) else run
    wanted = _check_edits(edits)
    pairs = pairs if pairs is not None else run_pairs(run, tokenizer)
    known = {(split, int(p["row"])) for split in SPLITS for p in pairs.get(split, [])}
    unknown = sorted(k for k in wanted if k not in known)
    if unknown:
        named = ", ".join(f"{s} row {r}" for s, r in unknown[:5]) + (" …" if len(unknown) > 5 else "")
        raise VersionError(f"run {run.id} has no such pair: {named} (was the run's dataset changed since scoring?)")
    lines: list[dict[str, Any]] = []
    rows = {split: 0 for split in SPLITS}
    for split in SPLITS:
        for pair in pairs.get(split, []):
            edit = wanted.get((split, int(pair["row"])))
            if edit is not None and edit.drop:
                continue
            lines.append(_line(split, pair, edit))
            rows[split] += 1
    if not rows["train"] and not rows["eval"]:
        raise VersionError("every pair is dropped: a dataset version needs at least one pair")
    folder = versions_dir(run)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        number = _next_number(folder)
        path = folder / f"v{number}.jsonl"
        version = DatasetVersion(
            path=path,
            number=number,
            run_id=run.id,
            source=run.config().dataset,
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            rows=rows,
            swapped=sorted(k for k, e in wanted.items() if e.swap and not e.drop),
            dropped=sorted(k for k, e in wanted.items() if e.drop),
            marked=sorted((k[0], k[1], e.note or "") for k, e in wanted.items() if e.marked and not e.drop),
            description=description.strip(),
        )
        partial = path.with_suffix(".jsonl.partial")
        with open(partial, "w", encoding="utf-8") as fh:
            for line in lines:
                fh.write(json.dumps(line, ensure_ascii=False) + "\n")
        version.meta_path.write_text(json.dumps(version.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8")
        partial.replace(path)
    except OSError as exc:
        raise VersionError(f"cannot write the dataset version in {folder}: {exc.strerror or exc}") from exc
    return version


def config_for_version(config: RunConfig, version: DatasetVersion | str | Path) -> RunConfig:
    """``config`` set to train on ``version``: its file as the dataset, with the source-specific settings reset
    (first N, filters, column mapping, format, Hub config and splits already shaped the version's pairs)."""
    path = version.path if isinstance(version, DatasetVersion) else Path(version).expanduser()
    return config_for_source(config, str(path))


def config_for_source(config: RunConfig, dataset: str) -> RunConfig:
    """``config`` set to read ``dataset`` (a file, Hub id or built-in source) as it is: the settings that belong to
    the previous source (first N, filters, column mapping, format, Hub config and splits) reset."""
    return config.replace(
        dataset=dataset,
        dataset_config=None,
        dataset_split="train",
        first_n=None,
        eval_split=None,
        data_format="auto",
        column_prompt=None,
        column_chosen=None,
        column_rejected=None,
        column_system=None,
        data_filters=[],
    )
