"""The paper's H operator (section 3.3): which of a query's correct responses are trained on.

Every operator sees the correct responses of one query, in sampling order, with their reward-model scores (None
without a reward model), the `select` config section and a seeded random.Random, and returns the ones to train
on. Each module of this package registers its operators with `@operator(...)` (`paper.py`: the paper's,
`controls.py`: the negative control); a new operator is one more module.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from harness.registry import Registry

OPERATORS = Registry("selection operator", __name__)


@dataclass(frozen=True)
class Operator:
    """An H operator and what the config checks ask of it."""

    choose: Callable  # (responses, scores or None, SelectConfig, random.Random) -> responses to train on
    ranks: bool = False   # chooses by reward-model score: needs a reward model that scores (reward_model.kind)
    uses_k: bool = False  # keeps select.k responses of a query


def operator(name: str, *, ranks: bool = False, uses_k: bool = False) -> Callable:
    """Decorator: register the function as the H operator `name` (the function is returned unchanged)."""
    def decorator(choose: Callable) -> Callable:
        OPERATORS.register(name)(Operator(choose, ranks, uses_k))
        return choose
    return decorator
