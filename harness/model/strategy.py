"""How the policy trains over the ranks of a run (train.strategy): one process, DDP or FSDP2, all PyTorch's own.

- single: one process, `load_model` as ever; mixed precision by autocast (harness/model/modeling.py).
- fsdp: `fully_shard` on every block and then the root, with MixedPrecisionPolicy(param_dtype=model.dtype,
  reduce_dtype=float32): each rank keeps 1/W of the float32 master weights, gradients and AdamW states; a
  block's weights are all-gathered in the compute dtype for its forward and backward, gradients are
  reduce-scattered in float32.
- ddp: the same engine on a replicate-only mesh (W x 1): every rank keeps everything and gradients are
  all-reduced in float32 (DDP's semantics with FSDP2's mixed precision, so one code path serves both).

A block is one of the model's `_no_split_modules` (decoder layers, vision encoder layers): the unit of sharding
and, with model.gradient_checkpointing, of activation recomputation (checkpoint_wrapper, non-reentrant).
LoRA: adapters are sharded with the block they sit in, like the frozen weights beside them; the optimizer sees
only the adapters (peft marks everything else requires_grad=False).

Loading (`load_policy`): rank 0 reads the checkpoint into host RAM; every rank builds the model on the meta
device, shards it and allocates only its shard; set_model_state_dict then broadcasts rank 0's tensors one by
one into the shards, so no other rank ever holds a full copy.

Sampling (`inference`): every block is all-gathered once, in the compute dtype, and kept until sampling ends,
so each rank decodes its own prompts, any number of forwards, without a collective.

Verified on CPU with gloo (tests/test_fsdp.py, tests/test_distributed_run.py); not run on a GPU with NCCL here.
"""
from __future__ import annotations

import dataclasses
from contextlib import contextmanager, nullcontext
from pathlib import Path

import torch

from harness import distributed
from harness.config import RunConfig, TrainConfig
from harness.model.modeling import DTYPES, MASTER_DTYPE, build_model, load_model, resolve_device

WRAPPED = "_checkpoint_wrapped_module."  # the level checkpoint_wrapper inserts in parameter and buffer names


def resolve(train: TrainConfig) -> str:
    """The strategy this process trains with: `auto` is fsdp with more than one rank, single otherwise."""
    ranks = distributed.world_size()
    if train.strategy == "auto":
        return "fsdp" if ranks > 1 else "single"
    if train.strategy == "single" and ranks > 1:
        raise ValueError(f"train.strategy=single trains in one process, but torchrun started {ranks}; "
                         "use train.strategy=fsdp or ddp (or auto)")
    return train.strategy


def load_policy(path: str | Path, cfg: RunConfig):
    """(model, adapter) of the checkpoint at `path`, placed for this process's strategy (in eval mode)."""
    strategy = resolve(cfg.train)
    if strategy == "single":
        return load_model(path, cfg.model)
    # Recomputation comes from checkpoint_wrapper around the same blocks that are sharded, not from transformers.
    m = dataclasses.replace(cfg.model, gradient_checkpointing=False)
    full = build_model(path, m)[0] if distributed.is_main() else None
    model, adapter = build_model(path, m, meta=True)
    device = resolve_device(cfg.model.device)
    shard(model, strategy, DTYPES[cfg.model.dtype], device, cfg.train.cpu_offload, cfg.model.gradient_checkpointing)
    _fill(model, full, device, cfg.train.cpu_offload)
    model.compute_dtype = DTYPES[cfg.model.dtype]  # what an export is written in (harness/train/checkpoint.py)
    return model.eval(), adapter


