"""Select which rewarded responses of one query are trained on (the paper's H operator, section 3.3).

Every operator sees the distinct correct responses of one query, in sampling order, with their
reward-model scores (None without a reward model), and returns the ones to train on.
"""
from __future__ import annotations

import random

from harness.config import SelectConfig
from harness.registry import Registry

SELECTORS = Registry("selection operator")


def distinct_correct(responses: list[str], rewards: list[float | None]) -> list[int]:
    """Indices of the distinct responses with reward 1, in sampling order.

    >>> distinct_correct(["a", "b", "a", "c"], [1.0, 0.0, 1.0, 1.0])
    [0, 3]
    """
    seen, out = set(), []
    for i, (resp, r) in enumerate(zip(responses, rewards)):
        if r == 1.0 and resp not in seen:
            seen.add(resp)
            out.append(i)
    return out


def dedup_correct(responses: list[str], rewards: list[float | None]) -> list[str]:
    """Distinct responses with reward 1, in sampling order."""
    return [responses[i] for i in distinct_correct(responses, rewards)]


@SELECTORS.register("all")
def select_all(responses: list[str], scores, cfg: SelectConfig, rng: random.Random) -> list[str]:
    """The first max_per_query correct responses.

    >>> select_all(["a", "b", "c"], None, SelectConfig(max_per_query=2), random.Random(0))
    ['a', 'b']
    """
    return responses[: cfg.max_per_query]


@SELECTORS.register("random")
def select_random(responses: list[str], scores, cfg: SelectConfig, rng: random.Random) -> list[str]:
    """k correct responses drawn at random (all of them when there are fewer)."""
    return rng.sample(responses, min(cfg.k, len(responses)))


@SELECTORS.register("top_k")
def select_top_k(responses: list[str], scores: list[float], cfg: SelectConfig, rng: random.Random) -> list[str]:
    """The k best by reward-model score; ties keep sampling order.

    >>> select_top_k(["a", "b", "c"], [0.2, 0.9, 0.9], SelectConfig(k=2), random.Random(0))
    ['b', 'c']
    """
    order = sorted(range(len(responses)), key=lambda i: -scores[i])
    return [responses[i] for i in order[: cfg.k]]


@SELECTORS.register("threshold")
def select_threshold(responses: list[str], scores: list[float], cfg: SelectConfig, rng: random.Random) -> list[str]:
    """Responses scoring above alpha (at most max_per_query, in sampling order).

    >>> select_threshold(["a", "b", "c"], [0.2, 0.5, 0.9], SelectConfig(alpha=0.2), random.Random(0))
    ['b', 'c']
    """
    return [r for r, s in zip(responses, scores) if s > cfg.alpha][: cfg.max_per_query]
