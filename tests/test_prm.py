"""Process reward model: Monte-Carlo labels, balancing, the oracle reward, H operators, pseudo labels,
and the PRM stage end to end on the tiny world."""
from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pytest

from harness.config import SelectConfig
from harness.data.datasets import Record
from harness.io import read_json
from harness.reward.models import aggregate
from harness.reward.models.oracle import OracleReward
from harness.reward.operators import OPERATORS
from harness.reward.prm_data import Candidate, balance, mc_label
from harness.reward.unlabeled import mixin_slices, weighted_vote
from harness.rollout.settings import SamplingSettings

GOLD = ["a=3 b=5", "ask a+b", "3+5=8", "answer: 8"]


def record(qtype="free_form", rid="1") -> Record:
    return Record(rid, Path("x.png"), "What is a+b?", "8", qtype, "integer", "t", solution=list(GOLD))


def planted_completer(prompts, settings):
    """A policy that finishes a prefix the gold way while it is on the gold path and copies the wrong
    sum once it has left it: what a perfectly consistent completer would do."""
    out = []
    for p in prompts:
        done = [s for s in p.prefix.split("\n") if s]
        if done == GOLD[: len(done)]:
            out.append(["\n".join(GOLD[len(done):])] * settings.k)
        else:
            out.append(["answer: 9"] * settings.k)
    return out


def test_mc_labels_drop_from_the_step_that_goes_wrong():
    right = Candidate(record(), list(GOLD), True)
    wrong = Candidate(record(), ["a=3 b=5", "ask a+b", "3+6=9", "answer: 9"], False)
    settings = SamplingSettings("hf", k=4, temperature=1.0, max_new_tokens=8, batch_sequences=8, seed=0)
    examples, completions = mc_label([right, wrong], planted_completer, settings)
    assert completions == 2 * 3 * 4  # 3 prefixes (all steps but the last) x 4 completions, per response
    good, bad = examples[0].labels, examples[1].labels
    assert good == [1.0, 1.0, 1.0, 1.0]
    assert bad[:2] == [1.0, 1.0] and bad[2:] == [0.0, 0.0]
    assert all(b < g for b, g in zip(bad[2:], good[2:]))


def test_balance_gives_one_to_one_ratios():
    rng = random.Random(0)
    cands = ([Candidate(record("multi_choice", str(i)), ["x"], True) for i in range(30)]
             + [Candidate(record("multi_choice", str(i)), ["x"], False) for i in range(9)]
             + [Candidate(record("free_form", str(i)), ["x"], True) for i in range(12)]
             + [Candidate(record("free_form", str(i)), ["x"], False) for i in range(50)])
    out = balance(cands, 40, rng)
    assert len(out) == 36  # the short cell (9 wrong multi-choice) caps every cell
    assert sum(c.correct for c in out) == 18
    assert sum(c.record.question_type == "multi_choice" for c in out) == 18
    assert len(balance(cands, 16, rng)) == 16
    no_free_form_right = [c for c in cands if c.correct is False or c.record.question_type == "multi_choice"]
    out = balance(no_free_form_right, 40, rng)
    assert len(out) == 40 and sum(c.correct for c in out) == 20  # falls back to correct:wrong only
    with pytest.raises(ValueError, match="all correct or all wrong"):
        balance([c for c in cands if c.correct], 40, rng)


def test_oracle_scores_steps_exactly_and_aggregates_by_min():
    rec = record()
    oracle = OracleReward()
    right, wrong = oracle.step_scores([rec, rec], ["\n".join(GOLD), "a=3 b=5\nask a+b\n3+5=9\nanswer: 9"])
    assert right == [1.0] * 4 and wrong == [1.0, 1.0, 0.0, 0.0]
    lucky = oracle.score_one(rec, "a=4 b=4\nask a+b\n4+4=8\nanswer: 8")  # right answer, wrong reading
    assert aggregate(lucky, "min") == 0.0 and aggregate(right, "min") == 1.0
    with_note = oracle.score_one(rec, "a=3 b=5\nnote: b is larger\nask a+b\n3+5=8\nanswer: 8")
    assert aggregate(with_note, "min") == 1.0


@pytest.mark.parametrize("name, scores, cfg, expected", [
    ("all", None, SelectConfig(), ["a", "b", "c", "d"]),   # caps (select.max_per_query) apply after H
    ("top_k", [0.1, 0.7, 0.7, 0.9], SelectConfig(k=2), ["d", "b"]),     # tie at 0.7: sampling order
    ("top_k", [0.1, 0.7, 0.5, 0.9], SelectConfig(k=1), ["d"]),
    ("threshold", [0.1, 0.7, 0.2, 0.9], SelectConfig(alpha=0.2), ["b", "d"]),  # strictly above alpha
])
def test_selection_operators(name, scores, cfg, expected):
    assert OPERATORS.get(name).choose(["a", "b", "c", "d"], scores, cfg, random.Random(0)) == expected


