"""Loaders for MathV360K-style and MathVista-style files at a local path.

The same loaders read the embedded world and the real datasets. Gold answers and choices are read in
every form the real files use (harness.data.answer_forms). Bad records (missing or unreadable image, an
image path escaping the dataset root, a labeled record without an answer, an answer or choices in a
form not understood, an unknown question type) are skipped and counted with the reason, never guessed
at and never a crash inside training.
"""
from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from harness.data.answer_forms import (OPTION_LETTERS, answer_type_of, choice_answer, clean_option, find_choices,
                                  free_form_answer)

log = logging.getLogger(__name__)

QUESTION_TYPES = ("multi_choice", "free_form")
ANSWER_TYPES = ("integer", "float", "text", "list")


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
    image: Path                    # absolute path, verified to lie inside the dataset root (or image cache)
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


def image_root(json_file: Path) -> Path:
    """Where a MathV360K-style file's image paths start: `data_images/` beside it when that folder exists
    (the dataset as downloaded: `TabMWP/images/1.png` is `data_images/TabMWP/images/1.png`), else its folder."""
    folder = Path(json_file).parent
    return folder / "data_images" if (folder / "data_images").is_dir() else folder


class ImageCheck:
    """Resolves record image paths inside a dataset root (or a loader's own image cache), or says why not.

    Only the header is read (a file that is not an image is caught here); pixels are decoded lazily, a batch
    at a time, so loading 180K records stays cheap. `harness data check` decodes every image."""

    def __init__(self, root: Path, cache: Path | None = None):
        self.root = Path(root)
        self.allowed = tuple(Path(r).resolve() for r in (root, cache) if r is not None)  # once, not per record

    def __call__(self, rel) -> tuple[Path | None, str | None]:
        if not rel:
            return None, "missing image field"
        path = (self.root / rel).resolve()
        if not any(path.is_relative_to(r) for r in self.allowed):
            return None, "image path escapes the dataset root"
        if not path.is_file():
            return None, "image file not found"
        try:
            with Image.open(path):
                pass
        except Exception:  # PIL raises many types for non-image files
            return None, "image file unreadable"
        return path, None


def format_choices(choices: list[str]) -> str:
    """The choices as the harness writes them after a question: one option per line, as MathVista's
    queries do (a line per option also lets a small model copy an option line by line).

    >>> format_choices(["3", "five"])
    '\\nChoices:\\n(A) 3\\n(B) five'
    """
    return "\nChoices:" + "".join(f"\n({OPTION_LETTERS[i]}) {c}" for i, c in enumerate(choices))


def _gold(value, choices: list[str] | None, prefer: str) -> tuple[str | None, str | None]:
    """The gold answer in the form the reward checks: the choice text, or the free-form value."""
    if value is None or not str(value).strip():
        return None, None  # no answer: a labeled record is then skipped as "missing answer"
    return choice_answer(value, choices, prefer) if choices else free_form_answer(value)


def _from_mathv360k(raw: dict, images: ImageCheck, labeled: bool) -> tuple[Record | None, str | None]:
    meta = raw.get("meta") or {}
    conv = raw.get("conversations")
    if not isinstance(conv, list) or not all(isinstance(t, dict) for t in conv):
        return None, "conversations is not a list of turns"
    human = next((t.get("value") for t in conv if t.get("from") == "human"), None)
    gpt = next((t.get("value") for t in conv if t.get("from") == "gpt"), None)
    if not isinstance(human, str) or not human.strip():
        return None, "no human turn"
    question = human.replace("<image>", "").strip()
    choices, why = ([clean_option(c) for c in meta["choices"]], None) if meta.get("choices") else find_choices(question)
    if why:
        return None, why
    answer, why = _gold(gpt, choices, prefer="letter")
    if why:
        return None, why
    oracle, why = _gold(meta.get("oracle_answer"), choices, prefer="text")
    if why:
        return None, f"oracle answer: {why}"
    image, why = images(raw.get("image"))
    if why:
        return None, why
    return _record(raw.get("id"), image, question, answer, oracle, meta.get("question_type"), meta, choices, labeled)


def _from_mathvista(raw: dict, images: ImageCheck, labeled: bool) -> tuple[Record | None, str | None]:
    # The query is MathVista's official prompt: its Hint line says which answer form and precision are wanted.
    question = str(raw.get("query") or raw.get("question") or "").replace("<image>", "").strip()
    choices = [clean_option(c) for c in raw["choices"]] if raw.get("choices") else None
    answer, why = _gold(raw.get("answer"), choices, prefer="text")
    if why:
        return None, why
    image, why = images(raw.get("image"))
    if why:
        return None, why
    meta = {**(raw.get("metadata") or {}), **(raw.get("meta") or {}),
            **{k: raw[k] for k in ("answer_type", "precision", "unit") if raw.get(k) is not None}}
    return _record(raw.get("pid"), image, question, answer, meta.get("oracle_answer"), raw.get("question_type"),
                   meta, choices, labeled)


