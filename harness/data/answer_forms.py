"""The forms gold answers and choices take in the real files, read into what the reward checks.

MathV360K's human turns ask for "the following format: Answer: xxx" and list the options after a
`Choices:` line, as `(A) text` lines (or `A: text`, `A. text`, or all on one line), so a gpt turn may
read `Answer: D`, `The answer is 8`, `(B)`, `B`, `B: text` or the option's text itself. Those forms are
read here; anything else is not guessed at: the caller skips the record with the reason returned.
"""
from __future__ import annotations

import re

OPTION_LETTERS = "ABCDEFGHIJ"
# The last "Choices:" / "Options:" header of a question and everything after it.
_CHOICES_HEADER = re.compile(r"(?:^|\n)[ \t]*(?:Choices|Options)[ \t]*:(.*)\Z", re.S | re.I)
_OPTION_LINE = re.compile(r"^\(?([A-J])\s*[).:]\s*(.*)$")
_INLINE_OPTION = re.compile(r"\(([A-J])\)\s*(.*?)(?=\s*\([A-J]\)|\Z)", re.S)
# "Answer: X", "The answer is X", "the final answer is: X", "The correct answer is X" (the last one wins).
_MARKER = re.compile(r"(?:\bthe\s+(?:final\s+|correct\s+)?answer\s+is\b\s*:?|\banswer\s*:)\s*", re.I)
_LETTER = re.compile(r"^\(?([A-J])\)?[.:]?$")
_LETTER_TEXT = re.compile(r"^\(?([A-J])\s*[).:]\s*(.+)$", re.S)
_INTEGER = re.compile(r"^[-+]?(?:\d+|\d{1,3}(?:,\d{3})+)$")
_FLOAT = re.compile(r"^[-+]?(?:\d+|\d{1,3}(?:,\d{3})+)?\.(\d+)$")
_VALUE_UNIT = re.compile(r"^([-+]?(?:\d+|\d{1,3}(?:,\d{3})+)(?:\.\d+)?)(?:\s+[A-Za-z]{1,12}(?:\^?[23])?|\s*[%°])$")
# A free-form gold answer is a value or a short phrase; a longer sentence without a marker is a
# rationale or a caption, not an answer the reward can check.
MAX_FREE_FORM_CHARS = 64
MAX_FREE_FORM_WORDS = 8


def clean_option(text: str) -> str:
    """An option's text as the reward compares it: stripped, without one trailing period (MMStar and
    MMBench write options as sentences, and answer extraction drops a response's final period).

    >>> clean_option(" The cat is on the mat. "), clean_option("3.5"), clean_option("etc..")
    ('The cat is on the mat', '3.5', 'etc.')
    """
    text = str(text).strip()
    return text[:-1].rstrip() if text.endswith(".") and len(text) > 1 else text


def _sequential(letters: list[str]) -> bool:
    return letters == list(OPTION_LETTERS[:len(letters)])


def find_choices(question: str) -> tuple[list[str] | None, str | None]:
    """The options listed after the last `Choices:` / `Options:` line: (choices, None); (None, None) when
    the question lists none; (None, reason) when it has the header but no options read as A, B, C, ...

    >>> find_choices("How many?\\nChoices:\\n(A) 3\\n(B) five.")
    (['3', 'five'], None)
    >>> find_choices("Angle?\\nChoices:\\nA: 32°\\nB: 68°"), find_choices("Pick one.\\nChoices: (A) red (B) blue")
    ((['32°', '68°'], None), (['red', 'blue'], None))
    >>> find_choices("How many?"), find_choices("Which?\\nChoices:\\n(B) 3\\n(C) 4")
    ((None, None), (None, 'choices not parsed (options must be lettered A, B, C, ...)'))
    """
    m = _CHOICES_HEADER.search(question)
    if not m:
        return None, None
    lines = [line.strip() for line in m.group(1).strip().splitlines() if line.strip()]
    options = []  # the run of option lines; a closing instruction line after it is not an option
    for line in lines:
        if not (x := _OPTION_LINE.match(line)):
            break
        options.append(x)
    if len(options) > 1 and _sequential([x.group(1) for x in options]):
        return [clean_option(x.group(2)) for x in options], None
    inline = _INLINE_OPTION.findall(" ".join(lines))
    if len(inline) > 1 and _sequential([letter for letter, _ in inline]):
        return [clean_option(text) for _, text in inline], None
    return None, "choices not parsed (options must be lettered A, B, C, ...)"


