"""The stage graph: the shared stages before self-evolution, data -> base (embedded only) -> warm-up (pi_0)
[-> prm], each built by its own module (base.py, warmup.py, prm.py).

Each stage is a cached folder (harness.stages.cache) keyed by exactly the config it depends on plus its
inputs' keys, so a sweep computes each once and later sweeps reuse them. The run seed is not part of
any key: every seed of a sweep self-evolves from the same pi_0, as in the paper.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from harness.config import RunConfig, hashed, to_dict
from harness.data.checks import require_rewardable
from harness.data.images import set_cache_budget
from harness.data.splits import load_splits
from harness.registry import lazy
from harness.reward.models import REWARD_MODELS
from harness.stages import released
from harness.stages.cache import ensure_stage, is_done, resume_folder, stage_path
from harness.world.writer import write_world

# Part of every stage key: bump a stage's number when a change to the code makes its cached folders stale
# (a new world generator, model architecture or warm-up procedure). A stage's key holds its inputs' keys,
# so a bump invalidates every later stage too. warmup 5: correct rationales are kept with duplicates, uncapped.
STAGE_VERSIONS = {"data": 4, "base": 4, "warmup": 5, "prm": 4}
RUN_BUDGET = ("train_queries",)  # world keys only a run reads: no stage's key holds them
# How each trained stage is built (torch and the model code: imported when a stage is built, not to plan one).
BUILDS = {name: lazy(f"harness.stages.{name}:build") for name in ("base", "warmup", "prm")}


@dataclass
class Inputs:
    """The finished shared stages a run starts from."""

    data: Path        # folder with mathv360k/ and mathvista/
    base: Path        # base model checkpoint folder
    warmup: Path      # stage folder; pi_0 in warmup/model
    prm: Path | None = None  # stage folder of the learned PRM, when the run uses it


@dataclass
class Stage:
    """A shared stage: its cached folder and how to build it (None: an external path, nothing to build)."""

    name: str
    path: Path
    payload: dict
    build: Callable[[Path], dict] | None = None

    @property
    def key(self) -> str:
        """What a later stage's key records of this one: the cached folder's name (hash included), so keys do
        not depend on where results_dir is or how it is spelled; an external path as resolved."""
        return self.path.name if self.build else str(self.path)

    @property
    def done(self) -> bool:
        return self.build is None or is_done(self.path)

    def ensure(self) -> Path:
        return self.path if self.build is None else ensure_stage(self.path, self.payload, self.build)


def stages(cfg: RunConfig, plain: dict | None = None) -> list[Stage]:
    """The shared stages a run needs, in order: data, base, warm-up (and prm). Pure: nothing is built. `plain` is
    the config as plain data when the caller has made it already (to_dict(cfg)); the keys read sections of it."""
    plain = hashed(to_dict(cfg) if plain is None else plain)
    cache = Path(cfg.results_dir) / "_stages"
    world = {k: v for k, v in plain["world"].items() if k not in RUN_BUDGET}
    if cfg.data.path:
        data = Stage("data", Path(cfg.data.path).resolve(), {"path": cfg.data.path})
    else:
        payload = {"world": {k: v for k, v in world.items() if k != "base_corpus"},  # only the base stage reads it
                   "version": STAGE_VERSIONS["data"]}
        data = Stage("data", stage_path(cache, "data", payload), payload,
                     lambda tmp: {"counts": write_world(tmp, cfg.world.seed, to_dict(cfg.world.sizes), cfg.world.families,
                                                        cfg.world.answers)})
    if cfg.model.path:
        base = Stage("base", Path(cfg.model.path).resolve(), {"path": cfg.model.path})
    else:
        m = cfg.model
        payload = {"world": world, "base": plain["base"], "data": data.key, "version": STAGE_VERSIONS["base"],
                   "arch": [m.hidden_size, m.num_hidden_layers, m.num_attention_heads,
                            *([plain["model"]["tokenizer"]] if "tokenizer" in plain["model"] else [])]}
        base_path = stage_path(cache, "base", payload)

        def build_base(tmp: Path) -> dict:  # base.released=false is in the key: no released base has it
            shipped = released.find(base_path.name)
            return released.copy(shipped, tmp) if shipped else BUILDS["base"](cfg, data.path, tmp, resume_folder(base_path))
        base = Stage("base", base_path, payload, build_base)
    m = cfg.model  # how pi_0 is trained: loading options that change which weights learn, and how
    payload = {"warmup": plain["warmup"], "base": base.key, "data": data.key, "version": STAGE_VERSIONS["warmup"],
               "max_new_tokens": m.max_new_tokens, "dtype": m.dtype, "freeze_vision": m.freeze_vision,
               "lora": [m.lora_rank, m.lora_alpha]}
    warmup = Stage("warmup", stage_path(cache, "warmup", payload), payload,
                   lambda tmp: BUILDS["warmup"](cfg, data.path, base.path, tmp))
    if not REWARD_MODELS.get(cfg.reward_model.kind).trained:
        return [data, base, warmup]
    payload = {"prm": plain["prm"], "warmup": warmup.key, "data": data.key, "version": STAGE_VERSIONS["prm"],
               "rollout_backend": cfg.rollout.backend}
    prm = Stage("prm", stage_path(cache, "prm", payload), payload,
                lambda tmp: BUILDS["prm"](cfg, data.path, warmup.path, tmp))
    return [data, base, warmup, prm]


def prepare(cfg: RunConfig) -> Inputs:
    """Build (or reuse) the shared stages of a run."""
    set_cache_budget(cfg.data.image_cache_mb)  # every process of a run decodes images through this cache
    if cfg.data.path:  # before any stage is built: refuse an empty split or gold answers no response can match
        require_rewardable(load_splits(Path(cfg.data.path)), Path(cfg.data.path))
    return Inputs(*(stage.ensure() for stage in stages(cfg)))
