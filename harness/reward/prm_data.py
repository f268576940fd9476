"""PRM training data by Monte-Carlo rollouts (Wang et al. 2024; the paper's Appendix D).

pi_hat_0 samples K responses per question; they are de-duplicated (at most a few per question) and
balanced 1:1 correct:wrong and 1:1 multi-choice:free-form; then step k of a response is labelled
with the share of N completions from its first k steps that reach the gold answer.
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass

from harness.data.datasets import Record
from harness.model.adapters import Prompt
from harness.reward.answers import exact_match_reward
from harness.reward.prm import StepExample
from harness.reward.steps import response_steps
from harness.rollout.settings import SamplingSettings

log = logging.getLogger(__name__)


@dataclass
class Candidate:
    """One sampled response of a question, before step labelling."""

    record: Record
    steps: list[str]
    correct: bool


def candidates(records: list[Record], responses: list[list[str]], max_per_query: int) -> list[Candidate]:
    """Distinct responses (as step lists) per question, at most max_per_query, with their correctness."""
    out = []
    for rec, resps in zip(records, responses):
        seen = set()
        for resp, r in zip(resps, exact_match_reward(resps, **rec.reward_fields())):
            steps = tuple(response_steps(resp))
            if steps and steps not in seen and len(seen) < max_per_query:
                seen.add(steps)
                out.append(Candidate(rec, list(steps), r == 1.0))
    return out


def balance(cands: list[Candidate], n: int, rng: random.Random) -> list[Candidate]:
    """n candidates (fewer if a cell runs short), 1:1 correct:wrong and 1:1 multi-choice:free-form.

    Equal draws from the four (correct, question type) cells give both ratios at once. When a cell is
    empty (e.g. no free-form question solved), only correct:wrong is balanced, with a warning; with no
    correct or no wrong response at all there is nothing to learn from, which is an error.
    """
    cells: dict[tuple[bool, bool], list[Candidate]] = {(c, m): [] for c in (True, False) for m in (True, False)}
    for cand in cands:
        cells[(cand.correct, cand.record.question_type == "multi_choice")].append(cand)
    sizes = {f"{'correct' if c else 'wrong'}/{'multi-choice' if m else 'free-form'}": len(v)
             for (c, m), v in cells.items()}
    per_cell = min([n // 4] + [len(v) for v in cells.values()])
    if per_cell:
        if per_cell < n // 4:
            log.warning("PRM data: %d responses per (correctness, question type) cell, asked for %d; %s",
                        per_cell, n // 4, sizes)
        out = [c for cell in cells.values() for c in rng.sample(cell, per_cell)]
    else:
        right = [c for c in cands if c.correct]
        wrong = [c for c in cands if not c.correct]
        per_side = min(n // 2, len(right), len(wrong))
        if not per_side:
            raise ValueError(f"PRM data: pi_hat_0's responses are all correct or all wrong ({sizes}); "
                             "sample more questions (prm.questions, prm.samples_per_query)")
        log.warning("PRM data: a (correctness, question type) cell is empty (%s); balancing only correct:wrong, "
                    "%d each", sizes, per_side)
        out = rng.sample(right, per_side) + rng.sample(wrong, per_side)
    rng.shuffle(out)
    return out


def completion_prompts(cands: list[Candidate]) -> tuple[list[Prompt], list[tuple[int, int]]]:
    """A continuation prompt for every step prefix but the last (whose label is the response's own
    correctness), with (candidate, step) for each."""
    prompts, where = [], []
    for i, c in enumerate(cands):
        for k in range(1, len(c.steps)):
            prompts.append(Prompt(c.record.question, c.record.image, cot=True, prefix="\n".join(c.steps[:k]) + "\n"))
            where.append((i, k - 1))
    return prompts, where


def mc_label(cands: list[Candidate], complete, settings: SamplingSettings) -> tuple[list[StepExample], int]:
    """Step labels by Monte-Carlo completion; returns the labelled examples and the number of completions.

    `complete(prompts, settings)` samples pi_hat_0, `settings.k` (N) completions of every step prefix: each prefix
    is encoded once and shared by its N completions.
    """
    labels = [[0.0] * (len(c.steps) - 1) + [float(c.correct)] for c in cands]
    prompts, where = completion_prompts(cands)
    completions = complete(prompts, settings) if prompts else []
    for p, (i, k), comps in zip(prompts, where, completions):
        rec = cands[i].record
        hits = exact_match_reward([p.prefix + c for c in comps], **rec.reward_fields())
        labels[i][k] = sum(h or 0.0 for h in hits) / len(comps)
    examples = [StepExample(Prompt(c.record.question, c.record.image, cot=True), c.steps, lab)
                for c, lab in zip(cands, labels)]
    return examples, len(prompts) * settings.k
