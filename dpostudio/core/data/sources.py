"""Where preference rows come from: the built-in demo, local JSONL/JSON/CSV/Parquet files, and dataset ids.

A Hub id and a local *folder* take the same path (``datasets.load_dataset(id_or_folder, config, split=...)``), so
the Hub path is tested on a local folder laid out like the Hub repository. Nothing here ever writes to a source.
"""

from __future__ import annotations

import json
from pathlib import Path

from dpostudio.core.data.problems import DataError
from dpostudio.core.paths import RESOURCES_DIR

BUILTIN_DEMO = "builtin:demo"
# the demo's second held-out set, in another surface style (terse vs full-sentence answers on both sides, wrong
# answers as fluent as right ones), never trained on: does a run prefer correct answers, or only a style?
BUILTIN_DEMO_STYLED = "builtin:demo-styled"
# the demo's training pairs plus minimal pairs (same style and length on both sides, only correctness differs), so
# that style alone cannot tell chosen from rejected; the same eval split as builtin:demo
BUILTIN_DEMO_MINIMAL = "builtin:demo-minimal"
BUILTIN_SOURCES = (BUILTIN_DEMO, BUILTIN_DEMO_STYLED, BUILTIN_DEMO_MINIMAL)
BUILTIN_DEMO_DIR = RESOURCES_DIR / "demo_pairs"
LOCAL_FORMATS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}
BOM = "\ufeff"


def source_label(source: str) -> str:
    """How errors name a source: the file name for local files, the id otherwise."""
    path = Path(source).expanduser()
    if source not in BUILTIN_SOURCES and path.is_file():
        return path.name
    return source


def _suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".bz2", ".xz", ".zst") and len(suffixes) > 1:
        return suffixes[-2]
    return suffixes[-1] if suffixes else ""


def _slice(split: str, first_n: int | None) -> str:
    return f"{split}[:{first_n}]" if first_n else split


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_raw(
    source: str,
    *,
    config_name: str | None = None,
    split: str = "train",
    first_n: int | None = None,
    eval_split: str | None = None,
):
    """Load a source into ``(train, heldout_or_None)`` raw ``datasets.Dataset`` objects.

    ``first_n`` keeps only the first N rows of the training split (and of the held-out split). ``eval_split``
    names a split of a Hub id or folder to return as held-out rows. Column names lose a UTF-8 byte-order mark.
    """
    if source.startswith(PLUGIN_PREFIX):
        train, heldout = _load_from_plugin(source)
        return _clean(_head(train, first_n)), (_head(heldout, first_n) if heldout is not None else None)
    if source in (BUILTIN_DEMO, BUILTIN_DEMO_MINIMAL):
        from datasets import concatenate_datasets, load_dataset

        names = ["train.jsonl", "eval.jsonl"] + (["minimal.jsonl"] if source == BUILTIN_DEMO_MINIMAL else [])
        missing = [name for name in names if not (BUILTIN_DEMO_DIR / name).is_file()]
        if missing:
            raise DataError(f"{source}: the demo file {missing[0]} is missing from this installation")
        files = {"train": str(BUILTIN_DEMO_DIR / "train.jsonl"), "eval": str(BUILTIN_DEMO_DIR / "eval.jsonl")}
        ds = load_dataset("json", data_files=files)
        train = ds["train"]
        if source == BUILTIN_DEMO_MINIMAL:  # their own "style" column is not the demo's
            minimal = load_dataset("json", data_files=str(BUILTIN_DEMO_DIR / "minimal.jsonl"), split="train")
            minimal = minimal.remove_columns([c for c in minimal.column_names if c not in train.column_names])
            train = concatenate_datasets([train, minimal])
        return _head(train, first_n), _head(ds["eval"], first_n)
    if source == BUILTIN_DEMO_STYLED:
        from datasets import load_dataset

        file = BUILTIN_DEMO_DIR / "styled.jsonl"
        if not file.is_file():
            raise DataError(f"{BUILTIN_DEMO_STYLED}: the file {file} is missing from this installation")
        return _head(load_dataset("json", data_files=str(file), split="train"), first_n), None
    path = Path(source).expanduser()
    if path.is_dir():
        return _load_hub_like(str(path), source, config_name, split, first_n, eval_split)
    if _suffix(path) in LOCAL_FORMATS or path.exists():
        if not path.is_file():
            raise DataError(f"data file not found: {path}")
        builder = LOCAL_FORMATS.get(_suffix(path))
        if builder is None:
            raise DataError(f"{path.name}: unsupported file type {path.suffix!r} (use JSONL, JSON, CSV or Parquet)")
        return _clean(_head(_load_file(path, builder), first_n)), None
    if not source.strip():
        raise DataError("no dataset given")
    return _load_hub_like(source, source, config_name, split, first_n, eval_split)


