"""Select which rewarded responses of one query are trained on (the paper's H operator, section 3.3).

Every operator sees the correct responses of one query, in sampling order, with their reward-model
scores (None without a reward model), and returns the ones to train on. The paper's Improve step
keeps every answer-correct response (rejection-sampling fine-tuning), duplicates included: a query
the model answers the same right way 12 times out of 16 weighs 12 examples. `select.dedup` drops
identical strings first and `select.max_per_query` caps what a query contributes; the paper does
both only when it builds PRM training data (Appendix D), never for the Improve step.
"""
from __future__ import annotations

import random

from harness.config import SelectConfig
from harness.registry import Registry

SELECTORS = Registry("selection operator")


def correct_indices(responses: list[str], rewards: list[float | None], dedup: bool = False) -> list[int]:
    """Indices of the responses with reward 1, in sampling order; with dedup, the first of identical ones.

    >>> correct_indices(["a", "b", "a", "c"], [1.0, 0.0, 1.0, 1.0]), correct_indices(["a", "b", "a"], [1.0, 0.0, 1.0], True)
    ([0, 2, 3], [0])
    """
    seen, out = set(), []
    for i, (resp, r) in enumerate(zip(responses, rewards)):
        if r == 1.0 and not (dedup and resp in seen):
            seen.add(resp)
            out.append(i)
    return out


def correct_responses(responses: list[str], rewards: list[float | None], dedup: bool = False) -> list[str]:
    """The responses with reward 1, in sampling order (identical ones once, with dedup)."""
    return [responses[i] for i in correct_indices(responses, rewards, dedup)]


def keep_correct(responses: list[str], rewards: list[float | None], dedup: bool, cap: int | None) -> list[str]:
    """What the warm-up and `select` start from: correct responses, optionally de-duplicated, at most `cap`.

    >>> keep_correct(["a", "a", "b", "c"], [1.0, 1.0, 1.0, 0.0], dedup=False, cap=None)
    ['a', 'a', 'b']
    >>> keep_correct(["a", "a", "b", "c"], [1.0, 1.0, 1.0, 0.0], dedup=True, cap=1)
    ['a']
    """
    return correct_responses(responses, rewards, dedup)[:cap]


@SELECTORS.register("all")
def select_all(responses: list[str], scores, cfg: SelectConfig, rng: random.Random) -> list[str]:
    """Every correct response (the paper's default Improve step).

    >>> select_all(["a", "a", "b"], None, SelectConfig(), random.Random(0))
    ['a', 'a', 'b']
    """
    return list(responses)


@SELECTORS.register("random")
def select_random(responses: list[str], scores, cfg: SelectConfig, rng: random.Random) -> list[str]:
    """k correct responses drawn at random (all of them when there are fewer)."""
    return rng.sample(responses, min(cfg.k, len(responses)))


@SELECTORS.register("top_k")
def select_top_k(responses: list[str], scores: list[float], cfg: SelectConfig, rng: random.Random) -> list[str]:
    """The k best by reward-model score; ties keep sampling order (a response drawn twice can fill two places).

    >>> select_top_k(["a", "b", "c"], [0.2, 0.9, 0.9], SelectConfig(k=2), random.Random(0))
    ['b', 'c']
    """
    order = sorted(range(len(responses)), key=lambda i: -scores[i])
    return [responses[i] for i in order[: cfg.k]]


@SELECTORS.register("threshold")
def select_threshold(responses: list[str], scores: list[float], cfg: SelectConfig, rng: random.Random) -> list[str]:
    """Responses scoring above alpha, in sampling order.

    >>> select_threshold(["a", "b", "c"], [0.2, 0.5, 0.9], SelectConfig(alpha=0.2), random.Random(0))
    ['b', 'c']
    """
    return [r for r, s in zip(responses, scores) if s > cfg.alpha]


@SELECTORS.register("below_threshold")
def select_below_threshold(responses: list[str], scores: list[float], cfg: SelectConfig,
                           rng: random.Random) -> list[str]:
    """Responses scoring at most alpha: with the oracle reward model, the answer-correct responses whose
    reasoning is wrong. Not a method: the negative control of ablations/controls.yaml (it should hurt).

    >>> select_below_threshold(["a", "b", "c"], [0.0, 1.0, 0.0], SelectConfig(alpha=0.5), random.Random(0))
    ['a', 'c']
    """
    return [r for r, s in zip(responses, scores) if s <= cfg.alpha]
