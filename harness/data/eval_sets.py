"""Evaluation benchmarks (the paper's Table 5), read from a local path as Records.

Each loader reads a benchmark in the format its owners publish (parquet from the Hugging Face hub, the
TSVs with base64 images that VLMEvalKit distributes, JSON/JSONL), brings every row to a MathVista-style
dict and hands them to harness.data.datasets, so images and answers are checked in one place and bad rows are
skipped and counted. Dataset folders are only read: embedded images (bytes or base64) are written once
into an image cache the caller names (a run uses `<results_dir>/_stages/images/`), and Record.image is
always a file. Choose a loader by name from BENCHMARKS.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import logging
import re
from collections import Counter
from pathlib import Path
from typing import Callable

from PIL import Image

from harness.data.answer_forms import OPTION_LETTERS, choice_answer, clean_option
from harness.data.datasets import DatasetError, Record, convert, format_choices, usable
from harness.io import atomic_write_bytes
from harness.registry import Registry

log = logging.getLogger(__name__)
BENCHMARKS = Registry("benchmark")
READERS = (".parquet", ".tsv", ".json", ".jsonl")
# The paper's -R subsets "remove the perception sub-tasks" (following LLaVA-o1): these top-level categories.
MMSTAR_PERCEPTION = ("coarse perception", "fine-grained perception")
MMBENCH_PERCEPTION = ("coarse_perception", "finegrained_perception (instance-level)",
                      "finegrained_perception (cross-instance)")
# VLMEvalKit stores a repeated image as the index of the row holding it: an image cell this short is a
# reference, not base64 (its own rule), and MMBench's circular copies sit at index + k * 1,000,000.
IMAGE_REFERENCE_CHARS = 64
CIRCULAR_OFFSET = 1_000_000


# ---- reading tables -------------------------------------------------------------------------------

def table_files(path: Path, pattern: str, what: str) -> list[Path]:
    """The file itself, or the files under a folder matching pattern (e.g. a hub download's data/*.parquet)."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DatasetError(f"{path}: not found (expected a {what} file or a folder holding one)")
    found = [f for f in path.rglob(pattern) if f.suffix in READERS]
    for suffix in READERS:  # one format only: a hub folder may hold the same data as parquet and TSV
        if files := sorted(f for f in found if f.suffix == suffix):
            return files
    raise DatasetError(f"{path}: no {what} file matching {pattern!r} (formats: {', '.join(READERS)})")


def read_rows(path: Path) -> list[dict]:
    """Rows of a parquet, TSV, JSON (list, or dict keyed by id) or JSONL file, as plain dicts."""
    import pandas as pd

    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path).to_dict("records")
        if path.suffix == ".tsv":  # every cell a string; an empty cell stays "" (an absent option)
            return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False).to_dict("records")
        if path.suffix == ".jsonl":
            return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if path.suffix == ".json":
            data = json.loads(path.read_text())
            return list(data.values()) if isinstance(data, dict) else data
    except Exception as e:  # pyarrow, pandas and json each raise their own types for a corrupt file
        raise DatasetError(f"{path}: not a readable {path.suffix[1:]} file ({type(e).__name__}: {e})") from None
    raise DatasetError(f"{path}: unsupported format {path.suffix!r}; expected one of {', '.join(READERS)}")


def require(rows: list[dict], source: Path, columns: tuple[str, ...], what: str) -> None:
    """A clear error when a file is not in the expected format (rather than every row skipped)."""
    if not isinstance(rows, list) or not rows or not isinstance(rows[0], dict):
        raise DatasetError(f"{source}: expected a table of {what} rows, found no rows")
    missing = [c for c in columns if c not in rows[0]]
    if missing:
        raise DatasetError(f"{source}: not a {what} file: missing columns {missing}; found {sorted(rows[0])}")


def blank(value) -> bool:
    """None, NaN (a missing table cell) or an empty string."""
    if isinstance(value, str):
        return not value.strip()
    return value is None or (isinstance(value, float) and value != value)


def as_list(value) -> list[str] | None:
    """A choices cell (list, numpy array, JSON string) as a list of strings, or None."""
    if value is None or isinstance(value, float):  # absent, or NaN in a table
        return None
    if isinstance(value, str):
        if not value.strip():
            return None
        value = json.loads(value) if value.lstrip().startswith("[") else [value]
    return [str(v) for v in value] or None


