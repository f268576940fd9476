"""The one sampling call of the harness (`sample`, and `greedy`): K responses per prompt with the settings of a
SamplingSettings record, through its backend, spread over the ranks of a run in fixed batches.

With per-batch seeds (the run's loop), the prompts are sorted by length (as the hf sampler sorts them) and cut into batches of `batch_sequences // k`
prompts; batch b is sampled by rank b mod W with a seed derived from (seed, b) alone, and the batches are
gathered so every rank holds every response. The responses therefore do not depend on the number of ranks (a
batch gets the same prompts and seed wherever it runs), and a fixed seed gives the same result. In one process
nothing is gathered and the batches are those the hf sampler itself would make.

With `store`, finished batches are written there (one file per batch, every `every` batches) and batches found
there are not sampled again: a job stopped by its time limit mid-Generate resumes it, on any number of ranks.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from harness import distributed
from harness.io import atomic_write_json, read_json
from harness.model.adapters import Adapter, Prompt
from harness.model.strategy import inference
from harness.rollout.backends import BACKENDS
from harness.rollout.settings import SamplingSettings
from harness.seeds import derive_seed


def sample(model, adapter: Adapter, prompts: list[Prompt], settings: SamplingSettings, desc: str = "sampling",
           store: Path | None = None, every: int = 1) -> list[list[str]]:
    """K responses per prompt (temperature 0: greedy, k=1): the one sampling call of the harness. With per-batch
    seeds every rank samples its share (collective); otherwise the backend samples the whole call with one seed, in
    one process (as a backend that batches and seeds by itself always does: harness/config.py refuses it under
    torchrun)."""
    backend = BACKENDS.get(settings.backend)
    if not backend.shardable:
        return backend.sample(model, adapter, prompts, settings, desc)
    with inference(model):
        if not settings.seed_per_batch:
            return backend.sample(model, adapter, prompts, settings, desc)
        return _sample_batches(backend, model, adapter, prompts, settings, desc, store, every)


def _sample_batches(backend, model, adapter: Adapter, prompts: list[Prompt], settings: SamplingSettings, desc: str,
                    store: Path | None, every: int) -> list[list[str]]:
    per = max(1, settings.batch_sequences // settings.k)
    order = sorted(range(len(prompts)), key=lambda i: len(adapter.user_text(prompts[i])))
    batches = [order[i:i + per] for i in range(0, len(order), per)]
    mine: dict[int, list[list[str]]] = {}
    pending: list[int] = []
    for b in range(distributed.rank(), len(batches), distributed.world_size()):
        saved = read_json(store / f"batch-{b:06d}.json") if store else None
        if saved is not None:
            mine[b] = saved
            continue
        mine[b] = backend.sample(model, adapter, [prompts[j] for j in batches[b]],
                                 replace(settings, seed=derive_seed(settings.seed, "batch", b)),
                                 f"{desc} {b + 1}/{len(batches)}")
        pending.append(b)
        if store and every and len(pending) >= every:
            _write(store, mine, pending)
    if store and every:
        _write(store, mine, pending)
    results: list[list[str]] = [[] for _ in prompts]
    for part in distributed.gather(mine):
        for b, responses in part.items():
            for j, r in zip(batches[b], responses):
                results[j] = r
    return results


def _write(store: Path, mine: dict, pending: list[int]) -> None:
    for b in pending:
        atomic_write_json(store / f"batch-{b:06d}.json", mine[b])
    pending.clear()


def greedy(model, adapter: Adapter, prompts: list[Prompt], settings: SamplingSettings, desc: str = "greedy") -> list[str]:
    """One greedy response per prompt, with the settings' backend (the batches spread over the ranks: collective)."""
    return [r[0] for r in sample(model, adapter, prompts, settings.greedy(), desc)]
