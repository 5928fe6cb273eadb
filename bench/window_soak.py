"""Soak the real main window: live charts at a high rate, a second run overlaid, the hover readout moving, then
the Comparison pane streaming tokens. Reports whether the process stayed up and what drifted.

    python bench/window_soak.py [--seconds 180] [--rate 8] [--compare-seconds 60] [--json out.json]

The metric records travel the app's real path: a spawned child process (standing in for the engine, which on
this CPU steps every 5-10 s, far too slowly to stress anything) writes each record to a real run folder and puts
it on the multiprocessing queue; the real TrainingWorker relays it from its QThread to the main window as a Qt
signal; the Metrics pane appends it to the chart buffers and the charts redraw on their own timer. Meanwhile the
mouse moves over the charts (pyqtgraph's SignalProxy -> hover readout), the run list is re-read on a worker
QThread every 2 s, and pyqtgraph's GarbageCollector collects on the GUI thread with gc disabled (as in the app).

Every second it samples sys.getrefcount(None) (which drained to an abort on PySide6 6.12.0 + Python 3.11), the
RSS, the chart points received vs drawn, paint events and the longest gap between ticks of a 10 ms GUI timer.
Prints one JSON object; exits 1 when the window did not keep up or something drifted (see ``verdict``).
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
SERIES = ("loss", "grad_norm", "learning_rate", "rewards/chosen", "rewards/rejected", "rewards/margins",
          "rewards/accuracies", "logps/chosen", "logps/rejected", "logits/chosen", "logits/rejected")


def fake_engine(config: dict, resume, events, cancel, rate: float = 8.0, seconds: float = 60.0) -> None:
    """Child process: a run folder and a stream of TRL-named records at ``rate`` per second, like the engine's."""
    import math

    from dpostudio.core.training.run_config import RunConfig
    from dpostudio.core.training.runs import create_run
    from dpostudio.ui.training.worker import _stop_when_parent_dies

    _stop_when_parent_dies(cancel)  # as the real training child does: stop if the window's process dies
    run = create_run(RunConfig.from_dict(config))
    total = max(1, int(rate * seconds))
    events.put({"type": "started", "run_id": run.id, "run_dir": str(run.path), "config": config, "device": "cpu",
                "precision": "fp32", "device_reason": "soak test", "model": config["model"], "resumed_from_step": 0})
    t0 = time.monotonic()
    step = 0
    for step in range(1, total + 1):
        if cancel.is_set():
            break
        time.sleep(max(0.0, t0 + step / rate - time.monotonic()))
        x = step / total
        metrics = {name: math.sin(step / (3 + i)) * (1 - x) + i * x for i, name in enumerate(SERIES)}
        event = {"type": "log", "step": step, "max_steps": total, "epoch": x, "metrics": metrics,
                 "elapsed_s": time.monotonic() - t0, "eta_s": (total - step) / rate}
        run.append_event(event)
        events.put(event)
        if step % 20 == 0:
            evaluation = {"type": "eval", "step": step, "epoch": x, "metrics": {
                "eval_loss": 0.7 - 0.3 * x, "eval_rewards/accuracies": 0.5 + 0.4 * x,
                "eval_rewards/margins": x, "eval_rewards/chosen": x / 2, "eval_rewards/rejected": -x / 2,
                "eval_logps/chosen": -40 - x, "eval_logps/rejected": -45 - 5 * x}}
            run.append_event(evaluation)
            events.put(evaluation)
    final = {"type": "finished", "step": step, "adapter_dir": "", "message": "soak stream ended"}
    run.append_event(final)
    run.update_info(status="finished", step=step)
    events.put(final)
    events.put({"type": "_exit", "run_id": run.id, "status": "finished", "message": ""})


def _past_run(steps: int = 300) -> str:
    from dpostudio.core.training.run_config import RunConfig
    from dpostudio.core.training.runs import create_run

    run = create_run(RunConfig(name="soak-overlay", max_steps=steps))
    for step in range(1, steps + 1):
        run.append_event({"type": "log", "step": step, "max_steps": steps, "epoch": step / steps,
                          "metrics": {name: 1 / step + i for i, name in enumerate(SERIES)}})
    run.update_info(status="finished", step=steps)
    return run.id


