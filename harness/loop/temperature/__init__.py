"""Sampling-temperature policies for the Generate step (the paper's section 4.2), chosen by temperature.policy.

A policy decides the temperature of iteration t from the current one and, if it `probes`, a validation metric
of the current policy at any temperature it asks (`probe(temperature) -> value`, temperature.metric). Each module
of this package registers its policies with `@policy(...)` (`paper.py`: fixed and M-STAR's adaptive); a new
policy is one more module. The chosen temperature is logged each iteration.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from harness.registry import Registry

TEMPERATURE_POLICIES = Registry("temperature policy", __name__)


@dataclass(frozen=True)
class Policy:
    """A temperature policy and what the loop and the config checks ask of it."""

    decide: Callable  # (t, current temperature, TemperatureConfig, probe) -> (temperature, logged probe values)
    probes: bool = False  # measures temperature.metric on validation samples (the loop draws them only then)


def policy(name: str, *, probes: bool = False) -> Callable:
    """Decorator: register the function as the temperature policy `name` (the function is returned unchanged)."""
    def decorator(decide: Callable) -> Callable:
        TEMPERATURE_POLICIES.register(name)(Policy(decide, probes))
        return decide
    return decorator


def grid(cfg) -> list[float]:
    """lo, lo + step, ..., hi (inclusive, rounded to hide float steps) of a TemperatureConfig.

    >>> from harness.config import TemperatureConfig
    >>> grid(TemperatureConfig(lo=0.3, hi=0.7, step=0.2))
    [0.3, 0.5, 0.7]
    """
    n = int(round((cfg.hi - cfg.lo) / cfg.step))
    return [round(cfg.lo + i * cfg.step, 4) for i in range(n + 1)]
