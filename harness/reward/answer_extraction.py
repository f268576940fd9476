"""Finding the final answer in a free-form response: a pure function, rules only.

The last answer marker of the response wins ("the answer is", "answer:", "the correct option is",
"\\boxed{}"); the answer is the phrase right after it, up to the end of its clause, so units,
explanations and distractor numbers after the answer do not count. Without a marker, a response of
one line is its own answer, a last line that is a bare option letter is one, and a last sentence
ending in "... is <number or option>." gives that value (the phrasing of MathVista's own extraction
examples). Anything else has no rule answer (None): an LLM judge may extract one later.
"""
from __future__ import annotations

import re

_QUALIFIER = r"(?:final|correct|right|best|short)\s+"
_MARKER = re.compile(
    r"\b(?:the\s+|my\s+|our\s+)?(?:%s)?(?:answer|option|choice)\s+(?:is|would\s+be|should\s+be|will\s+be)\b\s*[:：]?"
    r"|\b(?:%s)?answer\s*[:：]" % (_QUALIFIER, _QUALIFIER),
    re.IGNORECASE)
_BOXED = "\\boxed{"
_LONE_LETTER = re.compile(r"^\(?([A-Z])\)?\.?$")
# "... is 14." / "... is (C)." ending the last sentence; the value is a number, money or percent, or a letter in ()
_FINAL_IS = re.compile(r"\bis\s+(\$?[-+]?(?:\d[\d,]*(?:\.\d+)?|\.\d+)%?|\([A-Z]\))\s*(?:[.;,]|$)")
_CLAUSE_END = re.compile(r"\s+(?:because|since|which|but|so\s+that|as\s+(?:it|the|this|we))\b", re.IGNORECASE)


def _braced(text: str, start: int) -> str | None:
    """The contents of the brace group opening at text[start] ('{'), matching nested braces."""
    depth = 0
    for j in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[start + 1:j]
    return None


def last_boxed(text: str) -> str | None:
    """The contents of the last complete \\boxed{...} in text.

    >>> last_boxed("so \\\\boxed{\\\\frac{1}{2}} and not \\\\boxed{3")
    '\\\\frac{1}{2}'
    """
    start = text.rfind(_BOXED)
    while start >= 0:
        inner = _braced(text, start + len(_BOXED) - 1)
        if inner is not None:
            return inner
        start = text.rfind(_BOXED, 0, start)
    return None


def clause(text: str) -> str:
    """The answer phrase at the start of text: up to the end of its line, sentence or clause.

    Brackets are kept whole ("[1, 2]"); a period followed by a digit is a decimal point; a comma
    followed by a word ends the clause ("12 apples, not 13"), one followed by a number does not ("1, 2").

    >>> clause("12 apples, not 13.")
    '12 apples'
    >>> clause("2.5 cm. Because the side is 5")
    '2.5 cm'
    >>> clause("[1, 2], as shown")
    '[1, 2]'
    """
    depth = 0
    for i, ch in enumerate(text):
        nxt = text[i + 1:i + 2]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        elif depth == 0 and (ch in "\n;" or (ch == "." and not nxt.isdigit())
                             or (ch == "," and nxt == " " and text[i + 2:i + 3].isalpha())):
            text = text[:i]
            break
    end = _CLAUSE_END.search(text)
    return text[:end.start()] if end else text


def _clean(text: str | None) -> str | None:
    """Strip whitespace, markdown bold, $...$ wrappers, \\boxed{} and one trailing period."""
    if text is None:
        return None
    text = text.strip().strip("*").strip()
    if len(text) > 1 and text.startswith("$") and text.endswith("$"):
        text = text.strip("$").strip()
    text = last_boxed(text) or text
    text = re.sub(r"\.$", "", text).strip()
    return text or None


