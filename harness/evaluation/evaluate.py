"""Greedy evaluation: accuracy overall, per task and per question type, with the responses kept.

Each split is asked in its prompt form (`eval.prompt`, `eval.prompt_by_split`), multi-choice questions in
every rotation where CircularEval applies (harness.evaluation.circular); the responses are scored by rules and,
when one is configured, a judge (harness.evaluation.scoring), and written with their answers to `<out>/<split>.jsonl`
so `harness rescore` can score them again without the model. Under torchrun every rank decodes its share.
"""
from __future__ import annotations

from pathlib import Path

from harness import distributed
from harness.config import EvalConfig
from harness.data.datasets import Record
from harness.evaluation import circular
from harness.evaluation.judge import JudgeClient
from harness.evaluation.scoring import response_rows, score_rows, table
from harness.io import write_jsonl
from harness.model.adapters import Prompt
from harness.reward.answers import exact_match_reward
from harness.rollout.engine import RolloutEngine
from harness.rollout.settings import SamplingSettings
from harness.rollout.sharded import greedy

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


def evaluate(engine: RolloutEngine, splits: dict[str, list[Record]], settings: SamplingSettings,
             cot: bool = True, eval_cfg: EvalConfig | None = None, out: Path | None = None,
             judge: JudgeClient | None = None) -> dict:
    """Greedy accuracy tables for each named split, decoded by the engine with the settings' max_new_tokens and batch;
    `eval_cfg` (eval.*) says how each split is asked (prompt form, CircularEval) and scored (judge mode); `cot` is
    what the cot prompt form means for this model (False: it was trained on plain questions). With `out`, each
    split's scored responses are saved there."""
    eval_cfg = eval_cfg or EvalConfig()
    tables = {}
    for name, records in splits.items():
        label = prompt_label(eval_cfg.prompt_for(name), cot)
        rotate = circular.applies(name, eval_cfg.circular)
        asked = circular.expand(records) if rotate else [(i, rec, None) for i, rec in enumerate(records)]
        responses = greedy(engine, prompts_of([rec for _, rec, _ in asked], label == "cot"), settings,
                           desc=f"eval {name}")
        rows = response_rows(asked, responses, label, rotate)
        score_rows(rows, judge, eval_cfg.judge.mode)
        if out is not None and distributed.is_main():
            write_jsonl(Path(out) / f"{name}.jsonl", rows)
        tables[name] = table(rows)
    return tables
