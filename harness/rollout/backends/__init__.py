"""Rollout backends: K responses per prompt, chosen by rollout.backend.

Each module of this package registers its backend with `@backend(...)` (`hf.py`: any transformers VLM, everywhere;
`vllm.py`: GPU, imported only when used); a new backend is one more module. Callers sample through
harness.rollout.sharded, which spreads the batches of a backend that allows it over the ranks of a run.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from harness.registry import Registry

BACKENDS = Registry("rollout backend", __name__)


@dataclass(frozen=True)
class Backend:
    """A rollout backend and what the sharded sampler and the config checks ask of it."""

    sample: Callable  # (model, adapter, prompts, SamplingSettings, desc) -> K responses per prompt
    shardable: bool = True  # samples any batch of prompts with its own seed, so batches can go to any rank (else it
    #                         batches and seeds by itself, in one process)


def backend(name: str, *, shardable: bool = True) -> Callable:
    """Decorator: register the function as the rollout backend `name` (the function is returned unchanged)."""
    def decorator(sample: Callable) -> Callable:
        BACKENDS.register(name)(Backend(sample, shardable))
        return sample
    return decorator
