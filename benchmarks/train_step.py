"""Training-step throughput on the embedded base corpus: logits over every position vs. only from the first
response position (`harness.train.global_batch.logits_window`), side by side in one process.

Both variants start from the same initial weights and optimizer and run the same length-grouped batches of
the base corpus (the base stage's batch size, or --batch); the first --warmup steps of each are not timed.

    python benchmarks/train_step.py [--steps 300] [--batch 16] [--corpus 4000] [key=value ...]

key=value are config overrides (model.preset=large, model.tokenizer=char, ...). See benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import copy
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

import harness  # noqa: E402,F401  (pins MKL's rounding before torch loads)
import torch  # noqa: E402

from harness.config import load_config  # noqa: E402
from harness.model.modeling import new_base_model  # noqa: E402
from harness.train import global_batch  # noqa: E402
from harness.train.sft import length_grouped_batches, make_optimizer  # noqa: E402
from harness.world.corpus import base_corpus  # noqa: E402


def timed_steps(model, adapter, corpus, batches, optim, windowed: bool, warmup: int) -> tuple[float, list[float]]:
    """(steps/s after the warm-up steps, every step's loss)."""
    global_batch.accepts = lambda m, name: windowed  # the one switch between the two variants
    opt, sched = make_optimizer(model, optim, total_steps=len(batches))
    model.train()
    losses, start = [], None
    for i, idx in enumerate(batches):
        if i == warmup:
            start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        losses.append(global_batch.backward(model, adapter, [corpus[j] for j in idx], None))
        torch.nn.utils.clip_grad_norm_(model.parameters(), optim.grad_clip)
        opt.step()
        sched.step()
    return (len(batches) - warmup) / (time.perf_counter() - start), losses


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--batch", type=int, help="sequences per step (default: base.optim.batch_size)")
    ap.add_argument("--corpus", type=int, default=4000, help="base corpus examples generated (default 4000)")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args(argv)
    cfg = load_config(None, args.overrides)
    torch.manual_seed(cfg.world.seed)
    torch.set_num_threads(cfg.model.threads)
    b = cfg.base
    corpus = base_corpus(cfg.world.seed, args.corpus, cfg.world.families, b.cot_fraction, b.hint_fraction,
                         b.distractor_rate, b.caption_fraction, cfg.world.answers)
    model, adapter = new_base_model(cfg.model, corpus)
    batch = args.batch or b.optim.batch_size
    batches = length_grouped_batches([len(e.prompt.question) + len(e.response) for e in corpus], batch,
                                     random.Random(0))[:args.steps]
    rows = {}
    for name, windowed in (("all positions", False), ("response window", True)):
        rows[name] = timed_steps(copy.deepcopy(model), adapter, corpus, batches, b.optim, windowed, args.warmup)
    print(f"{len(batches) - args.warmup} timed steps of {batch} sequences, {cfg.model.threads} threads, "
          f"model {cfg.model.hidden_size}x{cfg.model.num_hidden_layers} ({cfg.model.tokenizer} tokens)")
    for name, (speed, losses) in rows.items():
        print(f"  {name:16s} {speed:6.2f} steps/s   mean loss {sum(losses) / len(losses):.4f}")
    full, window = rows["all positions"][0], rows["response window"][0]
    print(f"  speed-up {window / full:.2f}x")


if __name__ == "__main__":
    main()
