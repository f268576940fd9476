"""Is the reward model a verifier or a re-ranker? (the paper's Fig. 2, on pi_0's validation samples)

Fig. 2a: accuracy of best-of-N, reward-weighted voting and majority voting for N = 1..K, averaged
over random orders of the K samples. Fig. 2b/c: for the correct responses of each question, number
of steps and share of answer-irrelevant steps of the reward model's top 2 versus the rest.
"""
from __future__ import annotations

import random
from pathlib import Path

import pandas as pd

from harness.data.datasets import Record
from harness.io import atomic_write_text
from harness.reward.answers import exact_match_reward, extract_answer, is_correct, normalize
from harness.reward.models import AGGREGATIONS, aggregate
from harness.reward.selection import correct_indices
from harness.reward.steps import response_steps
from harness.world.oracle import irrelevant_steps

ORDERS = 8  # random sample orders averaged per N


def voting_curves(records: list[Record], responses: list[list[str]], scores: list[list[float]],
                  seed: int = 0) -> list[dict]:
    """Rows (method, n, accuracy) for best_of_n, weighted_vote and majority_vote."""
    rng = random.Random(seed)
    k = min(len(r) for r in responses)
    hits = {m: [0.0] * (k + 1) for m in ("best_of_n", "weighted_vote", "majority_vote")}
    for rec, resps, sc in zip(records, responses, scores):
        fields = rec.reward_fields()
        keys = [normalize(extract_answer(r), fields) for r in resps]  # answers vote after normalisation
        right = {key: is_correct(key, fields) for key in set(keys) if key is not None}
        for _ in range(ORDERS):
            order = rng.sample(range(len(resps)), k)
            for n in range(1, k + 1):
                idx = order[:n]
                best = keys[max(idx, key=lambda i: sc[i])]
                hits["best_of_n"][n] += right.get(best, False)
                for method, weight in (("weighted_vote", lambda i: sc[i]), ("majority_vote", lambda i: 1.0)):
                    totals: dict[str, float] = {}
                    for i in idx:
                        if keys[i] is not None:
                            totals[keys[i]] = totals.get(keys[i], 0.0) + weight(i)
                    hits[method][n] += bool(totals) and right[max(totals, key=totals.__getitem__)]
    total = len(records) * ORDERS
    return [{"method": m, "n": n, "accuracy": round(h[n] / total, 4)} for m, h in hits.items() for n in range(1, k + 1)]


def top2_vs_rest(records: list[Record], responses: list[list[str]], scores: list[list[float]]) -> list[dict]:
    """Rows (group, mean_steps, irrelevant_share, responses) over questions with more than 2 distinct correct responses."""
    groups: dict[str, list[tuple[int, int]]] = {"top2": [], "rest": []}
    for rec, resps, sc in zip(records, responses, scores):
        idx = correct_indices(resps, exact_match_reward(resps, **rec.reward_fields()), dedup=True)
        if len(idx) <= 2:
            continue
        ranked = sorted(idx, key=lambda i: -sc[i])
        for rank, i in enumerate(ranked):
            groups["top2" if rank < 2 else "rest"].append((len(response_steps(resps[i])), irrelevant_steps(resps[i])))
    rows = []
    for name, items in groups.items():
        steps = sum(s for s, _ in items)
        rows.append({"group": name, "mean_steps": round(steps / len(items), 3) if items else None,
                     "irrelevant_share": round(sum(i for _, i in items) / steps, 4) if steps else None,
                     "responses": len(items)})
    return rows


def analyse(records: list[Record], responses: list[list[str]], step_scores: dict[str, list[list[list[float]]]],
            out: Path) -> dict:
    """Write voting.csv and steps.csv (every reward model x aggregation); return accuracy at the largest N (min)."""
    voting, steps = [], []
    for name, per_model in step_scores.items():
        for how in AGGREGATIONS.names():
            scores = [[aggregate(s, how) for s in per_q] for per_q in per_model]
            tag = {"reward_model": name, "aggregate": how}
            voting += [{**tag, **row} for row in voting_curves(records, responses, scores)]
            steps += [{**tag, **row} for row in top2_vs_rest(records, responses, scores)]
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "voting.csv", pd.DataFrame(voting).to_csv(index=False))
    atomic_write_text(out / "steps.csv", pd.DataFrame(steps).to_csv(index=False))
    n = max(r["n"] for r in voting)
    return {f"{r['reward_model']}/{r['method']}": r["accuracy"] for r in voting if r["aggregate"] == "min" and r["n"] == n}
