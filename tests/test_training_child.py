"""A child process (training, comparison) is told to stop (training: with a checkpoint, at the next step) when the
window's process dies."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time


def test_child_is_told_to_stop_when_its_parent_dies(tmp_path):
    marker = tmp_path / "stopped"
    script = textwrap.dedent(f"""
        import multiprocessing, os, sys, time
        from pathlib import Path

        def child(cancel):
            from dpostudio.ui.child_process import stop_when_parent_dies
            stop_when_parent_dies(cancel)
            if cancel.wait(60):
                Path({str(marker)!r}).write_text("cancel set")

        if __name__ == "__main__":
            ctx = multiprocessing.get_context("spawn")
            cancel = ctx.Event()
            proc = ctx.Process(target=child, args=(cancel,), daemon=True)
            proc.start()
            time.sleep(3)  # let the child import and start watching
            os._exit(134)  # die the way an abort does: no clean-up, the daemon child is not terminated
    """)
    path = tmp_path / "parent.py"
    path.write_text(script)
    assert subprocess.run([sys.executable, str(path)], timeout=60).returncode == 134
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert marker.read_text() == "cancel set"
