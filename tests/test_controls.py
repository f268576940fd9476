"""The controls grid end to end on the tiny world (issue 16): each control trains on what it says."""
from __future__ import annotations

import pytest

from harness.io import read_json, read_jsonl
from harness.loop.evolve import run


def summaries(path) -> list[dict]:
    return [r for r in read_jsonl(path / "metrics.jsonl") if "metric" not in r]


@pytest.mark.parametrize("label, overrides, fp", [
    ("positive", ["reward_model.kind=oracle", "select.operator=threshold", "select.alpha=0.5"], 0.0),
    ("negative", ["reward_model.kind=oracle", "select.operator=below_threshold", "select.alpha=0.5"], 1.0),
    ("gold", ["method.kind=gold_sft"], 0.0),
])
def test_each_control_trains_only_on_what_it_says(tiny_config, label, overrides, fp):
    path = run(tiny_config(*overrides, "name=controls", "method.interval=1.0"), label)
    rows = summaries(path)
    judged = [r for r in rows if r["selected"]]
    # the tiny policy rarely reasons right all the way: the positive control may find nothing to keep
    assert judged or label == "positive", "the tiny world selected nothing to train on"
    assert all(r["selected_false_positive_rate"] == fp for r in judged)
    assert read_json(path / "eval.json")["prompts"]["final"] == "cot"


def test_sft_is_evaluated_on_the_plain_prompts_it_was_trained_on(tiny_config):
    path = run(tiny_config("method.kind=sft", "method.interval=1.0", "name=controls"), "sft")
    ev = read_json(path / "eval.json")
    assert ev["prompts"] == {"final": "plain", "warmup": "cot", "base": "plain"}
    assert {"test_id", "test_ood", "val"} <= set(ev["final"])