def soak(seconds: float, rate: float, compare_seconds: float) -> dict:
    import functools
    import gc

    import psutil
    from PySide6.QtCore import QEvent, QObject, QPoint, QTimer
    from PySide6.QtTest import QTest

    from dpostudio.core.training.run_config import RunConfig
    from dpostudio.ui.training import worker as training_worker
    from dpostudio.ui.app import create_application, install_excepthooks
    from dpostudio.ui.main_window import MainWindow

    proc = psutil.Process()
    app = create_application()
    past_id = _past_run()
    window = MainWindow(probe_device=False)
    errors: list[str] = []
    install_excepthooks(lambda level, text: errors.append(text) if level == "error" else None)
    window.resize(1400, 900)
    window.show()
    window.show_pane("Metrics")
    charts = window.metrics_pane.charts
    viewport = charts.layout_widget.viewport()

    class PaintCounter(QObject):
        paints = 0

        def eventFilter(self, obj, event):  # noqa: N802 - Qt API
            if event.type() == QEvent.Paint:
                PaintCounter.paints += 1
            return False

    counter = PaintCounter()
    viewport.installEventFilter(counter)
    readouts: set[str] = set()
    samples: list[dict] = []
    ticks: list[float] = []
    steady: list[float] = []  # gaps after the first 5 s (start-up work excluded)
    long_gaps: list[tuple[float, float]] = []  # (seconds since start, gap in ms) of every gap over 100 ms
    last_tick = [time.perf_counter()]

    def tick():
        now = time.perf_counter()
        ticks.append((now - last_tick[0]) * 1000)
        if now - t0 > 5:
            steady.append(ticks[-1])
        if ticks[-1] > 100:
            long_gaps.append((round(now - t0, 2), round(ticks[-1], 1)))
        last_tick[0] = now

    def sample(phase: str):
        samples.append({"t": round(time.perf_counter() - t0, 1), "phase": phase, "none_refs": sys.getrefcount(None),
                        "rss_mb": round(proc.memory_info().rss / 2**20, 1), "paints": PaintCounter.paints,
                        "points": sum(b.n for b in charts.buffers.values())})

    hover_i = [0]

    def hover():
        hover_i[0] += 1
        w, h = viewport.width(), viewport.height()
        x = 20 + (hover_i[0] * 37) % max(1, w - 40)
        y = 20 + (hover_i[0] * 53) % max(1, h - 40)
        QTest.mouseMove(viewport, QPoint(x, y))
        readouts.add(window.metrics_pane.readout.text())

    overlaid = [False]

    def overlay_once():
        live = window.metrics_pane.live_run_id
        if live and not overlaid[0]:
            overlaid[0] = True
            window.metrics_pane.select_runs([live, past_id])

    training_worker.train_in_child = functools.partial(fake_engine, rate=rate, seconds=seconds)
    timers = []
    for interval, fn in ((10, tick), (33, hover), (1000, lambda: sample("metrics")), (2000, overlay_once),
                         (2000, window.metrics_pane.refresh_runs)):
        timer = QTimer()
        timer.timeout.connect(fn)
        timer.start(interval)
        timers.append(timer)
    t0 = time.perf_counter()
    sample("start")
    controller = window.training_pane.controller
    controller.start(RunConfig(name="soak-live", max_steps=int(rate * seconds)))
    deadline = time.monotonic() + seconds + 60
    while (controller.is_running() or controller.last_final is None) and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.002)
    final = controller.last_final or {}
    charts.flush()
    app.processEvents()
    live = window.metrics_pane.live_run_id
    received = sum(b.n for (run, _), b in charts.buffers.items() if run == live)
    drawn = sum(charts.drawn_points(run, metric) for (run, metric) in charts.items if run == live)
    metrics_phase = {"final": final.get("type"), "points_buffered": received, "points_drawn": drawn,
                     "runs_overlaid": len(charts.runs()), "hover_readouts": len(readouts)}
    metric_ticks = list(ticks)
    metric_steady_max = max(steady, default=0)

    # ---- the Comparison pane streaming tokens ----
    ticks.clear()
    window.show_pane("Comparison")
    pane = window.comparison_pane
    prompts = [f"Prompt {i}: explain something at length." for i in range(5)]
    pane._reset_results(prompts)
    tokens = 0
    c0 = time.monotonic()
    while time.monotonic() - c0 < compare_seconds:
        for side in ("base", "tuned"):
            pane._on_event({"type": "token", "prompt_index": tokens % 5, "side": side, "text": f"word{tokens} "})
        tokens += 1
        if tokens % 10 == 0:
            app.processEvents()
        if tokens % 500 == 0:
            sample("comparison")
            pane._reset_results(prompts)  # a new comparison: boxes are rebuilt, old widgets are deleted
        time.sleep(0.004)
    gc.collect()
    app.processEvents()
    sample("end")
    for timer in timers:
        timer.stop()
    window.close()
    app.processEvents()

    first, last = samples[0], samples[-1]
    none_min = min(s["none_refs"] for s in samples)
    result = {
        "python": sys.version.split()[0], "pyside6": __import__("PySide6").__version__,
        "seconds": round(time.perf_counter() - t0, 1), "records_per_s": rate,
        "metrics_phase": metrics_phase, "tokens_streamed": tokens * 2,
        "tokens_per_s": round(tokens * 2 / max(compare_seconds, 1e-9)),
        "none_refs": {"start": first["none_refs"], "end": last["none_refs"], "min": none_min},
        "rss_mb": {"start": first["rss_mb"], "after_metrics": max((s["rss_mb"] for s in samples
                                                                   if s["phase"] == "metrics"), default=None),
                   "end": last["rss_mb"]},
        "paint_events": last["paints"],
        "gui_gap_ms": {"metrics_max": round(max(metric_ticks, default=0), 1),
                       "metrics_max_after_5s": round(metric_steady_max, 1),
                       "comparison_max": round(max(ticks, default=0), 1), "over_100ms": len(long_gaps),
                       "worst_at_s": sorted(long_gaps, key=lambda g: -g[1])[:8]},
        "errors": errors[:5], "samples": samples,
    }
    problems = []
    if metrics_phase["final"] != "finished":
        problems.append(f"the stream did not finish ({metrics_phase['final']})")
    if drawn != received:
        problems.append(f"charts did not keep up: {drawn} of {received} points drawn")
    if none_min < first["none_refs"] - 1000:
        problems.append(f"None's refcount fell from {first['none_refs']} to {none_min}")
    if errors:
        problems.append(f"{len(errors)} error(s) reported: {errors[0]}")
    result["verdict"] = "; ".join(problems) or "ok"
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180, help="how long live records stream in")
    parser.add_argument("--rate", type=float, default=8, help="metric records per second")
    parser.add_argument("--compare-seconds", type=float, default=60, help="how long tokens stream in the comparison")
    parser.add_argument("--json", metavar="FILE", help="also write the result to FILE")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["DPOSTUDIO_HOME"] = tempfile.mkdtemp(prefix="dpostudio-soak-")
    os.environ["DPOSTUDIO_NO_PLUGINS"] = "1"
    sys.path.insert(0, str(REPO / "bench"))  # the spawned child imports fake_engine from this module
    from window_soak import soak as soak_in_module  # noqa: PLC0415 - so the child can find fake_engine by name

    result = soak_in_module(args.seconds, args.rate, args.compare_seconds)
    text = json.dumps(result, indent=1)
    if args.json:
        Path(args.json).write_text(text)
    summary = {k: v for k, v in result.items() if k != "samples"}
    print(json.dumps(summary, indent=1))
    return 0 if result["verdict"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
