"""CircularEval (MMBench's protocol): a multi-choice question is asked once per rotation of its options
and counts as correct only if every rotation is answered correctly.

A model that always answers "A", or that guesses by position, passes one rotation at best: what remains
is what it can read from the question and image. MMBench publishes its numbers this way, so its
benchmarks always use it; `eval.circular: true` turns it on for every evaluated split.
"""
from __future__ import annotations

import dataclasses
import re

from harness.data.answer_forms import OPTION_LETTERS
from harness.data.datasets import Record

ALWAYS = ("mmbench", "mmbench_r")  # benchmarks whose published numbers are CircularEval numbers
_OPTION_LINE = re.compile(r"^\(([A-Z])\) ?(.*)$", re.MULTILINE)


def applies(split: str, circular: bool) -> bool:
    return circular or split in ALWAYS


def _option_lines(question: str, n: int) -> list[re.Match] | None:
    """The last run of n consecutive lines '(A) ...', '(B) ...' in the question, or None."""
    lines = list(_OPTION_LINE.finditer(question))
    for start in range(len(lines) - n, -1, -1):
        run = lines[start:start + n]
        if [m.group(1) for m in run] == list(OPTION_LETTERS[:n]) and all(
                question[a.end():b.start()] == "\n" for a, b in zip(run, run[1:])):
            return run
    return None


def rotate(rec: Record, k: int) -> Record | None:
    """The record with its options rotated by k (option k becomes A), in its choices and in the question
    text; None when the question does not list its options one per line as '(A) text'.

    >>> from pathlib import Path
    >>> rec = Record("q1", Path("x.png"), "Which is red?\\nChoices:\\n(A) sky\\n(B) rose\\n(C) grass", "rose",
    ...              "multi_choice", "text", "t", choices=["sky", "rose", "grass"])
    >>> r = rotate(rec, 1)
    >>> r.choices, r.question.splitlines()[2:], r.answer
    (['rose', 'grass', 'sky'], ['(A) rose', '(B) grass', '(C) sky'], 'rose')
    """
    n = len(rec.choices or [])
    run = _option_lines(rec.question, n) if n > 1 else None
    if run is None:
        return None
    texts = [m.group(2) for m in run]  # as the question writes them (may differ from the cleaned choices)
    order = [(i + k) % n for i in range(n)]
    body = "\n".join(f"({OPTION_LETTERS[j]}) {texts[i]}" for j, i in enumerate(order))
    question = rec.question[:run[0].start()] + body + rec.question[run[-1].end():]
    return dataclasses.replace(rec, question=question, choices=[rec.choices[i] for i in order])


def expand(records: list[Record]) -> list[tuple[int, Record, int | None]]:
    """What is asked, as (question index, record, rotation): every rotation of each multi-choice question whose
    options can be rotated (rotation 0 is the question as given), and other questions once (rotation None).

    >>> from pathlib import Path
    >>> mc = Record("m", Path("x.png"), "Pick.\\n(A) 1\\n(B) 2", "2", "multi_choice", "text", "t", choices=["1", "2"])
    >>> ff = Record("f", Path("x.png"), "How many?", "3", "free_form", "integer", "t")
    >>> [(i, r.id, k, r.choices) for i, r, k in expand([mc, ff])]
    [(0, 'm', 0, ['1', '2']), (0, 'm', 1, ['2', '1']), (1, 'f', None, None)]
    """
    out = []
    for i, rec in enumerate(records):
        rotations = [rotate(rec, k) for k in range(len(rec.choices or []))] if rec.question_type == "multi_choice" else []
        if rotations and all(rotations):
            out += [(i, r, k) for k, r in enumerate(rotations)]
        else:
            out.append((i, rec, None))
    return out
