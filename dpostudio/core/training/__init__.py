"""Training: the run configuration, device and precision choice, the TRL engine and its events, run folders.

``engine.train`` is the one entry point (CLI and GUI alike); ``runs`` owns what a run leaves on disk.
"""

from dpostudio.core.training.run_config import ConfigError, RunConfig
from dpostudio.core.training.runs import Run, RunError, create_run, get_run, list_runs

__all__ = ["ConfigError", "Run", "RunConfig", "RunError", "create_run", "get_run", "list_runs"]
