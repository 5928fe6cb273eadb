"""A pair's scores: what scoring a run's adapter on one preference pair gives (``pair_rewards`` computes them,
``pair_reports`` sorts, filters, sums them up and writes them out), and the error the pair scoring raises."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dpostudio.core.errors import UserError


class PairScoreError(UserError, ValueError):
    """Pairs cannot be scored; the message says why in words."""


@dataclass(frozen=True)
class PairScore:
    """One preference pair scored by a run's adapter (policy) and by the base model (reference).

    Log-probabilities are natural-log sums over the answer's tokens as trained on (after truncation);
    ``chosen_tokens``/``rejected_tokens`` count those tokens. Rewards, margin and changes are derived from them.
    """

    split: str  # "train", "eval" or the name of an extra eval set
    row: int  # the source row number (1-based) within that split of the source
    prompt: str  # the prompt as text (system messages left out), for display
    chosen: str
    rejected: str
    beta: float
    policy_chosen_logp: float
    policy_rejected_logp: float
    ref_chosen_logp: float
    ref_rejected_logp: float
    chosen_tokens: int
    rejected_tokens: int
    truncated: bool = False  # an answer was cut at max_length (its end was not trained on)

    @property
    def delta_chosen_logp(self) -> float:
        """log π_θ(chosen) − log π_ref(chosen): how much more (or less) likely the tuned model finds it."""
        return self.policy_chosen_logp - self.ref_chosen_logp

    @property
    def delta_rejected_logp(self) -> float:
        return self.policy_rejected_logp - self.ref_rejected_logp

    @property
    def delta_chosen_logp_per_token(self) -> float:
        return self.delta_chosen_logp / max(self.chosen_tokens, 1)

    @property
    def delta_rejected_logp_per_token(self) -> float:
        return self.delta_rejected_logp / max(self.rejected_tokens, 1)

    @property
    def chosen_reward(self) -> float:
        return self.beta * self.delta_chosen_logp

    @property
    def rejected_reward(self) -> float:
        return self.beta * self.delta_rejected_logp

    @property
    def margin(self) -> float:
        return self.chosen_reward - self.rejected_reward

    @property
    def agrees(self) -> bool:
        """The model prefers the chosen answer (relative to the reference) as the label says."""
        return self.margin > 0

    def to_dict(self) -> dict[str, Any]:
        return {column: getattr(self, column) for column in CSV_COLUMNS}


CSV_COLUMNS = (
    "split",
    "row",
    "agrees",
    "margin",
    "chosen_reward",
    "rejected_reward",
    "delta_chosen_logp",
    "delta_rejected_logp",
    "delta_chosen_logp_per_token",
    "delta_rejected_logp_per_token",
    "policy_chosen_logp",
    "ref_chosen_logp",
    "policy_rejected_logp",
    "ref_rejected_logp",
    "chosen_tokens",
    "rejected_tokens",
    "truncated",
    "beta",
    "prompt",
    "chosen",
    "rejected",
)


class PairScores(list[PairScore]):
    """The scores of one call, in data order (train before eval), with what was scored and what was left out."""

    def __init__(
        self,
        scores: Iterable[PairScore] = (),
        *,
        run_id: str = "",
        adapter: str = "",
        beta: float = 0.0,
        skipped: int = 0,
        cancelled: bool = False,
    ):
        super().__init__(scores)
        self.run_id = run_id
        self.adapter = adapter  # "final adapter" or "checkpoint N"
        self.beta = beta
        self.skipped = skipped  # pairs whose prompt alone fills max_length (TRL leaves them out too)
        self.cancelled = cancelled  # stopped early: only the pairs scored before the stop are here
