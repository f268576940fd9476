"""A run's rollout engine: what turns prompts into responses, created once per run on each rank and kept for it.

Every sampling step of a run goes through one engine (Generate, the monitor, the temperature probe, greedy
validation and the final evaluation), as each shared stage's build goes through its own. The lifecycle is the one
TRL's colocate mode and verl's hybrid engine use, so a GPU engine never has to be rebuilt for new weights:

    engine = open_engine(cfg.rollout, model, adapter)   # once: the policy it starts from
    engine.generate(prompts, settings, desc)            # K responses per prompt (harness.rollout.sharded spreads
                                                        #   the batches over the ranks)
    engine.sleep()                                      # before an Improve step: its memory goes to training
    engine.update_weights(model)                        # the trained (or reloaded) policy, in place
    engine.wake()                                       # before the next Generate step
    engine.close()

Backends (harness/rollout/backends.py) subclass RolloutEngine and fill in the `_` methods; the base class keeps
the lifecycle honest: generating while asleep or after close is an error, not a silent reload.
"""
from __future__ import annotations

import logging

from harness import distributed
from harness.model.adapters import Adapter, Prompt
from harness.rollout.settings import SamplingSettings


log = logging.getLogger(__name__)


class RolloutEngine:
    """K responses per prompt from the policy it holds; see the module's docstring for the lifecycle."""

    name = "?"
    created = 0       # engines created in this process (a run creates one per rank: tests count them)

    def __init__(self, model, adapter: Adapter, options=None):
        RolloutEngine.created += 1
        self.model, self.adapter, self.options = model, adapter, options
        self.asleep = False
        self.closed = False
        self.weight_updates = 0

    def generate(self, prompts: list[Prompt], settings: SamplingSettings, desc: str = "sampling") -> list[list[str]]:
        """K responses per prompt, one seeded call (settings.seed); temperature 0 is greedy, with k = 1."""
        self._check_open()
        if self.asleep:
            raise RuntimeError(f"the {self.name} rollout engine is asleep: wake() it before generating")
        if settings.temperature <= 0 and settings.k != 1:
            raise ValueError("greedy decoding gives one response per prompt; use k=1")
        return self._generate(prompts, settings, desc) if prompts else []

    @property
    def replica(self) -> int:
        """Which share of a call's batches this rank samples (of `replicas`): ranks that serve one engine together
        (vLLM's tensor parallelism) sample the same share."""
        return distributed.rank()

    @property
    def replicas(self) -> int:
        return distributed.world_size()

    def gathered(self):
        """A context around the batches of one sampling call on every rank (collective: a sharded policy gathers
        its weights once for all of them)."""
        self._check_open()
        return self._gathered()

    def update_weights(self, model, adapter: Adapter | None = None) -> None:
        """Generate from `model` from now on: the policy after an Improve step, or another one (pi_0 reloaded by
        ReST-EM, the warm-up's model evaluated beside the final one). Collective when the policy is sharded."""
        self._check_open()
        self._load(model, adapter or self.adapter)
        self.model, self.adapter = model, adapter or self.adapter
        self.weight_updates += 1

    def sleep(self) -> None:
        """Give the engine's device memory to training (until `wake`)."""
        if not self.asleep and not self.closed:
            self._sleep()
            self.asleep = True

    def wake(self) -> None:
        if self.asleep and not self.closed:
            self._wake()
            self.asleep = False

    def close(self) -> None:
        if not self.closed:
            self._close()
            self.closed = True
            self.model = self.adapter = None  # the policy may go once its owner lets it

    def __enter__(self) -> "RolloutEngine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _check_open(self) -> None:
        if self.closed:
            raise RuntimeError(f"the {self.name} rollout engine is closed")

    # what a backend implements
    def _gathered(self):
        from contextlib import nullcontext

        return nullcontext()

    def _generate(self, prompts: list[Prompt], settings: SamplingSettings, desc: str) -> list[list[str]]:
        raise NotImplementedError

    def _load(self, model, adapter: Adapter) -> None:
        raise NotImplementedError

    def _sleep(self) -> None:
        pass

    def _wake(self) -> None:
        pass

    def _close(self) -> None:
        pass


def open_engine(rollout, model, adapter: Adapter) -> RolloutEngine:
    """The engine of rollout.backend (`rollout` is the config's rollout section) holding `model`."""
    from harness.rollout.backends import BACKENDS

    backend = BACKENDS.get(rollout.backend)
    if backend.built_by_all_ranks and distributed.launched() and not distributed.active():
        log.warning("rollout.backend=%s: rank 0 builds this shared stage alone while the other ranks wait, and a %s "
                    "engine under torchrun needs every rank; sampling it with the hf engine. To sample the shared "
                    "stages with %s, build them first in a one-process run of the same config (no torchrun).",
                    rollout.backend, rollout.backend, rollout.backend)
        backend = BACKENDS.get("hf")
    return backend.engine(model, adapter, rollout)
