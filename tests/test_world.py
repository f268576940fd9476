"""The embedded world: deterministic, every family in both question types, consistent with the reward."""
from __future__ import annotations

import json
import random

import pytest

from harness.config import FAMILIES, WIDE_CHAR_TOKENS, ModelConfig
from harness.data.datasets import load_mathv360k, load_mathvista
from harness.reward.answers import exact_match_reward
from harness.world.problems import generate
from harness.world.writer import problems, write_world

NARROW_DIGEST = "ae2efcc62597c9ab"  # 60 val problems of world seed 0, before world.answers existed


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("ood", [False, True])
@pytest.mark.parametrize("answers", ["narrow", "wide"])
def test_gold_solution_is_judged_correct_and_wrong_answer_is_not(family, ood, answers):
    rng = random.Random(7)
    kinds = set()
    budget = ModelConfig().max_new_tokens if answers == "narrow" else WIDE_CHAR_TOKENS
    for _ in range(150):
        p = generate(rng, family, ood, answers)
        record = dict(answer=p.answer, question_type=p.question_type, answer_type=p.answer_type,
                      choices=p.choices, precision=p.precision, unit=p.unit)
        assert exact_match_reward(["\n".join(p.steps)], **record) == [1.0], p.steps
        wrong = "\n".join(p.steps[:-1] + ["answer: zzz"])
        assert exact_match_reward([wrong], **record) == [0.0]
        # The embedded model's tokens are characters: the gold solution with a note step and EOS must fit.
        longest = len("\n".join(p.steps)) + max((len(d) + 1 for d in p.distractors), default=0) + 1
        assert longest <= budget, p.steps
        kinds.add(p.question_type)
    assert kinds == {"multi_choice", "free_form"}


def test_the_narrow_world_is_the_one_every_earlier_run_used():
    """world.answers=narrow draws exactly what the world drew before the wide answer spaces existed (the digest
    was taken from the data the code before them wrote: 3,107 files of the default world compared equal)."""
    import hashlib

    facts = [(p.question, p.answer, p.choices, p.steps, p.image.tobytes().hex())
             for p in problems(0, "val", 60, FAMILIES)]
    digest = hashlib.sha256(json.dumps(facts).encode()).hexdigest()[:16]
    assert digest == NARROW_DIGEST


def test_wide_answer_spaces_name_objects_and_reach_past_single_digits():
    wide = [generate(random.Random(i), FAMILIES[i % len(FAMILIES)], answers="wide") for i in range(500)]
    answers = {f: {p.answer for p in wide if p.family == f} for f in FAMILIES}
    assert len(answers["arrow_diagram"]) > 12 and all(" " in a for a in answers["arrow_diagram"])  # "red circle"
    assert max(int(a) for a in answers["counting"]) > 20  # pips of up to six dice
    assert max(int(a) for a in answers["chart"] if a.isdigit()) > 40  # products
    share = sum(p.question_type == "multi_choice" for p in wide) / len(wide)
    assert 0.03 < share < 0.2
    assert {len(p.choices) for p in wide if p.choices} <= {2, 3, 4, 5}


def test_text_options_are_walked_to_a_letter_and_numeric_ones_answered_by_value():
    seen = set()
    for i in range(300):
        p = generate(random.Random(i), FAMILIES[i % len(FAMILIES)])
        if p.question_type != "multi_choice":
            continue
        letter = "ABCDE"[p.choices.index(p.answer)]
        if p.answer_type == "text":
            assert p.steps[-1] == f"answer: {letter}" and p.steps[-2] == f"({letter}) {p.answer}", p.steps
        else:
            assert p.steps[-1] == f"answer: {p.answer}" and not any(s.startswith("find ") for s in p.steps)
        seen.add(p.answer_type)
    assert seen == {"text", "integer", "float"}


def test_generation_is_deterministic():
    a = problems(3, "val", 10, FAMILIES)
    b = problems(3, "val", 10, FAMILIES)
    assert [p.steps for p in a] == [p.steps for p in b]
    assert [p.image.tobytes() for p in a] == [p.image.tobytes() for p in b]
    assert [p.steps for p in problems(4, "val", 10, FAMILIES)] != [p.steps for p in a]


def test_ood_shifts_phrasing_and_options():
    id_q = {generate(random.Random(i), "chart").question for i in range(200)}
    ood = [generate(random.Random(i), "chart", ood=True) for i in range(200)]
    assert not id_q & {p.question for p in ood}
    assert max(len(p.choices) for p in ood if p.choices) == 5  # closed sets (4 colours) stay at 4
    assert max(len(p.choices) for i in range(200) if (p := generate(random.Random(i), "chart")).choices) == 4


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    sizes = dict(labeled=10, unlabeled=5, val=5, test_id=5, test_ood=10)
    return out, write_world(out, 0, sizes, FAMILIES)


def test_writes_real_formats_and_loaders_read_them_back(world):
    out, counts = world
    raw = json.loads((out / "mathv360k" / "labeled.json").read_text())
    assert set(raw[0]) >= {"id", "image", "conversations"}
    assert [t["from"] for t in raw[0]["conversations"]] == ["human", "gpt"]
    assert "\n" not in raw[0]["conversations"][1]["value"]  # the gpt turn is the short answer only
    vista = json.loads((out / "mathvista" / "testmini.json").read_text())
    assert set(vista["1"]) >= {"pid", "question", "image", "choices", "unit", "precision", "answer",
                               "question_type", "answer_type", "metadata"}
    labeled = load_mathv360k(out / "mathv360k" / "labeled.json")
    assert len(labeled) == counts["labeled"] == 10
    assert {r.task for r in labeled} == {
        "figure question answering", "geometry problem solving", "math word problem",
        "textbook question answering", "visual question answering"}
    unlabeled = load_mathv360k(out / "mathv360k" / "unlabeled.json", labeled=False)
    assert all(r.answer is None and r.oracle_answer for r in unlabeled)
    ood = load_mathvista(out / "mathvista" / "testmini.json")
    assert len(ood) == 10 and all(r.image.is_file() for r in ood)
    for r in labeled + ood:  # the answer stored in each format checks as correct against the gold steps
        assert exact_match_reward(["\n".join(r.solution)], **r.reward_fields()) == [1.0]
