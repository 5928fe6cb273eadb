"""What a comparison is asked to do: how both models answer (``GenerationSettings``), and ``ComparisonError``,
raised in words when a comparison cannot start (unknown run, no adapter, no prompts, bad settings, unknown judge)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from dpostudio.core.errors import UserError


class ComparisonError(UserError, ValueError):
    """A comparison cannot start; the message says why in words."""


@dataclass
class GenerationSettings:
    """How both models answer. ``temperature`` 0 means greedy decoding (then ``top_p`` is unused)."""

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 42

    def validate(self) -> GenerationSettings:
        if not isinstance(self.max_new_tokens, int) or not 1 <= self.max_new_tokens <= 32768:
            raise ComparisonError(f"max_new_tokens must be a whole number from 1 to 32768, not {self.max_new_tokens!r}")
        if not 0 <= float(self.temperature) <= 5:
            raise ComparisonError(f"temperature must be from 0 (greedy) to 5, not {self.temperature!r}")
        if not 0 < float(self.top_p) <= 1:
            raise ComparisonError(f"top_p must be above 0 and at most 1, not {self.top_p!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ComparisonError(f"seed must be a whole number >= 0, not {self.seed!r}")
        return self

    @property
    def greedy(self) -> bool:
        return float(self.temperature) == 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "decoding": "greedy" if self.greedy else "sampling"}

    @classmethod
    def from_dict(cls, data: dict) -> GenerationSettings:
        return cls(**{k: data[k] for k in ("max_new_tokens", "temperature", "top_p", "seed") if k in data})
