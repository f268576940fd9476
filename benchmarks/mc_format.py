"""Which multi-choice solution format can the embedded model learn, at which base budget?

Trains a fresh default-size tiny VLM on the base corpus of a world variant (the shipped format minus
the parts switched off), then prints greedy CoT accuracy on fresh val problems per family x question
type, with how often the option walk is reproduced. The experiment behind the shipped format (issue 2):

    python benchmarks/mc_format.py old --inline-choices --no-find --no-color --numeric-walk --batch 24
    python benchmarks/mc_format.py walk --numeric-walk        # the format shipped with STAGE_VERSION 3
    python benchmarks/mc_format.py shipped --batch 16 --device cuda --budget 350

`--budget S` fits the planned steps into S seconds (a 150-step calibration first), so several
variants can share one GPU lease side by side; the steps done are reported. On 2 CPU cores the
shipped default (10,000 steps of batch 16) takes ~27 min.
"""
from __future__ import annotations

import argparse
import copy
import json
import time
from collections import Counter, defaultdict
from pathlib import Path

import torch

from harness.config import BaseConfig, EvalConfig, ModelConfig, OptimConfig
from harness.data.datasets import OPTION_LETTERS
from harness.model.adapters import Prompt
from harness.model.modeling import new_base_model
from harness.reward.answers import exact_match_reward
from harness.rollout.settings import SamplingSettings
from harness.rollout.hf import HFEngine
from harness.rollout.sharded import greedy
from harness.stages.base import pretrain
import harness.world.corpus as corpus_mod
from harness.world.oracle import relevant_steps
from harness.world.problems import option_walk
import harness.world.writer as writer_mod


def variant(args) -> None:
    """Switch parts of the shipped format off by wrapping the generator and the question writer."""
    generate, human_turn = writer_mod.generate, writer_mod.human_turn

    def generate_variant(rng, family, ood=False):
        p = generate(rng, family, ood)
        if args.numeric_walk and p.question_type == "multi_choice" and p.answer_type != "text":
            p.steps = p.steps[:-1] + option_walk(p.answer, p.choices)
        p.steps = [s for s in p.steps if not ((args.no_find and s.startswith("find "))
                                              or (args.no_color and family == "arrow_diagram" and s.startswith("color: ")))]
        return p

    def human_turn_variant(p):
        if not (args.inline_choices and p.choices):
            return human_turn(p)
        return f"<image>\n{p.question}\nChoices: " + " ".join(f"({OPTION_LETTERS[i]}) {c}" for i, c in enumerate(p.choices))

    writer_mod.generate = generate_variant
    writer_mod.human_turn = corpus_mod.human_turn = human_turn_variant


def fit_steps(model, adapter, corpus, cfg: OptimConfig, planned: int, seconds_left: float) -> int:
    """The planned steps, or as many as fit the time left at the rate of a 150-step trial on a copy."""
    t = time.time()
    pretrain(copy.deepcopy(model), adapter, corpus, cfg, 150)
    return min(planned, int(0.85 * seconds_left * 150 / (time.time() - t)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name")
    ap.add_argument("--inline-choices", action="store_true", help="options on one line of the question")
    ap.add_argument("--no-find", action="store_true", help="no 'find <value>' step before the option walk")
    ap.add_argument("--numeric-walk", action="store_true", help="numeric options walked to a letter, like text options")
    ap.add_argument("--no-color", action="store_true", help="the arrow diagram does not name its target's colour")
    ap.add_argument("--steps", type=int, default=BaseConfig().steps)
    ap.add_argument("--batch", type=int, default=BaseConfig().optim.batch_size)
    ap.add_argument("--seed", type=int, default=0, help="initialisation seed")
    ap.add_argument("--corpus", type=int, default=30000)
    ap.add_argument("--val", type=int, default=500)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--budget", type=float, help="seconds for corpus + training; fits the steps into it")
    ap.add_argument("--out", help="folder for <name>.json")
    args = ap.parse_args()
    variant(args)
    start = time.time()
    torch.manual_seed(args.seed)
    model, adapter = new_base_model(ModelConfig())
    model.to(args.device)
    b = BaseConfig()
    corpus = corpus_mod.base_corpus(0, args.corpus, writer_mod.all_families(), b.cot_fraction, b.hint_fraction,
                                    b.distractor_rate, b.caption_fraction)
    cfg = OptimConfig(lr=b.optim.lr, batch_size=args.batch, warmup_steps=b.optim.warmup_steps, schedule="cosine")
    steps = args.steps
    if args.budget:
        steps = fit_steps(model, adapter, corpus, cfg, steps, args.budget - (time.time() - start))
    t = time.time()
    pretrain(model, adapter, corpus, cfg, steps)
    train_s = time.time() - t

    val = writer_mod.problems(0, "val", args.val, writer_mod.all_families())
    prompts = [Prompt(writer_mod.human_turn(p).replace("<image>\n", ""), p.image, cot=True) for p in val]
    settings = SamplingSettings("hf", k=1, temperature=0.0, max_new_tokens=ModelConfig().max_new_tokens,
                                batch_sequences=EvalConfig().batch_sequences, seed=0)
    responses = greedy(HFEngine(model.eval(), adapter), prompts, settings)
    right, total = defaultdict(Counter), defaultdict(Counter)
    for p, response in zip(val, responses):
        cell = f"{p.family}/{p.question_type}"
        ok = exact_match_reward([response], answer=p.answer, question_type=p.question_type, answer_type=p.answer_type,
                                choices=p.choices, precision=p.precision, unit=p.unit)[0]
        got = relevant_steps(response)
        total[cell]["n"] += 1
        right[cell]["acc"] += ok
        walk = [i for i, s in enumerate(p.steps) if s.startswith("(")]
        total[cell]["walk"] += len(walk)
        right[cell]["walk"] += sum(i < len(got) and got[i] == p.steps[i] for i in walk)
    cells = {c: {"n": total[c]["n"], "acc": round(right[c]["acc"] / total[c]["n"], 3),
                 "walk": round(right[c]["walk"] / total[c]["walk"], 3) if total[c]["walk"] else None}
             for c in sorted(total)}

    def share(kind: str) -> float:
        keys = [c for c in total if c.endswith(kind)]
        return round(sum(right[c]["acc"] for c in keys) / sum(total[c]["n"] for c in keys), 3)

    summary = {"name": args.name, "args": vars(args), "steps": steps, "train_s": round(train_s),
               "overall": round(sum(right[c]["acc"] for c in total) / len(val), 3),
               "multi_choice": share("multi_choice"), "free_form": share("free_form"), "cells": cells}
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / f"{args.name}.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps({k: v for k, v in summary.items() if k != "cells"}))
    for cell, row in cells.items():
        print(f"{cell:<28} n={row['n']:<4} acc {row['acc']:.2f}" + (f"  walk {row['walk']:.2f}" if row["walk"] is not None else ""))


if __name__ == "__main__":
    main()
