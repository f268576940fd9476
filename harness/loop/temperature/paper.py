"""The paper's temperature policies: `fixed` keeps rollout.temperature; `adaptive` (M-STAR) re-decides every
`every` iterations, measuring a validation metric of the current policy at each temperature of a grid and taking
the best; between decisions the temperature stays."""
from __future__ import annotations

from typing import Callable

from harness.config import TemperatureConfig
from harness.loop.temperature import grid, policy


@policy("fixed")
def fixed(t: int, current: float, cfg: TemperatureConfig, probe: Callable[[float], float]) -> tuple[float, dict]:
    return current, {}


@policy("adaptive", probes=True)
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
