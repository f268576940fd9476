"""The embedded base model's pre-training corpus, generated apart from the training splits.

It teaches the tiny VLM what a pre-trained LMM already knows (DESIGN.md section 5): images are
described (captions, like an LMM's alignment data); plain prompts are answered directly; prompts with
the CoT instruction get a step-by-step solution, sometimes with an answer-irrelevant 'note:' step;
some CoT prompts also show the answer (rationalisation).
"""
from __future__ import annotations

import random

from harness.data.datasets import short_answer
from harness.model.adapters import Prompt
from harness.train.sft import Example
from harness.world.problems import Problem
from harness.world.writer import human_turn, problems, split_rng


def with_distractor(rng: random.Random, p: Problem, rate: float) -> list[str]:
    """The gold steps, with one 'note:' step inserted after the reading step at the given rate."""
    steps = list(p.steps)
    if p.distractors and rng.random() < rate:
        steps.insert(1, rng.choice(p.distractors))
    return steps


CAPTION_PROMPT = "Describe the image."


def base_corpus(seed: int, n: int, families: list[str], cot_fraction: float, hint_fraction: float,
                distractor_rate: float, caption_fraction: float = 0.0, answers: str = "narrow") -> list[Example]:
    """n pre-training examples with in-memory images, in the world's answer spaces."""
    rng = split_rng(seed, "base-corpus-mix")
    out = []
    for p in problems(seed, "base-corpus", n, families, answers=answers):
        question = human_turn(p).replace("<image>\n", "")
        if rng.random() < caption_fraction:
            out.append(Example(Prompt(CAPTION_PROMPT, p.image, cot=False), p.caption))
        elif rng.random() < cot_fraction:
            hint = short_answer(p.answer, p.choices) if rng.random() < hint_fraction else None
            out.append(Example(Prompt(question, p.image, cot=True, hint=hint),
                               "\n".join(with_distractor(rng, p, distractor_rate))))
        else:
            out.append(Example(Prompt(question, p.image, cot=False), short_answer(p.answer, p.choices)))
    return out
