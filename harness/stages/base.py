"""The `base` stage (embedded world only): the tiny VLM briefly pre-trained on a corpus generated apart from the
splits, so it starts where the paper's LMMs start (answers plain prompts directly, writes noisy chain of thought
when asked). It checkpoints every pass over its corpus: a killed build goes on from the last finished pass."""
from __future__ import annotations

import logging
from pathlib import Path

import torch

from harness.config import OptimConfig, RunConfig
from harness.data.splits import eval_splits, load_splits
from harness.evaluation.evaluate import RESPONSES, evaluate
from harness.io import atomic_write_json
from harness.model.adapters import Adapter
from harness.model.modeling import new_base_model, save_policy
from harness.rollout.engine import open_engine
from harness.rollout.settings import evaluation, stage_sampling
from harness.train import checkpoint
from harness.train.sft import Example, make_optimizer, train_epoch
from harness.world.corpus import base_corpus

log = logging.getLogger(__name__)


def pretrain(model, adapter: Adapter, corpus: list[Example], optim: OptimConfig, steps: int,
             resume: Path | None = None) -> tuple[object, list[float]]:
    """`steps` optimizer steps over shuffled passes of the corpus under one schedule: (model, each pass's mean loss).

    With `resume`, every finished pass is checkpointed there, and a call that finds a checkpoint goes on after
    it with the saved weights (loaded into `model`), optimizer and schedule: a pass's batches depend only on its
    number, so the result equals that of an uninterrupted call.
    """
    ckpt = checkpoint.latest(resume) if resume else None
    opt, sched = make_optimizer(model, optim, total_steps=steps)
    done, epoch, losses = 0, 0, []
    if ckpt:
        state = checkpoint.load(ckpt, model, opt, sched)
        done, epoch, losses = state["steps"], state["epoch"], state["losses"]
        log.info("base: resuming after pass %d (%d/%d steps) from %s", epoch, done, steps, ckpt)
    while done < steps:
        r = train_epoch(model, adapter, opt, sched, corpus, optim, seed=epoch, desc=f"base epoch {epoch}",
                        max_steps=steps - done)
        done, epoch = done + r["steps"], epoch + 1
        losses.append(r["loss"])
        log.info("base epoch %d: loss %.3f (%d/%d steps)", epoch, r["loss"], done, steps)
        if resume and done < steps:
            checkpoint.save(resume, model, adapter.processor, opt, sched, {"steps": done, "epoch": epoch, "losses": losses},
                            export=False)
    return model, losses


def build(cfg: RunConfig, data: Path, out: Path, resume: Path | None = None) -> dict:
    torch.manual_seed(cfg.world.seed)
    torch.set_num_threads(cfg.model.threads)
    b = cfg.base
    corpus = base_corpus(cfg.world.seed, cfg.world.base_corpus, cfg.world.families, b.cot_fraction,
                         b.hint_fraction, b.distractor_rate, b.caption_fraction, cfg.world.answers)
    model, adapter = new_base_model(cfg.model, corpus)  # a subword tokenizer is learned from the corpus
    model, losses = pretrain(model, adapter, corpus, b.optim, b.steps, resume)
    save_policy(model, adapter, out / "model")
    splits = eval_splits(load_splits(data))
    with open_engine(cfg.rollout, model, adapter) as engine:
        ev = evaluate(engine, splits, evaluation(stage_sampling(cfg), cfg), cot=False, out=out / RESPONSES)
    atomic_write_json(out / "eval.json", ev)
    return {"params": sum(p.numel() for p in model.parameters()), "epoch_losses": losses,
            "accuracy": {k: v["accuracy"] for k, v in ev.items()}}
