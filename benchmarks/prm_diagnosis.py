"""Why does the learned PRM rank badly? Train PRM variants side by side on the same data and compare.

    python benchmarks/prm_diagnosis.py                         # the default variants, embedded world
    python benchmarks/prm_diagnosis.py --responses 400,1600 --cache /tmp/prm-diag model.threads=1

Everything a PRM variant does not change is built once and cached in --cache: pi_hat_0 (pi_0 trained on
the warm-up rationales, as in the PRM stage), its responses to the PRM questions (de-duplicated, at most
prm.max_per_query per question, balanced 1:1 correct:wrong and multi-choice:free-form), their oracle step
labels and their Monte-Carlo step labels (prm.completions completions per step prefix), and pi_0's
verifier samples of the validation split. Each variant then starts from pi_hat_0 and trains a PRM with
harness.reward.prm.train_prm; the table gives best-of-N accuracy on the verifier samples (N = 1, 4, 16, by the
min / last / mean of step scores), majority voting, the step-level F1 against the oracle and the probe
of gold solutions against one-digit corruptions. Variants are read from --variants, one per line:

    name  labels=mc|oracle|shuffled  responses=N  tokens=all|step_ends  epochs=E  lr=X  freeze_vision=0|1
"""
from __future__ import annotations

import argparse
import json
import pickle
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.config import load_config  # noqa: E402
from harness.data.splits import load_splits  # noqa: E402
from harness.evaluation.evaluate import prompts_of  # noqa: E402
from harness.model.adapters import Prompt  # noqa: E402
from harness.model.modeling import freeze_vision, load_model  # noqa: E402
from harness.reward import prm_controls  # noqa: E402
from harness.reward.models import aggregate  # noqa: E402
from harness.reward.prm import ProcessRewardModel, StepExample, train_prm  # noqa: E402
from harness.reward.prm_data import balance, candidates, mc_label  # noqa: E402
from harness.reward.verifier import voting_curves  # noqa: E402
from harness.rollout.hf import HFEngine  # noqa: E402
from harness.rollout.settings import stage_sampling  # noqa: E402
from harness.rollout.sharded import sample  # noqa: E402
from harness.stages.graph import prepare  # noqa: E402
from harness.stages.prm import train_pi_hat, verifier_samples  # noqa: E402

DEFAULT_VARIANTS = """\
paper           labels=mc       responses=400  tokens=all        epochs=3
step_ends       labels=mc       responses=400  tokens=step_ends  epochs=3
oracle          labels=oracle   responses=400  tokens=all        epochs=3
shuffled        labels=shuffled responses=400  tokens=all        epochs=3
"""


def parse_variants(text: str) -> list[dict]:
    """One dict per non-empty line: name plus key=value fields.

    >>> parse_variants("a labels=mc responses=8\\n\\nb labels=oracle")[1]
    {'name': 'b', 'labels': 'oracle'}
    """
    out = []
    for line in text.strip().splitlines():
        if line.strip():
            name, *fields = line.split()
            out.append({"name": name, **dict(f.split("=", 1) for f in fields)})
    return out


