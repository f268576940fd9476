"""Answer extraction, MathVista-style normalization, equivalence and an exact-match reward."""

from __future__ import annotations

import logging
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from math_verify import parse, verify

# We call math-verify with its signal-based timeouts off (they fail off the main thread) and bound
# input size instead; its warning about that would otherwise print on every process start.
logging.getLogger("math_verify").setLevel(logging.ERROR)
_MARKER = re.compile(r"\b(?:the\s+(?:final\s+)?answer\s+is\b\s*:?|answer\s*:)\s*", re.IGNORECASE)
_LETTER = re.compile(r"^\(?([A-Za-z])\)?[.:]?$")
_LETTER_TEXT = re.compile(r"^\(?([A-Za-z])[).:]\s*(.+)$")
_NUMBER = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)$")
_THOUSANDS = re.compile(r"^[-+]?\d{1,3}(?:,\d{3})+(?:\.\d*)?$")
_MAX_VERIFY_CHARS = 64  # math-verify runs without a timeout, so only short inputs keep time bounded


def _last_boxed(line: str) -> str | None:
    """Return the contents of the last \\boxed{...} in line, matching nested braces."""
    start = line.rfind("\\boxed{")
    if start < 0:
        return None
    depth, i = 1, start + len("\\boxed{")
    for j in range(i, len(line)):
        depth += {"{": 1, "}": -1}.get(line[j], 0)
        if depth == 0:
            return line[i:j]
    return None


def _clean(text: str) -> str | None:
    """Strip whitespace, markdown bold, $...$ wrappers, \\boxed{} and one trailing period."""
    text = text.strip().strip("*").strip()
    if len(text) > 1 and text.startswith("$") and text.endswith("$"):
        text = text.strip("$").strip()
    text = _last_boxed(text) or text
    text = re.sub(r"\.$", "", text).strip()
    return text or None


def extract_answer(response: str) -> str | None:
    """Return the final answer in a response: the last marker wins, a lone line is the answer.

    >>> extract_answer("bars: A=3 B=7\\nask B-A\\n7-3=4\\nanswer: 4")
    '4'
    >>> extract_answer("(B)")
    '(B)'
    >>> extract_answer("Some reasoning.\\nThe answer is \\\\boxed{\\\\frac{1}{2}}.")
    '\\\\frac{1}{2}'
    >>> extract_answer("Answer: Circle.")
    'Circle'
    >>> extract_answer("first line\\nsecond line") is None
    True
    """
    lines = [line for line in (response or "").strip().splitlines() if line.strip()]
    for line in reversed(lines):
        markers = list(_MARKER.finditer(line))
        if markers:
            return _clean(line[markers[-1].end():])
        boxed = _last_boxed(line)
        if boxed is not None:
            return _clean(boxed)
    return _clean(lines[0]) if len(lines) == 1 else None


def _squash(text: str) -> str:
    """Lower-case and drop all whitespace, for case/space-insensitive matching."""
    return re.sub(r"\s+", "", text).lower()


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
    text = re.sub(r"[\sA-Za-z°%]+$", "", text).lstrip("$").strip()
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
        # Decimal half-up rounding of the decimal text, so 2.445 -> 2.45 regardless of binary floats
        return format(value.quantize(Decimal(1).scaleb(-precision), rounding=ROUND_HALF_UP), "f")
    if answer_type == "list":
        return _list(pred)
    return re.sub(r"\s+", " ", pred).lower()


def _equivalent(gold: str, pred: str, record: dict) -> bool:
    """Return math-verify's verdict on gold vs pred; any failure counts as not equivalent."""
    if max(len(gold), len(pred)) > _MAX_VERIFY_CHARS:
        return False
    precision = record.get("precision")
    rounding = int(precision) if record.get("answer_type") == "float" and precision is not None else 6
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


def exact_match_reward(responses: list[str], **record) -> list[float | None]:
    """Score each response 1.0 if its extracted answer is correct, else 0.0; None when ungradable.

    >>> record = {"question_type": "free_form", "answer_type": "integer", "answer": "4"}
    >>> exact_match_reward(["7-3=4\\nanswer: 4", "answer: 5", "I am not sure\\nwhat this is"], **record)
    [1.0, 0.0, 0.0]
    >>> exact_match_reward(["answer: 4"], question_type="free_form", answer_type="integer", answer=None)
    [None]
    """
    gold = record.get("answer")
    if gold is None or not str(gold).strip():
        return [None] * len(responses)
    return [1.0 if is_correct(extract_answer(r), record) else 0.0 for r in responses]
