"""The `prm` stage: pi_hat_0 -> Monte-Carlo step labels -> trained PRM -> verifier analysis.

Built once per sweep (keyed by the prm config, pi_0 and the data) and shared by every run that uses
the learned PRM. Writes model/ + reward_head.safetensors (the PRM), steps.jsonl (the labelled data),
train.json (losses, held-out MSE against a constant predictor, completion cost) and verifier/ (Fig. 2).
"""
from __future__ import annotations

import copy
import logging
import random
from dataclasses import replace
from pathlib import Path

import pandas as pd

from harness.config import RunConfig
from harness.data.splits import load_splits
from harness.evaluation.evaluate import prompts_of
from harness.io import atomic_write_json, atomic_write_text, read_jsonl, write_jsonl
from harness.model.adapters import Prompt
from harness.model.modeling import freeze_vision, load_model
from harness.reward import prm_controls, verifier
from harness.reward.answers import exact_match_reward
from harness.reward.models.oracle import OracleReward
from harness.reward.prm import ProcessRewardModel, constant_mse, mse, train_prm
from harness.reward.prm_data import Candidate, balance, candidates, mc_label
from harness.reward.steps import scored_steps
from harness.rollout.engine import RolloutEngine, open_engine
from harness.rollout.settings import SamplingSettings, stage_sampling
from harness.rollout.sharded import sample
from harness.train.sft import Example, make_optimizer, train_epoch

log = logging.getLogger(__name__)
VERIFIER_TEMPERATURE = 1.0  # pi_0's validation samples for the verifier analysis, as in the paper's Fig. 2


def build(cfg: RunConfig, data: Path, warmup: Path, out: Path) -> dict:
    splits = load_splits(data)
    model, adapter = train_pi_hat(cfg, warmup, splits["labeled"])
    pi_hat = copy.deepcopy(model.state_dict())  # every PRM (learned, controls) starts from the same backbone
    with open_engine(cfg.rollout, model, adapter) as engine:  # the stage's engine: pi_hat_0's, then pi_0's samples
        return _build(cfg, splits, warmup, out, model, adapter, pi_hat, engine)


def _build(cfg: RunConfig, splits: dict, warmup: Path, out: Path, model, adapter, pi_hat: dict,
           engine: RolloutEngine) -> dict:
    p, seed = cfg.prm, cfg.world.seed
    settings = replace(stage_sampling(cfg), k=p.samples_per_query, temperature=p.temperature)  # seeded by `seed`
    rng = random.Random(seed)
    questions = rng.sample(splits["labeled"], min(p.questions, len(splits["labeled"])))
    responses = sample(engine, prompts_of(questions), settings, "PRM responses")
    cands = balance(candidates(questions, responses, p.max_per_query), p.responses, rng)
    examples, completions = mc_label(cands, lambda ps, s: sample(engine, ps, s, "MC completions"),
                                     replace(settings, k=p.completions))
    log.info("PRM data: %d responses labelled with %d completions", len(examples), completions)
    write_jsonl(out / "steps.jsonl", [{"id": e.prompt.question, "steps": e.steps, "labels": e.labels} for e in examples])
    val = splits["val"]
    val_responses = verifier_samples(engine, cfg, warmup, val)

    engine.sleep()  # the backbone trains into the PRM
    n_held = round(p.holdout * len(examples))
    held, train = examples[:n_held], examples[n_held:]
    prm, losses = fit(model, adapter, train, cfg)
    report = {"responses": len(examples), "completions": completions, "losses": losses,
              "held_out": n_held, "held_out_mse": mse(prm, held) if held else None,
              "constant_mse": constant_mse(train, held, prm) if held else None}
    log.info("PRM: held-out MSE %s vs constant predictor %s", report["held_out_mse"], report["constant_mse"])
    atomic_write_json(out / "train.json", report)
    prm.save(out)

    flat_recs = [r for r, resps in zip(val, val_responses) for _ in resps]
    flat = [x for resps in val_responses for x in resps]
    # scored now: the controls below retrain the same backbone object in place
    scored = {"prm": scored_by(prm.scorer(), val, flat_recs, flat)}
    if p.controls:
        train_recs = [c.record for c in cands][n_held:]
        relabelled = {"prm_shuffled_labels": prm_controls.shuffled(train, seed)}
        if all(r.solution for r in train_recs):
            relabelled["prm_oracle_labels"] = prm_controls.oracle_labelled(train, train_recs)
        for name, labelled in relabelled.items():
            model.load_state_dict(pi_hat)
            scored[name] = scored_by(fit(model, adapter, labelled, cfg)[0].scorer(), val, flat_recs, flat)
        model.load_state_dict(pi_hat)
        engine.update_weights(model, adapter)
        engine.wake()
        complete = lambda ps, s: sample(engine, ps, s, "MC labels of verifier samples")  # noqa: E731
        scored["mc_labels"] = {"steps": mc_label_steps(flat_recs, flat, complete, settings, cfg), "probes": {}}
    if all(r.solution for r in val):
        scored["oracle"] = scored_by(OracleReward().step_scores, val, flat_recs, flat)
    report["verifier"] = analyse_verifier(val, val_responses, scored, p.verifier_samples, out / "verifier")
    return report


