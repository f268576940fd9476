"""MathVista-style normalization, equivalence and an exact-match reward that never raises on a response.

The answer is found by harness.reward.answer_extraction (rules); this module judges it against the gold.
"""

from __future__ import annotations

import functools
import logging
import re
import string
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext

from harness.reward.answer_extraction import extract_answer

# We call math-verify with its signal-based timeouts off (they fail off the main thread) and bound
# input size instead; its warning about that would otherwise print on every process start.
logging.getLogger("math_verify").setLevel(logging.ERROR)
_LETTER = re.compile(r"^\(?([A-Za-z])\)?[.:]?$")
_LETTER_TEXT = re.compile(r"^\(?([A-Za-z])[).:]\s*(.+)$")
_NUMBER = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)$")
_THOUSANDS = re.compile(r"^[-+]?\d{1,3}(?:,\d{3})+(?:\.\d*)?$")
_MAX_NUMBER_CHARS = 200  # longer is no number a gold can equal; bounds the work on a runaway sample
_UNIT_CHARS = string.whitespace + string.ascii_letters + "°%"  # trailing unit words and symbols
_MAX_VERIFY_CHARS = 64  # math-verify runs without a timeout, so only short inputs keep time bounded
# ... and only on plain arithmetic: sympy evaluates "9^9^9^9", factorials or binomials exactly and never returns.
_VERIFY_COMMANDS = {"frac", "dfrac", "tfrac", "sqrt", "pi", "cdot", "times", "div", "left", "right", "circ", "degree"}
_DEGREES = re.compile(r"\^\{?\\circ\}?")


def _squash(text: str) -> str:
    """Lower-case, drop all whitespace and a trailing period: options often end in one ("The cat is black.")."""
    return re.sub(r"\s+", "", text).lower().rstrip(".")


def _choice(pred: str, choices: list[str]) -> str | None:
    """Map a choice text, a letter ("B", "(b)", "B)") or "(B) text" onto the choice text."""
    for choice in choices:
        if _squash(pred) == _squash(choice):
            return choice
    m = _LETTER.match(pred) or _LETTER_TEXT.match(pred)
    if not m:
        return None
    index = ord(m.group(1).upper()) - ord("A")
    if not 0 <= index < len(choices):
        return None
    # "(B) circle" only counts when the text agrees with choice B
    if m.re is _LETTER_TEXT and _squash(m.group(2)) != _squash(choices[index]):
        return None
    return choices[index]


