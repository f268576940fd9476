"""The shared stages before self-evolution: data -> base (embedded only) -> warm-up (pi_0).

Each stage is a cached folder (harness.stages.cache) keyed by exactly the config it depends on plus its
inputs' keys, so a sweep computes each once and later sweeps reuse them. The run seed is not part of
any key: every seed of a sweep self-evolves from the same pi_0, as in the paper.
"""
from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from harness.train import checkpoint
from harness.model.adapters import Adapter, Prompt, adapter_for
from harness.reward.answers import exact_match_reward
from harness.reward.models import REWARD_MODELS
from harness.config import ModelConfig, OptimConfig, RunConfig, SelectConfig, to_dict
from harness.data.checks import require_rewardable
from harness.data.datasets import Record, load_mathv360k, load_mathvista, short_answer
from harness.evaluation.evaluate import evaluate
from harness.data.images import set_cache_budget
from harness.io import atomic_write_json, write_jsonl
from harness.model.modeling import load_model
from harness.rollout.backends import BACKENDS
from harness.reward.selection import select_query
from harness.train.sft import Example, make_optimizer, train_epoch
from harness.stages.cache import ensure_stage, is_done, resume_folder, stage_path

log = logging.getLogger(__name__)
SPLITS = ("labeled", "unlabeled", "val", "test_id")
# Part of every stage key: bump a stage's number when a change to the code makes its cached folders stale
# (a new world generator, model architecture or warm-up procedure). A stage's key holds its inputs' keys,
# so a bump invalidates every later stage too. warmup 5: correct rationales are kept with duplicates, uncapped.
STAGE_VERSIONS = {"data": 4, "base": 4, "warmup": 5, "prm": 4}


@dataclass
class Inputs:
    """The finished shared stages a run starts from."""

    data: Path        # folder with mathv360k/ and mathvista/
    base: Path        # base model checkpoint folder
    warmup: Path      # stage folder; pi_0 in warmup/model
    prm: Path | None = None  # stage folder of the learned PRM, when the run uses it


def load_splits(data: Path) -> dict[str, list[Record]]:
    """Every split of a data folder, through the same loaders as the real datasets."""
    out = {s: load_mathv360k(data / "mathv360k" / f"{s}.json", labeled=s != "unlabeled") for s in SPLITS}
    out["test_ood"] = load_mathvista(data / "mathvista" / "testmini.json")
    return out


def save_policy(model, adapter: Adapter, path: Path) -> None:
    model.save_pretrained(path)
    adapter.processor.save_pretrained(path)


def eval_splits(splits: dict[str, list[Record]]) -> dict[str, list[Record]]:
    return {k: splits[k] for k in ("test_id", "test_ood")}


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


def stages(cfg: RunConfig) -> list[Stage]:
    """The shared stages a run needs, in order: data, base, warm-up (and prm). Pure: nothing is built."""
    from harness.world.writer import write_world

    cache = Path(cfg.results_dir) / "_stages"
    if cfg.data.path:
        data = Stage("data", Path(cfg.data.path).resolve(), {"path": cfg.data.path})
    else:
        world = to_dict(cfg.world)
        world.pop("base_corpus")  # only the base stage reads it
        payload = {"world": world, "version": STAGE_VERSIONS["data"]}
        data = Stage("data", stage_path(cache, "data", payload), payload,
                     lambda tmp: {"counts": write_world(tmp, cfg.world.seed, to_dict(cfg.world.sizes), cfg.world.families)})
    if cfg.model.path:
        base = Stage("base", Path(cfg.model.path).resolve(), {"path": cfg.model.path})
    else:
        m = cfg.model
        payload = {"world": to_dict(cfg.world), "base": to_dict(cfg.base), "data": data.key, "version": STAGE_VERSIONS["base"],
                   "arch": [m.hidden_size, m.num_hidden_layers, m.num_attention_heads]}
        base_path = stage_path(cache, "base", payload)
        base = Stage("base", base_path, payload, lambda tmp: _build_base(cfg, data.path, tmp, resume_folder(base_path)))
    m = cfg.model  # how pi_0 is trained: loading options that change which weights learn, and how
    payload = {"warmup": to_dict(cfg.warmup), "base": base.key, "data": data.key, "version": STAGE_VERSIONS["warmup"],
               "max_new_tokens": m.max_new_tokens, "dtype": m.dtype, "freeze_vision": m.freeze_vision,
               "lora": [m.lora_rank, m.lora_alpha]}
    warmup = Stage("warmup", stage_path(cache, "warmup", payload), payload,
                   lambda tmp: _build_warmup(cfg, data.path, base.path, tmp))
    if not REWARD_MODELS.get(cfg.reward_model.kind).trained:
        return [data, base, warmup]
    payload = {"prm": to_dict(cfg.prm), "warmup": warmup.key, "data": data.key, "version": STAGE_VERSIONS["prm"],
               "rollout_backend": cfg.rollout.backend}
    prm = Stage("prm", stage_path(cache, "prm", payload), payload,
                lambda tmp: _build_prm(cfg, data.path, warmup.path, tmp))
    return [data, base, warmup, prm]


