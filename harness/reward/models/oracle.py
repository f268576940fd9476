"""The `oracle` reward model: the embedded world's exact step checker, the upper bound of any PRM."""
from __future__ import annotations

from harness.data.datasets import Record
from harness.reward.models import REWARD_MODELS, RewardModelKind
from harness.reward.steps import response_steps
from harness.world.oracle import NOTE, reasoning_correct


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


REWARD_MODELS.register("oracle")(RewardModelKind(lambda stage, model_cfg: OracleReward()))
