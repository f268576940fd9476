"""What tests/test_fsdp.py runs on 2 ranks under torchrun (gloo on the CPU), and in one process to compare with.

    python -m torch.distributed.run --standalone --nproc-per-node=2 fsdp_worker.py OUT JOBS

JOBS is a JSON object {name: [scenario, arg, ...]}: one launch runs them all, one after the other (each launch
costs seconds of start-up), and rank 0 writes each result to OUT/<name>.pt (whole weights, losses: things that
are the same on every rank).
"""
from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import torch

from harness import distributed


def config(*overrides):
    from harness.config import load_config

    return load_config(None, ["model.threads=1", "method.optim.batch_size=4", "method.optim.lr=1e-2",
                              "method.optim.warmup_steps=0", *overrides])


def examples(n: int):
    """n short examples; at batch 4, batches of 4, 4, ... and a last one smaller than the two ranks need."""
    from harness.model.adapters import Prompt
    from harness.train.sft import Example
    from real_arch import make_image

    return [Example(Prompt(f"What is {i} + {i}?", make_image(i), cot=False), f"The answer is {2 * i}.")
            for i in range(n)]


def full_weights(model) -> dict[str, torch.Tensor]:
    """Every trainable weight, whole (collective for a sharded model), by its plain name."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True,
                                                                 ignore_frozen_params=True))
    return {k: v.clone() for k, v in state.items()}  # in one process these are the live weights


def full_grads(model) -> dict[str, torch.Tensor]:
    from torch.distributed.tensor import DTensor

    from harness.model.strategy import WRAPPED

    return {n.replace(WRAPPED, ""): (p.grad.full_tensor() if isinstance(p.grad, DTensor) else p.grad).clone()
            for n, p in model.named_parameters() if p.grad is not None}


def train(model_dir: str, n: int = 5, micro: str = "1", *overrides) -> dict:
    """The first global batch's gradient, then one epoch over `n` examples: loss, start and end weights."""
    from harness.train import global_batch
    from harness.train.sft import make_optimizer, train_epoch
    from harness.model.strategy import load_policy

    cfg = config(*overrides)
    micro_batch = int(micro) if micro != "none" else None
    torch.manual_seed(0)  # the same LoRA initialisation in every process
    model, adapter = load_policy(model_dir, cfg)
    start = full_weights(model)
    data = examples(int(n))
    model.train()
    global_batch.backward(model, adapter, data[:cfg.method.optim.batch_size], micro_batch)
    grads = full_grads(model)
    model.zero_grad(set_to_none=True)
    opt, sched = make_optimizer(model, cfg.method.optim)
    fit = train_epoch(model, adapter, opt, sched, data, cfg.method.optim, seed=0, micro_batch_size=micro_batch)
    return {"start": start, "weights": full_weights(model), "grads": grads, **fit}


def write_checkpoint(model_dir: str, ckpt_dir: str, *overrides) -> dict:
    """An epoch of 3 steps, checkpointed (DCP) after step 2 as evolve does inside an Improve step."""
    from harness.train import checkpoint
    from harness.train.sft import make_optimizer, train_epoch
    from harness.model.strategy import load_policy

    cfg = config(*overrides)
    model, adapter = load_policy(model_dir, cfg)
    opt, sched = make_optimizer(model, cfg.method.optim)

    def save(progress):
        if progress["step"] == 2:
            checkpoint.save(Path(ckpt_dir), model, adapter.processor, opt, sched, {"improve": progress}, export=False)

    fit = train_epoch(model, adapter, opt, sched, examples(12), cfg.method.optim, seed=0, after_step=save)
    return {"weights": full_weights(model), **fit}


def resume_checkpoint(model_dir: str, ckpt_dir: str, *overrides) -> dict:
    """The same epoch resumed from the checkpoint: its third step."""
    from harness.train import checkpoint
    from harness.train.sft import make_optimizer, train_epoch
    from harness.model.strategy import load_policy

    cfg = config(*overrides)
    model, adapter = load_policy(model_dir, cfg)
    opt, sched = make_optimizer(model, cfg.method.optim)
    state = checkpoint.load(checkpoint.latest(Path(ckpt_dir)), model, opt, sched)
    fit = train_epoch(model, adapter, opt, sched, examples(12), cfg.method.optim, seed=0, progress=state["improve"])
    return {"weights": full_weights(model), "lr": sched.get_last_lr()[0], **fit}


def rollouts(model_dir: str, data_dir: str, store: str, *overrides) -> dict:
    """One iteration's rollouts on the embedded world's queries, three times: into `store`, again (read back from
    the batches on disk) and without a store; then Generate -> Reward -> Select's statistics."""
    from harness.data.datasets import load_mathv360k
    from harness.loop.evolve import generate, generate_reward_select
    from harness.model.strategy import load_policy
    from harness.rollout.engine import open_engine
    from harness.rollout.settings import sampling

    cfg = config("rollout.samples_per_query=4", "rollout.batch_sequences=8", "model.max_new_tokens=12", *overrides)
    engine = open_engine(cfg.rollout, *load_policy(model_dir, cfg))
    queries = load_mathv360k(Path(data_dir) / "mathv360k" / "labeled.json")[:10]
    settings = replace(sampling(cfg), temperature=1.0)
    runs = {name: generate(engine, replace(settings, seed=7), queries, store=folder)
            for name, folder in [("first", Path(store)), ("again", Path(store)), ("fresh", None)]}
    examples, stats = generate_reward_select(engine, cfg, settings, None, queries, 0)
    return {**runs, "selected": [(e.prompt.question, e.response) for e in examples], "stats": stats}


def engine_weights(model_dir: str, *overrides) -> dict:
    """What a vllm engine is pushed after an Improve step (harness/rollout/vllm.py full_weights): every weight
    whole, under its checkpoint name (FSDP shards gathered a tensor at a time, wrapper prefixes removed)."""
    from harness.model.strategy import load_policy
    from harness.rollout.vllm import full_weights as pushed

    model, _ = load_policy(model_dir, config(*overrides))
    return {"weights": {name: t.clone() for name, t in pushed(model, torch.float32)}}


SCENARIOS = {"engine_weights": engine_weights, "train": train, "write_checkpoint": write_checkpoint, "resume_checkpoint": resume_checkpoint,
             "rollouts": rollouts}


def main(out: str, jobs: str) -> None:
    with distributed.process_group():
        for name, (scenario, *args) in json.loads(jobs).items():
            result = SCENARIOS[scenario](*map(str, args))
            if distributed.is_main():
                torch.save(result, Path(out) / f"{name}.pt")


if __name__ == "__main__":
    main(*sys.argv[1:])
