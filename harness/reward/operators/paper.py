"""The paper's H operators (section 3.3): all, random-k, top-k by reward-model score, score > alpha."""
from __future__ import annotations

import random

from harness.config import SelectConfig
from harness.reward.operators import operator


@operator("all")
def select_all(responses: list[str], scores, cfg: SelectConfig, rng: random.Random) -> list[str]:
    """Every correct response (the paper's default Improve step).

    >>> select_all(["a", "a", "b"], None, SelectConfig(), random.Random(0))
    ['a', 'a', 'b']
    """
    return list(responses)


@operator("random", uses_k=True)
def select_random(responses: list[str], scores, cfg: SelectConfig, rng: random.Random) -> list[str]:
    """k correct responses drawn at random (all of them when there are fewer)."""
    return rng.sample(responses, min(cfg.k, len(responses)))


@operator("top_k", ranks=True, uses_k=True)
def select_top_k(responses: list[str], scores: list[float], cfg: SelectConfig, rng: random.Random) -> list[str]:
    """The k best by reward-model score; ties keep sampling order (a response drawn twice can fill two places).

    >>> select_top_k(["a", "b", "c"], [0.2, 0.9, 0.9], SelectConfig(k=2), random.Random(0))
    ['b', 'c']
    """
    order = sorted(range(len(responses)), key=lambda i: -scores[i])
    return [responses[i] for i in order[: cfg.k]]


@operator("threshold", ranks=True)
def select_threshold(responses: list[str], scores: list[float], cfg: SelectConfig, rng: random.Random) -> list[str]:
    """Responses scoring above alpha, in sampling order.

    >>> select_threshold(["a", "b", "c"], [0.2, 0.5, 0.9], SelectConfig(alpha=0.2), random.Random(0))
    ['b', 'c']
    """
    return [r for r, s in zip(responses, scores) if s > cfg.alpha]