def _number(pred: str, unit: str | None) -> Decimal | None:
    """Parse a number, dropping the unit, trailing unit words/symbols and thousands separators."""
    text = pred.strip()
    if unit and text.lower().endswith(unit.strip().lower()) and unit.strip():
        text = text[: -len(unit.strip())]
    if len(text) > _MAX_NUMBER_CHARS:
        return None
    text = text.rstrip(_UNIT_CHARS).lstrip("$").strip()
    if _THOUSANDS.match(text):
        text = text.replace(",", "")
    if not _NUMBER.match(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def _plain(value: Decimal) -> str:
    """Format a Decimal without exponent or trailing zeros ("3.0" -> "3", "2.50" -> "2.5")."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _list(pred: str) -> str | None:
    """Canonicalize "[1, 2]", "(1,2)" or "1, 2" to "[1, 2]"; numeric items lose trailing zeros."""
    body = pred.strip().strip("[]()").strip()
    items = [item.strip().strip("'\"").strip() for item in body.split(",")]
    if not body or not all(items):
        return None
    return "[" + ", ".join(_plain(n) if (n := _number(i, None)) is not None else i for i in items) + "]"


def normalize(pred: str, record: dict) -> str | None:
    """Normalize a prediction by MathVista's rules for record's question and answer type.

    >>> normalize("(B)", {"question_type": "multi_choice", "choices": ["circle", "square"]})
    'square'
    >>> normalize("5 cm", {"question_type": "free_form", "answer_type": "integer", "unit": "cm"})
    '5'
    >>> normalize("2.449", {"question_type": "free_form", "answer_type": "float", "precision": 2})
    '2.45'
    >>> normalize("2", {"question_type": "free_form", "answer_type": "float", "precision": 1})
    '2.0'
    >>> normalize("1, 2", {"question_type": "free_form", "answer_type": "list"})
    '[1, 2]'
    """
    if pred is None or not str(pred).strip():
        return None
    pred = str(pred).strip()
    if record.get("question_type") == "multi_choice":
        return _choice(pred, list(record.get("choices") or []))
    answer_type = record.get("answer_type")
    if answer_type == "integer":
        value = _number(pred, record.get("unit"))
        # a non-integral number stays as it is (and so mismatches) rather than being truncated
        return None if value is None else _plain(value)
    if answer_type == "float":
        value = _number(pred, record.get("unit"))
        precision = int(record.get("precision") if record.get("precision") is not None else 1)
        if value is None:
            return None
        # Decimal half-up rounding of the decimal text, so 2.445 -> 2.45 regardless of binary floats; the context
        # holds every digit of the value (the default 28 would raise on a 40-digit number a model wrote)
        with localcontext() as ctx:
            ctx.prec = max(ctx.prec, value.adjusted() + precision + 2)
            return format(value.quantize(Decimal(1).scaleb(-precision), rounding=ROUND_HALF_UP), "f")
    if answer_type == "list":
        return _list(pred)
    return re.sub(r"\s+", " ", pred).lower()


def verifiable(text: str) -> bool:
    r"""Whether math-verify may see text: short, and arithmetic that sympy evaluates in bounded time.

    >>> verifiable("\\frac{1}{2}"), verifiable("45^\\circ"), verifiable("9^9^9^9"), verifiable("\\binom{99}{7}")
    (True, True, False, False)
    """
    text = _DEGREES.sub("", text)
    if len(text) > _MAX_VERIFY_CHARS or "^" in text or "!" in text or "**" in text:
        return False
    return all(cmd in _VERIFY_COMMANDS for cmd in re.findall(r"\\([A-Za-z]+)", text))


def _equivalent(gold: str, pred: str, record: dict) -> bool:
    """Return math-verify's verdict on gold vs pred; any failure counts as not equivalent."""
    if not (verifiable(gold) and verifiable(pred)):
        return False
    precision = record.get("precision")
    return _verified(gold, pred, int(precision) if record.get("answer_type") == "float" and precision is not None
                     else 6)


# K samples of one query repeat the same few wrong answers, and sympy's parse is most of a run's grading time.
@functools.lru_cache(maxsize=1 << 16)
def _verified(gold: str, pred: str, rounding: int) -> bool:
    from math_verify import parse, verify  # sympy: a second to import, needed only for answers no rule settles

    try:
        # no timeouts: math-verify's use signal.alarm, which fails off the main thread
        return bool(verify(parse(gold, parsing_timeout=None), parse(pred, parsing_timeout=None),
                           float_rounding=rounding, timeout_seconds=None))
    except Exception:
        return False


def is_correct(pred: str | None, record: dict) -> bool:
    """Return True if pred matches record['answer'] after normalization or math-verify equivalence."""
    gold = record.get("answer")
    if pred is None or gold is None:
        return False
    normalized_pred, normalized_gold = normalize(pred, record), normalize(str(gold), record)
    if normalized_pred is not None and normalized_pred == normalized_gold:
        return True
    # lists and text parse to a single number or nothing in math-verify, which would give false matches
    if record.get("question_type") != "free_form" or record.get("answer_type") not in ("integer", "float"):
        return False
    return _equivalent(str(gold).strip(), str(pred).strip(), record)


def grade(pred: str | None, record: dict) -> float | None:
    """1.0 if an extracted answer (by the rules or a judge) is correct, else 0.0; None if checking it failed."""
    try:
        return 1.0 if is_correct(pred, record) else 0.0
    except Exception:  # noqa: BLE001  see `judge`
        return None


def judge(response: str, record: dict) -> float | None:
    """1.0 if the response's extracted answer is correct, else 0.0; None if judging it failed (ungradable).

    A reward function sees whatever a model samples (at T=2: 40-digit numbers, broken LaTeX): judging one
    response must never stop a run, so an unexpected error makes that response ungradable, not fatal."""
    try:
        pred = extract_answer(response)
    except Exception:  # noqa: BLE001  the count of ungradable responses is reported per iteration
        return None
    return grade(pred, record)


def exact_match_reward(responses: list[str], **record) -> list[float | None]:
    """Score each response 1.0 if its extracted answer is correct, else 0.0; None when it cannot be judged
    (no gold answer, or judging failed: see `judge`).

    >>> record = {"question_type": "free_form", "answer_type": "integer", "answer": "4"}
    >>> exact_match_reward(["7-3=4\\nanswer: 4", "answer: 5", "I am not sure\\nwhat this is"], **record)
    [1.0, 0.0, 0.0]
    >>> exact_match_reward(["answer: 4"], question_type="free_form", answer_type="integer", answer=None)
    [None]
    >>> exact_match_reward(["answer: " + "9" * 40 + ".5"], question_type="free_form", answer_type="float",
    ...                    answer="3.5", precision=1)
    [0.0]
    """
    gold = record.get("answer")
    if gold is None or not str(gold).strip():
        return [None] * len(responses)
    return [judge(r, record) for r in responses]
