"""Training dynamics: Pass@K (unbiased), Reward-Pass@2, temperature policies, and the monitor in a run."""
from __future__ import annotations

import itertools
import random

import pytest

from harness.config import TemperatureConfig
from harness.io import read_jsonl
from harness.loop.dynamics import pass_at_k, reward_pass_at
from harness.loop.temperature import TEMPERATURE_POLICIES, grid


@pytest.mark.parametrize("n, c, k", [(16, 0, 1), (16, 3, 1), (16, 3, 4), (8, 5, 3), (6, 6, 2), (10, 1, 10)])
def test_unbiased_pass_at_k_equals_brute_force_over_subsets(n, c, k):
    samples = [1] * c + [0] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    brute = sum(any(samples[i] for i in s) for s in subsets) / len(subsets)
    assert pass_at_k(n, c, k) == pytest.approx(brute)


def test_pass_at_k_on_hand_made_samples():
    assert pass_at_k(4, 0, 4) == 0.0 and pass_at_k(4, 1, 4) == 1.0 and pass_at_k(4, 2, 1) == 0.5
    with pytest.raises(ValueError):
        pass_at_k(2, 1, 3)


def test_reward_pass_at_2_on_hand_made_samples():
    correct = [0.0, 0.0, 1.0, 0.0]
    assert reward_pass_at(correct, [0.9, 0.8, 0.7, 0.1]) == 0.0   # the correct one is ranked third
    assert reward_pass_at(correct, [0.9, 0.1, 0.8, 0.1]) == 1.0
    assert reward_pass_at([0.0, 1.0], [0.5, 0.5]) == 1.0          # fewer samples than 2: all count
    assert reward_pass_at([0.0] * 4, [1.0] * 4) == 0.0


def test_adaptive_policy_picks_the_argmax_and_keeps_it_between_decisions():
    cfg = TemperatureConfig(policy="adaptive", every=2, lo=0.3, hi=1.6, step=0.1)
    assert grid(cfg)[0] == 0.3 and grid(cfg)[-1] == 1.6 and len(grid(cfg)) == 14
    rng = random.Random(0)
    values = {t: rng.random() for t in grid(cfg)}
    probed = []

    def probe(t):
        probed.append(t)
        return values[t]

    policy = TEMPERATURE_POLICIES.get("adaptive").decide
    temp, info = policy(0, 1.0, cfg, probe)
    assert temp == max(values, key=values.get) and info["temperature_probe"] == values
    probed.clear()
    assert policy(1, temp, cfg, probe) == (temp, {}) and probed == []  # kept, nothing measured
    values = {t: -abs(t - 0.5) for t in grid(cfg)}
    assert policy(2, temp, cfg, probe)[0] == 0.5
    assert TEMPERATURE_POLICIES.get("fixed").decide(0, 0.8, cfg, probe)[0] == 0.8


def test_monitor_and_adaptive_temperature_in_a_run(tiny_config):
    """Dynamics rows for pi_0 and every iteration; the adaptive choice is logged and used; the monitor
    and the policy share samples (overlapping temperatures are sampled once per policy version)."""
    from harness.loop.evolve import run

    cfg = tiny_config("reward_model.kind=oracle", "select.operator=top_k", "method.interval=0.5",
                      "monitor.temperatures=[0.5,1.0]", "monitor.queries=4", "monitor.samples=4",
                      "temperature.policy=adaptive", "temperature.every=2", "temperature.lo=0.5",
                      "temperature.hi=1.0", "temperature.step=0.5", "name=dynamics")
    rows = read_jsonl(run(cfg, "adaptive") / "metrics.jsonl")
    dyn = [r for r in rows if "metric" in r]
    summary = [r for r in rows if "metric" not in r]
    assert {r["iteration"] for r in dyn} == {0, 1, 2}
    per_iteration = {(r["metric"], r["temperature"]) for r in dyn if r["iteration"] == 1}
    assert per_iteration == {("greedy_accuracy", None)} | {(m, t) for m in ("pass_at_k", "pass_minus_greedy",
                                                                           "reward_pass_at_2") for t in (0.5, 1.0)}
    first, second = summary
    probe = {float(t): v for t, v in first["temperature_probe"].items()}  # decided at iteration 0 ...
    assert set(probe) == {0.5, 1.0} and first["temperature"] == max(probe, key=lambda t: (probe[t], -t))
    assert "temperature_probe" not in second and second["temperature"] == first["temperature"]  # ... kept at 1
    # the probe at iteration 0 measured the same samples as pi_0's monitor rows
    pi0 = {r["temperature"]: r["value"] for r in dyn if r["iteration"] == 0 and r["metric"] == "reward_pass_at_2"}
    assert probe == pytest.approx(pi0, abs=1e-4)