def extract_answer(response: str | None) -> str | None:
    """The final answer of a response (rules only), or None when no rule finds one.

    Marked answers, the last marker winning:

    >>> extract_answer("bars: A=3 B=7\\nask B-A\\n7-3=4\\nanswer: 4")
    '4'
    >>> extract_answer("answer: 3\\nwait, recount\\nanswer: 5")
    '5'
    >>> extract_answer("Some reasoning.\\nThe answer is \\\\boxed{\\\\frac{1}{2}}.")
    '\\\\frac{1}{2}'
    >>> extract_answer("Answer: Circle.")
    'Circle'
    >>> extract_answer("the correct answer is C: 7.")
    'C: 7'
    >>> extract_answer("Therefore, the correct option is (C).")
    '(C)'
    >>> extract_answer("The answer is 12 apples, not 13.")
    '12 apples'
    >>> extract_answer("The correct answer is (B) 8/11.")
    '(B) 8/11'
    >>> extract_answer("Answer: B")
    'B'
    >>> extract_answer("The answer is 1.45")
    '1.45'
    >>> extract_answer("Thus the final answer is: 2.5 cm. This matches the figure.")
    '2.5 cm'
    >>> extract_answer("**Answer:** 12")
    '12'
    >>> extract_answer("Final answer: $\\\\frac{3}{4}$")
    '\\\\frac{3}{4}'
    >>> extract_answer("So the area is \\\\boxed{24}.")
    '24'
    >>> extract_answer("The answer is \\\\boxed{24}, because 4*6=24.")
    '24'
    >>> extract_answer("The answer is [2007, 2008].")
    '[2007, 2008]'
    >>> extract_answer("Answer: (D) The cat is black.")
    '(D) The cat is black'
    >>> extract_answer("I think the answer is 3, since there are three red cubes.")
    '3'
    >>> extract_answer("The correct choice is B.")
    'B'
    >>> extract_answer("answer: 1,250 dollars")
    '1,250 dollars'
    >>> extract_answer("The answer is 7 because 3 + 4 = 7. Answer: 7")
    '7'
    >>> extract_answer("Answer: 5\\nBut the question asks for the width, so the answer is 3.")
    '3'
    >>> extract_answer("The best answer is A. Option B is wrong.")
    'A'
    >>> extract_answer("My answer would be 0.6")
    '0.6'
    >>> extract_answer("Choices: (A) 1 (B) 2\\nThe answer is (A)")
    '(A)'
    >>> extract_answer("steps\\nanswer:") is None
    True

    Without a marker: one line is its own answer; a bare letter on the last line; "... is X." at the end:

    >>> extract_answer("(B)")
    '(B)'
    >>> extract_answer("  circle  \\n")
    'circle'
    >>> extract_answer("Looking at the options, they differ in color.\\n(C)")
    '(C)'
    >>> extract_answer("The number missing in the sequence is 14.")
    '14'
    >>> extract_answer("The fraction of females facing the camera is 0.6, which means six out of ten.")
    '0.6'
    >>> extract_answer("Counting each row.\\nThe total cost is $1.45.")
    '$1.45'
    >>> extract_answer("The shape on the left is (A).")
    '(A)'
    >>> extract_answer("Luca needs $1.45 to buy a sour apple candy.\\nThat is all.") is None
    True
    >>> extract_answer("first line\\nsecond line") is None
    True
    >>> extract_answer("") is None and extract_answer(None) is None
    True
    """
    text = (response or "").strip()
    if not text:
        return None
    found = [(m.start(), clause(text[m.end():].lstrip(" *"))) for m in _MARKER.finditer(text)]
    boxed_at = text.rfind(_BOXED)
    if boxed_at >= 0 and (boxed := last_boxed(text)) is not None:
        found.append((boxed_at, boxed))
    if found:
        return _clean(max(found, key=lambda f: f[0])[1])
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) == 1 and not _FINAL_IS.search(lines[0]):
        return _clean(lines[0])
    if _LONE_LETTER.match(lines[-1]):
        return _clean(lines[-1])
    last_sentence = re.split(r"(?<=[.!?])\s+(?=[A-Z])", lines[-1])[-1]
    final = list(_FINAL_IS.finditer(last_sentence))
    return _clean(final[-1].group(1)) if final else None
