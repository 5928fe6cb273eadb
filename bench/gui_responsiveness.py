"""How responsive is the window while a real training run goes on in its QThread?

Runs a short real LoRA-DPO run (embedded SmolLM2-135M, builtin:demo) from the Training pane of the real main
window, offscreen, and records the gaps between ticks of a 10 ms QTimer on the GUI thread. Prints the longest gap
and the p50/p99 gaps, for the whole run and for the stepping phase alone. A gap well above 10 ms means the event
loop was stalled (GIL held by the training thread, or slow work on the GUI thread).

    python bench/gui_responsiveness.py [--steps 6] [--screenshots docs/screenshots]

Uses a throw-away data folder; models come from DPOSTUDIO_MODELS (defaults to the test store in
.dpostudio-test-home/models when it exists, so the embedded model is not imported again).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, int(round(q / 100 * (len(ordered) - 1)))))
    return ordered[k]


def stats(gaps: list[float]) -> dict:
    return {"ticks": len(gaps), "max_ms": max(gaps, default=float("nan")), "p50_ms": percentile(gaps, 50),
            "p99_ms": percentile(gaps, 99), "over_50ms": sum(g > 50 for g in gaps)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--screenshots", metavar="DIR", help="also save screenshots of every pane after the run")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--with-eval", action="store_true", help="use builtin:demo with its eval split")
    args = parser.parse_args()

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ["DPOSTUDIO_HOME"] = tempfile.mkdtemp(prefix="dpostudio-bench-")
    shared = REPO / ".dpostudio-test-home" / "models"
    if "DPOSTUDIO_MODELS" not in os.environ and shared.is_dir():
        os.environ["DPOSTUDIO_MODELS"] = str(shared)

    from PySide6.QtCore import QTimer

    from dpostudio.ui.app import apply_color_scheme, create_application, install_excepthooks
    from dpostudio.ui.main_window import MainWindow

    app = create_application()
    window = MainWindow()
    install_excepthooks(window.log_bus.report)
    window.show()
    pane = window.training_pane
    # builtin:demo ships its own 40-row eval split; a train-only copy of its first rows keeps evaluation off,
    # so the figures describe the stepping loop (pass --with-eval to include the final evaluation)
    if args.with_eval:
        window.set_data_config({"dataset": "builtin:demo", "eval_ratio": 0.0})
    else:
        from dpostudio.core.paths import RESOURCES_DIR

        subset = Path(os.environ["DPOSTUDIO_HOME"]) / "demo-subset.jsonl"
        lines = (RESOURCES_DIR / "demo_pairs" / "train.jsonl").read_text(encoding="utf-8").splitlines()[:64]
        subset.write_text("\n".join(lines) + "\n", encoding="utf-8")
        window.set_data_config({"dataset": str(subset), "eval_ratio": 0.0})
    pane.set_values({"max_steps": args.steps, "per_device_batch_size": args.batch, "max_length": args.max_length,
                     "eval_steps": None, "save_steps": 1000, "logging_steps": 1, "name": "responsiveness"})

    ticks: list[float] = []
    marks: dict[str, float] = {}
    final: dict = {}
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))

    events: list[tuple[float, str]] = []

    def on_event(event):
        now = time.perf_counter()
        label = event["type"] if event["type"] != "stage" else f"stage: {event.get('message', '')[:40]}"
        events.append((now, label))
        if event["type"] == "log" and "first_log" not in marks:
            marks["first_log"] = now

    def on_finished(event):
        marks["end"] = time.perf_counter()
        final.update(event)
        QTimer.singleShot(300, app.quit)

    pane.controller.event.connect(on_event)
    pane.controller.finished.connect(on_finished)

    def start():
        timer.start()
        marks["start"] = time.perf_counter()
        if not pane.start_training():
            print("could not start:", window.log_panel.text(), file=sys.stderr)
            app.quit()

    QTimer.singleShot(500, start)
    QTimer.singleShot(int(args.timeout * 1000), app.quit)
    app.exec()
    timer.stop()

    gaps_all = [(b - a) * 1000 for a, b in zip(ticks, ticks[1:]) if marks.get("start", 0) <= a <= marks.get("end", 1e18)]
    stepping = [(b - a) * 1000 for a, b in zip(ticks, ticks[1:])
                if marks.get("first_log", 1e18) <= a <= marks.get("end", 0)]
    result = {
        "status": final.get("type"), "message": final.get("message"), "steps": args.steps,
        "run_wall_s": round(marks.get("end", time.perf_counter()) - marks.get("start", 0), 2),
        "whole_run": {k: round(v, 2) if isinstance(v, float) else v for k, v in stats(gaps_all).items()},
        "stepping_phase": {k: round(v, 2) if isinstance(v, float) else v for k, v in stats(stepping).items()},
        "chart_points": sum(b.n for b in window.metrics_pane.charts.buffers.values()),
    }
    # where the long stalls happened: the last engine event delivered before each one
    long_gaps = []
    for a, b in zip(ticks, ticks[1:]):
        if (b - a) * 1000 > 50 and marks.get("start", 0) <= a <= marks.get("end", 1e18):
            before = [label for t, label in events if t <= a]
            long_gaps.append({"at_s": round(a - marks["start"], 1), "gap_ms": round((b - a) * 1000, 1),
                              "after_event": before[-1] if before else "(before the first event)"})
    result["gaps_over_50ms"] = long_gaps
    print(json.dumps(result, indent=2))

    if args.screenshots:
        out = Path(args.screenshots)
        out.mkdir(parents=True, exist_ok=True)
        window.resize(1400, 900)
        window.metrics_pane.refresh_runs()
        deadline = time.time() + 10
        while time.time() < deadline and not window.metrics_pane.rows:
            app.processEvents()
            time.sleep(0.05)
        if window.metrics_pane.rows:
            window.metrics_pane.select_runs([window.metrics_pane.rows[0]["id"]])
        for _ in range(40):
            app.processEvents()
            time.sleep(0.02)

        def shoot(name: str) -> None:
            for _ in range(10):
                app.processEvents()
                time.sleep(0.02)
            window.metrics_pane.charts.flush()
            window.grab().save(str(out / f"{name}.png"))
            print("saved", out / f"{name}.png")

        # the Dataset and Settings panes keep their own close-up screenshots (dataset.png, settings.png);
        # whole-window views of them are saved as window-*.png
        for pane_name, file_name in (("Dataset", "window-dataset"), ("Training", "training"), ("Metrics", "metrics"),
                                     ("Comparison", "comparison"), ("Settings", "window-settings")):
            window.show_pane(pane_name)
            shoot(file_name)
        os.environ["DPOSTUDIO_THEME"] = "dark"
        apply_color_scheme(app)
        window.show_pane("Metrics")
        shoot("metrics-dark")
        window.show_pane("Training")
        shoot("training-dark")
    return 0 if final.get("type") == "finished" else 1


if __name__ == "__main__":
    raise SystemExit(main())
