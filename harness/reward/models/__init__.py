"""Reward models that score each step of a response, chosen by reward_model.kind: the learned PRM (learned.py)
and the world's oracle (oracle.py), or none.

They share one interface, `step_scores(records, responses) -> one list of step scores per response`, and a
response's score is an aggregation of its step scores (the paper: min, after Lightman et al.). Each module of
this package registers its kind in REWARD_MODELS; a new reward model is one more module.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from harness.data.datasets import Record
from harness.registry import Registry

REWARD_MODELS = Registry("reward model", __name__)


@dataclass(frozen=True)
class RewardModelKind:
    """How to load a reward model, and what the config and the stage graph ask of it."""

    load: Callable  # (prm stage folder or None, model config) -> an object with step_scores, or None
    scores: bool = True    # it scores responses (the "none" kind does not)
    trained: bool = False  # learned in the shared `prm` stage, which is built only for such a kind


REWARD_MODELS.register("none")(RewardModelKind(lambda stage, model_cfg: None, scores=False))

AGGREGATIONS = Registry("step-score aggregation")
AGGREGATIONS.register("min")(min)
AGGREGATIONS.register("mean")(lambda s: sum(s) / len(s))
AGGREGATIONS.register("last")(lambda s: s[-1])
AGGREGATIONS.register("prod")(math.prod)


def aggregate(step_scores: list[float], how: str) -> float:
    """One score per response; a response without steps scores 0.

    >>> aggregate([0.9, 0.2, 0.7], "min"), aggregate([], "min")
    (0.2, 0.0)
    """
    return float(AGGREGATIONS.get(how)(step_scores)) if step_scores else 0.0


def load_reward_model(kind: str, prm_stage: Path | None, model_cfg):
    """The configured reward model, or None."""
    return REWARD_MODELS.get(kind).load(prm_stage, model_cfg)


def response_scores(rm, how: str, records: list[Record], responses: list[list[str]]) -> list[dict[str, float]]:
    """Aggregated score of every distinct response of each query ({response: score} per query), scored in one batch."""
    flat = [(i, resp) for i, resps in enumerate(responses) for resp in dict.fromkeys(resps)]
    steps = rm.step_scores([records[i] for i, _ in flat], [resp for _, resp in flat]) if flat else []
    out: list[dict[str, float]] = [{} for _ in responses]
    for (i, resp), s in zip(flat, steps):
        out[i][resp] = aggregate(s, how)
    return out
