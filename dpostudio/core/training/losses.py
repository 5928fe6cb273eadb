"""The preference losses TRL's ``DPOTrainer`` accepts, in plain words, and how a run names a combination of them.

A run's ``loss_type`` is one name (``"sigmoid"``) or several joined with ``+`` (``"sigmoid+sft"`` is RPO); the
optional ``loss_weights`` give each its weight, in the same order (equal weights when left out). TRL adds the
weighted losses up.

TRL keeps the accepted names only in the branches of ``DPOTrainer``'s loss computation (no constant to read, and
reading them would import torch), so the table is kept by hand: ``tests/test_losses.py`` compares it with the
installed TRL's source, so an upgrade that adds or drops a loss fails that test rather than a user's run.
Qt-free and torch-free: the CLI reads it at start-up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Loss:
    name: str  # TRL's name for it (``DPOConfig.loss_type``)
    description: str  # what it optimises and when to pick it, in plain words
    settings: tuple[str, ...] = ()  # run-config fields it reads besides beta


LOSSES: tuple[Loss, ...] = (
    Loss(
        "sigmoid",
        "The original DPO loss: makes the chosen answer more likely than the rejected one, measured against the "
        "base model, with beta setting how far it may move. The usual choice; start here.",
    ),
    Loss(
        "hinge",
        "SLiC's hinge loss: pushes the chosen-over-rejected margin up until it reaches 1/beta, then leaves the pair "
        "alone. For a hard stop instead of DPO's ever-smaller push.",
    ),
    Loss(
        "ipo",
        "IPO: pulls each pair's per-token margin towards a fixed target (1/(2·beta)) instead of pushing it ever "
        "higher, so it overfits less when the labels are nearly always the same way. A smaller beta allows larger "
        "margins.",
    ),
    Loss(
        "exo_pair",
        "EXO: makes the model's preference between the two answers match the labels (reverse KL), settling on the "
        "preferred answer rather than averaging over both. Needs label smoothing above 0 (the paper uses 0.001).",
        ("label_smoothing",),
    ),
    Loss(
        "nca_pair",
        "NCA: scores each answer's own reward against the base model, not only the difference, so the chosen "
        "answers keep their likelihood. A choice when DPO pushes both answers down.",
    ),
    Loss(
        "robust",
        "Robust DPO: DPO corrected for labels that are sometimes wrong; label smoothing is the share of pairs you "
        "think are flipped (e.g. 0.1). For noisy preference data.",
        ("label_smoothing",),
    ),
    Loss(
        "bco_pair",
        "BCO on pairs: a classifier that treats every chosen answer as good and every rejected one as bad, each on "
        "its own rather than only relative to each other. Part of the MPO mix (sigmoid+bco_pair+sft).",
    ),
    Loss(
        "sppo_hard",
        "SPPO with hard labels: moves each chosen answer's log-ratio to +1/(2·beta) and each rejected one's to "
        "−1/(2·beta), an approximation of a self-play game. From iterative self-play recipes.",
    ),
    Loss(
        "aot",
        "AOT: aligns the sorted margins of the whole batch rather than pair by pair (a distributional preference). "
        "Needs a batch size above 1 to differ from DPO; label smoothing optional.",
        ("label_smoothing",),
    ),
    Loss(
        "aot_unpaired",
        "AOT for unpaired data: sorts the chosen and the rejected log-ratios separately, ignoring which answers "
        "were paired. For data whose chosen and rejected answers were not written for the same prompt.",
        ("label_smoothing",),
    ),
    Loss(
        "apo_zero",
        "APO-zero: raises the chosen answers' likelihood and lowers the rejected ones', each against the base "
        "model. Pick it when the chosen answers are better than what the model writes now.",
    ),
    Loss(
        "apo_down",
        "APO-down: lowers both answers' likelihood, the rejected more. Pick it when even the chosen answers are "
        "worse than what the model writes now (a strong model tuned on weaker data).",
    ),
    Loss(
        "discopop",
        "DiscoPOP: a machine-discovered blend of the DPO (logistic) and exponential losses, switched by the size of "
        "the margin; discopop tau sets how sharp the switch is (the paper's 0.05 is the default).",
        ("discopop_tau",),
    ),
    Loss(
        "sft",
        "Supervised fine-tuning on the chosen answers (their negative log-likelihood), with no preference term. "
        "Alone it is plain SFT; added to sigmoid it is RPO (sigmoid+sft), which keeps the chosen answers likely.",
    ),
    Loss(
        "sigmoid_norm",
        "DPO on per-token averages instead of sums, so a longer answer does not earn a larger reward just for being "
        "long. Against length bias; averages are small, so it usually needs a larger beta than sigmoid.",
    ),
)
LOSS_NAMES: tuple[str, ...] = tuple(loss.name for loss in LOSSES)
_BY_NAME = {loss.name: loss for loss in LOSSES}

# Well-known combinations: the value of loss_type -> (plain words, the weights their papers use).
COMBINATIONS: dict[str, tuple[str, tuple[float, ...]]] = {
    "sigmoid+sft": (
        "RPO: DPO plus an SFT term on the chosen answers, so they do not lose likelihood while the margin grows "
        "(loss weights 1.0, 1.0 as in the paper). The fix for likelihood displacement.",
        (1.0, 1.0),
    ),
    "sigmoid+bco_pair+sft": (
        "MPO: DPO, BCO and SFT together, as in the Mixed Preference Optimization paper (loss weights 0.8, 0.2, 1.0).",
        (0.8, 0.2, 1.0),
    ),
}
# What the form's loss list offers: each loss, then the combinations.
LOSS_SUGGESTIONS: tuple[str, ...] = LOSS_NAMES + tuple(COMBINATIONS)
# Plain words per entry of LOSS_SUGGESTIONS (tooltips in the form).
LOSS_HELP: dict[str, str] = {
    **{loss.name: loss.description for loss in LOSSES},
    **{name: words for name, (words, _) in COMBINATIONS.items()},
}

# label_smoothing: the losses that read it, and the value used when the run leaves it empty.
LABEL_SMOOTHING_LOSSES = ("robust", "exo_pair", "aot", "aot_unpaired")
_LABEL_SMOOTHING_DEFAULTS = {"robust": 0.1, "exo_pair": 1e-3}


def get_loss(name: str) -> Loss:
    return _BY_NAME[name]


def split_loss_type(value: str | list[str] | tuple[str, ...]) -> list[str]:
    """The names in a ``loss_type`` value: ``"sigmoid+sft"`` (also ``"sigmoid, sft"`` or a list) -> ``[...]``."""
    parts = value if isinstance(value, (list, tuple)) else re.split(r"[+,]", value)
    return [str(part).strip() for part in parts if str(part).strip()]


def describe_loss_type(value: str) -> str:
    """Plain words for a ``loss_type`` value: the combination's, or one line per loss (unknown names skipped)."""
    if value in LOSS_HELP:
        return f"{value}: {LOSS_HELP[value]}"
    return "\n".join(f"{name}: {_BY_NAME[name].description}" for name in split_loss_type(value) if name in _BY_NAME)


def resolved_label_smoothing(losses: list[str], value: float | None) -> float:
    """The label smoothing handed to TRL: the run's value, or (empty) the usual one for its losses (robust 0.1,
    exo_pair 0.001, else 0)."""
    if value is not None:
        return value
    for name in losses:
        if name in _LABEL_SMOOTHING_DEFAULTS:
            return _LABEL_SMOOTHING_DEFAULTS[name]
    return 0.0
