"""Time from process start to the main window shown (and painted), in a fresh interpreter.

    python bench/app_startup.py [--runs 3]

Each run starts a new Python process that imports the app, builds the main window, shows it and stops at the
first paint of the window; the child reports the time since its own interpreter start (``psutil`` process create
time) and which heavy libraries were loaded by then (none should be: torch & co load in background tasks).
Prints the figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import os, sys, time, json
import psutil
t_proc = psutil.Process().create_time()
from PySide6.QtCore import QObject, QEvent, QTimer
from dpostudio.ui.app import create_application
from dpostudio.ui.main_window import MainWindow
app = create_application()
window = MainWindow()
result = {}

class PaintWatch(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Paint and "shown_s" not in result:
            result["shown_s"] = time.time() - t_proc
            QTimer.singleShot(0, app.quit)
        return False

watch = PaintWatch()
window.installEventFilter(watch)
window.show()
QTimer.singleShot(20000, app.quit)
app.exec()
heavy = sorted({m.split('.')[0] for m in sys.modules} & {"torch", "transformers", "trl", "datasets", "peft"})
# the device probe may already have started importing torch in its background task after the window showed
result["heavy_loaded_at_exit"] = heavy
print(json.dumps(result))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env["DPOSTUDIO_HOME"] = tempfile.mkdtemp(prefix="dpostudio-startup-")
    times, outer = [], []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, timeout=120)
        outer.append(time.perf_counter() - t0)
        lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
        if not lines:
            print(out.stdout, out.stderr, file=sys.stderr)
            return 1
        result = json.loads(lines[-1])
        times.append(result["shown_s"])
    print(json.dumps({
        "runs": args.runs,
        "window_shown_s": [round(t, 2) for t in times],
        "median_window_shown_s": round(statistics.median(times), 2),
        "median_process_wall_s": round(statistics.median(outer), 2),
        "heavy_libraries_loaded_by_exit": result.get("heavy_loaded_at_exit"),
    }, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