def answer_span(text: str) -> str:
    """The answer in a gold answer string: after the last answer marker (to the end of its line), without
    surrounding markup or a final period.

    >>> answer_span("Answer: D"), answer_span("The answer is 8."), answer_span("the final answer is: (B)")
    ('D', '8', '(B)')
    >>> answer_span("  12  "), answer_span("Since AB = 3, BC = 4.\\nAnswer: 5")
    ('12', '5')
    """
    text = str(text).strip()
    markers = list(_MARKER.finditer(text))
    if markers:
        text = text[markers[-1].end():].split("\n", 1)[0]
    text = text.strip().strip("*").strip()
    if len(text) > 1 and text[0] == text[-1] == "$":
        text = text[1:-1].strip()
    return text[:-1].rstrip() if text.endswith(".") and len(text) > 1 else text


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text).lower()


def choice_answer(text, choices: list[str], prefer: str = "letter") -> tuple[str | None, str | None]:
    """The gold choice text of a multi-choice answer given as a letter ('D', '(D)', 'Answer: D'), a letter
    with the option ('(B) flip', 'B: flip'), or the option text; (None, reason) otherwise.

    `prefer` decides an answer that is both a letter and an option's text (options 'B', 'A', answer 'A'):
    MathV360K answers with letters, MathVista with the option text.

    >>> choice_answer("Answer: B", ["slide", "flip"]), choice_answer("(B) flip", ["slide", "flip"])
    (('flip', None), ('flip', None))
    >>> choice_answer("Flip.", ["slide", "flip"]), choice_answer("E", ["slide", "flip"])[1]
    (('flip', None), 'answer letter outside the choices')
    >>> choice_answer("A", ["B", "A"]), choice_answer("A", ["B", "A"], prefer="text")
    (('B', None), ('A', None))
    """
    span = answer_span(text)
    if not span:
        return None, "empty answer"
    by_text = next((c for c in choices if _squash(c) == _squash(span)), None)
    if by_text is not None and (prefer == "text" or not _LETTER.match(span)):
        return by_text, None
    m = _LETTER.match(span) or _LETTER_TEXT.match(span)
    if not m:
        return None, "answer matches no choice"
    index = OPTION_LETTERS.index(m.group(1))
    if index >= len(choices):
        return None, "answer letter outside the choices"
    if m.re is _LETTER_TEXT and _squash(clean_option(m.group(2))) != _squash(choices[index]):
        return None, "answer letter and option text disagree"
    return choices[index], None


def free_form_answer(text) -> tuple[str | None, str | None]:
    """The gold answer of a free-form question: a value or a short phrase, after any answer marker.

    A number with a unit ('5 cm', '12%', '45°') gives the number: the reward reads a response's number
    without its unit, so '5' and '5 cm' both match it.

    >>> free_form_answer("Answer: 8"), free_form_answer("The answer is 2.50"), free_form_answer("yes")
    (('8', None), ('2.50', None), ('yes', None))
    >>> free_form_answer("Answer: 5 cm"), free_form_answer("12%"), free_form_answer("3D")
    (('5', None), ('12', None), ('3D', None))
    >>> free_form_answer("The bars show that the tallest one belongs to the second group of students")[1]
    'answer form not recognised (a sentence, not a value)'
    """
    span = answer_span(text)
    if not span:
        return None, "empty answer"
    if "\n" in span or len(span) > MAX_FREE_FORM_CHARS or len(span.split()) > MAX_FREE_FORM_WORDS:
        return None, "answer form not recognised (a sentence, not a value)"
    m = _VALUE_UNIT.match(span)
    return (m.group(1) if m else span), None


def answer_type_of(answer: str) -> tuple[str, int | None]:
    """MathVista's answer type of a free-form gold answer, with the precision of a float (its decimals).

    >>> answer_type_of("12"), answer_type_of("-0.25"), answer_type_of("[1, 2]"), answer_type_of("blue")
    (('integer', None), ('float', 2), ('list', None), ('text', None))
    """
    answer = answer.strip()
    if _INTEGER.match(answer):
        return "integer", None
    if m := _FLOAT.match(answer):
        return "float", len(m.group(1))
    if answer.startswith("[") and answer.endswith("]"):
        return "list", None
    return "text", None