def new_base_model(m: ModelConfig):
    """A randomly initialised embedded tiny VLM of the configured size, and its adapter."""
    from harness.tinyvlm import build_tiny_vlm

    model, processor = build_tiny_vlm(hidden_size=m.hidden_size, num_hidden_layers=m.num_hidden_layers,
                                      num_attention_heads=m.num_attention_heads, intermediate_size=4 * m.hidden_size)
    return model, adapter_for(model, processor)


def pretrain(model, adapter: Adapter, corpus: list[Example], optim: OptimConfig, steps: int,
             resume: Path | None = None) -> tuple[object, list[float]]:
    """`steps` optimizer steps over shuffled passes of the corpus under one schedule: (model, each pass's mean loss).

    With `resume`, every finished pass is checkpointed there, and a call that finds a checkpoint goes on after
    it with the saved weights (loaded into `model`), optimizer and schedule: a pass's batches depend only on its
    number, so the result equals that of an uninterrupted call.
    """
    ckpt = checkpoint.latest(resume) if resume else None
    opt, sched = make_optimizer(model, optim, total_steps=steps)
    done, epoch, losses = 0, 0, []
    if ckpt:
        state = checkpoint.load(ckpt, model, opt, sched)
        done, epoch, losses = state["steps"], state["epoch"], state["losses"]
        log.info("base: resuming after pass %d (%d/%d steps) from %s", epoch, done, steps, ckpt)
    while done < steps:
        r = train_epoch(model, adapter, opt, sched, corpus, optim, seed=epoch, desc=f"base epoch {epoch}",
                        max_steps=steps - done)
        done, epoch = done + r["steps"], epoch + 1
        losses.append(r["loss"])
        log.info("base epoch %d: loss %.3f (%d/%d steps)", epoch, r["loss"], done, steps)
        if resume and done < steps:
            checkpoint.save(resume, model, adapter.processor, opt, sched, {"steps": done, "epoch": epoch, "losses": losses},
                            export=False)
    return model, losses


def _build_base(cfg: RunConfig, data: Path, out: Path, resume: Path | None = None) -> dict:
    from harness.world.corpus import base_corpus

    torch.manual_seed(cfg.world.seed)
    torch.set_num_threads(cfg.model.threads)
    model, adapter = new_base_model(cfg.model)
    b = cfg.base
    corpus = base_corpus(cfg.world.seed, cfg.world.base_corpus, cfg.world.families, b.cot_fraction,
                         b.hint_fraction, b.distractor_rate, b.caption_fraction)
    model, losses = pretrain(model, adapter, corpus, b.optim, b.steps, resume)
    save_policy(model, adapter, out / "model")
    splits = eval_splits(load_splits(data))
    ev = evaluate(model, adapter, splits, cfg.model.max_new_tokens, cfg.eval.batch_sequences, cot=False)
    atomic_write_json(out / "eval.json", ev)
    return {"params": sum(p.numel() for p in model.parameters()), "epoch_losses": losses,
            "accuracy": {k: v["accuracy"] for k, v in ev.items()}}


