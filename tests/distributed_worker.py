"""Started by tests/test_distributed_run.py under torchrun (gloo on CPU): every rank saves its (gathered, whole)
weights after each Improve step, so the test can check that all ranks keep the same weights and match a single
process.

    python -m torch.distributed.run --standalone --nproc-per-node=2 distributed_worker.py run CONFIG OUT
    python -m torch.distributed.run --standalone --nproc-per-node=2 distributed_worker.py train MODEL_DIR OUT
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import torch


def weights(model) -> torch.Tensor:
    """Every weight, whole (a sharded one is gathered: every rank calls this together), as one vector."""
    from torch.distributed.tensor import DTensor

    return torch.cat([(p.full_tensor() if isinstance(p, DTensor) else p).detach().float().flatten()
                      for p in model.parameters()])


def weights_of(model_dir: Path, cfg) -> torch.Tensor:
    """The weights of a saved policy, loaded as a run loads it (same parameter order as `weights`)."""
    from harness.modeling import load_model

    return weights(load_model(model_dir, cfg.model)[0])


def recording(train_epoch, out: Path, tag: str):
    """train_epoch that also saves the model's weights after each call, as out/<tag>-<call>.pt."""
    calls = []

    def wrapped(model, *args, **kwargs):
        result = train_epoch(model, *args, **kwargs)
        torch.save(weights(model), out / f"{tag}-{len(calls)}.pt")
        calls.append(result)
        return result
    return wrapped


def train_config():
    """A LoRA policy with a frozen vision tower (parameters without gradients), batches of 4 examples."""
    from harness.config import load_config

    return load_config(None, ["model.threads=1", "model.lora_rank=4", "model.freeze_vision=true",
                              "method.optim.batch_size=4", "method.optim.lr=1e-2", "method.optim.warmup_steps=0"])


def train_examples():
    """5 examples: batches of 4 and 1, so one rank's part of the second batch is empty."""
    from harness.adapters import Prompt
    from harness.sft import Example
    from real_arch import make_image

    return [Example(Prompt(f"What is {i} + {i}?", make_image(i), cot=False), f"The answer is {2 * i}.")
            for i in range(5)]


def train_once(model_dir: Path) -> dict:
    """Weights before and after one epoch over `train_examples` from the checkpoint in model_dir, with the
    epoch's loss and steps."""
    from harness.sft import make_optimizer, train_epoch
    from harness.strategy import load_policy

    cfg = train_config()
    torch.manual_seed(0)  # the same LoRA initialisation in every process
    model, adapter = load_policy(model_dir, cfg)  # FSDP2 under torchrun
    start = weights(model)
    opt, sched = make_optimizer(model, cfg.method.optim)
    fit = train_epoch(model, adapter, opt, sched, train_examples(), cfg.method.optim, seed=0)
    return {"start": start, "weights": weights(model), **fit}


def main(mode: str, path: str, out: str) -> None:
    out, tag = Path(out), f"rank{os.environ['RANK']}"
    if mode == "run":  # a whole run, as `harness run` does it
        from harness import evolve
        from harness.config import load_config

        evolve.train_epoch = recording(evolve.train_epoch, out, tag)
        evolve.run(load_config(path))
    else:  # one epoch of train_epoch
        from harness import distributed

        with distributed.process_group():
            torch.save(train_once(Path(path)), out / f"{tag}.pt")


if __name__ == "__main__":
    main(*sys.argv[1:])
