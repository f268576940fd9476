"""CircularEval and prompt forms in greedy evaluation, with scripted models in place of generation."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import harness.evaluation.evaluate as evaluation
from harness.config import EvalConfig
from harness.data.datasets import Record, format_choices
from harness.io import read_jsonl
from harness.rollout.settings import SamplingSettings

OPTIONS = ["red", "green", "blue", "yellow"]


def question_set() -> list[Record]:
    """Four multi-choice questions whose gold answer sits at A, B, C and D, and one free-form question."""
    recs = [Record(f"q{i}", Path("unused.png"), f"Which colour is item {i}?" + format_choices(OPTIONS), OPTIONS[i],
                   "multi_choice", "text", "colours", choices=list(OPTIONS)) for i in range(4)]
    return recs + [Record("n", Path("unused.png"), "How many items?", "4", "free_form", "integer", "counting")]


def scripted(answer, monkeypatch) -> list:
    """Replace generation by `answer(prompt) -> response`; returns the prompts the model was asked."""
    asked = []

    def greedy(engine, prompts, settings, desc=None):
        asked.extend(prompts)
        return [answer(p) for p in prompts]

    monkeypatch.setattr(evaluation, "greedy", greedy)
    return asked


def always_a(prompt) -> str:
    return "answer: A"


def reads_the_question(prompt) -> str:
    """Knows each item's colour and answers with the letter its option has in this rotation; 4 for counting."""
    m = re.search(r"item (\d)", prompt.question)
    if not m:
        return "answer: 4"
    letter = re.search(rf"\(([A-D])\) {OPTIONS[int(m.group(1))]}$", prompt.question, re.M).group(1)
    return f"answer: {letter}"


def run(split: str, settings: EvalConfig, tmp_path, cot: bool = True) -> dict:
    greedy = SamplingSettings(backend="hf", k=1, temperature=0.0, max_new_tokens=8, batch_sequences=4, seed=0)
    return evaluation.evaluate(None, {split: question_set()}, greedy, cot=cot, eval_cfg=settings,
                               out=tmp_path)[split]


def test_always_a_scores_by_position_once_and_zero_under_circular_eval(monkeypatch, tmp_path):
    asked = scripted(always_a, monkeypatch)
    once = run("test_id", EvalConfig(), tmp_path)
    assert (once["by_question_type"]["multi_choice"], once["rotated"], len(asked)) == (0.25, 0, 5)
    asked.clear()
    circ = run("test_id", EvalConfig(circular=True), tmp_path)
    assert circ["by_question_type"]["multi_choice"] == 0.0 and circ["circular"] is True
    assert (circ["n"], circ["rotated"], len(asked)) == (5, 4, 17)  # 4 questions x 4 rotations + the free-form one
    rows = read_jsonl(tmp_path / "test_id.jsonl")
    assert [r["rotation"] for r in rows if r["id"] == "q2"] == [0, 1, 2, 3]
    assert {tuple(r["choices"]) for r in rows if r["id"] == "q2"} == {tuple(OPTIONS[k:] + OPTIONS[:k]) for k in range(4)}


def test_a_model_that_reads_the_question_passes_every_rotation(monkeypatch, tmp_path):
    scripted(reads_the_question, monkeypatch)
    t = run("test_id", EvalConfig(circular=True), tmp_path)
    assert (t["accuracy"], t["rotated"]) == (1.0, 4)


@pytest.mark.parametrize("split", ["mmbench", "mmbench_r"])
def test_mmbench_is_always_circular(monkeypatch, tmp_path, split):
    scripted(always_a, monkeypatch)
    t = run(split, EvalConfig(), tmp_path)
    assert (t["circular"], t["rotated"], t["by_question_type"]["multi_choice"]) == (True, 4, 0.0)


def test_prompt_forms_are_asked_and_recorded(monkeypatch, tmp_path):
    asked = scripted(always_a, monkeypatch)
    settings = EvalConfig(prompt_by_split={"mathvista": "official"})
    assert run("test_id", settings, tmp_path)["prompt"] == "cot" and all(p.cot for p in asked)
    asked.clear()
    assert run("mathvista", settings, tmp_path)["prompt"] == "official" and not any(p.cot for p in asked)
    asked.clear()
    # a model trained on plain questions (SFT) is asked them in the cot form
    assert run("test_id", settings, tmp_path, cot=False)["prompt"] == "plain" and not any(p.cot for p in asked)
    assert {r["prompt"] for r in read_jsonl(tmp_path / "mathvista.jsonl")} == {"official"}
