"""How far does guessing get? The no-skill floor of every split of a data folder (issue 20).

    python benchmarks/guess_floor.py                      # the embedded world of ablations/base.yaml
    python benchmarks/guess_floor.py data.path=/data/mstar  # a real data folder
    python benchmarks/guess_floor.py world.sizes.val=500    # any config override

Two guessers that never look at the image, scored by the harness's own reward (exact match):
- uniform: a multi-choice question's options drawn uniformly; a free-form answer drawn from the labeled
  split's answers of the same task and answer type, in their proportions (the prior a model learns first).
  Per-sample accuracy is the chance one draw is right; Pass@16 the chance one of 16 independent draws is.
- commonest: always the labeled split's commonest answer of the task and type (for multi-choice, its
  commonest option position).
A Pass@16 near the models' own says that "some sample was right" measures luck, not reasoning.
"""
from __future__ import annotations

import argparse
import string
import sys
from collections import Counter, defaultdict
from functools import lru_cache
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.config import load_config  # noqa: E402
from harness.data.datasets import Record  # noqa: E402
from harness.data.splits import load_splits  # noqa: E402
from harness.reward.answers import exact_match_reward  # noqa: E402
from harness.stages.graph import stages  # noqa: E402

K = 16


def group(rec: Record) -> tuple[str, str]:
    return rec.task, rec.answer_type


def priors(labeled: list[Record]) -> tuple[dict, dict]:
    """Free-form answer counts per (task, answer type), and multi-choice gold option positions per task."""
    free, positions = defaultdict(Counter), defaultdict(Counter)
    for r in labeled:
        if r.answer is None:
            continue
        if r.question_type == "multi_choice" and r.choices and r.answer in r.choices:
            positions[r.task][r.choices.index(r.answer)] += 1
        elif r.question_type == "free_form":
            free[group(r)][r.answer] += 1
    return free, positions


def floor(records: list[Record], free: dict, positions: dict) -> dict:
    """Mean per-sample accuracy and Pass@K of the uniform guesser, accuracy of the commonest guess."""
    @lru_cache(maxsize=None)
    def right(i: int, guess: str) -> bool:
        return exact_match_reward([f"answer: {guess}"], **records[i].reward_fields())[0] == 1.0

    p_one, p_k, commonest, mc = [], [], [], 0
    for i, r in enumerate(records):
        if r.question_type == "multi_choice" and r.choices:
            mc += 1
            letters = string.ascii_uppercase[:len(r.choices)]
            p = sum(right(i, letter) for letter in letters) / len(letters)
            pos = positions.get(r.task)
            best = pos.most_common(1)[0][0] if pos else 0
            commonest.append(right(i, letters[best]) if best < len(letters) else False)
        else:
            prior = free.get(group(r), Counter())
            total = sum(prior.values())
            p = sum(n for a, n in prior.items() if right(i, a)) / total if total else 0.0
            commonest.append(right(i, prior.most_common(1)[0][0]) if prior else False)
        p_one.append(p)
        p_k.append(1 - (1 - p) ** K)
    n = len(records)
    mean = lambda xs: round(sum(xs) / n, 4) if n else None  # noqa: E731
    return {"records": n, "multi_choice": mean([1] * mc), "uniform_accuracy": mean(p_one),
            f"uniform_pass@{K}": mean(p_k), "commonest_accuracy": mean(commonest)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("overrides", nargs="*", help="config key=value, e.g. data.path=... or world.seed=1")
    ap.add_argument("--config", default="ablations/base.yaml")
    args = ap.parse_args()
    cfg = load_config(args.config, args.overrides)
    data = stages(cfg)[0].ensure()  # the data stage only: nothing is trained
    splits = load_splits(data)
    free, positions = priors(splits["labeled"])
    print(f"data: {data}")
    print(f"{'split':10s} {'records':>8s} {'MC share':>9s} {'uniform acc':>12s} {'uniform pass@16':>16s} {'commonest':>10s}")
    for name, records in splits.items():
        if name == "unlabeled":
            continue
        f = floor(records, free, positions)
        print(f"{name:10s} {f['records']:8d} {f['multi_choice']:9.3f} {f['uniform_accuracy']:12.3f} "
              f"{f[f'uniform_pass@{K}']:16.3f} {f['commonest_accuracy']:10.3f}")


if __name__ == "__main__":
    main()