def cached(path: Path, make):
    if path.is_file():
        return pickle.loads(path.read_bytes())
    value = make()
    path.write_bytes(pickle.dumps(value))
    return value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("overrides", nargs="*", help="config key=value (e.g. results_dir=..., model.threads=1)")
    ap.add_argument("--cache", type=Path, default=Path("results/_prm_diagnosis"))
    ap.add_argument("--responses", default="400", help="largest pool of labelled responses to prepare (comma list ok)")
    ap.add_argument("--variants", type=Path, help="file with one variant per line (default: a built-in list)")
    ap.add_argument("--out", type=Path, help="CSV of the results (default: <cache>/results.csv)")
    args = ap.parse_args()
    cfg = load_config("ablations/base.yaml", args.overrides)
    inputs = prepare(cfg)
    splits = load_splits(inputs.data)
    args.cache.mkdir(parents=True, exist_ok=True)
    p, seed = cfg.prm, cfg.world.seed
    pool_size = max(int(x) for x in args.responses.split(","))

    pi_hat_dir = args.cache / "pi_hat_0"
    if not (pi_hat_dir / "config.json").is_file():
        model, adapter = train_pi_hat(cfg, inputs.warmup, splits["labeled"])
        model.save_pretrained(pi_hat_dir)
        adapter.processor.save_pretrained(pi_hat_dir)
    model, adapter = load_model(pi_hat_dir, cfg.model)
    pi_hat = {k: v.clone() for k, v in model.state_dict().items()}
    settings = replace(stage_sampling(cfg), k=p.samples_per_query, temperature=p.temperature)  # as the PRM stage's
    engine = HFEngine(model, adapter)  # pi_hat_0's samples (the PRMs below train copies restored from pi_hat)

    def make_pool():
        rng = random.Random(seed)
        questions = rng.sample(splits["labeled"], min(p.questions, len(splits["labeled"])))
        responses = sample(engine, prompts_of(questions), settings, "PRM responses")
        return balance(candidates(questions, responses, p.max_per_query), pool_size, rng)

    pool = cached(args.cache / f"pool-{pool_size}.pkl", make_pool)
    variants = parse_variants(args.variants.read_text() if args.variants else DEFAULT_VARIANTS)
    # Monte-Carlo labels cost most of the preparation: made only when a variant trains on them
    needs_mc = any(v.get("labels", "mc") != "oracle" for v in variants)
    mc = cached(args.cache / f"mc-{pool_size}-{p.completions}.pkl",
                lambda: mc_label(pool, lambda ps, s: sample(engine, ps, s, "MC completions"),
                                 replace(settings, k=p.completions))[0]) if needs_mc else None
    unlabelled = [StepExample(Prompt(c.record.question, c.record.image, cot=True), c.steps, [0.0] * len(c.steps))
                  for c in pool]
    oracle = prm_controls.oracle_labelled(unlabelled, [c.record for c in pool])
    val = splits["val"]
    responses = cached(args.cache / "verifier_samples.pkl",  # pi_0's, in an engine of their own
                       lambda: verifier_samples(HFEngine(model, adapter), cfg, inputs.warmup, val))
    flat_recs = [r for r, rs in zip(val, responses) for _ in rs]
    flat = [x for rs in responses for x in rs]
    k = p.verifier_samples

    rows = []
    majority = {r["n"]: r["accuracy"] for r in voting_curves(val, responses, [[0.0] * len(rs) for rs in responses])
                if r["method"] == "majority_vote"}
    for v in variants:
        t0 = time.time()
        n = int(v.get("responses", 400))
        held = round(p.holdout * len(pool[:n]))
        labels = v.get("labels", "mc")
        data = oracle[:n] if labels == "oracle" else mc[:n] if labels == "mc" else prm_controls.shuffled(mc[:n], seed)
        model.load_state_dict(pi_hat)
        prm = ProcessRewardModel.init_from_policy(model, adapter)
        if v.get("freeze_vision", "1") == "1":
            freeze_vision(prm.model, prm.adapter)
        optim = replace(p.optim, lr=float(v.get("lr", p.optim.lr)))
        train_prm(prm, data[held:], optim, int(v.get("epochs", p.epochs)), seed, tokens=v.get("tokens", "all"))
        steps = prm.scorer()(flat_recs, flat)
        row = {"variant": v["name"], "labels": v.get("labels", "mc"), "responses": n, "tokens": v.get("tokens", "all"),
               "epochs": v.get("epochs", p.epochs), **prm_controls.step_agreement(flat_recs, flat, steps),
               **{f"probe_{key}": val_ for key, val_ in prm_controls.probes(val, prm.scorer()).items()
                  if key.startswith("gold_above")}}
        for how in ("min", "last", "mean"):
            scores = [[aggregate(s, how) for s in steps[i * k:(i + 1) * k]] for i in range(len(val))]
            for r in voting_curves(val, responses, scores):
                if r["method"] == "best_of_n" and r["n"] in (1, 4, 16):
                    row[f"bo{r['n']}_{how}"] = r["accuracy"]
        row["majority16"] = majority[k]
        row["seconds"] = round(time.time() - t0)
        rows.append(row)
        print(json.dumps(row), flush=True)
    import pandas as pd

    df = pd.DataFrame(rows)
    (args.out or args.cache / "results.csv").write_text(df.to_csv(index=False))
    cols = ["variant", "labels", "responses", "tokens", "epochs", "bo1_min", "bo4_min", "bo16_min", "bo16_last",
            "bo16_mean", "majority16", "f1", "error_f1", "probe_gold_above_wrong_digit", "seconds"]
    print(df[[c for c in cols if c in df]].to_markdown(index=False))


if __name__ == "__main__":
    main()
