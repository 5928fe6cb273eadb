"""A minute of live charts and streamed tokens on the real main window: the process stays up, None's refcount and
the RSS stay flat, and the charts keep up. (bench/window_soak.py runs the long version.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_main_window_survives_a_minute_of_live_charts_and_streaming(tmp_path):
    out = tmp_path / "soak.json"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "window_soak.py"), "--seconds", "45", "--rate", "8",
         "--compare-seconds", "15", "--json", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    # an abort (the PySide6 6.12 fault) ends the process with a signal and no JSON
    assert proc.returncode in (0, 1), f"the window process died ({proc.returncode}):\n{proc.stderr[-3000:]}"
    result = json.loads(out.read_text())
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}))
    assert result["verdict"] == "ok", result["verdict"]
    metrics = result["metrics_phase"]
    assert metrics["final"] == "finished" and metrics["runs_overlaid"] == 2
    assert metrics["points_buffered"] >= 45 * 8 * 5 and metrics["points_drawn"] == metrics["points_buffered"]
    assert metrics["hover_readouts"] > 10  # the readout followed the mouse
    assert result["paint_events"] > 45  # the charts really repainted, about every redraw
    refs = result["none_refs"]
    assert refs["min"] >= refs["start"] - 1000
    rss = result["rss_mb"]
    assert rss["end"] - rss["start"] < 300, rss  # no runaway growth (buffers of ~4k points are a few MB)
