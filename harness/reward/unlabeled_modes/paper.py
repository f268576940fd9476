"""The paper's unlabeled modes: a pseudo label by reward-weighted vote, and the withheld true answer (the skyline)."""
from __future__ import annotations

from harness.data.datasets import Record
from harness.reward.unlabeled import weighted_vote
from harness.reward.unlabeled_modes import unlabeled_mode


@unlabeled_mode("pseudo")
def pseudo(rec: Record, responses: list[str], scores: dict[str, float] | None) -> str | None:
    """The answer with the largest total reward-model score among the responses (1 each without a reward model)."""
    return weighted_vote(responses, scores, rec)


@unlabeled_mode("oracle")
def oracle(rec: Record, responses: list[str], scores: dict[str, float] | None) -> str:
    """The withheld true answer."""
    if rec.oracle_answer is None:
        raise ValueError(f"unlabeled record {rec.id} has no withheld answer: unlabeled.mode=oracle needs one")
    return rec.oracle_answer
