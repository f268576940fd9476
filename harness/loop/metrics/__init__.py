"""Validation metrics of the current policy (the paper's section 4): what the monitor logs for every temperature
of monitor.temperatures and what the adaptive temperature policy maximises (temperature.metric).

A metric reads the policy's shared validation samples (harness.loop.dynamics.ValSamples) at one temperature.
Each module of this package registers its metrics with `@metric(...)` (`paper.py`: greedy accuracy, Pass@K,
Pass@K - greedy, Reward-Pass@2); a new metric is one more module, and the monitor logs it from then on.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from harness.registry import Registry

METRICS = Registry("dynamics metric", __name__)


@dataclass(frozen=True)
class Metric:
    """A validation metric and what the monitor and the config checks ask of it."""

    measure: Callable  # (ValSamples, temperature, reward model or None, aggregation name) -> float
    per_temperature: bool = True      # depends on the sampling temperature (else logged once per iteration)
    needs_reward_model: bool = False  # reads reward-model scores (logged only when there is a reward model)


def metric(name: str, *, per_temperature: bool = True, needs_reward_model: bool = False) -> Callable:
    """Decorator: register the function as the validation metric `name` (the function is returned unchanged)."""
    def decorator(measure: Callable) -> Callable:
        METRICS.register(name)(Metric(measure, per_temperature, needs_reward_model))
        return measure
    return decorator
