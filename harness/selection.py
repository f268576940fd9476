"""Select which rewarded responses of one query are trained on (the paper's H operator, section 3.3)."""
from __future__ import annotations


def dedup_correct(responses: list[str], rewards: list[float | None]) -> list[str]:
    """Distinct responses with reward 1, in sampling order.

    >>> dedup_correct(["a", "b", "a", "c"], [1.0, 0.0, 1.0, 1.0])
    ['a', 'c']
    """
    seen, out = set(), []
    for resp, r in zip(responses, rewards):
        if r == 1.0 and resp not in seen:
            seen.add(resp)
            out.append(resp)
    return out
