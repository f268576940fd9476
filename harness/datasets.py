"""Loaders for MathV360K-style and MathVista-style files at a local path.

The same loaders read the embedded world and the real datasets. Bad records (missing or unreadable
image, an image path escaping the dataset root, a labeled record without an answer, an unknown
question type) are skipped and counted, never opened and never a crash inside training.
"""
from __future__ import annotations

import json
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

log = logging.getLogger(__name__)

QUESTION_TYPES = ("multi_choice", "free_form")
ANSWER_TYPES = ("integer", "float", "text", "list")
_CHOICES_RE = re.compile(r"\n(?:Choices|Options):\s*(.*)\Z", re.S)
_OPTION_RE = re.compile(r"\(([A-Z])\)\s*(.*?)(?=\s*\([A-Z]\)|\Z)", re.S)


def short_answer(answer: str, choices: list[str] | None) -> str:
    """The answer as a MathV360K gpt turn writes it: the option letter for multi-choice.

    >>> short_answer("two", ["1", "two"]), short_answer("7", None)
    ('B', '7')
    """
    return chr(ord("A") + choices.index(answer)) if choices else answer


class DatasetError(Exception):
    """A dataset path or file that cannot be read at all (as opposed to single bad records)."""


@dataclass
class Record:
    """One (image, question) with what checking its answer needs."""

    id: str
    image: Path                    # absolute path, verified to lie inside the dataset root
    question: str                  # question text including the choices line, no <image> placeholder
    answer: str | None             # gold answer (choice text for multi-choice); None when unlabeled
    question_type: str             # multi_choice | free_form
    answer_type: str               # integer | float | text | list
    task: str                      # MathVista task name, for per-task breakdowns
    choices: list[str] | None = None
    precision: int | None = None
    unit: str | None = None
    oracle_answer: str | None = None   # withheld true answer of an unlabeled prompt (skyline only)
    solution: list[str] | None = None  # gold steps, for checking and analysis only; never trained on
    distractors: list[str] = field(default_factory=list)  # true but answer-irrelevant steps

    def reward_fields(self, answer: str | None = None) -> dict:
        """The keyword arguments of a reward function, optionally with a substitute answer."""
        return {"answer": self.answer if answer is None else answer, "question_type": self.question_type,
                "answer_type": self.answer_type, "choices": self.choices, "precision": self.precision,
                "unit": self.unit}


def _safe_image(root: Path, rel: str | None) -> tuple[Path | None, str | None]:
    """Resolve an image path inside root, or say why not."""
    if not rel:
        return None, "missing image field"
    path = (root / rel).resolve()
    if not path.is_relative_to(root.resolve()):
        return None, "image path escapes the dataset root"
    if not path.is_file():
        return None, "image file not found"
    try:
        with Image.open(path) as im:
            im.verify()
    except Exception:  # PIL raises many types for truncated or non-image files
        return None, "image file unreadable"
    return path, None


OPTION_LETTERS = "ABCDEFGHIJ"


def format_choices(choices: list[str]) -> str:
    """The choices as the harness writes them after a question: one option per line, as MathVista's
    queries do (a line per option also lets a small model copy an option line by line).

    >>> format_choices(["3", "five"])
    '\\nChoices:\\n(A) 3\\n(B) five'
    """
    return "\nChoices:" + "".join(f"\n({OPTION_LETTERS[i]}) {c}" for i, c in enumerate(choices))


def parse_choices(question: str) -> list[str] | None:
    """Choices written in the question text, one per line or on one line ('Choices: (A) 3 (B) 5').

    >>> parse_choices("How many?\\nChoices: (A) 3 (B) five"), parse_choices("How many?" + format_choices(["3", "5"]))
    (['3', 'five'], ['3', '5'])
    """
    m = _CHOICES_RE.search(question)
    if not m:
        return None
    return [text.strip() for _, text in _OPTION_RE.findall(m.group(1))] or None


def _infer_answer_type(answer: str) -> str:
    if re.fullmatch(r"-?\d+", answer):
        return "integer"
    if re.fullmatch(r"-?\d*\.\d+", answer):
        return "float"
    return "text"


