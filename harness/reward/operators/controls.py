"""H operators that are controls, not methods (ablations/controls.yaml)."""
from __future__ import annotations

import random

from harness.config import SelectConfig
from harness.reward.operators import operator


@operator("below_threshold", ranks=True)
def select_below_threshold(responses: list[str], scores: list[float], cfg: SelectConfig,
                           rng: random.Random) -> list[str]:
    """Responses scoring at most alpha: with the oracle reward model, the answer-correct responses whose
    reasoning is wrong. Not a method: the negative control of ablations/controls.yaml (it should hurt).

    >>> select_below_threshold(["a", "b", "c"], [0.0, 1.0, 0.0], SelectConfig(alpha=0.5), random.Random(0))
    ['a', 'c']
    """
    return [r for r, s in zip(responses, scores) if s <= cfg.alpha]
