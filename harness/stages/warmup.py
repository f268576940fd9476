"""The `warmup` stage: rationalisation. K samples at the warm-up temperature on (question, image, answer) with the
CoT instruction, keep the correct ones, sample N of them, SFT -> pi_0. Shared by every seed and method."""
from __future__ import annotations

import logging
import math
import random
from dataclasses import replace
from pathlib import Path

from harness.config import RunConfig, SelectConfig
from harness.data.datasets import Record, short_answer
from harness.data.splits import eval_splits, load_splits, seeded_sample
from harness.evaluation.evaluate import RESPONSES, evaluate
from harness.io import atomic_write_json, write_jsonl
from harness.model.adapters import Prompt
from harness.model.modeling import load_model, save_policy
from harness.reward.answers import exact_match_reward
from harness.reward.selection import select_query
from harness.rollout.engine import open_engine
from harness.rollout.settings import evaluation, stage_sampling
from harness.rollout.sharded import sample
from harness.train.sft import Example, make_optimizer, train_epoch

log = logging.getLogger(__name__)


def warmup_queries(labeled: list[Record], n: int, seed: int) -> list[Record]:
    """The labeled queries the warm-up samples rationales for: all of them, or a seeded sample of n in the
    split's order (a split this small or smaller is used whole, as before warmup.queries existed)."""
    return seeded_sample(labeled, n, f"warmup-queries/{seed}")


def build(cfg: RunConfig, data: Path, base: Path, out: Path) -> dict:
    w = cfg.warmup
    model, adapter = load_model(base / "model" if (base / "model").is_dir() else base, cfg.model)
    splits = load_splits(data)
    labeled = warmup_queries(splits["labeled"], w.query_count(len(splits["labeled"])), cfg.world.seed)
    hinted = [Prompt(r.question, r.image, cot=True, hint=short_answer(r.answer, r.choices)) for r in labeled]
    settings = stage_sampling(cfg)
    engine = open_engine(cfg.rollout, model, adapter)  # the stage's engine: the base model's rationales, pi_0's eval
    responses = sample(engine, hinted, replace(settings, k=w.samples_per_query, temperature=w.temperature),
                       "warm-up rationales")
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
    engine.sleep()
    opt, sched = make_optimizer(model, w.optim, total_steps=w.epochs * math.ceil(len(examples) / w.optim.batch_size))
    losses = [train_epoch(model, adapter, opt, sched, examples, w.optim, seed=e, desc=f"warm-up epoch {e}")["loss"]
              for e in range(w.epochs)]
    save_policy(model, adapter, out / "model")
    engine.update_weights(model, adapter)
    engine.wake()
    with engine:
        ev = evaluate(engine, {**eval_splits(splits), "val": splits["val"]}, evaluation(settings, cfg),
                      out=out / RESPONSES)
    atomic_write_json(out / "eval.json", ev)
    return {"queries_solved": solved, "rationales": len(pool), "examples": len(examples), "losses": losses,
            "accuracy": {k: v["accuracy"] for k, v in ev.items()}}
