"""Rollout backends: the engine that samples a run's responses, chosen by rollout.backend.

Each backend is declared here by name, with what the sharded sampler and the config checks ask of it, and its
engine class (harness/rollout/engine.py) named "module:object", imported when first used (a config is validated
without importing torch). A run opens one engine per rank (`open_engine`) and samples through
harness.rollout.sharded, which spreads a call's batches over the ranks (every engine seeds each batch or prompt
itself, so a batch gives the same responses wherever it runs).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from harness.registry import Registry, lazy

BACKENDS = Registry("rollout backend")


@dataclass(frozen=True)
class Backend:
    """A rollout backend and what the config checks and the memory plan ask of it."""

    engine: Callable  # (model, adapter, rollout config section) -> a RolloutEngine
    built_by_all_ranks: bool = False  # under torchrun every rank builds its engine together (so rank 0 cannot
    #                                    build one alone for a shared stage)
    reserves_gpu_share: bool = False  # its engine holds rollout.<backend>.gpu_memory_utilization of a GPU (the
    #                                   memory plan counts it); else it needs the weights and the KV cache of a batch


BACKENDS.register("hf")(Backend(lazy("harness.rollout.hf:HFEngine")))  # any transformers VLM, everywhere
# GPU, the [vllm] extra: one engine per rank (or tensor-parallel group), colocated with the trainer and asleep while
# it trains.
BACKENDS.register("vllm")(Backend(lazy("harness.rollout.vllm:VLLMEngine"), built_by_all_ranks=True,
                                  reserves_gpu_share=True))
