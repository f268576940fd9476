"""The iteration plan traverses the same number of queries whatever the interval (equal cost)."""
from __future__ import annotations

import pytest

from harness.loop.evolve import Plan


@pytest.mark.parametrize("interval", [1.0, 0.5, 0.25, 0.125, 0.0625])
def test_total_queries_equal_across_intervals(interval):
    plan = Plan.make(800, interval, 2.0, seed=0)
    seen = [q for t in range(plan.iterations) for q in plan.queries(t)]
    assert len(seen) == 1600
    assert sorted(seen) == sorted(list(range(800)) * 2)  # every query exactly once per pass


def test_plan_is_deterministic_and_seeded():
    a, b, c = Plan.make(100, 0.25, 1.0, 0), Plan.make(100, 0.25, 1.0, 0), Plan.make(100, 0.25, 1.0, 1)
    assert a.queries(2) == b.queries(2)
    assert a.queries(2) != c.queries(2)