def test_operators_with_fewer_correct_responses_than_k():
    for name in ("random", "top_k"):
        assert sorted(OPERATORS.get(name).choose(["a"], [0.5], SelectConfig(k=4), random.Random(0))) == ["a"]
    picked = OPERATORS.get("random").choose(list("abcdef"), None, SelectConfig(k=2), random.Random(0))
    assert len(picked) == 2 and len(set(picked)) == 2


def test_weighted_vote_uses_scores_and_normalised_answers():
    mc = Record("1", Path("x.png"), "q", None, "multi_choice", "text", "t", choices=["red", "blue"])
    assert weighted_vote(["answer: A", "answer: red", "answer: B"], None, mc) == "red"
    assert weighted_vote(["answer: A", "answer: B"], {"answer: A": 0.2, "answer: B": 0.3}, mc) == "blue"
    assert weighted_vote(["no idea"], None, mc) is None


def test_unlabeled_prompts_join_at_the_mixin_time_and_are_each_used_once():
    slices = mixin_slices(7, 4, 0.25, seed=0)
    assert slices[0] == [] and all(slices[1:])
    assert sorted(i for s in slices for i in s) == list(range(7))


PRM_TINY = ["reward_model.kind=prm", "prm.questions=24", "prm.responses=16", "prm.completions=2", "prm.epochs=2",
            "prm.policy_epochs=1", "prm.verifier_samples=4", "prm.holdout=0.5"]


def test_prm_stage_and_a_top2_run_end_to_end(tiny_config):
    """The PRM stage builds once (data, model, held-out MSE, Fig. 2 files) and a top-2 run re-ranks with it."""
    from harness.loop.evolve import run
    from harness.stages.graph import stages

    cfg = tiny_config(*PRM_TINY, "select.operator=top_k", "select.k=2", "method.interval=0.5", "name=prm")
    path = run(cfg, "top-2")
    prm_stage = stages(cfg)[-1].path
    assert read_json(path / "inputs.json")["prm"] == str(prm_stage)
    train = read_json(prm_stage / "train.json")
    # the tiny policy solves few questions: a pair (1 correct, 1 wrong) is the least the stage accepts
    assert train["completions"] > 0 and train["responses"] >= 2 and train["held_out"] == round(0.5 * train["responses"])
    assert train["held_out_mse"] >= 0 and train["constant_mse"] >= 0
    voting = pd.read_csv(prm_stage / "verifier" / "voting.csv")
    assert set(voting.method) == {"best_of_n", "weighted_vote", "majority_vote"}
    controls = {"prm_oracle_labels", "prm_shuffled_labels", "mc_labels"}
    assert set(voting.reward_model) == {"prm", "oracle"} | controls and voting.n.max() == 4
    f1 = pd.read_csv(prm_stage / "verifier" / "step_f1.csv").set_index("reward_model")
    assert set(f1.index) == {"prm", "oracle"} | controls
    assert (f1.loc["oracle", ["f1", "error_f1"]].dropna() == 1.0).all()   # the oracle agrees with itself
    probes = pd.read_csv(prm_stage / "verifier" / "probes.csv").set_index("reward_model")
    assert probes.loc["oracle", "gold_above_wrong_digit"] == 1.0   # the exact checker sees every corruption
    steps = pd.read_csv(prm_stage / "verifier" / "steps.csv")
    assert set(steps.group) <= {"top2", "rest"}
    rows = [r for r in (path / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and '"selected"' in rows[0]
    # a second run with another operator reuses the stage: no rebuild
    before = (prm_stage / "DONE.json").stat().st_mtime
    run(tiny_config(*PRM_TINY, "select.operator=threshold", "select.alpha=0.5", "name=prm"), "threshold")
    assert (prm_stage / "DONE.json").stat().st_mtime == before


def test_unlabeled_pseudo_labels_end_to_end(tiny_config):
    from harness.loop.evolve import run
    from harness.io import read_jsonl

    cfg = tiny_config("reward_model.kind=oracle", "select.operator=top_k", "unlabeled.mode=pseudo",
                      "unlabeled.mixin=0.5", "method.interval=0.5", "name=unlabeled")
    rows = read_jsonl(run(cfg, "pseudo") / "metrics.jsonl")
    assert "pseudo_label_accuracy" not in rows[0]  # unlabeled prompts join at half of training
    assert rows[1]["unlabeled_queries"] == 4 and 0 <= rows[1]["pseudo_label_accuracy"] <= 1