def warmup_queries(labeled: list[Record], n: int, seed: int) -> list[Record]:
    """The labeled queries the warm-up samples rationales for: all of them, or a seeded sample of n in the
    split's order (a split this small or smaller is used whole, as before warmup.queries existed)."""
    if n >= len(labeled):
        return labeled
    return [labeled[i] for i in sorted(random.Random(f"warmup-queries/{seed}").sample(range(len(labeled)), n))]


def _build_warmup(cfg: RunConfig, data: Path, base: Path, out: Path) -> dict:
    w = cfg.warmup
    model, adapter = load_model(base / "model" if (base / "model").is_dir() else base, cfg.model)
    splits = load_splits(data)
    labeled = warmup_queries(splits["labeled"], w.query_count(len(splits["labeled"])), cfg.world.seed)
    hinted = [Prompt(r.question, r.image, cot=True, hint=short_answer(r.answer, r.choices)) for r in labeled]
    sample = BACKENDS.get(cfg.rollout.backend).sample
    responses = sample(model, adapter, hinted, w.samples_per_query, w.temperature, cfg.model.max_new_tokens,
                       cfg.rollout.batch_sequences, seed=cfg.world.seed, desc="warm-up rationales")
    rng = random.Random(cfg.world.seed)
    keep = SelectConfig(operator="all", dedup=w.dedup, max_per_query=w.max_per_query)  # draws nothing from rng
    pool, solved = [], 0  # (record id, example)
    for rec, resps in zip(labeled, responses):
        rewards = exact_match_reward(resps, **rec.reward_fields())
        kept, _ = select_query(resps, rewards, None, keep, rng)
        solved += bool(kept)
        pool += [(rec.id, Example(Prompt(rec.question, rec.image, cot=True), r)) for r in kept]
    chosen = rng.sample(pool, min(w.max_examples, len(pool)))
    write_jsonl(out / "rationales.jsonl", [{"id": rid, "response": e.response} for rid, e in chosen])
    examples = [e for _, e in chosen]
    log.info("warm-up: %d/%d queries solved, %d rationales kept, training on %d", solved, len(labeled),
             len(pool), len(examples))
    opt, sched = make_optimizer(model, w.optim, total_steps=w.epochs * math.ceil(len(examples) / w.optim.batch_size))
    losses = [train_epoch(model, adapter, opt, sched, examples, w.optim, seed=e, desc=f"warm-up epoch {e}")["loss"]
              for e in range(w.epochs)]
    save_policy(model, adapter, out / "model")
    ev = evaluate(model, adapter, {**eval_splits(splits), "val": splits["val"]}, cfg.model.max_new_tokens,
                  cfg.eval.batch_sequences)
    atomic_write_json(out / "eval.json", ev)
    return {"queries_solved": solved, "rationales": len(pool), "examples": len(examples), "losses": losses,
            "accuracy": {k: v["accuracy"] for k, v in ev.items()}}


def _build_prm(cfg: RunConfig, data: Path, warmup: Path, out: Path) -> dict:
    from harness.stages import prm as prm_stage  # imports the pipeline: loaded only when a PRM is built

    return prm_stage.build(cfg, data, warmup, out)


def prepare(cfg: RunConfig) -> Inputs:
    """Build (or reuse) the shared stages of a run."""
    set_cache_budget(cfg.data.image_cache_mb)  # every process of a run decodes images through this cache
    if cfg.data.path:  # before any stage is built: refuse an empty split or gold answers no response can match
        require_rewardable(load_splits(Path(cfg.data.path)), Path(cfg.data.path))
    return Inputs(*(stage.ensure() for stage in stages(cfg)))
