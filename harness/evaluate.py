"""Greedy evaluation: accuracy overall, per task and per question type, with the responses kept.

Each split is asked in its prompt form (`eval.prompt`, `eval.prompt_by_split`), multi-choice questions in
every rotation where CircularEval applies (harness.circular); the responses are scored by rules and, when
one is configured, a judge (harness.scoring), and written with their answers to `<out>/<split>.jsonl`
so `harness rescore` can score them again without the model. Under torchrun every rank decodes its share.
"""
from __future__ import annotations

from pathlib import Path

from harness import circular
from harness.adapters import Adapter, Prompt
from harness.answers import exact_match_reward
from harness.config import EvalConfig
from harness.datasets import Record
from harness import distributed
from harness.io import write_jsonl
from harness.judge import JudgeClient
from harness.scoring import response_rows, score_rows, table
from harness.sharded_rollout import greedy

RESPONSES = "responses"  # the folder of saved responses in a run or stage folder


def prompts_of(records: list[Record], cot: bool = True) -> list[Prompt]:
    return [Prompt(r.question, r.image, cot=cot) for r in records]


def score(responses: list[str], records: list[Record]) -> list[float]:
    """1.0 / 0.0 per response against the record's gold answer."""
    return [exact_match_reward([resp], **rec.reward_fields())[0] or 0.0 for resp, rec in zip(responses, records)]


def prompt_label(form: str, cot: bool) -> str:
    """What a split was asked with: official (the benchmark's own query), cot (with the CoT instruction) or
    plain (the question alone: the cot form of a method trained without the instruction, SFT)."""
    return "official" if form == "official" else "cot" if cot else "plain"


def evaluate(model, adapter: Adapter, splits: dict[str, list[Record]], max_new_tokens: int,
             batch_sequences: int, cot: bool = True, settings: EvalConfig | None = None, out: Path | None = None,
             judge: JudgeClient | None = None) -> dict:
    """Greedy accuracy tables for each named split; `cot` is what the cot prompt form means for this model
    (False: it was trained on plain questions). With `out`, each split's scored responses are saved there."""
    settings = settings or EvalConfig()
    tables = {}
    for name, records in splits.items():
        label = prompt_label(settings.prompt_for(name), cot)
        rotate = circular.applies(name, settings.circular)
        asked = circular.expand(records) if rotate else [(i, rec, None) for i, rec in enumerate(records)]
        responses = greedy(model, adapter, prompts_of([rec for _, rec, _ in asked], label == "cot"),
                           max_new_tokens, batch_sequences, desc=f"eval {name}")
        rows = response_rows(asked, responses, label, rotate)
        score_rows(rows, judge, settings.judge.mode)
        if out is not None and distributed.is_main():
            write_jsonl(Path(out) / f"{name}.jsonl", rows)
        tables[name] = table(rows)
    return tables
