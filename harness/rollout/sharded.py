"""The one sampling call of the harness (`sample`, and `greedy`): K responses per prompt with the settings of a
SamplingSettings record, from a rollout engine (harness/rollout/engine.py), spread over the ranks of a run in fixed
batches.

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
from harness.model.adapters import Prompt
from harness.rollout.engine import RolloutEngine
from harness.rollout.settings import SamplingSettings
from harness.seeds import derive_seed


def sample(engine: RolloutEngine, prompts: list[Prompt], settings: SamplingSettings, desc: str = "sampling",
           store: Path | None = None, every: int = 1) -> list[list[str]]:
    """K responses per prompt (temperature 0: greedy, k=1): the one sampling call of the harness. With per-batch
    seeds every rank samples its share (collective); otherwise the engine samples the whole call with one seed, in
    one process (the shared stages' builds)."""
    with engine.gathered():
        if not settings.seed_per_batch:
            return engine.generate(prompts, settings, desc)
        return _sample_batches(engine, prompts, settings, desc, store, every)


def _sample_batches(engine: RolloutEngine, prompts: list[Prompt], settings: SamplingSettings, desc: str,
                    store: Path | None, every: int) -> list[list[str]]:
    per = max(1, settings.batch_sequences // settings.k)
    order = sorted(range(len(prompts)), key=lambda i: len(engine.adapter.user_text(prompts[i])))
    batches = [order[i:i + per] for i in range(0, len(order), per)]
    mine: dict[int, list[list[str]]] = {}
    pending: list[int] = []
    for b in range(engine.replica, len(batches), engine.replicas):
        saved = read_json(store / f"batch-{b:06d}.json") if store else None
        if saved is not None:
            mine[b] = saved
            continue
        mine[b] = engine.generate([prompts[j] for j in batches[b]],
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


def greedy(engine: RolloutEngine, prompts: list[Prompt], settings: SamplingSettings, desc: str = "greedy") -> list[str]:
    """One greedy response per prompt from the engine (the batches spread over the ranks: collective)."""
    return [r[0] for r in sample(engine, prompts, settings.greedy(), desc)]
