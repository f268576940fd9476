"""Select which rewarded responses of one query are trained on: its correct ones, chosen by the H operator
(harness.reward.operators, the paper's section 3.3), capped per query.

The paper's Improve step
keeps every answer-correct response (rejection-sampling fine-tuning), duplicates included: a query
the model answers the same right way 12 times out of 16 weighs 12 examples. `select.dedup` drops
identical strings first and `select.max_per_query` caps what a query contributes; the paper does
both only when it builds PRM training data (Appendix D), never for the Improve step.
"""
from __future__ import annotations

import random

from harness.config import SelectConfig
from harness.reward.operators import OPERATORS


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


def choose(correct: list[str], scores: list[float] | None, cfg: SelectConfig, rng: random.Random) -> list[str]:
    """The responses trained on among one query's correct ones (with their scores, or None): the H operator's
    choice, at most select.max_per_query.

    >>> choose(["a", "b", "c"], [0.2, 0.9, 0.5], SelectConfig(operator="top_k", k=2, max_per_query=1), random.Random(0))
    ['b']
    """
    if not correct:
        return []
    return OPERATORS.get(cfg.operator).choose(correct, scores, cfg, rng)[: cfg.max_per_query]


def select_query(responses: list[str], rewards: list[float | None], scores: dict[str, float] | None,
                 cfg: SelectConfig, rng: random.Random) -> tuple[list[str], int]:
    """(responses trained on, number of correct ones) of one query: its correct responses, identical ones once
    with select.dedup, then `choose`. The Select step and the warm-up's keep-correct step (operator all) both
    use it.

    >>> select_query(["a", "a", "b", "c"], [1.0, 1.0, 1.0, 0.0], None, SelectConfig(), random.Random(0))
    (['a', 'a', 'b'], 3)
    >>> select_query(["a", "a", "b", "c"], [1.0, 1.0, 1.0, 0.0], None, SelectConfig(dedup=True, max_per_query=1),
    ...              random.Random(0))
    (['a'], 2)
    """
    correct = correct_responses(responses, rewards, cfg.dedup)
    return choose(correct, [scores[r] for r in correct] if scores is not None else None, cfg, rng), len(correct)


def false_positives(verdicts: list[bool | None]) -> tuple[int, int]:
    """(judged, wrong) of the verdicts on kept responses' reasoning (None: no gold steps to judge by): the kept
    responses whose answer is right and reasoning wrong are the selection's false positives.

    >>> false_positives([True, False, None, False])
    (3, 2)
    """
    judged = [v for v in verdicts if v is not None]
    return len(judged), sum(not v for v in judged)
