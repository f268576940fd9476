"""Training checkpoints: weights and optimizer through torch.distributed.checkpoint (DCP), schedule, RNG, cursor.

A checkpoint folder holds
    trainer/        DCP: the trainable float32 weights and their AdamW states; each rank writes its own shards and
                    any number of ranks (one process too) reads them back, resharded
    scheduler.pt    the LR schedule (rank 0's; every rank's is the same)
    rng-<rank>.pt   each rank's torch RNG state (dropout)
    model/          with `export`: a plain save_pretrained folder in the compute dtype, for evaluation and vLLM
    state.json      the cursor (iteration, step, ...), written last
Every rank writes into `checkpoint.partial`; then rank 0 swaps it in with renames, so a kill at any moment leaves
the previous or the new checkpoint, never a half-written one. Frozen weights (a LoRA policy's base, a frozen vision
tower) are not written: they are those of the checkpoint training started from, which `load` expects the model
to hold already.
"""
from __future__ import annotations

import random
import shutil
import warnings
from contextlib import contextmanager
from pathlib import Path

import torch

from harness import distributed
from harness.io import atomic_write_json, read_json

CURRENT, PREVIOUS, PARTIAL = "checkpoint", "checkpoint.prev", "checkpoint.partial"
OPTIMIZER_STEPPED = "optimizer_stepped"  # state.json: whether trainer/ holds optimizer states


@contextmanager
def _quiet_if_alone():
    """DCP warns on every single-process save and load that it assumes one process: it is meant to."""
    with warnings.catch_warnings():
        if not distributed.active():
            warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        yield


def _options(**kw):
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(ignore_frozen_params=True, **kw)


def _state(model, optimizer, with_optimizer: bool) -> dict:
    """What DCP writes and reads: the trainable weights and, once it has stepped, the optimizer (torch's
    get_state_dict gives an optimizer without state one by taking a zero step, which would shift Adam's bias
    correction of the next real step)."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict, get_state_dict

    if not with_optimizer:
        return {"model": get_model_state_dict(model, options=_options())}
    weights, optim = get_state_dict(model, optimizer, options=_options())
    return {"model": weights, "optim": optim}


def save(run_dir: Path, model, processor, optimizer, scheduler, state: dict, export: bool = True) -> None:
    """Write the training state (collective: every rank calls it); `export` adds model/ for evaluation."""
    import torch.distributed.checkpoint as dcp

    run_dir = Path(run_dir)
    tmp, main = run_dir / PARTIAL, distributed.is_main()
    if main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    distributed.barrier()  # the folder is fresh before any rank writes into it
    stepped = bool(optimizer.state)
    with _quiet_if_alone():
        dcp.save(_state(model, optimizer, stepped), checkpoint_id=tmp / "trainer", no_dist=not distributed.active())
    torch.save(torch.get_rng_state(), tmp / f"rng-{distributed.rank()}.pt")
    if export:
        export_pretrained(model, processor, tmp / "model")
    if main:
        torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
        atomic_write_json(tmp / "state.json", {**state, "python_rng": list(random.getstate()[1]),
                                               OPTIMIZER_STEPPED: stepped})
    distributed.barrier()  # every rank's shards are on disk
    if main:
        cur, prev = run_dir / CURRENT, run_dir / PREVIOUS
        shutil.rmtree(prev, ignore_errors=True)
        if cur.exists():
            cur.rename(prev)
        tmp.rename(cur)
        shutil.rmtree(prev, ignore_errors=True)
    distributed.barrier()  # nobody reads `latest` before the swap


def export_pretrained(model, processor, path: Path) -> None:
    """A plain save_pretrained folder (weights in the model's compute dtype) from any strategy (collective): a
    sharded model is gathered into rank 0's host RAM, which writes it."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    from harness.model.strategy import fsdp_modules

    dtype = getattr(model, "compute_dtype", None)
    state = None
    if fsdp_modules(model):
        state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if not distributed.is_main():
        return
    if dtype is not None:
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in (state or model.state_dict()).items()}
    model.save_pretrained(path, state_dict=state)
    processor.save_pretrained(path)


def latest(run_dir: Path) -> Path | None:
    """The newest complete checkpoint folder, if any (a kill between the two renames leaves only .prev)."""
    for name in (CURRENT, PREVIOUS):
        path = Path(run_dir) / name
        if (path / "state.json").is_file():
            return path
    return None


def load_state(ckpt: Path) -> dict:
    return read_json(ckpt / "state.json")


def load(ckpt: Path, model, optimizer, scheduler) -> dict:
    """Restore weights, optimizer, schedule and RNG in place, on any number of ranks (collective); returns the
    cursor. The model must already hold the frozen weights (it was loaded from where training started)."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import set_model_state_dict, set_state_dict

    state = load_state(ckpt)
    saved = _state(model, optimizer, state[OPTIMIZER_STEPPED])
    with _quiet_if_alone():
        dcp.load(saved, checkpoint_id=ckpt / "trainer", no_dist=not distributed.active())
    if "optim" in saved:
        set_state_dict(model, optimizer, model_state_dict=saved["model"], optim_state_dict=saved["optim"],
                       options=_options())
    else:
        set_model_state_dict(model, saved["model"], options=_options())
    scheduler.load_state_dict(torch.load(ckpt / "scheduler.pt", weights_only=True))
    rng = ckpt / f"rng-{distributed.rank()}.pt"
    torch.set_rng_state(torch.load(rng if rng.is_file() else ckpt / "rng-0.pt", weights_only=True))
    return state
