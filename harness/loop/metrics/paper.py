"""The paper's dynamics metrics (section 4.1): exploitation (greedy accuracy), exploration (Pass@K), their gap, and
Reward-Pass@2 (a correct response among the reward model's top 2 of the K samples), M-STAR's choice."""
from __future__ import annotations

from harness.loop.metrics import metric


@metric("greedy_accuracy", per_temperature=False)
def greedy_accuracy(vs, temperature: float, rm, aggregate: str) -> float:
    return sum(vs.greedy_correct()) / len(vs.records)


@metric("pass_at_k")
def pass_at_k(vs, temperature: float, rm, aggregate: str) -> float:
    return vs.pass_at(temperature, vs.k)


@metric("pass_minus_greedy")
def pass_minus_greedy(vs, temperature: float, rm, aggregate: str) -> float:
    return pass_at_k(vs, temperature, rm, aggregate) - greedy_accuracy(vs, temperature, rm, aggregate)


@metric("reward_pass_at_2", needs_reward_model=True)
def reward_pass_at_2(vs, temperature: float, rm, aggregate: str) -> float:
    return vs.reward_pass_at_2(temperature, rm, aggregate)
