"""Tests for answer extraction, MathVista-style normalization, equivalence and the reward."""

import threading

import pytest

from harness.reward.answers import exact_match_reward, extract_answer, is_correct, normalize

SHAPES = {"circle": ["circle", "square", "triangle", "hexagon"], "num": ["10", "12", "14", "16"]}


def mc(answer, choices="circle"):
    """Build a multi_choice record whose gold is the choice text."""
    return {"question_type": "multi_choice", "answer_type": "text", "choices": SHAPES[choices],
            "precision": None, "unit": None, "answer": answer}


def ff(answer, answer_type, precision=None, unit=None):
    """Build a free_form record."""
    return {"question_type": "free_form", "answer_type": answer_type, "choices": None,
            "precision": precision, "unit": unit, "answer": answer}


@pytest.mark.parametrize("response, expected", [
    ("bars: A=3 B=7\nask B-A\n7-3=4\nanswer: 4", "4"),
    ("answer: 3\nwait, recount\nanswer: 5", "5"),
    ("4", "4"),
    ("(B)", "(B)"),
    ("B", "B"),
    ("circle", "circle"),
    ("  circle  \n", "circle"),
    ("The answer is 12.", "12"),
    ("step one\nThe answer is: 7", "7"),
    ("so the result is \\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
    ("ANSWER: Circle.", "Circle"),
    ("Answer: 2.5.", "2.5"),
    ("step\nanswer: $\\boxed{9}$", "9"),
    ("first line\nsecond line", None),
    ("", None),
    ("steps\nanswer:", None),
])
def test_extract_answer(response, expected):
    assert extract_answer(response) == expected


@pytest.mark.parametrize("pred, record, expected", [
    ("B", mc("square"), "square"),
    ("(B)", mc("square"), "square"),
    ("b", mc("square"), "square"),
    ("B)", mc("square"), "square"),
    ("(B) square", mc("square"), "square"),
    ("(B) circle", mc("square"), None),
    ("Square", mc("square"), "square"),
    (" SQUARE ", mc("square"), "square"),
    ("E", mc("square"), None),
    ("oval", mc("square"), None),
    ("12", mc("12", "num"), "12"),
    ("B", mc("12", "num"), "12"),
    ("3.0", ff("3", "integer"), "3"),
    ("3", ff("3", "integer"), "3"),
    ("3.5", ff("3", "integer"), "3.5"),
    ("5 cm", ff("5", "integer", unit="cm"), "5"),
    ("5cm", ff("5", "integer"), "5"),
    ("12 degrees", ff("12", "integer"), "12"),
    ("45°", ff("45", "integer"), "45"),
    ("1,000", ff("1000", "integer"), "1000"),
    ("$1,250", ff("1250", "integer"), "1250"),
    ("-7", ff("-7", "integer"), "-7"),
    ("seven", ff("7", "integer"), None),
    ("2.449", ff("2.45", "float", precision=2), "2.45"),
    ("2.449", ff("2.4", "float", precision=1), "2.4"),
    ("2.445", ff("2.45", "float", precision=2), "2.45"),
    ("2.50", ff("2.5", "float", precision=1), "2.5"),
    ("2", ff("2.0", "float", precision=1), "2.0"),
    ("2", ff("2.00", "float", precision=2), "2.00"),
    ("2.46", ff("2.5", "float"), "2.5"),
    ("3.7 m", ff("3.7", "float", precision=1, unit="m"), "3.7"),
    ("pi", ff("3.1", "float", precision=1), None),
    ("[1, 2]", ff("[1, 2]", "list"), "[1, 2]"),
    ("1, 2", ff("[1, 2]", "list"), "[1, 2]"),
    ("[1,2,3.0]", ff("[1, 2, 3]", "list"), "[1, 2, 3]"),
    ("[]", ff("[1]", "list"), None),
    ("  Yes ", ff("yes", "text"), "yes"),
    ("New  York", ff("new york", "text"), "new york"),
    ("", ff("yes", "text"), None),
])
def test_normalize(pred, record, expected):
    assert normalize(pred, record) == expected


@pytest.mark.parametrize("pred, record, expected", [
    ("B", mc("square"), True),
    ("(B)", mc("square"), True),
    ("b", mc("square"), True),
    ("B)", mc("square"), True),
    ("square", mc("square"), True),
    ("Square", mc("square"), True),
    ("A", mc("square"), False),
    ("circle", mc("square"), False),
    ("E", mc("square"), False),
    ("Z", mc("square"), False),
    ("B", mc("12", "num"), True),
    ("12", mc("12", "num"), True),
    ("14", mc("12", "num"), False),
    ("3.0", ff("3", "integer"), True),
    ("3.5", ff("3", "integer"), False),
    ("5 cm", ff("5", "integer", unit="cm"), True),
    ("12 degrees", ff("12", "integer"), True),
    ("13 degrees", ff("12", "integer"), False),
    ("1,000", ff("1000", "integer"), True),
    ("2.449", ff("2.45", "float", precision=2), True),
    ("2.449", ff("2.4", "float", precision=1), True),
    ("2.44", ff("2.45", "float", precision=2), False),
    ("2.46", ff("2.4", "float", precision=1), False),
    ("1/2", ff("0.5", "float", precision=1), True),
    ("\\frac{1}{2}", ff("0.5", "float", precision=1), True),
    ("0.5", ff("\\frac{1}{2}", "float", precision=1), True),
    ("1/3", ff("0.33", "float", precision=2), True),
    ("2/3", ff("0.33", "float", precision=2), False),
    ("6/2", ff("3", "integer"), True),
    ("1/2", ff("0.6", "float", precision=1), False),
    ("[1, 2]", ff("[1, 2]", "list"), True),
    ("1,2", ff("[1, 2]", "list"), True),
    ("[2, 1]", ff("[1, 2]", "list"), False),
    ("2", ff("[1, 2]", "list"), False),
    ("YES", ff("yes", "text"), True),
    ("no", ff("yes", "text"), False),
    (None, ff("3", "integer"), False),
    ("3", ff(None, "integer"), False),
    ("1/2" + " " * 70 + "+0", ff("0.5", "float", precision=1), False),
])
def test_is_correct(pred, record, expected):
    assert is_correct(pred, record) is expected


def test_is_correct_from_worker_thread():
    results, errors = [], []

    def work():
        try:
            results.append(is_correct("1/2", ff("0.5", "float", precision=1)))
            results.append(is_correct("\\frac{1}{3}", ff("0.5", "float", precision=1)))
        except Exception as exc:  # surfaced below: pytest does not see exceptions raised in threads
            errors.append(exc)

    worker = threading.Thread(target=work)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert errors == []
    assert results == [True, False]


@pytest.mark.parametrize("responses, record, expected", [
    (["7-3=4\nanswer: 4", "answer: 5", "no idea\nreally"], ff("4", "integer"), [1.0, 0.0, 0.0]),
    (["(B)", "circle", "B)", "E"], mc("square"), [1.0, 0.0, 1.0, 0.0]),
    (["The answer is 1/2.", "\\boxed{0.5}", "answer: 0.7"], ff("0.5", "float", 1), [1.0, 1.0, 0.0]),
    ([], ff("4", "integer"), []),
    (["answer: 4", "4"], ff(None, "integer"), [None, None]),
    (["answer: 4"], ff("  ", "integer"), [None]),
])
def test_exact_match_reward(responses, record, expected):
    assert exact_match_reward(responses, **record) == expected


def test_exact_match_reward_missing_answer_key():
    record = ff("4", "integer")
    del record["answer"]
    assert exact_match_reward(["answer: 4", "bogus"], **record) == [None, None]


def test_exact_match_reward_ignores_extra_columns():
    record = ff("4", "integer")
    assert exact_match_reward(["answer: 4"], prompts=["q"], image=None, **record) == [1.0]


@pytest.mark.parametrize("response, record, expected", [
    ("the correct answer is C: 7.", {**mc("7", "num"), "choices": ["5", "6", "7", "8"]}, 1.0),
    ("Therefore, the correct option is (C).", {**mc("triangle")}, 1.0),
    ("Therefore, the correct option is (C).", {**mc("square")}, 0.0),
    ("The answer is 12 apples, not 13.", ff("13", "integer"), 0.0),
    ("The answer is 12 apples, not 13.", ff("12", "integer"), 1.0),
    ("So the answer is (D) hexagon.", mc("hexagon"), 1.0),
    ("Answer: The cat is black", {**mc("x"), "choices": ["The dog is white.", "The cat is black."],
                                  "answer": "The cat is black."}, 1.0),
])
def test_verbose_responses_are_scored_on_their_answer_span(response, record, expected):
    """Issue 17: phrasings of real models; math-verify sees the extracted span, never the sentence."""
    assert exact_match_reward([response], **record) == [expected]
