"""Evaluation benchmarks and the real MathVista / MathV360K files, read from a local path as Records.

Each loader reads a benchmark in the format it is published in (parquet from the Hugging Face hub, the
TSVs with base64 images that VLMEvalKit distributes, JSON/JSONL), brings every row to a MathVista-style
dict and hands them to harness.datasets, so images and answers are checked in one place and bad rows are
skipped and counted. Embedded images (bytes or base64) are written once into `image_cache/<benchmark>/`
inside the dataset folder; Record.image is always a file. Choose a loader by name from BENCHMARKS.

    python -m harness.benchmarks mathvista /data/MathVista /data/mstar/mathvista     # testmini.json + images
    python -m harness.benchmarks split /data/mstar/mathv360k/train_samples_all_tuning.json
"""
from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import io
import json
import random
import re
from pathlib import Path
from typing import Callable

from PIL import Image

from harness.datasets import OPTION_LETTERS, DatasetError, Record, format_choices, parse_choices, records_from_mathvista
from harness.io import atomic_write_json
from harness.registry import Registry

BENCHMARKS = Registry("benchmark")
CACHE = "image_cache"
READERS = (".parquet", ".tsv", ".json", ".jsonl")
# The paper's -R subsets "remove the perception sub-tasks" (following LLaVA-o1): these top-level categories.
MMSTAR_PERCEPTION = ("coarse perception", "fine-grained perception")
MMBENCH_PERCEPTION = ("coarse_perception", "finegrained_perception (instance-level)",
                      "finegrained_perception (cross-instance)")


# ---- reading tables -------------------------------------------------------------------------------