def _from_mathv360k(raw: dict, root: Path) -> tuple[Record | None, str | None]:
    meta = raw.get("meta") or {}
    conv = raw.get("conversations") or []
    human = next((t.get("value", "") for t in conv if t.get("from") == "human"), None)
    gpt = next((t.get("value", "") for t in conv if t.get("from") == "gpt"), None)
    if not human:
        return None, "no human turn"
    image, why = _safe_image(root, raw.get("image"))
    if why:
        return None, why
    question = human.replace("<image>", "").strip()
    choices = meta.get("choices") or parse_choices(question)
    qtype = meta.get("question_type") or ("multi_choice" if choices else "free_form")
    answer = gpt.strip() if gpt else None
    if answer and choices and re.fullmatch(r"\(?[A-Z]\)?", answer):
        idx = ord(answer.strip("()")) - ord("A")
        if idx >= len(choices):
            return None, "answer letter outside the choices"
        answer = choices[idx]
    return _record(raw.get("id"), image, question, answer, qtype, meta, choices)


def _from_mathvista(raw: dict, root: Path) -> tuple[Record | None, str | None]:
    image, why = _safe_image(root, raw.get("image"))
    if why:
        return None, why
    question = raw.get("query") or raw.get("question") or ""
    question = re.sub(r"^Hint:.*?\n", "", question).replace("<image>", "").strip()
    meta = {**(raw.get("metadata") or {}), **(raw.get("meta") or {}),
            **{k: raw.get(k) for k in ("answer_type", "precision", "unit")}}
    answer = raw.get("answer")
    return _record(raw.get("pid"), image, question, None if answer is None else str(answer),
                   raw.get("question_type"), meta, raw.get("choices"))


def _record(rid, image, question, answer, qtype, meta, choices) -> tuple[Record | None, str | None]:
    if qtype not in QUESTION_TYPES:
        return None, f"unknown question type {qtype!r}"
    oracle = meta.get("oracle_answer")
    if answer is None and meta.get("require_answer", True):
        return None, "missing answer"
    atype = meta.get("answer_type") or _infer_answer_type(answer or oracle or "")
    if atype not in ANSWER_TYPES:
        return None, f"unknown answer type {atype!r}"
    precision = meta.get("precision")
    return Record(id=str(rid), image=image, question=question, answer=answer, question_type=qtype,
                  answer_type=atype, task=meta.get("task") or "unknown", choices=choices,
                  precision=None if precision is None else int(precision), unit=meta.get("unit") or None,
                  oracle_answer=oracle, solution=meta.get("solution"),
                  distractors=meta.get("distractors") or []), None


def _read_json(path: Path):
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DatasetError(f"{path}: not valid JSON ({e})") from None


def _convert(items, convert, root: Path, source: Path, limit: int | None, labeled: bool) -> list[Record]:
    records, skipped = [], Counter()
    for raw in items:
        if limit is not None and len(records) >= limit:
            break
        if not isinstance(raw, dict):
            skipped["record is not an object"] += 1
            continue
        rec, why = convert({**raw, "meta": {**(raw.get("meta") or {}), "require_answer": labeled}}, root)
        if rec is None:
            skipped[why] += 1
        else:
            records.append(rec)
    if skipped:
        log.warning("%s: skipped %d bad records (%s)", source, sum(skipped.values()),
                    ", ".join(f"{why}: {n}" for why, n in skipped.most_common()))
    if not records:
        raise DatasetError(f"{source}: no usable records ({dict(skipped) or 'file is empty'})")
    return records


def load_mathv360k(path: str | Path, limit: int | None = None, labeled: bool = True) -> list[Record]:
    """Records of a MathV360K-style JSON list; image paths are relative to the file's folder.

    With labeled=False the gpt turn may be absent (unlabeled prompts)."""
    path = Path(path)
    items = _read_json(path)
    if not isinstance(items, list):
        raise DatasetError(f"{path}: expected a JSON list of MathV360K records, got {type(items).__name__}")
    return _convert(items, _from_mathv360k, path.parent, path, limit, labeled)


def load_mathvista(path: str | Path, limit: int | None = None) -> list[Record]:
    """Records of a MathVista-style JSON (a dict keyed by pid, or a list); images relative to its folder."""
    path = Path(path)
    items = _read_json(path)
    if isinstance(items, dict):
        items = list(items.values())
    if not isinstance(items, list):
        raise DatasetError(f"{path}: expected MathVista records keyed by pid, got {type(items).__name__}")
    return records_from_mathvista(items, path.parent, path, limit)


def records_from_mathvista(items: list, root: Path, source: Path, limit: int | None = None) -> list[Record]:
    """Records of MathVista-style dicts (image paths relative to root), bad ones skipped and counted.

    The benchmark loaders (harness.benchmarks) bring every other format to these dicts, so one code path
    checks images and answers for all of them."""
    return _convert(items, _from_mathvista, Path(root), Path(source), limit, True)
