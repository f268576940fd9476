"""Started by tests/test_distributed_run.py under torchrun (gloo on CPU): every rank saves its (gathered, whole)
weights after each Improve step, so the test can check that all ranks keep the same weights and match a single
process.

    python -m torch.distributed.run --standalone --nproc-per-node=2 distributed_worker.py CONFIG OUT
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
    from harness.model.modeling import load_model

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


def main(config: str, out: str) -> None:
    """A whole run, as `harness run` does it, every rank saving its weights after each Improve step."""
    from harness.loop import evolve
    from harness.config import load_config

    evolve.train_epoch = recording(evolve.train_epoch, Path(out), f"rank{os.environ['RANK']}")
    evolve.run(load_config(config))


if __name__ == "__main__":
    main(*sys.argv[1:])
