"""How responses are sampled, as one record: built from the config once (`sampling`) and passed down; a step that
samples differently (the warm-up's K and temperature, the PRM's, the monitor's temperatures, greedy decoding)
takes it with `dataclasses.replace`. Every rollout engine's `generate(prompts, settings, desc)` takes it
(harness/rollout/engine.py): it is frozen, hashable and holds no model."""
from __future__ import annotations

from dataclasses import dataclass, replace

from harness.config import RunConfig


@dataclass(frozen=True)
class SamplingSettings:
    """One sampling call's settings (the values come from the config: harness/config.py holds the defaults)."""

    backend: str           # rollout.backend, for the record: the engine a call is given samples it
    k: int                 # responses per prompt
    temperature: float     # 0: greedy decoding (then k is 1)
    max_new_tokens: int    # longest response, in tokens
    batch_sequences: int   # sequences decoded together (prompts per batch: batch_sequences // k)
    seed: int
    # Seed policy. True: batch b of the prompts (sorted by length) is seeded from (seed, b), so any rank may sample
    # it and the responses do not depend on the number of ranks (the run's loop). False: one generator runs over
    # the whole call, in one process (the shared stages are built that way).
    seed_per_batch: bool = True
    # Nucleus sampling: draw among the most likely tokens holding this much probability; 1.0 = every token. Not a
    # config key yet (adding one would move every run folder's hash): a step that wants it sets it with replace.
    top_p: float = 1.0

    def greedy(self) -> "SamplingSettings":
        """The same settings decoding greedily: one response per prompt."""
        return replace(self, k=1, temperature=0.0)


def sampling(cfg: RunConfig) -> SamplingSettings:
    """The run's sampling settings: the Generate step's (rollout.*, model.max_new_tokens, the run seed)."""
    r = cfg.rollout
    return SamplingSettings(backend=r.backend, k=r.samples_per_query, temperature=r.temperature,
                            max_new_tokens=cfg.model.max_new_tokens, batch_sequences=r.batch_sequences, seed=cfg.seed)


def stage_sampling(cfg: RunConfig) -> SamplingSettings:
    """The sampling settings of the shared stages' builds: the run's, seeded by the world seed (every run seed shares
    the stages), one generator in one process."""
    return replace(sampling(cfg), seed=cfg.world.seed, seed_per_batch=False)


def evaluation(settings: SamplingSettings, cfg: RunConfig) -> SamplingSettings:
    """Greedy decoding at the evaluation's batch size (eval.batch_sequences)."""
    return replace(settings.greedy(), batch_sequences=cfg.eval.batch_sequences)