PLUGIN_PREFIX = "plugin:"


def plugin_spec(source_id: str, options: dict | None = None) -> str:
    """The record of a plugin source in a run config: ``plugin:<id>?name=value&...`` (what the CLI takes too)."""
    from urllib.parse import urlencode

    query = urlencode({k: v for k, v in (options or {}).items() if v is not None and v != ""})
    return f"{PLUGIN_PREFIX}{source_id}" + (f"?{query}" if query else "")


def _load_from_plugin(source: str):
    """``plugin:<source id>?option=value&...``: rows from a dataset-source plugin (community or built-in)."""
    from urllib.parse import parse_qsl

    from datasets import Dataset

    from dpostudio.core.plugin_access import PluginCallError, plugins

    source_id, _, query = source[len(PLUGIN_PREFIX) :].partition("?")
    if not source_id:
        raise DataError(f"{source}: name the plugin's dataset source after 'plugin:'")
    try:
        loaded = plugins().load_dataset(source_id, dict(parse_qsl(query)))
    except PluginCallError as exc:
        raise DataError(f"{source}: {exc}") from exc

    def as_dataset(rows):
        if rows is None or isinstance(rows, Dataset):
            return rows
        try:
            return Dataset.from_list(list(rows))
        except Exception as exc:
            raise DataError(f"{source}: the plugin returned rows that do not form a table: {exc}") from exc

    return as_dataset(loaded.train), as_dataset(loaded.heldout)


def _head(ds, first_n: int | None):
    if first_n and len(ds) > first_n:
        return ds.select(range(first_n))
    return ds


def _clean(ds):
    """Strip a byte-order mark and surrounding spaces from column names (Excel CSV exports carry both)."""
    renames = {c: c.lstrip(BOM).strip() for c in ds.column_names if c != c.lstrip(BOM).strip()}
    return ds.rename_columns(renames) if renames else ds


SNIFF_BYTES = 65536
COMPRESSED = (".gz", ".bz2", ".xz", ".zst")


def check_text_file(path: Path, builder: str) -> None:
    """Say in words what is wrong with a JSON/CSV file before a parser says it in its own terms:
    empty, not text (binary, another encoding, or a Parquet/compressed file with the wrong name), or a CSV
    separated by something other than commas."""
    if builder not in ("json", "csv") or path.suffix.lower() in COMPRESSED:
        return
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    kind = "JSONL" if _suffix(path) == ".jsonl" else builder.upper()
    if not head.replace(b"\xef\xbb\xbf", b"").strip():
        raise DataError(f"{path.name}: the file is empty (expected {kind} rows)")
    looks = {
        b"PAR1": "a Parquet file (name it .parquet)",
        b"\x1f\x8b": "gzip-compressed (name it .gz)",
        b"PK\x03\x04": "a ZIP archive (unpack it first)",
    }
    for magic, what in looks.items():
        if head.startswith(magic):
            raise DataError(f"{path.name}: this is not a {kind} text file; it looks like {what}")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of the sample
            line = head[: exc.start].count(b"\n") + 1
            raise DataError(
                f"{path.name}: not UTF-8 text (byte 0x{head[exc.start]:02x} at line {line}, "
                f"byte {exc.start + 1}); {kind} files must be saved as UTF-8 text"
            ) from None
    if b"\x00" in head:
        raise DataError(f"{path.name}: contains binary data (NUL bytes); {kind} files must be UTF-8 text")
    if builder == "csv":
        header = head.decode("utf-8", errors="replace").lstrip("\ufeff").splitlines()[0]
        for sep, name in ((";", "semicolon"), ("\t", "tab")):
            if header.count(sep) >= 1 and "," not in header:
                raise DataError(
                    f"{path.name}: the file looks {sep!r}-separated ({name}s in the header "
                    f"{header[:80]!r}); save it with commas as separators"
                )