# ---- images ---------------------------------------------------------------------------------------

def cache_folder(cache: Path, name: str, path: Path) -> Path:
    """The image cache of one benchmark file or folder: its name plus a hash of where it lies."""
    return Path(cache) / f"{name}-{hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:10]}"


class ImageStore:
    """Turns an image cell into a file: a path under the dataset folders as it is, embedded bytes or base64
    written once into `folder` (never into the dataset, which may be read-only)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.search: tuple[Path, ...] = ()  # dataset folders a path cell may be relative to

    def __call__(self, key: str, value) -> str | None:
        if isinstance(value, dict):  # the hub's Image feature: {"bytes": ..., "path": ...}
            value = value.get("bytes") or value.get("path")
        if isinstance(value, (bytes, bytearray)) and value:
            return self.write(key, bytes(value))
        if not isinstance(value, str) or not value.strip():
            return None
        if found := self.find(value):
            return found
        data = _b64(value)  # neither a file nor base64: None, reported as a missing image
        return None if data is None else self.write(key, data)

    def find(self, value) -> str | None:
        """The file a path cell names under the dataset folders, if any. A long cell is base64, never stat()ed
        as a path (the OS refuses names that long)."""
        if isinstance(value, str) and value.strip() and len(value) < 1024:
            for folder in self.search:
                if (folder / value).is_file():
                    return str(folder / value)
        return None

    def write(self, key: str, data: bytes) -> str:
        """The file holding `data`, written once; named by the record's key and a hash of the bytes, so a
        dataset replaced at the same path never shows a stale image."""
        try:
            ext = "." + (Image.open(io.BytesIO(data)).format or "png").lower()
        except Exception:  # not an image: written as is, so the loader reports it as unreadable
            ext = ".img"
        name = re.sub(r"[^\w.-]", "_", key)
        path = self.folder / f"{name}-{hashlib.sha256(data).hexdigest()[:8]}{ext}"
        if not path.is_file():
            atomic_write_bytes(path, data)
        return str(path)


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


# ---- rows -> MathVista-style dicts ----------------------------------------------------------------

def multi_choice(pid, question: str, choices: list[str], answer, image: str | None, task: str, **meta) -> dict:
    """A multi-choice row in the harness's question format (`format_choices`); answer = choice text.

    Options lose a final period (`clean_option`); the answer may be a letter or the option text (one that is
    neither stays as it is, and the loader skips the row with the reason).

    >>> multi_choice(1, "Which?", ["a cat.", "a dog."], "B", "a.png", "animals")["answer"]
    'a dog'
    """
    choices = [clean_option(c) for c in choices]
    gold = None if blank(answer) else choice_answer(answer, choices)[0]
    return {"pid": str(pid), "question": question.strip() + format_choices(choices), "image": image,
            "choices": choices, "answer": gold if gold is not None else answer, "question_type": "multi_choice",
            "answer_type": "text", "metadata": {"task": task, **meta}}


def _load(name: str, path, cache: Path, pattern: str, columns: tuple[str, ...], to_item: Callable, limit: int | None,
          keep: Callable[[dict], str | None] = lambda row: None) -> list[Record]:
    """Read every matching file, convert its rows (`keep` names why a row is left out, or None), and check
    them as Records. Images are written to `cache_folder(cache, name, path)`."""
    path = Path(path)
    root = path if path.is_dir() else path.parent
    store = ImageStore(cache_folder(cache, name, path))
    items, left_out = [], Counter()
    for file in table_files(path, pattern, name):
        rows = read_rows(file)
        require(rows, file, columns, name)
        store.search = (file.parent, root)
        images = {str(r.get("index")): r.get("image") for r in rows if "index" in r}
        for number, row in enumerate(rows):
            if why := keep(row):
                left_out[why] += 1
            else:
                items.append(to_item({**row, "_key": f"{file.stem}-{number}"}, store, images))
    if left_out:
        log.info("%s: left out %s", path, ", ".join(f"{why}: {n}" for why, n in left_out.most_common()))
    if not items:
        raise DatasetError(f"{path}: no {name} rows left after filtering ({dict(left_out)})")
    return usable(*convert(items, "mathvista", root, True, limit, cache=store.folder), path)


def _image_of(row: dict, store: ImageStore, images: dict, key: str):
    """The row's image; a VLMEvalKit cell holding another row's index means that row's image."""
    value = row.get("image")
    if isinstance(value, str) and len(value) <= IMAGE_REFERENCE_CHARS and value.strip() in images:
        value = images[value.strip()]
    return store(key, value)


