"""Core loop events in words: the status line and the progress bar of the Generate and Loop tabs."""

from __future__ import annotations

from typing import Any

PHASE_WORDS = {
    "generate": "Generating answers",
    "rank": "Ranking answers",
    "pairs": "Building pairs",
    "train": "Training",
    "evaluate": "Answering the held-out prompts",
}


def eta_words(seconds: float | None) -> str:
    if seconds is None:
        return "time left: estimating…"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"about {seconds} s left"
    if seconds < 3600:
        return f"about {seconds // 60} min {seconds % 60:02d} s left"
    return f"about {seconds // 3600} h {seconds % 3600 // 60:02d} min left"


def progress_words(event: dict[str, Any]) -> str:
    """``Generating answers: 3 of 12 prompts · about 40 s left``."""
    phase = PHASE_WORDS.get(event.get("phase", ""), str(event.get("phase", "Working")).capitalize())
    done, total = event.get("done", 0), event.get("total", 0)
    text = f"{phase}: {done} of {total} prompts"
    if done < total:
        text += " · " + eta_words(event.get("eta_s"))
    return text


def train_words(round_no: Any, event: dict[str, Any]) -> str | None:
    """A training event of a loop round in words (None for the ones not worth a status line)."""
    kind = event.get("type")
    if kind == "log":
        loss = (event.get("metrics") or {}).get("loss")
        text = f"Round {round_no}: training step {event.get('step')} of {event.get('max_steps') or '?'}"
        return text + (f" · loss {loss:.4f}" if isinstance(loss, (int, float)) else "")
    if kind == "started":
        return f"Round {round_no}: training run {event.get('run_id')} started"
    if kind == "eval":
        value = (event.get("metrics") or {}).get("eval_loss")
        return f"Round {round_no}: evaluated at step {event.get('step')}" + (
            f" · eval loss {value:.4f}" if isinstance(value, (int, float)) else ""
        )
    return None


def end_words(final: dict[str, Any], what: str) -> tuple[str, str]:
    """(level, text) for the end of a job or loop."""
    kind, message = final.get("type"), final.get("message") or ""
    if kind == "finished":
        return "info", f"{what} finished: {message}"
    if kind == "cancelled":
        return "info", f"{what} stopped: {message}"
    return "error", f"{what} failed: {message}"
