"""One run over several GPUs: data-parallel Improve steps under torchrun (runners/distributed.py launches it).

Under torchrun (WORLD_SIZE > 1) `harness run` starts one process per GPU. Rank 0 does everything a single
process does: it builds the shared stages, samples, rewards and selects, monitors, evaluates and writes every
file of the run. The selected examples go to every rank (`broadcast`), each rank computes the loss of its
`shard` of each batch, and `sync_gradients` turns every rank's gradients into those of the whole batch, so all
ranks take the same optimizer step and keep identical weights and optimizer states (carry-over and resume
need nothing else). Without torchrun nothing here calls torch.distributed: a single process runs as before.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from datetime import timedelta

import torch
import torch.distributed as dist

# The other ranks wait in a collective while rank 0 samples, monitors and evaluates, which can take hours on
# a real model: the default timeout (10 minutes) would abort them.
TIMEOUT = timedelta(hours=24)
_alone = False  # set by `alone`


def launched() -> bool:
    """Whether this process is one of several started by torchrun."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def active() -> bool:
    """Whether this process trains together with others (in a process group, and not `alone`)."""
    return not _alone and dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """Rank 0, or the only process: the one that samples and writes files."""
    return rank() == 0


@contextmanager
def process_group():
    """Join torchrun's process group for the block (NCCL with one GPU per rank, else gloo); a no-op otherwise."""
    if not launched() or dist.is_initialized():
        yield
        return
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))  # model.device=auto picks the same GPU
        dist.init_process_group("nccl", timeout=TIMEOUT)
    else:
        dist.init_process_group("gloo", timeout=TIMEOUT)
    yield
    # Leave together: the ranks that are done wait for rank 0's evaluation. After an error there is no clean-up:
    # the process exits and torchrun stops the other ranks.
    dist.barrier()
    dist.destroy_process_group()


@contextmanager
def alone():
    """Inside the block this process works as if it were the only one: rank 0 building the shared stages (their
    SFT must not wait for the other ranks, which wait at a barrier)."""
    global _alone
    before, _alone = _alone, True
    try:
        yield
    finally:
        _alone = before


def barrier() -> None:
    if active():
        dist.barrier()


def broadcast(obj):
    """Rank 0's `obj` on every rank (picklable; other ranks pass anything, e.g. None)."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def shard(items: list) -> list:
    """This rank's part of a batch: every world_size-th item (batches are length-sorted, so shards are alike)."""
    return items[rank()::world_size()] if active() else items


def sync_gradients(params, loss: torch.Tensor | None, inputs: dict | None) -> float:
    """After backward on this rank's shard (`loss` of its `inputs`; both None for an empty shard), make every
    rank's .grad the gradient of the whole batch's loss; returns that loss.

    The causal-LM loss is a mean over label tokens, so each rank's gradient is weighted by its share of the
    batch's label tokens and the weighted gradients are summed (all_reduce): the full-batch gradient up to float
    rounding. Parameters without a gradient on every rank (unused, frozen) keep none, as in a single process;
    one that some rank used gets zeros elsewhere, so all ranks join the same collectives. A manual all_reduce
    rather than DDP: nothing is wrapped, so PEFT models, unused parameters and saving work unchanged."""
    if not active():
        return loss.item()
    params = [p for p in params if p.requires_grad]
    tokens = int((inputs["labels"][:, 1:] != -100).sum()) if inputs is not None else 0
    value = loss.item() * tokens if loss is not None else 0.0
    stats = torch.tensor([tokens, value] + [p.grad is not None for p in params], dtype=torch.float64,
                         device=params[0].device)
    dist.all_reduce(stats)
    total = stats[0].item()
    for p, used in zip(params, stats[2:].tolist()):
        if not used:
            continue
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        else:
            p.grad.mul_(tokens / total)
        dist.all_reduce(p.grad)
    return stats[1].item() / total