# ---- benchmarks -----------------------------------------------------------------------------------

_PRECISION_WORDS = {1: "one decimal place", 2: "two decimal places", 3: "three decimal places"}


def mathvista_hint(question_type: str, answer_type: str, precision) -> str:
    """The Hint line of MathVista's official zero-shot query: which answer form (and precision) is wanted.

    >>> mathvista_hint("free_form", "float", 2)[:90]
    'Hint: Please answer the question requiring a floating-point number with two decimal places'
    """
    if question_type == "multi_choice":
        return ("Hint: Please answer the question and provide the correct option letter, e.g., A, B, C, D, "
                "at the end.")
    if answer_type == "integer":
        return ("Hint: Please answer the question requiring an integer answer and provide the final value, "
                "e.g., 1, 2, 3, at the end.")
    if answer_type == "float":
        digits = int(precision or 1)
        examples = ", ".join(x[: 2 + digits] for x in ("1.23456789", "1.3456789", "1.456789"))  # 1.2, 1.3, 1.4
        return (f"Hint: Please answer the question requiring a floating-point number with "
                f"{_PRECISION_WORDS.get(digits, f'{digits} decimal places')} and provide the final value, "
                f"e.g., {examples}, at the end.")
    return ("Hint: Please answer the question requiring a Python list as an answer and provide the final list, "
            "e.g., [1, 2, 3], [1.2, 1.3, 1.4], at the end.")


def mathvista_query(row: dict) -> str:
    """A MathVista record's prompt: its own `query` when it has one (the hub's and the GitHub JSON's), else
    the official query built from its fields: Hint, Question (with its unit), then the choices.

    The shape of MathVista's published queries (data/query.json, the hub's `query` column), one per
    answer type:

    >>> ask = lambda **row: print(mathvista_query({"unit": None, "choices": None, "precision": None, **row}))
    >>> ask(question="Which angle is the largest?", choices=["30°", "60°", "90°"], question_type="multi_choice",
    ...     answer_type="text")
    Hint: Please answer the question and provide the correct option letter, e.g., A, B, C, D, at the end.
    Question: Which angle is the largest?
    Choices:
    (A) 30°
    (B) 60°
    (C) 90°
    >>> ask(question="How long is AB?", unit="cm", question_type="free_form", answer_type="integer")
    Hint: Please answer the question requiring an integer answer and provide the final value, e.g., 1, 2, 3, at the end.
    Question: How long is AB? (Unit: cm)
    >>> ask(question="What is the slope of the line?", question_type="free_form", answer_type="float", precision=1)
    Hint: Please answer the question requiring a floating-point number with one decimal place and provide the final value, e.g., 1.2, 1.3, 1.4, at the end.
    Question: What is the slope of the line?
    >>> ask(question="What does the pen cost?", unit="$", question_type="free_form", answer_type="float",
    ...     precision=2.0)
    Hint: Please answer the question requiring a floating-point number with two decimal places and provide the final value, e.g., 1.23, 1.34, 1.45, at the end.
    Question: What does the pen cost? (Unit: $)
    >>> ask(question="Which years had a deficit?", question_type="free_form", answer_type="list")
    Hint: Please answer the question requiring a Python list as an answer and provide the final list, e.g., [1, 2, 3], [1.2, 1.3, 1.4], at the end.
    Question: Which years had a deficit?

    A record that carries its query keeps it:

    >>> mathvista_query({"query": "Hint: given.\\nQuestion: Q?", "question": "Q?"})
    'Hint: given.\\nQuestion: Q?'
    """
    if not blank(row.get("query")):
        return str(row["query"])
    question = f"Question: {row['question']}" + (f" (Unit: {row['unit']})" if not blank(row.get("unit")) else "")
    choices = as_list(row.get("choices"))
    lines = [mathvista_hint(row.get("question_type"), row.get("answer_type"), row.get("precision")), question]
    return "\n".join(lines) + ("\nChoices:" + "".join(f"\n({OPTION_LETTERS[i]}) {c}" for i, c in enumerate(choices))
                               if choices else "")


