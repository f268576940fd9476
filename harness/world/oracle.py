"""Oracle checks the synthetic world can make exactly, without an LLM judge: a response's steps (split by
harness/reward/steps.py) against the gold solution's."""
from __future__ import annotations

from harness.data.datasets import Record
from harness.reward.steps import response_steps

NOTE = "note:"  # starts a true but answer-irrelevant step of the world's solutions


def reasoning_correct(response: str, record: Record) -> bool | None:
    """Whether every answer-relevant step equals the gold solution's; None when no gold solution is known.

    >>> from pathlib import Path
    >>> r = Record("1", Path("x.png"), "q", "8", "free_form", "integer", "t", solution=["a=3 b=5", "3+5=8", "answer: 8"])
    >>> reasoning_correct("a=3 b=5\\nnote: b is tallest\\n3+5=8\\nanswer: 8", r), reasoning_correct("a=4 b=4\\n4+4=8\\nanswer: 8", r)
    (True, False)
    """
    if not record.solution:
        return None
    return relevant_steps(response) == [s.strip() for s in record.solution]


def relevant_steps(response: str) -> list[str]:
    """The response's steps without its answer-irrelevant ('note:') ones."""
    return [s for s in response_steps(response) if not s.startswith(NOTE)]


def irrelevant_steps(response: str) -> int:
    """Number of answer-irrelevant ('note:') steps in a response."""
    return sum(s.startswith(NOTE) for s in response_steps(response))
