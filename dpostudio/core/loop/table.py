"""A loop's table: one row per round (round 0 is the starting model), for ``dpostudio iterate status`` and the app.

Columns: round, step, run id, prompts, pairs made, ties dropped, unjudged prompts, eval loss, eval reward
accuracy (the round's own held-out pairs), win rate against the previous round and against the base on the
loop's held-out prompts (judged in both orders; ties count half), and how many verdicts those rates rest on.
"""

from __future__ import annotations

from dpostudio.core.loop.loop_spec import Loop

COLUMNS = (
    ("round", "round"),
    ("step", "step"),
    ("run_id", "run"),
    ("prompts", "prompts"),
    ("pairs", "pairs"),
    ("ties", "ties"),
    ("unjudged", "unjudged"),
    ("eval_loss", "eval loss"),
    ("eval_accuracy", "eval acc"),
    ("win_vs_previous", "win vs prev"),
    ("win_vs_base", "win vs base"),
    ("judged", "judged"),
)


def loop_table(loop: Loop) -> list[dict]:
    """The rows, round 0 first; values not known yet are None."""
    start = loop.data().get("start") or {}
    rows: list[dict] = [
        {key: None for key, _ in COLUMNS} | {"round": 0, "step": "start", "run_id": start.get("run") or "(base model)"}
    ]
    for entry in loop.rounds():
        counts = entry.get("counts") or {}
        evals = entry.get("eval") or {}
        rates = entry.get("win_rates") or {}
        prev, base = rates.get("vs_previous") or {}, rates.get("vs_base") or {}
        rows.append(
            {
                "round": entry["round"],
                "step": entry.get("step"),
                "run_id": entry.get("run_id"),
                "prompts": counts.get("prompts"),
                "pairs": counts.get("pairs"),
                "ties": counts.get("ties"),
                "unjudged": counts.get("unjudged"),
                "eval_loss": evals.get("eval_loss"),
                "eval_accuracy": evals.get("eval_rewards/accuracies"),
                "win_vs_previous": prev.get("win_rate"),
                "win_vs_base": base.get("win_rate"),
                "judged": prev.get("judged"),
            }
        )
    return rows


def format_table(rows: list[dict]) -> str:
    """The rows as aligned plain text."""

    def cell(key: str, value) -> str:
        if value is None:
            return "—"
        if isinstance(value, float):
            return f"{value:.0%}" if key.startswith("win") or key == "eval_accuracy" else f"{value:.4g}"
        return str(value)

    table = [[title for _, title in COLUMNS]] + [[cell(k, row.get(k)) for k, _ in COLUMNS] for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in table)