def _load_file(path: Path, builder: str):
    import logging

    from datasets import load_dataset

    check_text_file(path, builder)
    kwargs = {"encoding": "utf-8-sig"} if builder == "csv" else {}
    # datasets logs its own parser's error before raising; our message below says it in words instead
    json_logger = logging.getLogger("datasets.packaged_modules.json.json")
    level = json_logger.level
    json_logger.setLevel(logging.CRITICAL)
    try:
        return load_dataset(builder, data_files=str(path), split="train", **kwargs)
    except Exception as exc:
        if builder == "json":
            # Mixed value shapes (a column holding text in some rows, message lists in others) defeat Arrow's
            # schema inference; read the rows ourselves, which also finds the line of a JSON syntax error.
            return _load_json_rows(path, exc)
        raise DataError(f"{path.name}: cannot be read as {builder.upper()}: {_first_line(exc)}") from exc
    finally:
        json_logger.setLevel(level)


def _open_text(path: Path):
    if path.suffix.lower() == ".gz":
        import gzip

        return gzip.open(path, "rt", encoding="utf-8-sig")
    return path.open("r", encoding="utf-8-sig")


def _load_json_rows(path: Path, original: BaseException):
    from datasets import Dataset

    with _open_text(path) as fh:
        text = fh.read()
    rows: list = []
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            rows = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path.name}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    else:
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"{path.name}: line {lineno} is not valid JSON ({exc.msg}, at character {exc.colno})"
                ) from exc
    if isinstance(rows, dict):
        lists = [v for v in rows.values() if isinstance(v, list)]
        rows = lists[0] if len(lists) == 1 else []
    bad = next((i for i, r in enumerate(rows, 1) if not isinstance(r, dict)), None)
    if not rows or bad is not None:
        where = f" (row {bad} is not an object)" if bad else ""
        raise DataError(f"{path.name}: expected one JSON object per row{where}: {_first_line(original)}")
    columns: list[str] = []
    for r in rows:
        columns.extend(k for k in r if k not in columns)
    table = {}
    for col in columns:
        values = [r.get(col) for r in rows]
        kinds = {type(v) for v in values if v is not None}
        if len(kinds) > 1 or kinds & {list, dict}:
            # Keep every shape: text stays text, anything else is stored as JSON text and parsed back later.
            values = [v if v is None or isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in values]
        table[col] = values
    try:
        return Dataset.from_dict(table)
    except Exception as exc:
        raise DataError(f"{path.name}: cannot be read as JSON rows: {_first_line(exc)}") from exc


def _load_hub_like(target: str, label: str, config_name, split: str, first_n, eval_split):
    """``load_dataset`` on a Hub id or a folder laid out like one. A config that is not a declared configuration
    is retried as a data folder (``Anthropic/hh-rlhf`` keeps its subsets as folders such as ``harmless-base``)."""
    from datasets import load_dataset

    def load(which: str, n):
        try:
            return load_dataset(target, config_name, split=_slice(which, n))
        except Exception as exc:
            text = str(exc)
            if config_name and ("BuilderConfig" in text or "config" in text.lower() and "not found" in text.lower()):
                try:
                    return load_dataset(target, data_dir=config_name, split=_slice(which, n))
                except Exception:
                    pass
            if "Unknown split" in text or "Bad split" in text or "split" in text.lower() and "not" in text.lower():
                raise DataError(f"{label}: no split {which!r}: {_first_line(exc)}") from exc
            if "offline" in text.lower() or "connect" in text.lower():
                raise DataError(
                    f"cannot download {label!r} from the Hugging Face Hub (no connection, or the id is wrong); "
                    "download it once online, or use a local file"
                ) from exc
            raise DataError(f"cannot load dataset {label!r} (split {which!r}): {_first_line(exc)}") from exc

    train = _clean(load(split, first_n))
    heldout = _clean(load(eval_split, first_n)) if eval_split else None
    return train, heldout
