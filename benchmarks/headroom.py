"""Is there room for self-evolution? The base model's and pi_0's accuracy per family, and what pi_0 finds in 16 tries
(issue 20's table for a candidate world).

    python benchmarks/headroom.py                                   # the embedded world of ablations/base.yaml
    python benchmarks/headroom.py world.answers=wide model.tokenizer=subword --out wide.json

The config's shared stages are built if they are not cached (base and warm-up: minutes to tens of minutes). Then,
on val and test_id, per task (family) and overall:
- base greedy CoT and pi_0 greedy CoT: accuracy of one greedy response to the chain-of-thought prompt;
- pi_0 Pass@16 answer: a right final answer among 16 samples at T=1;
- pi_0 Pass@16 oracle: a response whose every answer-relevant step equals the gold solution's among the 16 (the
  embedded world's step checker): what Generate could select that is really right.
The issue's targets: base greedy CoT <= ~0.4, pi_0 >= base + 0.1, Pass@16 oracle - pi_0 greedy >= 0.2 on val.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.config import load_config  # noqa: E402
from harness.data.splits import load_splits  # noqa: E402
from harness.evaluation.evaluate import prompts_of, score  # noqa: E402
from harness.model.modeling import load_model  # noqa: E402
from harness.reward.answers import exact_match_reward  # noqa: E402
from harness.rollout.hf import HFEngine  # noqa: E402
from harness.rollout.settings import evaluation, sampling  # noqa: E402
from harness.rollout.sharded import greedy, sample  # noqa: E402
from harness.stages.graph import prepare  # noqa: E402
from harness.world.oracle import reasoning_correct  # noqa: E402

K = 16
SPLITS = ("val", "test_id")


def by_task(records, values) -> dict[str, float]:
    out = defaultdict(list)
    for rec, v in zip(records, values):
        out[rec.task].append(v)
        out["all"].append(v)
    return {task: round(sum(v) / len(v), 3) for task, v in out.items()}


def measure(cfg) -> dict:
    inputs = prepare(cfg)
    splits = load_splits(inputs.data)
    settings = sampling(cfg)
    rows: dict[str, dict] = defaultdict(dict)
    for name, folder in (("base", Path(inputs.base)), ("pi_0", inputs.warmup)):
        engine = HFEngine(*load_model(folder / "model" if (folder / "model").is_dir() else folder, cfg.model))
        for split in SPLITS:
            recs = splits[split]
            responses = greedy(engine, prompts_of(recs, cot=True), evaluation(settings, cfg), f"{name} {split}")
            rows[f"{name} greedy CoT"][split] = by_task(recs, score(responses, recs))
            if name != "pi_0":
                continue
            samples = sample(engine, prompts_of(recs, cot=True), replace(settings, k=K, temperature=1.0,
                                                                          seed_per_batch=False), f"pi_0 x{K} {split}")
            right = [float(any(x == 1.0 for x in exact_match_reward(s, **r.reward_fields())))
                     for s, r in zip(samples, recs)]
            sound = [float(any(reasoning_correct(x, r) for x in s)) for s, r in zip(samples, recs)]
            rows[f"pi_0 Pass@{K} answer"][split] = by_task(recs, right)
            rows[f"pi_0 Pass@{K} oracle"][split] = by_task(recs, sound)
        engine.close()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("overrides", nargs="*", help="config key=value, e.g. world.answers=wide")
    ap.add_argument("--config", default="ablations/base.yaml")
    ap.add_argument("--out", help="write the table as JSON here too")
    args = ap.parse_args()
    rows = measure(load_config(args.config, args.overrides))
    tasks = sorted({t for row in rows.values() for split in row.values() for t in split} - {"all"}) + ["all"]
    for split in SPLITS:
        print(f"\n{split:24}" + "".join(f"{t[:12]:>14}" for t in tasks))
        for name, row in rows.items():
            print(f"{name:24}" + "".join(f"{row[split].get(t, float('nan')):14.3f}" for t in tasks))
    if args.out:
        Path(args.out).write_text(json.dumps({"overrides": args.overrides, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
