"""Reward models that score each step of a response: the learned PRM and the world's oracle.

Both share one interface, `step_scores(records, responses) -> one list of step scores per response`,
and a response's score is an aggregation of its step scores (the paper: min, after Lightman et al.).
"""
from __future__ import annotations

import math
from pathlib import Path

from harness.model.adapters import Prompt
from harness.data.datasets import Record
from harness.registry import Registry
from harness.world.oracle import NOTE, reasoning_correct, response_steps

REWARD_MODELS = Registry("reward model")
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


@REWARD_MODELS.register("oracle")
class OracleReward:
    """The embedded world's exact checker, the upper bound for a learned PRM: step k scores 1 while
    the answer-relevant steps so far equal the start of the gold solution; the last step scores 1
    only if the whole reasoning is right. 'note:' steps are true but irrelevant, so they keep the
    score of the step before."""

    def step_scores(self, records: list[Record], responses: list[str]) -> list[list[float]]:
        return [self.score_one(rec, resp) for rec, resp in zip(records, responses)]

    @staticmethod
    def score_one(record: Record, response: str) -> list[float]:
        """
        >>> from pathlib import Path
        >>> r = Record("1", Path("x.png"), "q", "8", "free_form", "integer", "t", solution=["a=3 b=5", "3+5=8", "answer: 8"])
        >>> OracleReward.score_one(r, "a=3 b=5\\nnote: b is tallest\\n3+6=8\\nanswer: 8")
        [1.0, 1.0, 0.0, 0.0]
        """
        if not record.solution:
            raise ValueError(f"record {record.id} has no gold solution: the oracle reward needs the embedded world")
        gold = [s.strip() for s in record.solution]
        steps = response_steps(response)
        scores, relevant, ok = [], 0, True
        for step in steps:
            if not step.startswith(NOTE):
                ok = ok and relevant < len(gold) and step == gold[relevant]
                relevant += 1
            scores.append(float(ok))
        if scores:
            scores[-1] = float(bool(reasoning_correct(response, record)))
        return scores


@REWARD_MODELS.register("prm")
class LearnedPRM:
    """The process reward model trained in the `prm` stage."""

    def __init__(self, path: Path, model_cfg):
        from harness.reward.prm import ProcessRewardModel

        self.prm = ProcessRewardModel.load(path, model_cfg)

    def step_scores(self, records: list[Record], responses: list[str]) -> list[list[float]]:
        prompts = [Prompt(r.question, r.image, cot=True) for r in records]
        return self.prm.step_scores(prompts, responses)


def load_reward_model(kind: str, prm_stage: Path | None, model_cfg):
    """The configured reward model, or None."""
    if kind == "none":
        return None
    if kind == "prm":
        return LearnedPRM(prm_stage, model_cfg)
    return REWARD_MODELS.get(kind)()


def response_scores(rm, how: str, records: list[Record], responses: list[list[str]]) -> list[dict[str, float]]:
    """Aggregated score of every distinct response of each query ({response: score} per query), scored in one batch."""
    flat = [(i, resp) for i, resps in enumerate(responses) for resp in dict.fromkeys(resps)]
    steps = rm.step_scores([records[i] for i, _ in flat], [resp for _, resp in flat]) if flat else []
    out: list[dict[str, float]] = [{} for _ in responses]
    for (i, resp), s in zip(flat, steps):
        out[i][resp] = aggregate(s, how)
    return out
