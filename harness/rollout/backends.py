"""Rollout backends: K responses per prompt, chosen by rollout.backend.

Each backend is declared here by name, with what the sharded sampler and the config checks ask of it, and its
implementation named "module:object", imported when first used (a config is validated without importing torch).
Callers sample through harness.rollout.sharded, which spreads the batches of a shardable backend over the ranks.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from harness.registry import Registry, lazy

BACKENDS = Registry("rollout backend")


@dataclass(frozen=True)
class Backend:
    """A rollout backend and what the sharded sampler and the config checks ask of it."""

    sample: Callable  # (model, adapter, prompts, SamplingSettings, desc) -> K responses per prompt
    shardable: bool = True  # samples any batch of prompts with its own seed, so batches can go to any rank (else it
    #                         batches and seeds by itself, in one process)
    gpu_memory_share: float | None = None  # of one GPU, reserved by the backend's engine (the memory estimate counts
    #                                        it); None: it needs the weights and the KV cache of a batch


BACKENDS.register("hf")(Backend(lazy("harness.rollout.hf:hf_sample")))  # any transformers VLM, everywhere
# GPU, the [vllm] extra. Half the GPU: the policy being trained stays resident on it.
BACKENDS.register("vllm")(Backend(lazy("harness.rollout.vllm:vllm_sample"), shardable=False, gpu_memory_share=0.5))
