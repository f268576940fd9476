"""What a trial measures, named by the spec's `objective`.

- `val_<metric>` (e.g. `val_greedy_accuracy`): a full self-evolving run per trial through
  `harness.loop.evolve.run` (a normal, deterministic run folder, resumed if interrupted); the value is the
  metric in the last summary row of its metrics.jsonl. The honest objective, and the expensive one.
- `eval.<path>` (e.g. `eval.final.test_id.accuracy`): a value of the run's eval.json. Every split
  there is a test split, and choosing hyperparameters on test makes the reported test score
  optimistic, so it needs `allow_test: true`.
- `<evaluation>.<metric>`: a cheap evaluation registered in EVALUATIONS, which returns several
  metrics at once (all are kept as trial attributes in trials.csv; the objective picks one).

`selection` is the cheap proxy for the H operator's hyperparameters (the paper's alpha of
"PRM > alpha", enumerated at 0.1 on the validation set). pi_0 samples K responses per validation
query once, the reward model scores their steps once (both cached in the study folder, keyed by the
stage folders and sampling settings), and each trial only re-applies the trial's selection to the
distinct correct responses of each query, exactly as the Select step of training would. Which kept
responses are good is known in the embedded world, whose gold steps say whether the reasoning of an
answer-correct response is right (the false positives the threshold is meant to drop):

    precision  share of kept responses whose reasoning is right (1 - the selected false-positive rate)
    recall     share of right-reasoning responses that are kept
    f1         their harmonic mean: the shipped objective
    kept       share of correct responses kept (how much training data survives)
    coverage   share of queries with a correct response that keep at least one

Precision alone rewards keeping almost nothing (alpha -> 1), recall alone keeping everything
(alpha = 0). F1 trades them off, and with a PRM that cannot tell good reasoning from lucky answers it
peaks at alpha = 0 (keep everything, the `all` operator), which is the honest answer. On data
without gold steps (real datasets) precision, recall and f1 are undefined: tune `val_greedy_accuracy`.
"""
from __future__ import annotations

import json
import math
import random
from dataclasses import replace
from pathlib import Path

from harness.config import RunConfig, SelectConfig
from harness.configio import get_dotted
from harness.data.splits import load_splits
from harness.evaluation.evaluate import prompts_of
from harness.io import atomic_write_json, read_json
from harness.loop.evolve import run
from harness.loop.rundir import RunDir
from harness.model.modeling import load_model
from harness.registry import Registry
from harness.reward.answers import exact_match_reward
from harness.reward.models import aggregate, load_reward_model
from harness.reward.selection import choose, correct_responses, false_positives
from harness.rollout.engine import open_engine
from harness.rollout.settings import sampling
from harness.rollout.sharded import sample
from harness.seeds import derive_seed
from harness.stages.cache import config_hash, file_lock
from harness.stages.graph import prepare
from harness.world.oracle import reasoning_correct

EVALUATIONS = Registry("tuning evaluation")
SELECTION_METRICS = ("f1", "precision", "recall", "kept", "coverage")
METRICS = {"selection": SELECTION_METRICS}  # the metrics each registered evaluation returns


def check_objective(text: str, allow_test: bool) -> list[str]:
    """Problems of an objective name (empty when it is valid)."""
    head, _, rest = text.partition(".")
    if head in METRICS:
        if rest not in METRICS[head]:
            return [f"{text!r}: {head} gives {', '.join(f'{head}.{m}' for m in METRICS[head])}"]
        return []
    if head == "eval":
        if not rest:
            return ["'eval' needs a path into eval.json, e.g. eval.final.test_id.accuracy"]
        return [] if allow_test else [
            f"{text!r} is measured on a test split: choosing hyperparameters on test makes the reported test "
            "score optimistic; tune a validation metric (val_greedy_accuracy) or set allow_test: true"]
    if text.startswith("val_") and not rest:
        return []
    options = [f"{e}.{m}" for e in METRICS for m in METRICS[e]]
    return [f"unknown objective {text!r}; use val_<metric> of a run (e.g. val_greedy_accuracy), "
            f"eval.<path> of eval.json (needs allow_test) or one of {', '.join(options)}"]


def measure(objective: str, cfg: RunConfig, label: str, study_folder: Path) -> tuple[float, dict]:
    """(objective value, attributes to keep with the trial) for one trial config."""
    head, _, rest = objective.partition(".")
    if head in METRICS:
        metrics = EVALUATIONS.get(head)(cfg, study_folder)
        value = metrics[rest]
        if value is None:
            raise ValueError(f"{objective} is undefined here ({metrics}); on data without gold solution steps "
                             "tune val_greedy_accuracy instead")
        return value, metrics
    return run_metric(objective, cfg, label)


def run_metric(objective: str, cfg: RunConfig, label: str) -> tuple[float, dict]:
    """Run (or resume, or reuse) the trial's run and read the objective from its folder."""
    path = run(cfg, label)
    if objective.startswith("eval."):
        ev = json.loads((path / "eval.json").read_text())
        try:
            return float(get_dotted(ev, objective[len("eval."):])), {"run": str(path)}
        except KeyError:
            raise KeyError(f"{objective}: no such value in {path / 'eval.json'}; it has {sorted(ev)}") from None
    rows = [r for r in RunDir(path).metrics() if "metric" not in r]  # summary rows, not dynamics rows
    if not rows or rows[-1].get(objective) is None:
        raise KeyError(f"{objective}: not in the last summary row of {path / 'metrics.jsonl'}; it has "
                       f"{sorted(rows[-1]) if rows else 'no rows'}")
    return float(rows[-1][objective]), {"run": str(path)}


