"""The `prm` stage: pi_hat_0 -> Monte-Carlo step labels -> trained PRM -> verifier analysis.

Built once per sweep (keyed by the prm config, pi_0 and the data) and shared by every run that uses
the learned PRM. Writes model/ + reward_head.safetensors (the PRM), steps.jsonl (the labelled data),
train.json (losses, held-out MSE against a constant predictor, completion cost) and verifier/ (Fig. 2).
"""
from __future__ import annotations

import logging
import random
from pathlib import Path

from harness.adapters import Prompt
from harness.config import RunConfig
from harness.evaluate import prompts_of
from harness.io import atomic_write_json, read_jsonl, write_jsonl
from harness.modeling import freeze_vision, load_model
from harness.pipeline import load_splits
from harness.prm import ProcessRewardModel, constant_mse, mse, train_prm
from harness.prm_data import balance, candidates, mc_label
from harness.reward_models import OracleReward
from harness.rollout import BACKENDS
from harness.sft import Example, make_optimizer, train_epoch
from harness import verifier

log = logging.getLogger(__name__)


def build(cfg: RunConfig, data: Path, warmup: Path, out: Path) -> dict:
    p, seed = cfg.prm, cfg.world.seed
    splits = load_splits(data)
    model, adapter = train_pi_hat(cfg, warmup, splits["labeled"])
    sample = _sampler(model, adapter, cfg)
    rng = random.Random(seed)
    questions = rng.sample(splits["labeled"], min(p.questions, len(splits["labeled"])))
    responses = sample(prompts_of(questions), p.samples_per_query, p.temperature, seed, "PRM responses")
    cands = balance(candidates(questions, responses, p.max_per_query), p.responses, rng)
    examples, completions = mc_label(cands, lambda ps, k, t, s: sample(ps, k, t, s, "MC completions"), p, seed)
    log.info("PRM data: %d responses labelled with %d completions", len(examples), completions)
    write_jsonl(out / "steps.jsonl", [{"id": e.prompt.question, "steps": e.steps, "labels": e.labels} for e in examples])

    n_held = round(p.holdout * len(examples))
    held, train = examples[:n_held], examples[n_held:]
    prm = ProcessRewardModel.init_from_policy(model, adapter)
    if p.freeze_vision:
        freeze_vision(prm.model, prm.adapter)
    losses = train_prm(prm, train, p.optim, p.epochs, seed)
    report = {"responses": len(examples), "completions": completions, "losses": losses,
              "held_out": n_held, "held_out_mse": mse(prm, held) if held else None,
              "constant_mse": constant_mse(train, held, prm) if held else None}
    log.info("PRM: held-out MSE %s vs constant predictor %s", report["held_out_mse"], report["constant_mse"])
    atomic_write_json(out / "train.json", report)
    prm.save(out)
    report["verifier"] = analyse_verifier(cfg, warmup, splits["val"], prm, out / "verifier")
    return report


def train_pi_hat(cfg: RunConfig, warmup: Path, labeled) -> tuple:
    """pi_hat_0: pi_0 trained further on the warm-up's rationales (the paper trains it to convergence)."""
    model, adapter = load_model(warmup / "model", cfg.model)
    by_id = {r.id: r for r in labeled}
    examples = [Example(Prompt(by_id[x["id"]].question, by_id[x["id"]].image, cot=True), x["response"])
                for x in read_jsonl(warmup / "rationales.jsonl") if x["id"] in by_id]
    opt, sched = make_optimizer(model, cfg.warmup.optim)
    for e in range(cfg.prm.policy_epochs):
        train_epoch(model, adapter, opt, sched, examples, cfg.warmup.optim, seed=100 + e, desc=f"pi_hat_0 epoch {e + 1}")
    return model, adapter


def _sampler(model, adapter, cfg: RunConfig):
    backend = BACKENDS.get(cfg.rollout.backend)

    def sample(prompts, k, temperature, seed, desc):
        return backend(model, adapter, prompts, k, temperature, cfg.model.max_new_tokens, cfg.rollout.batch_sequences,
                       seed=seed, desc=desc)
    return sample


def analyse_verifier(cfg: RunConfig, warmup: Path, val, prm: ProcessRewardModel, out: Path) -> dict:
    """Fig. 2 on pi_0's samples of the validation set, for the learned PRM and (embedded world) the oracle."""
    model, adapter = load_model(warmup / "model", cfg.model)
    responses = _sampler(model, adapter, cfg)(prompts_of(val), cfg.prm.verifier_samples, 1.0, cfg.world.seed,
                                             "verifier samples")
    flat_recs = [r for r, resps in zip(val, responses) for _ in resps]
    flat = [x for resps in responses for x in resps]
    models = {"prm": prm.step_scores(prompts_of(flat_recs), flat)}
    if all(r.solution for r in val):
        models["oracle"] = OracleReward().step_scores(flat_recs, flat)
    k = cfg.prm.verifier_samples
    per_q = {name: [steps[i * k:(i + 1) * k] for i in range(len(val))] for name, steps in models.items()}
    return verifier.analyse(val, responses, per_q, out)
