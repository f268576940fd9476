"""Sampling-temperature policies for the Generate step (the paper's section 4.2).

`fixed` keeps rollout.temperature. `adaptive` (M-STAR) re-decides every `every` iterations: it
measures a validation metric of the current policy at each temperature of a grid and takes the best;
between decisions the temperature stays. The chosen temperature is logged each iteration.
"""
from __future__ import annotations

from typing import Callable

from harness.config import TemperatureConfig
from harness.registry import Registry

TEMPERATURE_POLICIES = Registry("temperature policy")


def grid(cfg: TemperatureConfig) -> list[float]:
    """lo, lo + step, ..., hi (inclusive, rounded to hide float steps).

    >>> grid(TemperatureConfig(lo=0.3, hi=0.7, step=0.2))
    [0.3, 0.5, 0.7]
    """
    n = int(round((cfg.hi - cfg.lo) / cfg.step))
    return [round(cfg.lo + i * cfg.step, 4) for i in range(n + 1)]


@TEMPERATURE_POLICIES.register("fixed")
def fixed(t: int, current: float, cfg: TemperatureConfig, probe: Callable[[float], float]) -> tuple[float, dict]:
    return current, {}


@TEMPERATURE_POLICIES.register("adaptive")
def adaptive(t: int, current: float, cfg: TemperatureConfig, probe: Callable[[float], float]) -> tuple[float, dict]:
    """At iterations 0, every, 2*every, ...: the grid temperature maximising probe (ties: the lower one).

    >>> adaptive(0, 1.0, TemperatureConfig(lo=0.5, hi=1.5, step=0.5), lambda t: -abs(t - 1.5))[0]
    1.5
    >>> adaptive(1, 0.7, TemperatureConfig(every=2), lambda t: 1 / 0)[0]  # between decisions: kept, no probing
    0.7
    """
    if t % cfg.every:
        return current, {}
    values = {temp: probe(temp) for temp in grid(cfg)}
    best = max(values, key=lambda temp: (values[temp], -temp))
    return best, {"temperature_probe": values}
