"""Where a checkpoint's reasoning goes wrong: greedy CoT accuracy per task and question type, and how
often each step of the gold solution is reproduced exactly (the embedded world's records carry it).

    python benchmarks/step_accuracy.py results/_stages/base-<key>/model results/_stages/data-<key> [--split val]

Columns: n, answer accuracy, `exact` (every answer-relevant step equals the gold one), then per gold
step position `s0`, `s1`, ... (s0 is the reading of the image), `find` and `options` (the multi-choice
value to find and the option walk) and `answer` (the final line). A step counts as right only at its
gold position.
"""
from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from pathlib import Path

from harness.config import ModelConfig
from harness.data.splits import load_splits
from harness.evaluation.evaluate import prompts_of, score
from harness.model.modeling import load_model
from harness.rollout.settings import SamplingSettings
from harness.rollout.hf import HFEngine
from harness.rollout.sharded import greedy
from harness.world.oracle import reasoning_correct, relevant_steps


def step_kind(index: int, step: str) -> str:
    if step.startswith("answer:"):
        return "answer"
    if step.startswith("find "):
        return "find"
    return "options" if step.startswith("(") else f"s{index}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="checkpoint folder (from_pretrained)")
    ap.add_argument("data", help="a data stage folder (or a dataset root in the embedded world's layout)")
    ap.add_argument("--split", default="val")
    ap.add_argument("--max-new-tokens", type=int, default=ModelConfig().max_new_tokens)
    args = ap.parse_args()

    model, adapter = load_model(args.model, ModelConfig())
    records = [r for r in load_splits(Path(args.data))[args.split] if r.solution]
    settings = SamplingSettings("hf", k=1, temperature=0.0, max_new_tokens=args.max_new_tokens, batch_sequences=512,
                                seed=0)
    responses = greedy(HFEngine(model, adapter), prompts_of(records, cot=True), settings)
    right, total = defaultdict(Counter), defaultdict(Counter)
    for rec, response, correct in zip(records, responses, score(responses, records)):
        cell = (rec.task, rec.question_type)
        got = relevant_steps(response)
        total[cell]["n"] += 1
        right[cell]["acc"] += correct
        right[cell]["exact"] += reasoning_correct(response, rec)
        for i, gold in enumerate(rec.solution):
            total[cell][step_kind(i, gold)] += 1
            right[cell][step_kind(i, gold)] += i < len(got) and got[i] == gold
    for cell in sorted(total):
        n = total[cell]["n"]
        steps = sorted(k for k in total[cell] if k != "n")
        cols = [f"acc {right[cell]['acc'] / n:.2f}", f"exact {right[cell]['exact'] / n:.2f}"]
        cols += [f"{k} {right[cell][k] / total[cell][k]:.2f}" for k in steps]
        print(f"{cell[0]:<30} {cell[1]:<12} n={n:<4} " + "  ".join(cols))
    print(f"overall accuracy {sum(right[c]['acc'] for c in total) / len(records):.3f} on {len(records)} {args.split} records")


if __name__ == "__main__":
    main()
