"""The files a generation job and a loop keep: JSONL appended and flushed line by line (a crash loses at most the
line being written; a line cut short is skipped when read back), and JSON written atomically."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any


def append_jsonl(path: Path, record: dict) -> None:
    """Append one record and flush it to disk at once."""
    line = json.dumps(record, ensure_ascii=False, default=str)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_jsonl(path: Path) -> list[dict]:
    """Every complete record of a JSONL file (none when it does not exist)."""
    records: list[dict] = []
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    value = json.loads(line)
                except ValueError:
                    continue  # the line a crash cut short
                if isinstance(value, dict):
                    records.append(value)
    except FileNotFoundError:
        pass
    return records


def write_jsonl(path: Path, records: list[dict]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
    os.replace(tmp, path)


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path) -> dict:
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def log_line(folder: Path, text: str) -> None:
    """A timestamped line in ``log.txt``."""
    with open(Path(folder) / "log.txt", "a", encoding="utf-8") as fh:
        fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')}  {text.rstrip()}\n")
