"""A PRM trained on exact step labels must rank a correct step above a wrong one (issue 23).

The task is made so that only the last character of a step tells whether it is right ('y') or wrong
('n'): a PRM whose step score is read at any token but the step's last one, or trained on tokens
shifted against the ones it is scored on, cannot separate them. Nothing else about the task is
learnable, so the test isolates training / scoring alignment from model capacity. The PRMs train on each
step's last token (prm.loss tokens="step_ends"): trained on every token (the paper's loss) the same PRM
orders every pair right too but needs twice the epochs to open a clear gap (measured: gap 0.016 after 4
epochs, 0.56 after 8).
"""
from __future__ import annotations

import random

import pytest
import torch
from PIL import Image

from harness.config import OptimConfig
from harness.model.adapters import Prompt, adapter_for
from harness.reward.prm import ProcessRewardModel, StepExample, train_prm
from harness.reward.prm_controls import shuffled
from harness.tinyvlm import build_tiny_vlm

IMAGE = Image.new("RGB", (48, 48), "white")


def synthetic(n: int, seed: int) -> list[StepExample]:
    """Responses of 3-5 steps 'k=<digits> y|n'; a step's label is 1 for 'y' and 0 for 'n'."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        ok = [rng.random() < 0.5 for _ in range(rng.randint(3, 5))]
        steps = [f"k={rng.randint(10, 99)} {'y' if good else 'n'}" for good in ok]
        out.append(StepExample(Prompt("check each step", IMAGE, cot=True), steps, [float(g) for g in ok]))
    return out


@pytest.fixture(scope="module")
def backbone():
    torch.manual_seed(0)
    model, processor = build_tiny_vlm(hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                                      intermediate_size=128)
    return model, adapter_for(model, processor)


def scored_pairs(prm: ProcessRewardModel, examples: list[StepExample]) -> tuple[float, float]:
    """(share of (right step, wrong step) pairs within a response where the right one scores higher, a tie
    counting half; mean score of right steps minus mean score of wrong steps)."""
    scores = prm.step_scores([e.prompt for e in examples], ["\n".join(e.steps) for e in examples])
    pairs = [(s[i] > s[j]) + 0.5 * (s[i] == s[j]) for e, s in zip(examples, scores) for i, a in enumerate(e.labels)
             for j, b in enumerate(e.labels) if a == 1.0 and b == 0.0]
    by_label = {v: [x for e, s in zip(examples, scores) for x, lab in zip(s, e.labels) if lab == v] for v in (0.0, 1.0)}
    return sum(pairs) / len(pairs), sum(by_label[1.0]) / len(by_label[1.0]) - sum(by_label[0.0]) / len(by_label[0.0])


def trained(backbone, examples) -> ProcessRewardModel:
    model, adapter = backbone
    prm = ProcessRewardModel.init_from_policy(model, adapter)
    train_prm(prm, examples, OptimConfig(lr=3e-3, batch_size=16, warmup_steps=5, schedule="cosine"), epochs=4, seed=0,
              tokens="step_ends")
    return prm


def test_exact_labels_teach_the_prm_to_rank_right_steps_first(backbone):
    state = {k: v.clone() for k, v in backbone[0].state_dict().items()}
    separation, gap = scored_pairs(trained(backbone, synthetic(160, 0)), synthetic(40, 1))
    backbone[0].load_state_dict(state)   # the next test starts from the same backbone
    assert separation > 0.95 and gap > 0.5


def test_shuffled_labels_teach_nothing(backbone):
    """Same data, labels permuted: scores no longer follow the step's truth (a fixed bias by token can order
    every pair the same way, so the test is on the size of the gap, not on the pairs)."""
    _, gap = scored_pairs(trained(backbone, shuffled(synthetic(160, 0), seed=0)), synthetic(40, 1))
    assert abs(gap) < 0.1
