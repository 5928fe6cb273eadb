"""The GUI thread's longest stall while the app starts up, loads a tokenizer, and runs a comparison.

    python bench/gui_stalls.py [--startup-seconds 15] [--skip-comparison]

Opens the real main window (offscreen) the way ``dpostudio`` does — the device probe included — and records the
gaps between ticks of a 10 ms QTimer on the GUI thread:
  1. start-up: the first ``--startup-seconds`` after the window is shown (device probe, run list, model list,
     memory estimate);
  2. tokenizer: the Dataset pane loads the embedded model's tokenizer and re-reads the built-in pairs with it;
  3. comparison: the Comparison pane compares base and tuned answers of a (fake, untrained) run on one prompt,
     without a judge, a few tokens long.
A gap well above 10 ms means the event loop was stalled. Prints one JSON object with the longest gap, p99 and the
count over 50 ms per phase, and which heavy libraries the window's own process imported. Asserts nothing.
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
HEAVY = {"torch", "transformers", "trl", "peft", "datasets"}


def _stats(gaps: list[float]) -> dict:
    ordered = sorted(gaps)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * (len(ordered) - 1)))] if ordered else float("nan")
    return {"ticks": len(gaps), "max_ms": round(max(gaps, default=float("nan")), 1), "p99_ms": round(p99, 1),
            "over_50ms": sum(g > 50 for g in gaps)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--startup-seconds", type=float, default=15)
    parser.add_argument("--skip-comparison", action="store_true")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ["DPOSTUDIO_HOME"] = tempfile.mkdtemp(prefix="dpostudio-stalls-")
    shared = REPO / ".dpostudio-test-home" / "models"
    if "DPOSTUDIO_MODELS" not in os.environ and shared.is_dir():
        os.environ["DPOSTUDIO_MODELS"] = str(shared)

    from PySide6.QtCore import QTimer

    from dpostudio.ui.app import create_application, install_excepthooks
    from dpostudio.ui.main_window import MainWindow

    app = create_application()
    window = MainWindow()
    errors: list[str] = []
    install_excepthooks(lambda level, text: errors.append(text) if level == "error" else None)
    gaps: list[float] = []
    last = [time.perf_counter()]
    long_gaps: list[tuple[str, float]] = []  # (what the bench was doing, gap in ms) for every gap over 50 ms
    doing = ["start-up"]

    def tick():
        now = time.perf_counter()
        gaps.append((now - last[0]) * 1000)
        if gaps[-1] > 50:
            long_gaps.append((doing[0], round(gaps[-1], 1)))
        last[0] = now

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(10)

    def pump_until(done, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while not done() and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.002)
        return done()

    result: dict = {}
    window.show()
    last[0] = time.perf_counter()
    pump_until(lambda: False, args.startup_seconds)
    result["startup"] = {**_stats(gaps), "device_probed": window.device_choice is not None}

    gaps.clear()
    pane = window.dataset_pane
    pane.model_edit.setText("embedded:smollm2-135m-instruct")
    doing[0] = "tokenizer"
    pane.load_tokenizer()
    ok = pump_until(lambda: "lengths in tokens" in pane.tokenizer_status.text(), args.timeout)
    pump_until(lambda: False, 3)
    result["tokenizer"] = {**_stats(gaps), "loaded": ok}

    if not args.skip_comparison:
        # a finished run with a real, untrained LoRA adapter, made in another process so that the window's own
        # process stays as it is in the app (no torch)
        import subprocess

        made = subprocess.run(
            [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); from compare_fixtures import "
             "make_adapter_run; from dpostudio.core.model_store import resolve_model; "
             "print(make_adapter_run(resolve_model('embedded:smollm2-135m-instruct'), name='stalls').id)",
             str(REPO / "tests")], capture_output=True, text=True, check=True)
        run_id = made.stdout.split()[-1]
        gaps.clear()
        last[0] = time.perf_counter()  # (the bench itself just waited for that process)
        comparison = window.comparison_pane
        window.metrics_pane.refresh_runs()
        doing[0] = "selecting the run"
        pump_until(lambda: comparison.select_run(run_id), 30)
        comparison.set_prompts(["Name a primary colour."])
        comparison.max_new_tokens.setValue(8)
        doing[0] = "starting the comparison"
        comparison.start()
        doing[0] = "comparing"
        ok = pump_until(lambda: not comparison.is_running() and comparison.status_label.text() in
                        ("finished", "failed", "cancelled"), args.timeout)
        result["comparison"] = {**_stats(gaps), "status": comparison.status_label.text()}

    result["heavy_in_window_process"] = sorted({m.split(".")[0] for m in sys.modules} & HEAVY)
    result["errors"] = errors[:3]
    result["gaps_over_50ms"] = long_gaps
    timer.stop()
    window.close()
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
