"""What the Improve step keeps (issue 16): every correct response by default, duplicates included, as in
the paper's rejection-sampling fine-tuning; `select.dedup` / `select.max_per_query` only when asked."""
from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import load_config
from harness.data.datasets import Record
from harness.loop.evolve import select
from harness.reward.operators import OPERATORS

RESPONSES = ["a", "a", "b", "wrong", "a", "c"]
REWARDS = [1.0, 1.0, 1.0, 0.0, 1.0, 1.0]
SCORES = {"a": 0.9, "b": 0.1, "c": 0.6, "wrong": 0.0}
RECORD = Record("q", Path("x.png"), "question", "4", "free_form", "integer", "t", solution=["s1", "answer: 4"])
SETTINGS = {  # operator -> overrides making it keep everything it can (k = all 5 correct samples)
    "all": [], "random": ["select.k=5"], "top_k": ["select.k=5", "reward_model.kind=oracle"],
    "threshold": ["select.alpha=0.0", "reward_model.kind=oracle"],
    "below_threshold": ["select.alpha=1.0", "reward_model.kind=oracle"],
}


def kept(operator: str, *extra: str) -> list[str]:
    cfg = load_config(None, [f"select.operator={operator}", *SETTINGS[operator], *extra])
    examples, stats = select([RESPONSES], [REWARDS], [SCORES], [RECORD], cfg, seed=0)
    assert stats["selected"] == len(examples)
    return sorted(e.response for e in examples)


@pytest.mark.parametrize("operator", sorted(SETTINGS))
def test_duplicates_are_kept_by_default_for_every_operator(operator):
    assert kept(operator) == ["a", "a", "a", "b", "c"]


@pytest.mark.parametrize("operator", sorted(SETTINGS))
def test_dedup_drops_identical_responses_for_every_operator(operator):
    assert kept(operator, "select.dedup=true") == ["a", "b", "c"]


@pytest.mark.parametrize("operator", sorted(SETTINGS))
def test_max_per_query_caps_what_a_query_contributes(operator):
    assert len(kept(operator, "select.max_per_query=2")) == 2


def test_operators_choose_by_score_among_duplicates():
    top = kept("top_k", "select.k=2")
    assert top == ["a", "a"]   # the best-scored string drawn twice fills both places
    assert kept("threshold", "select.alpha=0.5") == ["a", "a", "a", "c"]
    assert kept("below_threshold", "select.alpha=0.5") == ["b"]


def test_gold_replaces_each_kept_response_and_keeps_the_count():
    cfg = load_config(None, [])
    examples, stats = select([RESPONSES], [REWARDS], [SCORES], [RECORD], cfg, seed=0, gold=True)
    assert [e.response for e in examples] == ["s1\nanswer: 4"] * 5


def test_every_operator_is_a_registered_config_choice():
    from harness.config import SelectConfig
    from harness.configio import describe

    assert set(SETTINGS) == set(OPERATORS.names())
    assert {k for k, _, _ in describe(SelectConfig)} >= {"operator", "dedup", "max_per_query"}


def test_config_lists_the_new_keys_with_the_papers_defaults(capsys):
    from harness.cli import main

    assert main(["config"]) == 0
    out = {line.split()[0]: line.split()[1] for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert out["select.dedup"] == out["warmup.dedup"] == "False"
    assert out["select.max_per_query"] == out["warmup.max_per_query"] == "None"
    assert out["prm.max_per_query"] == "4"   # PRM data keeps its dedup + 4 (the paper's Appendix D)
