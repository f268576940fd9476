"""Self-evolving training: for each iteration, Generate -> Reward -> Select -> Improve -> Monitor -> checkpoint.

The loop in `evolve` reads like the paper's section 2; what differs between training methods is
only what carries over (harness.methods), and everything per step is one function here.
"""
from __future__ import annotations

import hashlib
import logging
import math
import os
import socket
import random
import time
from dataclasses import dataclass
from pathlib import Path

from harness import checkpoint
from harness.adapters import Prompt
from harness.answers import exact_match_reward
from harness.config import RunConfig
from harness.datasets import Record
from harness.evaluate import evaluate, prompts_of, score
from harness.io import read_json
from harness.methods import METHODS, Method
from harness.datasets import short_answer
from harness.pipeline import Inputs, eval_splits, load_policy, load_splits, prepare
from harness.rollout import BACKENDS, greedy
from harness.rundir import RunDir, run_path
from harness.selection import dedup_correct
from harness.sft import Example, make_optimizer, train_epoch
from harness.world.oracle import reasoning_correct

console = logging.getLogger("harness")


def derive_seed(*parts) -> int:
    """A seed per (run seed, iteration, purpose), so a resumed run draws exactly what it would have."""
    return int.from_bytes(hashlib.sha256("/".join(map(str, parts)).encode()).digest()[:4], "little")


@dataclass
class Plan:
    """Which labeled queries each iteration traverses: `passes` x N queries in total, whatever the interval."""

    n: int              # labeled queries
    per_iteration: int  # queries per iteration (interval x N)
    total: int          # queries over the whole run (passes x N)
    seed: int

    @classmethod
    def make(cls, n: int, interval: float, passes: float, seed: int) -> "Plan":
        return cls(n, max(1, round(interval * n)), max(1, round(passes * n)), seed)

    @property
    def iterations(self) -> int:
        return math.ceil(self.total / self.per_iteration)

    def queries(self, t: int) -> list[int]:
        """Indices of iteration t's queries: a fresh seeded permutation of the data each pass."""
        start, stop = t * self.per_iteration, min((t + 1) * self.per_iteration, self.total)
        perms: dict[int, list[int]] = {}
        out = []
        for pos in range(start, stop):
            p = pos // self.n
            if p not in perms:
                perms[p] = list(range(self.n))
                random.Random(derive_seed(self.seed, "pass", p)).shuffle(perms[p])
            out.append(perms[p][pos % self.n])
        return out


def generate(model, adapter, cfg: RunConfig, queries: list[Record], seed: int) -> list[list[str]]:
    """K responses per query with the chain-of-thought prompt."""
    r = cfg.rollout
    return BACKENDS.get(r.backend)(model, adapter, prompts_of(queries), r.samples_per_query, r.temperature,
                                   cfg.model.max_new_tokens, r.batch_sequences, seed=seed, desc="rollouts")


def reward(responses: list[list[str]], queries: list[Record]) -> list[list[float | None]]:
    """Binary exact-match reward against each query's gold answer."""
    return [exact_match_reward(resps, **rec.reward_fields()) for resps, rec in zip(responses, queries)]


def select(responses, rewards, queries: list[Record], cfg: RunConfig) -> tuple[list[Example], dict]:
    """Distinct correct responses, at most select.max_per_query per query; with selection statistics."""
    examples, fp, judged = [], 0, 0
    for resps, rews, rec in zip(responses, rewards, queries):
        for resp in dedup_correct(resps, rews)[: cfg.select.max_per_query]:
            examples.append(Example(Prompt(rec.question, rec.image, cot=True), resp))
            ok = reasoning_correct(resp, rec)
            if ok is not None:
                judged, fp = judged + 1, fp + (not ok)
    flat = [x or 0.0 for rews in rewards for x in rews]
    stats = {"reward_mean": _mean(flat), "pass_at_k": _mean([float(any(x == 1.0 for x in r)) for r in rewards]),
             "selected": len(examples), "selected_false_positive_rate": fp / judged if judged else None}
    return examples, stats


def given_answers(queries: list[Record]) -> list[Example]:
    """The labeled conversations as given (the paper's SFT baseline): plain question -> short answer."""
    return [Example(Prompt(rec.question, rec.image, cot=False), short_answer(rec.answer, rec.choices)) for rec in queries]


def monitor(model, adapter, cfg: RunConfig, val: list[Record]) -> dict:
    """Greedy accuracy on the validation split."""
    if not cfg.eval.monitor_val:
        return {}
    resp = greedy(model, adapter, prompts_of(val), cfg.model.max_new_tokens, cfg.eval.batch_sequences, desc="val")
    return {"val_greedy_accuracy": _mean(score(resp, val))}


def _mean(xs) -> float | None:
    xs = list(xs)
    return round(sum(xs) / len(xs), 4) if xs else None