def selection_metrics(queries: list[dict], select: SelectConfig, how: str, seed: int) -> dict:
    """Quality of the H operator's choice among each query's distinct correct responses.

    Each query holds its distinct correct `responses` (sampling order), whether each one's reasoning is
    right (`good`: True / False / None when unknown) and its reward-model step scores (`steps`, or None).

    >>> q = [{"responses": ["a", "b", "c"], "good": [True, False, False], "steps": [[0.9], [0.1], [0.5]]},
    ...      {"responses": ["d"], "good": [True], "steps": [[0.15]]}]
    >>> selection_metrics(q, SelectConfig(operator="threshold", alpha=0.2), "min", 0)
    {'precision': 0.5, 'recall': 0.5, 'f1': 0.5, 'kept': 0.5, 'coverage': 0.5}
    """
    rng = random.Random(seed)
    kept = good_kept = good_all = correct = covered = with_correct = 0
    unknown = False
    for q in queries:
        if not q["responses"]:
            continue
        scores = [aggregate(s, how) for s in q["steps"]] if q["steps"] is not None else None
        chosen = set(choose(q["responses"], scores, select, rng))
        verdict = dict(zip(q["responses"], q["good"]))
        unknown = unknown or any(v is None for v in q["good"])
        judged, wrong = false_positives([verdict[r] for r in chosen])
        kept, correct, with_correct = kept + len(chosen), correct + len(q["responses"]), with_correct + 1
        covered += bool(chosen)
        good_kept += judged - wrong
        good_all += sum(bool(v) for v in q["good"])
    precision = None if unknown else (good_kept / kept if kept else 0.0)
    recall = None if unknown else (good_kept / good_all if good_all else 0.0)
    f1 = None if unknown else (2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    out = {"precision": precision, "recall": recall, "f1": f1, "kept": kept / correct if correct else 0.0,
           "coverage": covered / with_correct if with_correct else 0.0}
    return {k: None if v is None else round(v, 4) for k, v in out.items()}


@EVALUATIONS.register("selection")
def selection(cfg: RunConfig, study_folder: Path) -> dict:
    """The trial's selection (select.*, reward_model.aggregate) on pi_0's cached validation samples."""
    queries = validation_samples(cfg, study_folder)
    return selection_metrics(queries, cfg.select, cfg.reward_model.aggregate, cfg.seed)


def validation_samples(cfg: RunConfig, study_folder: Path) -> list[dict]:
    """pi_0's distinct correct validation responses with their reasoning verdicts and step scores.

    Sampled and scored once per (stages, sampling settings, reward model) and cached in the study folder
    (a file lock lets one worker compute it while the others wait), so a trial costs a threshold pass."""
    inputs = prepare(cfg)  # the shared stages; already built after the first trial
    key = {"warmup": str(inputs.warmup), "reward_model": cfg.reward_model.kind, "prm": str(inputs.prm),
           "k": cfg.rollout.samples_per_query, "temperature": cfg.rollout.temperature, "seed": cfg.seed,
           "max_new_tokens": cfg.model.max_new_tokens, "backend": cfg.rollout.backend}
    path = Path(study_folder) / f"val_samples-{config_hash(key)}.json"
    if not path.is_file():
        with file_lock(path.with_name(f".{path.name}.lock")):
            if not path.is_file():
                atomic_write_json(path, {"key": key, "queries": _sample_and_score(cfg, inputs)})
    return read_json(path)["queries"]


def _sample_and_score(cfg: RunConfig, inputs) -> list[dict]:
    val = load_splits(inputs.data)["val"]
    # sampled once per study, in this process: one generator over the whole call
    settings = replace(sampling(cfg), seed=derive_seed(cfg.seed, "tune", "val"), seed_per_batch=False)
    with open_engine(cfg.rollout, *load_model(inputs.warmup / "model", cfg.model)) as engine:
        responses = sample(engine, prompts_of(val), settings, "pi_0 validation samples")
    # distinct responses: the proxy judges which strings H keeps (duplicates would only repeat a verdict)
    correct = [correct_responses(resps, exact_match_reward(resps, **rec.reward_fields()), dedup=True)
               for rec, resps in zip(val, responses)]
    rm = load_reward_model(cfg.reward_model.kind, inputs.prm, cfg.model)
    flat = [(rec, r) for rec, rs in zip(val, correct) for r in rs]
    steps = rm.step_scores([rec for rec, _ in flat], [r for _, r in flat]) if rm is not None and flat else []
    out, i = [], 0
    for rec, rs in zip(val, correct):
        out.append({"id": rec.id, "responses": rs, "good": [reasoning_correct(r, rec) for r in rs],
                    "steps": [list(map(float, s)) for s in steps[i:i + len(rs)]] if rm is not None else None})
        i += len(rs)
    return out


def finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