_FROM_RAW = {"mathv360k": _from_mathv360k, "mathvista": _from_mathvista}


def _record(rid, image, question, answer, oracle, qtype, meta, choices, labeled) -> tuple[Record | None, str | None]:
    qtype = qtype or ("multi_choice" if choices else "free_form")  # MathVista's two types, inferred when absent
    if qtype not in QUESTION_TYPES:
        return None, f"unknown question type {qtype!r}"
    if qtype == "multi_choice" and len(choices or []) < 2:
        return None, "multi-choice question with fewer than two options"
    if answer is None and labeled:
        return None, "missing answer"
    inferred, digits = ("text", None) if choices else answer_type_of(answer or oracle or "")
    atype = meta.get("answer_type") or inferred
    if atype not in ANSWER_TYPES:
        return None, f"unknown answer type {atype!r}"
    precision = meta.get("precision")
    precision = digits if precision is None and atype == "float" else precision
    return Record(id=str(rid), image=image, question=question, answer=answer, question_type=qtype,
                  answer_type=atype, task=meta.get("task") or "unknown", choices=choices,
                  precision=None if precision is None else int(precision), unit=meta.get("unit") or None,
                  oracle_answer=oracle, solution=meta.get("solution"),
                  distractors=meta.get("distractors") or []), None


def read_dataset_json(path: Path):
    """A dataset's JSON file, or a DatasetError naming the file and what is wrong with it."""
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DatasetError(f"{path}: not valid JSON ({e})") from None


def from_raw(raw, kind: str, images: ImageCheck, labeled: bool = True) -> tuple[Record | None, str | None]:
    """One raw MathV360K-style (`kind="mathv360k"`) or MathVista-style dict as a Record, or why it is skipped."""
    if not isinstance(raw, dict):
        return None, "record is not an object"
    return _FROM_RAW[kind](raw, images, labeled)


def convert(items, kind: str, root: Path, labeled: bool = True, limit: int | None = None,
            cache: Path | None = None) -> tuple[list[Record], Counter]:
    """Records of raw dicts (see from_raw), with the number of records skipped per reason. Image paths are
    relative to root; `cache` is a second folder images may lie in (where a benchmark loader wrote the
    images it decoded)."""
    records, skipped, images = [], Counter(), ImageCheck(root, cache)
    for raw in items:
        if limit is not None and len(records) >= limit:
            break
        rec, why = from_raw(raw, kind, images, labeled)
        if rec is None:
            skipped[why] += 1
        else:
            records.append(rec)
    return records, skipped


def usable(records: list[Record], skipped: Counter, source: Path) -> list[Record]:
    """The records, with the skipped ones logged by reason; a clear error when none is left."""
    if skipped:
        log.warning("%s: skipped %d bad records (%s)", source, sum(skipped.values()),
                    ", ".join(f"{why}: {n}" for why, n in skipped.most_common()))
    if not records:
        raise DatasetError(f"{source}: no usable records ({dict(skipped) or 'file is empty'})")
    return records


def read_mathv360k(path: str | Path, labeled: bool = True, limit: int | None = None) -> tuple[list[Record], Counter]:
    """Records of a MathV360K-style JSON list and the count of skipped records per reason; image paths are
    relative to `image_root(path)`. With labeled=False the gpt turn may be absent (unlabeled prompts)."""
    path = Path(path)
    items = read_dataset_json(path)
    if not isinstance(items, list):
        raise DatasetError(f"{path}: expected a JSON list of MathV360K records, got {type(items).__name__}")
    return convert(items, "mathv360k", image_root(path), labeled, limit)


def read_mathvista(path: str | Path, limit: int | None = None) -> tuple[list[Record], Counter]:
    """Records of a MathVista-style JSON (a dict keyed by pid, or a list; images relative to its folder) and
    the count of skipped records per reason."""
    path = Path(path)
    items = read_dataset_json(path)
    if isinstance(items, dict):
        items = list(items.values())
    if not isinstance(items, list):
        raise DatasetError(f"{path}: expected MathVista records keyed by pid, got {type(items).__name__}")
    return convert(items, "mathvista", path.parent, True, limit)


def load_mathv360k(path: str | Path, limit: int | None = None, labeled: bool = True) -> list[Record]:
    """The usable records of a MathV360K-style JSON list (see read_mathv360k); bad ones logged by reason."""
    return usable(*read_mathv360k(path, labeled, limit), Path(path))


def load_mathvista(path: str | Path, limit: int | None = None) -> list[Record]:
    """The usable records of a MathVista-style JSON (see read_mathvista); bad ones logged by reason."""
    return usable(*read_mathvista(path, limit), Path(path))
