"""Controls for the learned PRM (issue 23): is a bad ranking the labels' fault or the model's?

- `oracle_labelled`: the same responses labelled with the oracle's exact step verdicts instead of
  Monte-Carlo estimates. A PRM trained on these that still ranks below chance means the model, the
  scoring or the step alignment is broken; one that ranks well means the Monte-Carlo labels are.
- `shuffled`: the Monte-Carlo step labels permuted across all steps of all responses: a PRM trained on
  them must rank at chance (it sees the same label distribution, none of the information).
- the Monte-Carlo labels themselves as a scorer of held-out responses (`harness.reward.prm_data.mc_label` on
  the verifier samples): the ceiling of what a PRM trained on such labels can learn.
- `step_agreement`: precision / recall / F1 of "this step is correct" against the oracle's step labels,
  the way process-reward benchmarks score PRMs, for every scorer.
- `probes`: a question's gold solution against the same solution with one digit of its last numbered step
  changed, and against the gold cut to its first and last step.
"""
from __future__ import annotations

import random
import re

from harness.data.datasets import Record
from harness.reward.models import aggregate
from harness.reward.models.oracle import OracleReward
from harness.reward.prm import StepExample

THRESHOLD = 0.5  # a step score above it reads "this step is correct"


def oracle_labelled(examples: list[StepExample], records: list[Record]) -> list[StepExample]:
    """The same responses with the oracle's exact step labels."""
    return [StepExample(e.prompt, e.steps, OracleReward.score_one(rec, "\n".join(e.steps)))
            for e, rec in zip(examples, records)]


def shuffled(examples: list[StepExample], seed: int) -> list[StepExample]:
    """The same responses with every step label drawn from a permutation of all step labels.

    >>> ex = [StepExample(None, ["a", "b"], [0.0, 1.0]), StepExample(None, ["c"], [0.5])]
    >>> sorted(label for e in shuffled(ex, 0) for label in e.labels)
    [0.0, 0.5, 1.0]
    """
    pool = [label for e in examples for label in e.labels]
    random.Random(seed).shuffle(pool)
    out, i = [], 0
    for e in examples:
        out.append(StepExample(e.prompt, e.steps, pool[i:i + len(e.steps)]))
        i += len(e.steps)
    return out


def step_agreement(records: list[Record], responses: list[str], scores: list[list[float]]) -> dict:
    """Precision / recall / F1 of "step is correct" (score > THRESHOLD) against the oracle's step labels,
    and the F1 of the wrong steps (what a verifier must find); None where no step of that kind exists.

    >>> from pathlib import Path
    >>> r = Record("1", Path("x.png"), "q", "8", "free_form", "integer", "t", solution=["a=3", "3+5=8", "answer: 8"])
    >>> step_agreement([r], ["a=3\\n3+6=8\\nanswer: 8"], [[0.9, 0.2, 0.8]])
    {'steps': 3, 'precision': 0.5, 'recall': 1.0, 'f1': 0.6667, 'error_f1': 0.6667}
    """
    tp = fp = fn = tn = 0
    for rec, resp, pred in zip(records, responses, scores):
        for truth, s in zip(OracleReward.score_one(rec, resp), pred):
            ok, said_ok = truth == 1.0, s > THRESHOLD
            tp, fp, fn, tn = tp + (ok and said_ok), fp + (not ok and said_ok), fn + (ok and not said_ok), \
                tn + (not ok and not said_ok)
    ratio = lambda a, b: round(a / b, 4) if b else None  # noqa: E731  (None: no such steps at all)
    return {"steps": tp + fp + fn + tn, "precision": ratio(tp, tp + fp), "recall": ratio(tp, tp + fn),
            "f1": ratio(2 * tp, 2 * tp + fp + fn), "error_f1": ratio(2 * tn, 2 * tn + fn + fp)}


def corrupt_digit(step: str) -> str | None:
    """The step with its last digit changed (a wrong result of a right computation), or None without digits.

    >>> corrupt_digit("3+5=8"), corrupt_digit("ask B-A")
    ('3+5=9', None)
    """
    digits = list(re.finditer(r"\d", step))
    if not digits:
        return None
    m = digits[-1]
    return step[:m.start()] + str((int(m.group()) + 1) % 10) + step[m.end():]


def probe_responses(rec: Record) -> dict[str, str] | None:
    """gold / one digit of the last step with a number before the answer changed (a wrong count or result) /
    gold cut to its first and last step; None for solutions of under 3 steps or without such a number."""
    steps = list(rec.solution or [])
    numbered = [i for i, s in enumerate(steps[1:-1], start=1) if corrupt_digit(s)]
    if len(steps) < 3 or not numbered:
        return None
    i = numbered[-1]
    return {"gold": "\n".join(steps), "wrong_digit": "\n".join(steps[:i] + [corrupt_digit(steps[i])] + steps[i + 1:]),
            "first_and_last": "\n".join([steps[0], steps[-1]])}


def probes(records: list[Record], score, how: str = "min") -> dict:
    """How a scorer (records, responses -> step scores) ranks each gold solution against its corruptions:
    mean score of each variant and the share of questions where gold scores strictly higher."""
    cases = [(rec, p) for rec in records if (p := probe_responses(rec))]
    if not cases:
        return {}
    kinds = list(cases[0][1])
    flat_recs = [rec for rec, p in cases for _ in kinds]
    steps = score(flat_recs, [p[k] for _, p in cases for k in kinds])
    agg = [aggregate(s, how) for s in steps]
    table = [dict(zip(kinds, agg[i * len(kinds):(i + 1) * len(kinds)])) for i in range(len(cases))]
    out = {"questions": len(cases), **{f"mean_{k}": round(sum(t[k] for t in table) / len(table), 4) for k in kinds}}
    for k in kinds[1:]:
        out[f"gold_above_{k}"] = round(sum(t["gold"] > t[k] for t in table) / len(table), 4)
    return out