def table_files(path: Path, pattern: str, what: str) -> list[Path]:
    """The file itself, or the files under a folder matching pattern (e.g. a hub download's data/*.parquet)."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DatasetError(f"{path}: not found (expected a {what} file or a folder holding one)")
    found = [f for f in path.rglob(pattern) if f.suffix in READERS and CACHE not in f.parts]
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
        if path.suffix == ".tsv":
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


def _blank(value) -> bool:
    """None, NaN (a missing table cell) or an empty string."""
    if isinstance(value, str):
        return not value.strip()
    return value is None or (isinstance(value, float) and value != value)


def _list(value) -> list[str] | None:
    """A choices cell (list, numpy array, JSON string) as a list of strings, or None."""
    if value is None or isinstance(value, float):  # absent, or NaN in a table
        return None
    if isinstance(value, str):
        if not value.strip():
            return None
        value = json.loads(value) if value.lstrip().startswith("[") else [value]
    return [str(v) for v in value] or None


# ---- images ---------------------------------------------------------------------------------------

class ImageStore:
    """Writes embedded images once into <root>/image_cache/<name>/ and returns paths relative to root."""

    def __init__(self, root: Path, name: str):
        self.root, self.folder = root, root / CACHE / name

    def __call__(self, key: str, value) -> str | None:
        if isinstance(value, dict):  # the hub's Image feature: {"bytes": ..., "path": ...}
            value = value.get("bytes") or value.get("path")
        if isinstance(value, (bytes, bytearray)) and value:
            return self._write(key, bytes(value))
        if not isinstance(value, str) or not value.strip():
            return None
        if (self.root / value).is_file():
            return value
        data = _b64(value)  # neither a file under root nor base64: None, reported as a missing image
        return None if data is None else self._write(key, data)

    def _write(self, key: str, data: bytes) -> str:
        try:
            ext = "." + (Image.open(io.BytesIO(data)).format or "png").lower()
        except Exception:  # not an image: written as is, so the loader reports it as unreadable
            ext = ".img"
        path = self.folder / (re.sub(r"[^\w.-]", "_", key) + ext)
        if not path.is_file():
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
        return str(path.relative_to(self.root))


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


# ---- rows -> MathVista-style dicts ----------------------------------------------------------------

def multi_choice(pid, question: str, choices: list[str], answer, image: str | None, task: str, **meta) -> dict:
    """A multi-choice row in the harness's question format (`format_choices`); answer = choice text.

    >>> multi_choice(1, "Which?", ["cat", "dog"], "B", "a.png", "animals")["answer"]
    'dog'
    """
    text = question.strip() + format_choices(choices)
    return {"pid": str(pid), "question": text, "image": image, "choices": choices,
            "answer": choice_answer(answer, choices), "question_type": "multi_choice", "answer_type": "text",
            "metadata": {"task": task, **meta}}


def choice_answer(answer, choices: list[str]) -> str | None:
    """The gold choice text from a letter ('B', '(B)'), a 0-based index ('1') or the text itself; else None."""
    if _blank(answer):
        return None
    answer = str(answer).strip()
    letter = answer.strip("()")
    if len(letter) == 1 and letter in OPTION_LETTERS:
        idx = OPTION_LETTERS.index(letter)
    elif answer.isdigit():
        idx = int(answer)
    else:
        return answer if answer in choices else None
    return choices[idx] if idx < len(choices) else None


def _load(name: str, path, pattern: str, columns: tuple[str, ...], convert: Callable, limit: int | None,
          keep: Callable[[dict], bool] = lambda row: True) -> list[Record]:
    """Read every matching file, convert its rows, and check them as Records."""
    path = Path(path)
    root = path if path.is_dir() else path.parent
    store = ImageStore(root, name)
    items = []
    for file in table_files(path, pattern, name):
        rows = read_rows(file)
        require(rows, file, columns, name)
        images = {str(r.get("index")): r.get("image") for r in rows}  # VLMEvalKit TSVs reuse images by index
        items += [convert(row, store, images) for row in rows if keep(row)]
    if not items:
        raise DatasetError(f"{path}: no {name} rows left after filtering")
    return records_from_mathvista(items, root, path, limit)


def _image_of(row: dict, store: ImageStore, images: dict, key: str):
    value = row.get("image")
    if isinstance(value, str) and value.isdigit() and len(value) <= 16:  # a reference to another row's image
        value = images.get(value)
    return store(key, value)


# ---- benchmarks -----------------------------------------------------------------------------------

def _mathvista_row(row: dict, store: ImageStore, images: dict) -> dict:
    pid = str(row["pid"])
    image = row["image"] if isinstance(row.get("image"), str) and (store.root / row["image"]).is_file() else None
    image = image or store(pid, row.get("decoded_image"))
    precision = row.get("precision")
    return {**row, "image": image, "choices": _list(row.get("choices")),
            "unit": None if _blank(row.get("unit")) else row["unit"],
            "precision": None if _blank(precision) else precision,
            "metadata": dict(row.get("metadata") or {}), "decoded_image": None}


@BENCHMARKS.register("mathvista")
def load_mathvista_hub(path, limit: int | None = None, split: str = "testmini") -> list[Record]:
    """MathVista as downloaded from the hub (AI4Math/MathVista: data/testmini-*.parquet), images from
    `decoded_image` bytes or the `image` path when images.zip is unpacked beside it."""
    return _load("mathvista", path, f"{split}*", ("pid", "question", "answer", "question_type", "answer_type"),
                 _mathvista_row, limit)


_OPTIONS_RE = re.compile(r"\n\s*Options:\s*(.*)\Z", re.S)
_OPTION_RE = re.compile(r"(?:^|,\s*)([A-J]):\s*(.*?)(?=,\s*[A-J]:\s|\Z)", re.S)


def mmstar_options(question: str) -> tuple[str, list[str]] | None:
    """Split an MMStar question into its stem and options ('...\\nOptions: A: x, B: y, C: z, D: w').

    >>> mmstar_options("What is it?\\nOptions: A: a cat, B: a dog, C: 3, 4, D: none")
    ('What is it?', ['a cat', 'a dog', '3, 4', 'none'])
    """
    m = _OPTIONS_RE.search(question)
    if not m:
        return None
    return question[:m.start()].strip(), [text.strip() for _, text in _OPTION_RE.findall(m.group(1).strip())]


def _mmstar_row(row: dict, store: ImageStore, images: dict) -> dict:
    letters = [c for c in OPTION_LETTERS if not _blank(row.get(c))]
    parsed = mmstar_options(row["question"])
    stem, choices = (row["question"], [str(row[c]) for c in letters]) if letters else (parsed or (row["question"], []))
    image = _image_of(row, store, images, str(row["index"]))
    return multi_choice(row["index"], stem, choices, row.get("answer"), image, row["category"],
                        l2_category=row.get("l2_category"))


@BENCHMARKS.register("mmstar")
def load_mmstar(path, limit: int | None = None, reasoning_only: bool = False) -> list[Record]:
    """MMStar (Lin-Chen/MMStar: mmstar.parquet, or MMStar.tsv with base64 images); options live in the
    question text ('Options: A: ..., B: ...') or in A-D columns; per-task breakdown by category."""
    keep = (lambda row: row["category"] not in MMSTAR_PERCEPTION) if reasoning_only else (lambda row: True)
    return _load("mmstar", path, "*", ("index", "question", "answer", "category", "image"), _mmstar_row, limit, keep)


@BENCHMARKS.register("mmstar_r")
def load_mmstar_r(path, limit: int | None = None) -> list[Record]:
    """MMStar-R: MMStar without its perception categories (paper Table 5)."""
    return load_mmstar(path, limit, reasoning_only=True)


def _tsv_choice_row(row: dict, store: ImageStore, images: dict) -> dict:
    choices = [str(row[c]).strip() for c in OPTION_LETTERS if not _blank(row.get(c))]
    hint = row.get("hint")
    question = row["question"] if _blank(hint) else f"Context: {str(hint).strip()}\n{row['question']}"
    image = _image_of(row, store, images, str(row["index"]))
    return multi_choice(row["index"], question, choices, row.get("answer"), image, row.get("category") or "unknown",
                        l2_category=row.get("l2-category") or row.get("l2_category"))


@BENCHMARKS.register("mmbench")
def load_mmbench(path, limit: int | None = None, reasoning_only: bool = False) -> list[Record]:
    """MMBench (the VLMEvalKit TSV, e.g. MMBench_DEV_EN_V11.tsv: index, question, hint, A-D, answer,
    category, l2-category, base64 image). Use the dev split: the test split has no answers."""
    keep = ((lambda row: (row.get("l2-category") or row.get("l2_category")) not in MMBENCH_PERCEPTION)
            if reasoning_only else (lambda row: True))
    return _load("mmbench", path, "*", ("index", "question", "A", "B", "answer", "category", "image"),
                 _tsv_choice_row, limit, keep)


@BENCHMARKS.register("mmbench_r")
def load_mmbench_r(path, limit: int | None = None) -> list[Record]:
    """MMBench-R: MMBench without its perception L2 categories (paper Table 5)."""
    return load_mmbench(path, limit, reasoning_only=True)


def _ai2d_row(row: dict, store: ImageStore, images: dict) -> dict:
    if "options" not in row:
        return _tsv_choice_row(row, store, images)
    key = row.get("index") or row.get("id") or hashlib.sha1(repr((row["question"], _list(row["options"]))).encode())
    key = key.hexdigest()[:16] if hasattr(key, "hexdigest") else str(key)
    image = _image_of(row, store, images, key)
    return multi_choice(key, row["question"], _list(row["options"]) or [], row.get("answer"), image, "ai2d")


@BENCHMARKS.register("ai2d")
def load_ai2d(path, limit: int | None = None) -> list[Record]:
    """AI2D test: the VLMEvalKit TSV (index, question, A-D, answer letter, base64 image) or the hub
    parquet (lmms-lab/ai2d: question, options, answer as a 0-based index, image)."""
    return _load("ai2d", path, "*", ("question", "answer", "image"), _ai2d_row, limit)


def _m3cot_row(row: dict, store: ImageStore, images: dict) -> dict:
    context = row.get("context")
    question = row["question"] if _blank(context) else f"Context: {str(context).strip()}\n{row['question']}"
    image = store(str(row["id"]), row.get("image"))
    return multi_choice(row["id"], question, _list(row.get("choices")) or [], row.get("answer"), image,
                        row.get("domain") or row.get("category") or "unknown", topic=row.get("topic"))


@BENCHMARKS.register("m3cot")
def load_m3cot(path, limit: int | None = None, split: str = "test") -> list[Record]:
    """M3CoT (LightChen2333/M3CoT: data/test-*.parquet, or the JSON/JSONL release with image paths or
    base64): id, question, choices, context, answer letter, domain, image; breakdown by domain."""
    return _load("m3cot", path, f"{split}*", ("id", "question", "choices", "answer"), _m3cot_row, limit)


def load_benchmark(name: str, path, limit: int | None = None) -> list[Record]:
    """Records of a registered benchmark read from a local path."""
    return BENCHMARKS.get(name)(path, limit)


# ---- the paper's MathV360K split and a data folder for data.path --------------------------------

def split_mathv360k(source, out=None, seed: int = 0, test_id: int = 750, val: int = 250) -> dict[str, int]:
    """The paper's split of MathV360K: a seeded half labeled; of the other half, 750 test-ID and 250
    validation records (with answers) and the rest unlabeled (answer kept only as meta.oracle_answer).

    Writes {labeled,unlabeled,val,test_id}.json into `out` (default: beside the source, where its
    relative image paths resolve). Deterministic for a seed; returns the size of each split."""
    source = Path(source)
    out = Path(out) if out else source.parent
    items = json.loads(source.read_text()) if source.is_file() else None
    if not isinstance(items, list):
        raise DatasetError(f"{source}: expected the MathV360K JSON list (e.g. train_samples_all_tuning.json)")
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    half = len(order) // 2
    if len(order) - half < test_id + val:
        raise DatasetError(f"{source}: {len(items)} records leave too few for {test_id} test-ID + {val} validation")
    parts = {"labeled": order[:half], "test_id": order[half:half + test_id],
             "val": order[half + test_id:half + test_id + val], "unlabeled": order[half + test_id + val:]}
    for name, idx in parts.items():
        rows = [items[i] if name != "unlabeled" else _unlabeled(items[i]) for i in idx]
        atomic_write_json(out / f"{name}.json", rows)
    return {k: len(v) for k, v in parts.items()}


def _unlabeled(raw: dict) -> dict:
    """The record without its gpt turn; the answer (choice text for a letter) kept as meta.oracle_answer."""
    conv = raw.get("conversations") or []
    human = next((t.get("value", "") for t in conv if t.get("from") == "human"), "")
    gpt = next((t.get("value", "") for t in conv if t.get("from") == "gpt"), None)
    choices = parse_choices(human.replace("<image>", "").strip())
    oracle = (choice_answer(gpt, choices) if choices else None) or gpt
    return {**raw, "conversations": [t for t in conv if t.get("from") != "gpt"],
            "meta": {**(raw.get("meta") or {}), "oracle_answer": oracle}}


def write_mathvista(source, out, limit: int | None = None) -> int:
    """MathVista testmini from its hub download to `out`/testmini.json + images, the layout data.path reads."""
    out = Path(out)
    records = load_mathvista_hub(source, limit)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rows = {}
    for r in records:
        image = out / "images" / f"{r.id}{r.image.suffix}"
        if not image.is_file():
            image.write_bytes(r.image.read_bytes())
        rows[r.id] = {"pid": r.id, "question": r.question, "image": f"images/{image.name}", "choices": r.choices,
                      "unit": r.unit, "precision": r.precision, "answer": r.answer,
                      "question_type": r.question_type, "answer_type": r.answer_type, "metadata": {"task": r.task}}
    atomic_write_json(out / "testmini.json", rows)
    return len(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.benchmarks",
                                description="Prepare real datasets in the layout data.path reads.")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("split", help="split a MathV360K JSON into labeled/unlabeled/val/test_id (paper section 3)")
    s.add_argument("source", type=Path)
    s.add_argument("--out", type=Path)
    s.add_argument("--seed", type=int, default=0)
    m = sub.add_parser("mathvista", help="MathVista testmini parquet -> <out>/testmini.json + images")
    m.add_argument("source", type=Path)
    m.add_argument("out", type=Path)
    args = p.parse_args(argv)
    if args.command == "split":
        print(split_mathv360k(args.source, args.out, args.seed))
    else:
        print(f"{write_mathvista(args.source, args.out)} records written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
