"""Supervised fine-tuning on (prompt, response) pairs: the Improve step, the warm-up and base pre-training."""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

import logging

from harness import distributed
from harness.config import OptimConfig
from harness.model.adapters import Adapter, Prompt
from harness.train import global_batch

log = logging.getLogger(__name__)


@dataclass
class Example:
    """One training pair."""

    prompt: Prompt
    response: str


def lr_factor(step: int, cfg: OptimConfig, total_steps: int | None) -> float:
    """Linear warm-up, then constant (the paper's schedule) or cosine decay to 0 at total_steps.

    >>> cfg = OptimConfig(warmup_steps=2, schedule="cosine")
    >>> [round(lr_factor(s, cfg, 6), 2) for s in range(7)]
    [0.5, 1.0, 0.85, 0.5, 0.15, 0.0, 0.0]
    """
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return 1.0
    progress = min(1.0, (step - cfg.warmup_steps + 1) / max(1, total_steps - cfg.warmup_steps))
    return 0.5 * (1 + math.cos(math.pi * progress))


def make_optimizer(model, cfg: OptimConfig, total_steps: int | None = None
                   ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """AdamW over trainable parameters with `lr_factor`'s schedule (cosine needs total_steps)."""
    if cfg.schedule == "cosine" and not total_steps:
        raise ValueError("a cosine schedule needs the stage's total number of steps")
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_factor(step, cfg, total_steps))
    return opt, sched


def length_grouped_batches(lengths: list[int], batch_size: int, rng: random.Random, group: int = 16) -> list[list[int]]:
    """Shuffled batches of similar length: padding is most of the cost of mixed short and long examples.

    >>> sorted(len(b) for b in length_grouped_batches([5, 1, 9, 3, 7], 2, random.Random(0)))
    [1, 2, 2]
    """
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches = []
    for i in range(0, len(order), batch_size * group):
        chunk = sorted(order[i:i + batch_size * group], key=lengths.__getitem__)
        batches += [chunk[j:j + batch_size] for j in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def train_epoch(model, adapter: Adapter, optimizer, scheduler, examples: list[Example], cfg: OptimConfig,
                seed: int, desc: str = "sft", max_steps: int | None = None, micro_batch_size: int | None = None,
                progress: dict | None = None, after_step=None) -> dict:
    """One shuffled pass over the examples (at most max_steps) in global batches of cfg.batch_size (over all ranks,
    in micro-batches of micro_batch_size per rank); returns mean loss, optimizer steps and accumulation steps.

    `progress` ({"step", "losses"} of an interrupted pass) resumes after its step: the batches depend only on the
    seed. `after_step(progress)` is called after every optimizer step but the last (mid-pass checkpoints; the
    caller saves the end of the pass itself)."""
    if not examples:
        return {"loss": math.nan, "steps": 0}
    model.train()
    batches = length_grouped_batches([len(e.prompt.question) + len(e.response) for e in examples],
                                     cfg.batch_size, random.Random(seed))[:max_steps]
    accumulation = global_batch.accumulation_steps(cfg.batch_size, distributed.world_size(), micro_batch_size)
    log.info("%s: global batch %d = %d ranks x %d accumulation steps x micro-batch %s", desc, cfg.batch_size,
             distributed.world_size(), accumulation, micro_batch_size or "(whole share)")
    losses = list(progress["losses"]) if progress else []
    for idx in tqdm(batches[len(losses):], desc=desc, unit="step", leave=False, mininterval=2,
                    disable=not distributed.is_main()):
        optimizer.zero_grad(set_to_none=True)
        losses.append(global_batch.backward(model, adapter, [examples[i] for i in idx], micro_batch_size))
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        scheduler.step()
        if after_step is not None and len(losses) < len(batches):
            after_step({"step": len(losses), "losses": losses})
    optimizer.zero_grad(set_to_none=True)  # no gradients held through sampling and evaluation
    model.eval()
    return {"loss": sum(losses) / len(losses), "steps": len(batches), "accumulation_steps": accumulation}
