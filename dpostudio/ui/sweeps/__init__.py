"""The Sweeps pane: define, run and read hyperparameter sweeps (``dpostudio.core.sweeps``)."""

from dpostudio.ui.sweeps.pane import SweepsPane

__all__ = ["SweepsPane"]
