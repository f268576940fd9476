"""The process group of a run under torchrun (runners/torchrun.py launches it), and the few collectives the
harness itself calls (gradients are PyTorch's business: harness/model/strategy.py).

Under torchrun (WORLD_SIZE > 1) `harness run` starts one process per GPU; every rank runs the whole loop
(harness/loop/evolve.py): each samples its share of the rollouts and evaluation, the results are `gather`ed so every
rank holds the same examples, and every rank trains its share of each global batch (harness/train/global_batch.py).
Rank 0 builds the shared stages and writes the run folder's files. Without torchrun nothing here calls
torch.distributed: a single process runs as before.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from datetime import timedelta

import torch
import torch.distributed as dist

# The other ranks wait in a collective while rank 0 builds the shared stages (and a rank that finished its
# share of the rollouts waits for the slowest), which can take hours on a real model: the default timeout
# (10 minutes) would abort them.
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


def gather(obj) -> list:
    """Every rank's `obj` (picklable), in rank order, on every rank; [obj] in a single process."""
    if not active():
        return [obj]
    out = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def map_shards(fn, items: list) -> list:
    """fn (a list of items -> one result per item) over this rank's every W-th item; every rank gets all the
    results, in the items' order."""
    ranks = world_size()
    parts = gather(fn(items[rank()::ranks]))
    out: list = [None] * len(items)
    for r, part in enumerate(parts):
        out[r::ranks] = part
    return out


def all_sum(value: float) -> float:
    """The sum of a number over the ranks (float64, so token counts stay exact)."""
    if not active():
        return value
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
    t = torch.tensor([value], dtype=torch.float64, device=device)  # NCCL reduces GPU tensors only
    dist.all_reduce(t)
    return t.item()