def mathvista_item(row: dict, store: ImageStore, images: dict) -> dict:
    pid = str(row["pid"])
    image = store.find(row.get("image")) or store(pid, row.get("decoded_image"))
    precision = row.get("precision")
    return {**{k: v for k, v in row.items() if k not in ("decoded_image", "_key")}, "image": image,
            "query": mathvista_query(row), "choices": as_list(row.get("choices")),
            "unit": None if blank(row.get("unit")) else row["unit"],
            "precision": None if blank(precision) else int(precision), "metadata": dict(row.get("metadata") or {})}


@BENCHMARKS.register("mathvista")
def load_mathvista_hub(path, cache: Path, limit: int | None = None, split: str = "testmini") -> list[Record]:
    """MathVista as published (AI4Math/MathVista: data/testmini-*.parquet with `decoded_image` bytes, or the
    GitHub data/testmini.json with images/ unpacked beside it); the prompt is the official query, Hint included."""
    return _load("mathvista", path, cache, f"{split}*", ("pid", "question", "answer", "question_type",
                                                         "answer_type"), mathvista_item, limit)


_OPTIONS_HEADER = re.compile(r"\n\s*Options:\s*", re.S)


def mmstar_options(question: str) -> tuple[str, list[str]] | None:
    """Split an MMStar question into its stem and options ('...\\nOptions: A: x, B: y, C: z, D: w'). Option
    letters must follow in order, so a comma or a letter inside an option stays part of it.

    >>> mmstar_options("What is it?\\nOptions: A: a cat., B: a dog, C: 3, 4, D: B: none")
    ('What is it?', ['a cat.', 'a dog', '3, 4', 'B: none'])
    """
    m = list(_OPTIONS_HEADER.finditer(question))
    if not m or not question[m[-1].end():].startswith("A:"):
        return None
    body, options, start = question[m[-1].end():], [], len("A:")
    for letter in OPTION_LETTERS[1:]:
        nxt = body.find(f", {letter}:", start)
        if nxt < 0:
            break
        options.append(body[start:nxt].strip())
        start = nxt + len(f", {letter}:")
    options.append(body[start:].strip())
    return question[:m[-1].start()].strip(), options


def _mmstar_row(row: dict, store: ImageStore, images: dict) -> dict:
    parsed = mmstar_options(row["question"])
    stem = parsed[0] if parsed else row["question"]
    letters = [c for c in OPTION_LETTERS if not blank(row.get(c))]  # VLMEvalKit's TSV also has A-D columns
    choices = [str(row[c]) for c in letters] if letters else (parsed[1] if parsed else [])
    image = _image_of(row, store, images, str(row["index"]))
    return multi_choice(row["index"], stem, choices, row.get("answer"), image, row["category"],
                        l2_category=row.get("l2_category") or row.get("l2-category"))


def _mmstar_keep(reasoning_only: bool) -> Callable[[dict], str | None]:
    return lambda row: "perception category" if reasoning_only and row["category"] in MMSTAR_PERCEPTION else None


@BENCHMARKS.register("mmstar")
def load_mmstar(path, cache: Path, limit: int | None = None, reasoning_only: bool = False) -> list[Record]:
    """MMStar (Lin-Chen/MMStar: mmstar.parquet with image bytes, options in the question text as
    'Options: A: ..., B: ...'; or VLMEvalKit's MMStar.tsv with base64 images); breakdown by category."""
    return _load("mmstar", path, cache, "*", ("index", "question", "answer", "category", "image"), _mmstar_row,
                 limit, _mmstar_keep(reasoning_only))


@BENCHMARKS.register("mmstar_r")
def load_mmstar_r(path, cache: Path, limit: int | None = None) -> list[Record]:
    """MMStar-R: MMStar without its perception categories (paper Table 5)."""
    return load_mmstar(path, cache, limit, reasoning_only=True)