def scored_by(score, val, flat_recs, flat) -> dict:
    """A scorer's step scores of the verifier samples and its probes of gold solutions (embedded world)."""
    return {"steps": score(flat_recs, flat),
            "probes": prm_controls.probes(val, score) if all(r.solution for r in val) else {}}


def fit(model, adapter, examples, cfg: RunConfig) -> tuple[ProcessRewardModel, list[float]]:
    """A PRM trained in place on `model` (backbone + head, vision tower frozen as configured), and its losses."""
    prm = ProcessRewardModel.init_from_policy(model, adapter)
    if cfg.prm.freeze_vision:
        freeze_vision(prm.model, prm.adapter)
    return prm, train_prm(prm, examples, cfg.prm.optim, cfg.prm.epochs, cfg.world.seed)


def mc_label_steps(records, responses: list[str], complete, settings: SamplingSettings,
                   cfg: RunConfig) -> list[list[float]]:
    """Step scores of held-out responses = their own Monte-Carlo labels (the ceiling a PRM trained on such
    labels can learn), each distinct (question, response) labelled once, with prm.ceiling_completions
    completions per step prefix (`complete(prompts, settings)`, as for mc_label)."""
    distinct = list(dict.fromkeys((r.id, resp) for r, resp in zip(records, responses)))
    by_id = {r.id: r for r in records}
    cands = [Candidate(by_id[i], scored_steps(resp), bool(exact_match_reward([resp], **by_id[i].reward_fields())[0]))
             for i, resp in distinct]
    labelled, _ = mc_label(cands, complete, replace(settings, k=cfg.prm.ceiling_completions, seed=cfg.world.seed + 1))
    labels = {key: e.labels for key, e in zip(distinct, labelled)}
    return [labels[(r.id, x)] for r, x in zip(records, responses)]


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


def verifier_samples(engine: RolloutEngine, cfg: RunConfig, warmup: Path, val) -> list[list[str]]:
    """pi_0's responses to the validation questions at the paper's Fig. 2 temperature (pi_0 loaded into the
    engine, which holds its previous policy again afterwards)."""
    previous = engine.model, engine.adapter
    engine.update_weights(*load_model(warmup / "model", cfg.model))
    settings = replace(stage_sampling(cfg), k=cfg.prm.verifier_samples, temperature=VERIFIER_TEMPERATURE)
    responses = sample(engine, prompts_of(val), settings, "verifier samples")
    engine.update_weights(*previous)
    return responses


def analyse_verifier(val, responses: list[list[str]], scored: dict, k: int, out: Path) -> dict:
    """Fig. 2 (voting.csv, steps.csv) for every scorer, with each one's step agreement with the oracle
    (step_f1.csv) and its ranking of gold solutions against corrupted ones (probes.csv), embedded world."""
    per_q = {name: [x["steps"][i * k:(i + 1) * k] for i in range(len(val))] for name, x in scored.items()}
    summary = verifier.analyse(val, responses, per_q, out)
    if all(r.solution for r in val):
        flat_recs = [r for r, resps in zip(val, responses) for _ in resps]
        flat = [x for resps in responses for x in resps]
        f1 = [{"reward_model": name, **prm_controls.step_agreement(flat_recs, flat, x["steps"])}
              for name, x in scored.items()]
        probes = [{"reward_model": name, **x["probes"]} for name, x in scored.items() if x["probes"]]
        atomic_write_text(out / "step_f1.csv", pd.DataFrame(f1).to_csv(index=False))
        atomic_write_text(out / "probes.csv", pd.DataFrame(probes, columns=None if probes else ["reward_model"])
                          .to_csv(index=False))
    return summary
