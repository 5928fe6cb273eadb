"""Ctrl-C in a long command: the first press asks the work to stop at its next safe point (it sets a cancel event
the core polls) and says so; a second press quits at once (``KeyboardInterrupt``). Outside the main thread (a
command run from a test's worker thread) signals cannot be caught, and nothing is installed."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def stop_on_ctrl_c(message: str) -> Iterator[threading.Event]:
    """Within the block, the first Ctrl-C prints ``message`` and sets the yielded event; the second raises
    ``KeyboardInterrupt``. The previous handler is restored on the way out."""
    cancel = threading.Event()

    def on_sigint(signum, frame):
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        print(f"\n{message} (Ctrl-C again to quit at once)", file=sys.stderr)

    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_sigint) if on_main_thread else None
    try:
        yield cancel
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
