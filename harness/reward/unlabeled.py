"""Unlabeled prompts (the paper's section 3.4): when they join training, and their pseudo labels."""
from __future__ import annotations

import math
import random
from collections import defaultdict

from harness.data.datasets import Record
from harness.reward.answers import extract_answer, normalize


def weighted_vote(responses: list[str], weights: dict[str, float] | None, record: Record) -> str | None:
    """The answer with the largest total weight (reward-model scores; 1 each without a reward model).

    Answers are compared after MathVista normalisation, so "(B)" and the choice text vote together;
    ties go to the answer seen first. None when no response has a readable answer.

    >>> from pathlib import Path
    >>> r = Record("1", Path("x.png"), "q", None, "free_form", "integer", "t")
    >>> weighted_vote(["answer: 3", "answer: 3", "answer: 5"], None, r)
    '3'
    >>> weighted_vote(["answer: 3", "answer: 3", "answer: 5"], {"answer: 3": 0.1, "answer: 5": 0.9}, r)
    '5'
    """
    totals: dict[str, float] = defaultdict(float)
    fields = record.reward_fields()
    for resp in responses:
        key = normalize(extract_answer(resp), fields)
        if key is not None:
            totals[key] += 1.0 if weights is None else weights.get(resp, 0.0)
    return max(totals, key=totals.__getitem__) if totals else None


def mixin_slices(n_unlabeled: int, iterations: int, mixin: float, seed: int) -> list[list[int]]:
    """Unlabeled indices joining each iteration: from the first iteration at or after `mixin` of
    training, the unlabeled pool is spread evenly (in a seeded order) over the remaining iterations.

    >>> [len(s) for s in mixin_slices(10, 4, 0.5, 0)]
    [0, 0, 5, 5]
    >>> [len(s) for s in mixin_slices(10, 4, 0.0, 0)]
    [3, 3, 3, 1]
    """
    order = list(range(n_unlabeled))
    random.Random(seed).shuffle(order)
    start = min(iterations - 1, math.ceil(mixin * iterations))
    per = math.ceil(n_unlabeled / (iterations - start)) if n_unlabeled else 0
    return [[] if t < start else order[(t - start) * per:(t - start + 1) * per] for t in range(iterations)]
