"""The Generate pane: make a preference dataset from the model's own answers (Generate tab: the form, progress, and
the candidates per prompt, where you can mark your own best and worst) and improve a model in rounds (Loop tab:
iterative, self-rewarding DPO). The work runs in a child process (``worker``); the core is ``dpostudio.core.loop``."""

from dpostudio.ui.generate.pane import GeneratePane

__all__ = ["GeneratePane"]
