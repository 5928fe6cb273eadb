"""Where comparisons are kept: ``<run>/comparisons/<timestamp>/``, written as they happen.

Layout of a comparison folder::

    meta.json         run, adapter (final or checkpoint), prompts, generation settings, judge (secrets removed), status
    items.jsonl       one JSON object per finished prompt, appended and flushed as each one completes
    log.txt           the same, readable: both answers, scores, verdict, reasoning, then the summary
    summary.json      wins/ties/losses of tuned vs base, mean scores per criterion, answer lengths, judge errors
    comparison.csv    one row per prompt (for spreadsheets)

Nothing here imports torch or Qt; reopening a comparison (even one cut short by a crash) only reads these files,
and the summary is recomputed from ``items.jsonl`` when ``summary.json`` is missing.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SIDES = ("base", "tuned")
VERBOSITY_WARNING = 1.5  # tuned answers this many times longer (words) than base ones get a note


def comparisons_dir(run) -> Path:
    return Path(run.path) / "comparisons"


def new_folder(run) -> Path:
    root = comparisons_dir(run)
    root.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path, n = root / stamp, 1
    while path.exists():
        n += 1
        path = root / f"{stamp}-{n}"
    path.mkdir()
    return path


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    os.replace(tmp, path)


def write_meta(folder: Path, meta: dict) -> None:
    _write_json(Path(folder) / "meta.json", meta)


def update_meta(folder: Path, **changes: Any) -> dict:
    meta = read_meta(folder)
    meta.update(changes)
    write_meta(folder, meta)
    return meta


def read_meta(folder: Path) -> dict:
    try:
        return json.loads((Path(folder) / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def append_item(folder: Path, item: dict) -> None:
    """Append one finished prompt to items.jsonl and flush it to disk at once."""
    line = json.dumps(item, ensure_ascii=False, default=str)
    with open(Path(folder) / "items.jsonl", "a", encoding="utf-8") as fh:
        fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_items(folder: Path) -> list[dict]:
    items: list[dict] = []
    try:
        with open(Path(folder) / "items.jsonl", encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if line:
                    try:
                        items.append(json.loads(line))
                    except ValueError:
                        continue  # a line cut short by a crash
    except FileNotFoundError:
        return items
    return items


def log(folder: Path, text: str) -> None:
    with open(Path(folder) / "log.txt", "a", encoding="utf-8") as fh:
        fh.write(text.rstrip("\n") + "\n")
        fh.flush()


def item_text(item: dict, total: int) -> str:
    """One finished prompt as log.txt shows it: both answers, the verdict, the scores and the reasoning."""
    lines = [f"=== Prompt {item['index'] + 1}/{total} ({item.get('prompt_source') or 'typed'}) ===", item["prompt"], ""]
    for side in SIDES:
        a = item[side]
        lines += [
            f"--- {side} ({a['words']} words, {a['tokens']} tokens, {a['seconds']} s, stop: {a['stop']}) ---",
            a["answer"] or "(empty answer)",
            "",
        ]
    if item.get("judge"):
        if item.get("judge_error"):
            lines.append(f"judge error: {item['judge_error']}")
        else:
            orders = ", ".join(f"{j['order'].replace('_', ' ')} -> {j['winner']}" for j in item["judgements"])
            lines.append(f"verdict: {item['verdict']}  ({orders})")
            for c, s in item["scores"].items():
                lines.append(f"  {c}: base {s['base']:g}  tuned {s['tuned']:g}")
        if item.get("reasoning"):
            lines.append(f"reasoning: {item['reasoning']}")
    return "\n".join(lines) + "\n"


def summary_text(summary: dict) -> str:
    """The summary as log.txt ends with it."""
    lines = ["=== Summary ===", summary["headline"]]
    for c, s in summary["mean_scores"].items():
        if s["base"] is not None or s["tuned"] is not None:
            lines.append(f"  mean {c}: base {s['base']}  tuned {s['tuned']}")
    w, t = summary["mean_words"], summary["mean_tokens"]
    if w["base"] is not None:
        lines.append(
            f"  mean length: base {w['base']:g} words / {t['base']:g} tokens, "
            f"tuned {w['tuned']:g} words / {t['tuned']:g} tokens"
        )
    lines += [f"  note: {n}" for n in summary["notes"]]
    return "\n".join(lines) + "\n"


# --- summary ---------------------------------------------------------------------------------------------


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(sum(present) / len(present), 2) if present else None


def summarize(
    items: list[dict], criteria: list[str] | None = None, *, judged: bool = True, total: int | None = None
) -> dict:
    """Wins/ties/losses of tuned vs base, mean scores per criterion and side, mean answer lengths."""
    criteria = list(criteria or sorted({c for it in items for c in (it.get("scores") or {})}))
    verdicts = [it.get("verdict") for it in items]
    wins, losses, ties = verdicts.count("tuned"), verdicts.count("base"), verdicts.count("tie")
    errors = sum(1 for it in items if it.get("judge_error"))
    n = len(items)
    mean_scores = {
        c: {s: _mean((it.get("scores") or {}).get(c, {}).get(s) for it in items) for s in SIDES} for c in criteria
    }
    overall = {s: _mean(v for c in criteria for v in [mean_scores[c][s]]) for s in SIDES}
    words = {s: _mean(it[s]["words"] for it in items if it.get(s)) for s in SIDES}
    tokens = {s: _mean(it[s]["tokens"] for it in items if it.get(s)) for s in SIDES}
    ratio = round(words["tuned"] / words["base"], 2) if words["base"] and words["tuned"] is not None else None
    flips = sum(1 for it in items if it.get("position_disagreement"))
    if not judged:
        headline = f"{n} prompt{'s' if n != 1 else ''} answered (no judge)"
    else:
        headline = f"tuned better in {wins}/{n}"
        rest = [f"base better in {losses}", f"{ties} tie{'s' if ties != 1 else ''}"]
        if errors:
            rest.append(f"{errors} judge error{'s' if errors != 1 else ''}")
        headline += " (" + ", ".join(rest) + ")"
    notes = []
    if ratio is not None and ratio >= VERBOSITY_WARNING:
        notes.append(f"tuned answers are {ratio:g}x longer than base ones: check for verbosity drift")
    elif ratio is not None and ratio <= 1 / VERBOSITY_WARNING:
        notes.append(f"tuned answers are much shorter than base ones ({ratio:g}x)")
    if flips:
        notes.append(
            f"the judge changed its mind when the answers swapped places on {flips} prompt"
            f"{'s' if flips != 1 else ''} (counted as ties)"
        )
    if total is not None and total > n:
        notes.append(f"only {n} of {total} prompts were finished")
    return {
        "items": n,
        "prompts_planned": total if total is not None else n,
        "tuned_wins": wins,
        "base_wins": losses,
        "ties": ties,
        "judge_errors": errors,
        "position_disagreements": flips,
        "judged": judged,
        "headline": headline,
        "criteria": criteria,
        "mean_scores": mean_scores,
        "mean_overall": overall,
        "mean_words": words,
        "mean_tokens": tokens,
        "length_ratio": ratio,
        "notes": notes,
    }


def write_summary(folder: Path, summary: dict) -> None:
    _write_json(Path(folder) / "summary.json", summary)


def csv_rows(items: list[dict], criteria: list[str]) -> tuple[list[str], list[list[Any]]]:
    header = [
        "index",
        "prompt",
        "base_answer",
        "tuned_answer",
        "base_words",
        "tuned_words",
        "base_tokens",
        "tuned_tokens",
        "verdict",
    ]
    header += [f"{c}_{s}" for c in criteria for s in SIDES]
    header += ["reasoning", "judge_error"]
    rows = []
    for it in items:
        scores = it.get("scores") or {}
        row = [
            it.get("index", 0) + 1,
            it.get("prompt", ""),
            it["base"]["answer"],
            it["tuned"]["answer"],
            it["base"]["words"],
            it["tuned"]["words"],
            it["base"]["tokens"],
            it["tuned"]["tokens"],
            it.get("verdict") or "",
        ]
        row += [scores.get(c, {}).get(s, "") for c in criteria for s in SIDES]
        row += [it.get("reasoning", ""), it.get("judge_error") or ""]
        rows.append(row)
    return header, rows


def write_csv(
    folder: Path, items: list[dict] | None = None, criteria: list[str] | None = None, dest: str | Path | None = None
) -> Path:
    """Write comparison.csv (or ``dest``); returns the path."""
    folder = Path(folder)
    items = read_items(folder) if items is None else items
    criteria = (
        criteria or read_meta(folder).get("criteria") or sorted({c for it in items for c in (it.get("scores") or {})})
    )
    header, rows = csv_rows(items, criteria)
    path = Path(dest) if dest else folder / "comparison.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


# --- reopening -------------------------------------------------------------------------------------------


def load(folder: str | Path) -> dict:
    """A past comparison: ``{"id", "path", "meta", "items", "summary"}`` (summary recomputed when missing)."""
    folder = Path(folder)
    if not (folder / "meta.json").is_file():
        raise FileNotFoundError(f"{folder} is not a comparison folder (no meta.json)")
    meta = read_meta(folder)
    items = read_items(folder)
    try:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        summary = summarize(
            items, meta.get("criteria"), judged=bool(meta.get("judge")), total=len(meta.get("prompts") or []) or None
        )
    return {"id": folder.name, "path": str(folder), "meta": meta, "items": items, "summary": summary}


def list_comparisons(run) -> list[dict]:
    """Past comparisons of a run, newest first: id, path, status, headline, prompts, judge, created_at."""
    rows = []
    for meta_path in comparisons_dir(run).glob("*/meta.json"):
        folder = meta_path.parent
        meta = read_meta(folder)
        try:
            summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            summary = summarize(
                read_items(folder),
                meta.get("criteria"),
                judged=bool(meta.get("judge")),
                total=len(meta.get("prompts") or []) or None,
            )
        status = meta.get("status", "unknown")
        if status == "running" and not _alive(meta.get("pid")):
            status = "interrupted"
        rows.append(
            {
                "id": folder.name,
                "path": str(folder),
                "status": status,
                "headline": summary.get("headline", ""),
                "prompts": len(meta.get("prompts") or []),
                "judge": meta.get("judge"),
                "adapter": meta.get("adapter_label", ""),
                "created_at": meta.get("created_at", 0),
            }
        )
    return sorted(rows, key=lambda r: (r["created_at"], r["id"]), reverse=True)


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int):
        return False
    if pid == os.getpid():
        return True
    try:
        import psutil

        return psutil.pid_exists(pid)
    except ImportError:  # pragma: no cover
        return False