def carry_over(method: Method, model, adapter, opt, sched, cfg: RunConfig, pi0: Path):
    """What iteration t+1 starts from: pi_t or pi_0; the running optimizer + LR schedule or fresh ones."""
    if not method.keeps_model:
        model, adapter = load_policy(pi0, cfg.model.threads)
    if not method.keeps_optimizer:
        opt, sched = make_optimizer(model, cfg.method.optim)
    return model, adapter, opt, sched


def evolve(cfg: RunConfig, inputs: Inputs, splits: dict[str, list[Record]], rd: RunDir, log: logging.Logger) -> Path:
    """Run (or resume) every iteration of the plan; returns the folder of the final checkpoint."""
    method: Method = METHODS.get(cfg.method.kind)
    labeled, val = splits["labeled"], splits["val"]
    plan = Plan.make(len(labeled), cfg.method.interval, cfg.method.passes, cfg.seed)
    pi0 = inputs.warmup / "model"
    ckpt = checkpoint.latest(rd.path)
    model, adapter = load_policy(ckpt / "model" if ckpt else pi0, cfg.model.threads)
    opt, sched = make_optimizer(model, cfg.method.optim)
    start, seen = 0, 0
    if ckpt:
        state = checkpoint.load_state(ckpt)
        start, seen = state["iteration"], state["queries_seen"]
        checkpoint.load_trainer(ckpt, opt, sched)
        rd.truncate_metrics(start)
        log.info("resuming after iteration %d/%d", start, plan.iterations)
    for t in range(start, plan.iterations):
        t0 = time.time()
        model, adapter, opt, sched = carry_over(method, model, adapter, opt, sched, cfg, pi0)
        queries = [labeled[i] for i in plan.queries(t)]
        if method.samples:
            responses = generate(model, adapter, cfg, queries, derive_seed(cfg.seed, t, "generate"))
            examples, sel = select(responses, reward(responses, queries), queries, cfg)
        else:
            examples, sel = given_answers(queries), {}
        fit = train_epoch(model, adapter, opt, sched, examples, cfg.method.optim, derive_seed(cfg.seed, t, "sft"),
                          desc=f"improve {t + 1}/{plan.iterations}")
        seen += len(queries)
        row = {"iteration": t + 1, "queries_seen": seen, "train_loss": fit["loss"], "sft_steps": fit["steps"],
               "lr": sched.get_last_lr()[0], "temperature": cfg.rollout.temperature, **sel,
               **monitor(model, adapter, cfg, val), "seconds": round(time.time() - t0, 1)}
        rd.add_metrics(row)
        checkpoint.save(rd.path, model, adapter.processor, opt, sched, {"iteration": t + 1, "queries_seen": seen})
        rd.set_status("running", iteration=t + 1, iterations=plan.iterations)
        log.info(_summary(row, plan.iterations))
    return checkpoint.latest(rd.path) / "model"


def _summary(row: dict, iterations: int) -> str:
    parts = [f"iter {row['iteration']}/{iterations}", f"queries {row['queries_seen']}"]
    for key, name in [("pass_at_k", "pass@K"), ("selected", "selected"), ("train_loss", "loss"),
                      ("val_greedy_accuracy", "val greedy"), ("selected_false_positive_rate", "fp rate"),
                      ("seconds", "s")]:
        if row.get(key) is not None:
            parts.append(f"{name} {row[key]:.3f}" if isinstance(row[key], float) else f"{name} {row[key]}")
    return " | ".join(parts)


def run(cfg: RunConfig, label: str | None = None) -> Path:
    """Run (or resume, or skip if finished) one configured run; returns its folder."""
    label = label or f"{cfg.method.kind} seed {cfg.seed}"
    rd = RunDir(run_path(cfg, label))
    if rd.status()["state"] == "done":
        console.info("%s: already done (%s)", label, rd.path)
        return rd.path
    rd.init(cfg, label)
    log = rd.logger()
    rd.set_status("running", pid=os.getpid(), host=socket.gethostname(), error=None, traceback=None)
    try:
        inputs = prepare(cfg)
        splits = load_splits(inputs.data)  # read once: the loaders verify every image
        final = evolve(cfg, inputs, splits, rd, log)
        model, adapter = load_policy(final, cfg.model.threads)
        ev = evaluate(model, adapter, eval_splits(splits), cfg.model.max_new_tokens,
                      cfg.eval.batch_sequences)
        rd.write_eval({"final": ev, "warmup": read_json(inputs.warmup / "eval.json"),
                       "base": read_json(Path(inputs.base) / "eval.json")})
        rd.set_status("done")
        log.info("done: test_id %.3f, test_ood %.3f (warm-up %.3f, %.3f)", ev["test_id"]["accuracy"],
                 ev["test_ood"]["accuracy"], *(read_json(inputs.warmup / "eval.json")[k]["accuracy"]
                                               for k in ("test_id", "test_ood")))
    except BaseException as exc:
        rd.fail(exc)
        raise
    return rd.path
