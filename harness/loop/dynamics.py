"""Training dynamics on the validation set (the paper's section 4): exploration and exploitation.

Greedy accuracy (exploitation), Pass@K per temperature (exploration), their gap, and Reward-Pass@2
(a correct response among the reward model's top 2 of the K samples). Samples of the current policy
are drawn once per temperature and shared by the monitor and the adaptive temperature policy. Under torchrun
every rank samples its share of them (harness/rollout/sharded.py) and every rank computes the same metrics.
"""
from __future__ import annotations

from dataclasses import replace
from math import comb

from harness.data.datasets import Record
from harness.evaluation.evaluate import prompts_of, score
from harness.loop.metrics import METRICS
from harness.reward.answers import exact_match_reward
from harness.reward.models import response_scores
from harness.rollout.engine import RolloutEngine
from harness.rollout.settings import SamplingSettings
from harness.rollout.sharded import greedy, sample


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased Pass@k from n samples of which c are correct (Chen et al. 2021): 1 - C(n-c, k) / C(n, k).

    >>> pass_at_k(4, 1, 1), pass_at_k(4, 1, 4), pass_at_k(4, 0, 2), round(pass_at_k(4, 2, 2), 4)
    (0.25, 1.0, 0.0, 0.8333)
    """
    if k > n:
        raise ValueError(f"Pass@{k} needs at least {k} samples, got {n}")
    return 1.0 - comb(n - c, k) / comb(n, k)


def reward_pass_at(correct: list[float], scores: list[float], k: int = 2) -> float:
    """1 if a correct response is among the k best-scored (ties keep sampling order), else 0.

    >>> reward_pass_at([0, 1, 0], [0.9, 0.1, 0.8]), reward_pass_at([0, 1, 0], [0.9, 0.85, 0.8])
    (0.0, 1.0)
    """
    top = sorted(range(len(scores)), key=lambda i: -scores[i])[:k]
    return float(any(correct[i] == 1.0 for i in top))


class ValSamples:
    """K samples per validation query at each temperature asked for, drawn once from the policy the engine holds
    when they are made with the given sampling settings (their k; the temperature and the seed, `seed_of(temperature)`,
    per call). Make a new one when the engine's weights change."""

    def __init__(self, engine: RolloutEngine, records: list[Record], settings: SamplingSettings, seed_of):
        self.engine, self.records, self.settings, self.seed_of = engine, records, settings, seed_of
        self.version = engine.weight_updates  # the policy these samples are of
        self.k = settings.k
        self._samples: dict[float, list[list[str]]] = {}
        self._greedy: list[float] | None = None
        # per temperature, computed once: the monitor and the adaptive probe ask for the same ones
        self._correct_at: dict[float, list[list[float]]] = {}
        self._reward_pass_at: dict[float, float] = {}

    def at(self, temperature: float) -> list[list[str]]:
        t = round(temperature, 4)
        if t not in self._samples:
            self._same_policy()
            self._samples[t] = sample(self.engine, prompts_of(self.records),
                                      replace(self.settings, temperature=t, seed=self.seed_of(t)), f"val samples T={t}")
        return self._samples[t]

    def greedy_correct(self) -> list[float]:
        if self._greedy is None:
            self._same_policy()
            resp = greedy(self.engine, prompts_of(self.records), self.settings, desc="val greedy")
            self._greedy = score(resp, self.records)
        return self._greedy

    def _same_policy(self) -> None:
        if self.engine.weight_updates != self.version:
            raise RuntimeError("the rollout engine's weights changed since these validation samples were started: "
                               "make a new ValSamples for the new policy")

    def pass_at(self, temperature: float, k: int) -> float:
        correct = self._correct(temperature)
        return sum(pass_at_k(len(c), int(sum(c)), k) for c in correct) / len(correct)

    def reward_pass_at_2(self, temperature: float, rm, aggregate: str) -> float:
        t = round(temperature, 4)
        if t not in self._reward_pass_at:
            samples = self.at(t)
            scores = response_scores(rm, aggregate, self.records, samples)
            hits = [reward_pass_at(c, [sc[r] for r in resps])
                    for c, sc, resps in zip(self._correct(t), scores, samples)]
            self._reward_pass_at[t] = sum(hits) / len(hits)
        return self._reward_pass_at[t]

    def _correct(self, temperature: float) -> list[list[float]]:
        t = round(temperature, 4)
        if t not in self._correct_at:
            self._correct_at[t] = [[x or 0.0 for x in exact_match_reward(resps, **rec.reward_fields())]
                                   for resps, rec in zip(self.at(t), self.records)]
        return self._correct_at[t]


def measure(vs: ValSamples, metric: str, temperature: float, rm=None, aggregate: str = "min") -> float:
    """One validation metric (harness.loop.metrics) of the current policy at one temperature."""
    m = METRICS.get(metric)
    if m.needs_reward_model and rm is None:
        raise ValueError(f"{metric} needs a reward model (reward_model.kind prm or oracle)")
    return m.measure(vs, temperature, rm, aggregate)


def monitor_rows(vs: ValSamples, temperatures: list[float], rm, aggregate: str, base: dict) -> list[dict]:
    """Rows for metrics.jsonl: each metric that does not depend on the temperature once (greedy accuracy), then
    the others at each temperature (those that read reward-model scores only with a reward model)."""
    row = lambda metric, t, value: {**base, "metric": metric, "temperature": t, "k": vs.k, "value": round(value, 4)}  # noqa: E731
    rows = [row(name, None, measure(vs, name, 0.0)) for name, m in METRICS.items() if not m.per_temperature]
    for t in temperatures:
        for name, m in METRICS.items():
            if m.per_temperature and (rm is not None or not m.needs_reward_model):
                rows.append(row(name, t, measure(vs, name, t, rm, aggregate)))
    return rows
