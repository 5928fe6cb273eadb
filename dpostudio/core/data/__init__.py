"""Preference data: sources, formats, filters, per-row problems, statistics, templates and the train/eval split.

Others use ``pipeline`` (load_splits, inspect_data, preview_row) and the errors below; the rest is its machinery.
"""

from dpostudio.core.data.problems import DataError

__all__ = ["DataError"]
