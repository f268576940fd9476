"""Greedy evaluation: accuracy overall, per task and per question type (under torchrun every rank decodes its share)."""
from __future__ import annotations

from collections import defaultdict

from harness.data.datasets import Record
from harness.model.adapters import Adapter, Prompt
from harness.reward.answers import exact_match_reward
from harness.rollout.settings import SamplingSettings
from harness.rollout.sharded import greedy


def prompts_of(records: list[Record], cot: bool = True) -> list[Prompt]:
    return [Prompt(r.question, r.image, cot=cot) for r in records]


def score(responses: list[str], records: list[Record]) -> list[float]:
    """1.0 / 0.0 per response against the record's gold answer."""
    return [exact_match_reward([resp], **rec.reward_fields())[0] or 0.0 for resp, rec in zip(responses, records)]


def _mean(xs: list[float]) -> float:
    return round(sum(xs) / len(xs), 4) if xs else float("nan")


def accuracy_table(correct: list[float], records: list[Record]) -> dict:
    """Overall accuracy plus breakdowns by task and by question type."""
    by_task, by_type = defaultdict(list), defaultdict(list)
    for c, r in zip(correct, records):
        by_task[r.task].append(c)
        by_type[r.question_type].append(c)
    return {"accuracy": _mean(correct), "n": len(correct),
            "by_task": {k: _mean(v) for k, v in sorted(by_task.items())},
            "by_question_type": {k: _mean(v) for k, v in sorted(by_type.items())}}


def evaluate(model, adapter: Adapter, splits: dict[str, list[Record]], settings: SamplingSettings,
             cot: bool = True) -> dict:
    """Greedy accuracy tables for each named split (decoded with the settings' backend, max_new_tokens and batch)."""
    out = {}
    for name, records in splits.items():
        responses = greedy(model, adapter, prompts_of(records, cot), settings, desc=f"eval {name}")
        out[name] = accuracy_table(score(responses, records), records)
    return out