def _tsv_choice_row(row: dict, store: ImageStore, images: dict) -> dict:
    """A VLMEvalKit multi-choice row: an option exists where its letter's cell is non-empty; the hint goes
    before the question as VLMEvalKit's prompt puts it."""
    choices = [str(row[c]) for c in OPTION_LETTERS if not blank(row.get(c))]
    hint = row.get("hint")
    question = f"Question: {row['question']}" if blank(hint) else f"Hint: {str(hint).strip()}\nQuestion: {row['question']}"
    key = str(row.get("index") if not blank(row.get("index")) else row["_key"])
    return multi_choice(key, question, choices, row.get("answer"), _image_of(row, store, images, key),
                        row.get("category") or "unknown", l2_category=row.get("l2-category") or row.get("l2_category"))


def _mmbench_keep(reasoning_only: bool) -> Callable[[dict], str | None]:
    """MMBench's circular copies (the same question with rotated options) are left out: accuracy is over
    the original questions. The -R subset also leaves out the perception L2 categories."""
    def keep(row: dict) -> str | None:
        if str(row.get("index", "")).isdigit() and int(row["index"]) >= CIRCULAR_OFFSET:
            return "circular copy"
        if reasoning_only and (row.get("l2-category") or row.get("l2_category")) in MMBENCH_PERCEPTION:
            return "perception category"
        return None
    return keep


@BENCHMARKS.register("mmbench")
def load_mmbench(path, cache: Path, limit: int | None = None, reasoning_only: bool = False) -> list[Record]:
    """MMBench (the VLMEvalKit TSV, e.g. MMBench_DEV_EN_V11.tsv: index, question, hint, A-D, answer,
    category, l2-category, base64 image or another row's index, split). Use the dev split: the test split
    has no answers."""
    return _load("mmbench", path, cache, "*", ("index", "question", "A", "B", "answer", "category", "image"),
                 _tsv_choice_row, limit, _mmbench_keep(reasoning_only))


@BENCHMARKS.register("mmbench_r")
def load_mmbench_r(path, cache: Path, limit: int | None = None) -> list[Record]:
    """MMBench-R: MMBench without its perception L2 categories (paper Table 5)."""
    return load_mmbench(path, cache, limit, reasoning_only=True)


def _ai2d_row(row: dict, store: ImageStore, images: dict) -> dict:
    if "options" not in row:
        return _tsv_choice_row(row, store, images)
    # lmms-lab/ai2d rows have no id, and rows may share question and options with different images:
    # the row's place in its shard names both the record and its image.
    key, answer = row["_key"], str(row.get("answer", "")).strip()
    letter = OPTION_LETTERS[int(answer)] if answer.isdigit() and int(answer) < len(OPTION_LETTERS) else answer
    return multi_choice(key, row["question"], as_list(row["options"]) or [], letter,
                        _image_of(row, store, images, key), "ai2d")


@BENCHMARKS.register("ai2d")
def load_ai2d(path, cache: Path, limit: int | None = None) -> list[Record]:
    """AI2D test: the VLMEvalKit TSV (index, question, A-D, answer letter, base64 image) or the hub parquet
    shards (lmms-lab/ai2d: question, options list, answer as a 0-based index string, image; no id)."""
    return _load("ai2d", path, cache, "*", ("question", "answer", "image"), _ai2d_row, limit)


def _m3cot_row(row: dict, store: ImageStore, images: dict) -> dict:
    context = row.get("context")
    question = row["question"] if blank(context) else f"Context: {str(context).strip()}\n{row['question']}"
    image = store(str(row["id"]), row.get("image"))
    return multi_choice(row["id"], question, as_list(row.get("choices")) or [], row.get("answer"), image,
                        row.get("domain") or row.get("category") or "unknown", topic=row.get("topic"))


@BENCHMARKS.register("m3cot")
def load_m3cot(path, cache: Path, limit: int | None = None, split: str = "test") -> list[Record]:
    """M3CoT (LightChen2333/M3CoT: data/test-*.parquet with id, category, image_id, question, choices list,
    context, answer letter, rationale, split, image bytes, domain, topic; or the JSON/JSONL release with
    image paths or base64); breakdown by domain."""
    return _load("m3cot", path, cache, f"{split}*", ("id", "question", "choices", "answer"), _m3cot_row, limit)


def load_benchmark(name: str, path, cache: Path, limit: int | None = None) -> list[Record]:
    """Records of a registered benchmark read from a local path; decoded images go under `cache`."""
    return BENCHMARKS.get(name)(path, cache, limit)
