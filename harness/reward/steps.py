"""How a response is split into reasoning steps: one step per non-empty line, the last normally its answer line.

The PRM's step labels and step scores, the verifier analysis and the world's gold-step checks (harness/world/
oracle.py) all split responses here, so responses to a real dataset are parsed the same way as the embedded
world's.
"""
from __future__ import annotations

ANSWER_MARKER = "answer: "  # starts the answer line the policy is trained to end with (the world's gold solutions)


def response_steps(response: str) -> list[str]:
    """Non-empty lines of a response, stripped.

    >>> response_steps("a=3 b=5\\n\\n 3+5=8 \\nanswer: 8")
    ['a=3 b=5', '3+5=8', 'answer: 8']
    """
    return [s.strip() for s in response.splitlines() if s.strip()]


def scored_steps(response: str) -> list[str]:
    """The steps a process reward model scores: the response's steps, or one empty step for an empty response
    (so every response gets a score)."""
    return response_steps(response) or [""]


def answer_line(answer: str) -> str:
    """The line that states a final answer.

    >>> answer_line("8")
    'answer: 8'
    """
    return ANSWER_MARKER + answer
