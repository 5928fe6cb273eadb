"""The training methods a run can use — DPO and the relatives TRL has a trainer for — in plain words, the metric
names each one logs, and the checks between a run's method and the settings it reads.

``dpo`` is TRL's ``DPOTrainer`` with every ``loss_type`` (see ``losses``). The others have their own trainers:
``orpo`` (``trl.experimental.orpo``), ``cpo`` and ``simpo`` (``trl.experimental.cpo``, SimPO being CPO with
``loss_type="simpo"``) and ``kto`` (``trl.KTOTrainer``). ORPO, CPO and SimPO are reference-free: no second model,
no reference forward pass, so the reference log-prob cache does not apply. KTO keeps a reference (the base model
with the adapter switched off) and learns from unpaired thumbs-up / thumbs-down answers.

Qt-free and torch-free: the form and the CLI read it at start-up; ``methods`` builds the trainers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dpostudio.core.training.config_values import ConfigError

if TYPE_CHECKING:
    from dpostudio.core.training.run_config import RunConfig


@dataclass(frozen=True)
class Method:
    name: str  # the value of RunConfig.method
    description: str  # what it optimises and when to pick it, in plain words
    reference_free: bool  # no reference model at all (no cache, no second forward pass)
    unpaired: bool = False  # trains on single answers labelled good or bad (pairs are split in two)
    # TRL's metric names this method logs besides loss / grad_norm / learning_rate (eval twins get "eval_")
    metrics: tuple[str, ...] = ()


_PAIR_METRICS = (
    "rewards/chosen",
    "rewards/rejected",
    "rewards/accuracies",
    "rewards/margins",
    "logps/chosen",
    "logps/rejected",
    "logits/chosen",
    "logits/rejected",
)

METHODS: tuple[Method, ...] = (
    Method(
        "dpo",
        "DPO: makes the chosen answer more likely than the rejected one, measured against the base model (a second "
        "forward pass, or the reference cache). Pick the loss below; the usual choice.",
        reference_free=False,
        metrics=(*_PAIR_METRICS, "entropy", "num_tokens"),
    ),
    Method(
        "orpo",
        "ORPO: no reference model. Plain SFT on the chosen answers plus an odds-ratio term that makes them more "
        "likely than the rejected ones; beta is the paper's lambda, the weight of that term (0.1 is usual). Works "
        "from a base model without a separate SFT step. Logs nll_loss and log_odds_ratio.",
        reference_free=True,
        metrics=(*_PAIR_METRICS, "nll_loss", "log_odds_ratio", "log_odds_chosen"),
    ),
    Method(
        "cpo",
        "CPO: no reference model. DPO's loss on the model's own log-probabilities plus an SFT term on the chosen "
        "answers (weight 1), so it needs half the compute and memory of DPO. From machine-translation tuning; a good "
        "choice when chosen answers are clearly better. Logs nll_loss.",
        reference_free=True,
        metrics=(*_PAIR_METRICS, "nll_loss"),
    ),
    Method(
        "simpo",
        "SimPO: no reference model. Rewards are the average log-probability per token, so long answers earn no "
        "bonus, and the chosen answer must beat the rejected one by a margin (simpo gamma). The paper uses a large "
        "beta (2 to 10) with gamma about half of beta. Logs nll_loss (0: no SFT term).",
        reference_free=True,
        metrics=(*_PAIR_METRICS, "nll_loss"),
    ),
    Method(
        "kto",
        "KTO: learns from single answers marked good (thumbs up) or bad (thumbs down), no pairs needed: a file with "
        "prompt, completion and label (true/false) columns, or preference pairs split into one good and one bad "
        "answer each. Keeps the base model as reference (not cached); needs a batch of 2 or more. Weigh the two "
        "kinds with desirable / undesirable weight. Logs kl; no reward accuracy.",
        reference_free=False,
        unpaired=True,
        metrics=(
            "rewards/chosen",
            "rewards/rejected",
            "rewards/margins",
            "logps/chosen",
            "logps/rejected",
            "logits/chosen",
            "logits/rejected",
            "kl",
            "entropy",
            "num_tokens",
        ),
    ),
)
METHOD_NAMES: tuple[str, ...] = tuple(m.name for m in METHODS)
METHOD_HELP: dict[str, str] = {m.name: m.description for m in METHODS}
DEFAULT_METHOD = "dpo"
_BY_NAME = {m.name: m for m in METHODS}


def get_method(name: str) -> Method:
    return _BY_NAME[name]


def check_method_settings(config: RunConfig) -> None:
    """The checks between ``method`` and the settings it reads: the DPO loss settings apply to DPO only, and KTO
    needs two answers per batch (TRL refuses one, its KL estimate would equal the reward)."""
    if config.method == DEFAULT_METHOD:
        return
    dpo_only = {
        "loss_type": config.loss_type != "sigmoid",
        "loss_weights": config.loss_weights is not None,
    }  # (label_smoothing above 0 is refused with sigmoid already: only DPO's robust/exo/aot losses read it)
    for name, changed in dpo_only.items():
        if changed:
            raise ConfigError(
                name,
                f"applies to the dpo method only; the {config.method} method has its own loss, so {name} would "
                f"change nothing. Leave it at its default ({'sigmoid' if name == 'loss_type' else 'empty'}) or "
                "choose the dpo method",
            )
    if config.method == "kto" and config.per_device_batch_size < 2:
        raise ConfigError(
            "per_device_batch_size",
            "the kto method needs at least 2 answers per batch (it estimates its KL term from the other answers in "
            "the batch); set it to 2 or more",
        )