def blocks(model) -> list[torch.nn.Module]:
    """The outermost submodules whose class is one of the model's `_no_split_modules` (peft: its base model's)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    names = set(getattr(base, "_no_split_modules", None) or ())
    found: list[torch.nn.Module] = []
    inside: set[int] = set()
    for module in model.modules():
        if id(module) in inside:
            continue
        if type(module).__name__ in names:
            found.append(module)
            inside.update(id(m) for m in module.modules())
    return found


def shard(model, strategy: str, compute_dtype: torch.dtype, device: torch.device, cpu_offload: bool = False,
          recompute: bool = False) -> None:
    """fully_shard every block, then the root (in place). Gradients are summed, not averaged, over the ranks:
    the loss is already normalised by the global batch's token count (harness/train/global_batch.py)."""
    from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import (
        CheckpointImpl, CheckpointWrapper, apply_activation_checkpointing, checkpoint_wrapper)
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import CPUOffloadPolicy, MixedPrecisionPolicy, OffloadPolicy, fully_shard

    found = blocks(model)
    if not found:
        raise ValueError(f"{type(model).__name__} names no blocks (_no_split_modules) to shard")
    if recompute:
        ids = {id(b) for b in found}
        apply_activation_checkpointing(
            model, check_fn=lambda m: id(m) in ids,
            checkpoint_wrapper_fn=lambda m: checkpoint_wrapper(m, checkpoint_impl=CheckpointImpl.NO_REENTRANT))
        found = [m for m in model.modules() if isinstance(m, CheckpointWrapper)]  # where the blocks stood
    ranks = distributed.world_size()
    mesh = (init_device_mesh(device.type, (ranks, 1), mesh_dim_names=("replicate", "shard")) if strategy == "ddp"
            else init_device_mesh(device.type, (ranks,)))
    kw = dict(mesh=mesh, mp_policy=MixedPrecisionPolicy(param_dtype=compute_dtype, reduce_dtype=MASTER_DTYPE),
              offload_policy=CPUOffloadPolicy() if cpu_offload else OffloadPolicy())
    for block in found:
        fully_shard(block, reshard_after_forward=True, **kw)
    fully_shard(model, reshard_after_forward=False, **kw)  # the root's few weights stay gathered for backward
    for module in fsdp_modules(model):
        module.set_gradient_divide_factor(1.0)
        module.set_force_sum_reduction_for_comms(True)  # a plain SUM: gloo has no PREMUL_SUM


def _fill(model, full, device: torch.device, cpu_offload: bool) -> None:
    """Allocate this rank's shards and fill them with rank 0's `full` model (None elsewhere); buffers too (those
    outside the state dict, e.g. rotary frequencies, are copied from rank 0's model)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

    model.to_empty(device="cpu" if cpu_offload else device)  # offloaded shards live in host RAM
    state = full.state_dict() if full is not None else {}
    set_model_state_dict(model, state, options=StateDictOptions(full_state_dict=True, broadcast_from_rank0=True))
    values = distributed.broadcast(dict(full.named_buffers()) if full is not None else None)
    for name, _ in list(model.named_buffers()):
        owner, _, leaf = name.rpartition(".")
        # checkpoint_wrapper adds a level that rank 0's plain model does not have
        model.get_submodule(owner)._buffers[leaf] = values[name.replace(WRAPPED, "")].to(device)


def fsdp_modules(model) -> list[torch.nn.Module]:
    from torch.distributed.fsdp import FSDPModule

    return [m for m in model.modules() if isinstance(m, FSDPModule)]


@contextmanager
def inference(model):
    """For sampling: a sharded model's blocks are gathered once, in the compute dtype, and kept until the block
    ends. Collective: every rank enters it together; inside, each rank runs its own forwards. A model in one
    process computing in a lower dtype gets an autocast region around the whole sampling, so its weights are cast
    once instead of at every decoding step (autocast caches casts until its outermost region ends)."""
    modules = fsdp_modules(model)
    if not modules:
        dtype = getattr(model, "compute_dtype", None)
        with torch.autocast(next(model.parameters()).device.type, dtype=dtype) if dtype else nullcontext():
            yield
        return
    if getattr(model, "_gathered", False):
        yield
        return
    for m in modules:
        m.set_reshard_after_forward(False)
        m.unshard()
    model._gathered = True
    try:
        yield
    finally:
        model._gathered = False
        for m in modules:
            m.reshard()
            m.set_reshard_after_forward(m is not model)  # as `shard` left them: blocks reshard, the root keeps
