"""Bring the real datasets into the folder `data.path` reads: the paper's split of MathV360K and MathVista's
testmini in the layout of harness/data/splits.py (the `harness data split | mathvista` commands).

Both writers only read their SOURCE (dataset folders are often read-only) and write atomically into OUT.
"""
from __future__ import annotations

import os
import random
from pathlib import Path

from harness.data.eval_sets import ImageStore, mathvista_item, read_rows, require, table_files
from harness.data.datasets import (DatasetError, ImageCheck, from_raw, image_root as default_root, read_dataset_json,
                              read_mathvista)
from harness.io import atomic_write_json

SPLIT_SIZES = {"test_id": 750, "val": 250}  # the paper's held-out sizes; the rest halves into labeled / unlabeled


def split_mathv360k(source, out, seed: int = 0, test_id: int = SPLIT_SIZES["test_id"], val: int = SPLIT_SIZES["val"],
                    image_root=None) -> dict:
    """The paper's split of MathV360K into `out`/mathv360k/{labeled,unlabeled,val,test_id}.json.

    Records the loaders cannot use (missing image, answer in an unknown form, ...) are left out first and
    counted by reason, so every split holds usable records only. Of the rest, a seeded half is labeled; the
    other half gives `test_id` test-ID and `val` validation records (with answers) and the unlabeled rest,
    whose answers are kept only as meta.oracle_answer (the oracle skyline). Images stay where they are:
    `out`/mathv360k/data_images links to the image root (default: data_images/ beside SOURCE when it exists,
    else SOURCE's folder), which record image paths are relative to. Deterministic for a seed."""
    source = Path(source)
    folder = Path(out) / "mathv360k"
    root = Path(image_root) if image_root else default_root(source)
    if not root.is_dir():
        raise DatasetError(f"{root}: image root not found (pass --image-root: the folder record image paths start in)")
    items = read_dataset_json(source)
    if not isinstance(items, list):
        raise DatasetError(f"{source}: expected the MathV360K JSON list (e.g. train_samples_all_tuning.json)")
    kept, skipped, images = [], {}, ImageCheck(root)
    for raw in items:
        rec, why = from_raw(raw, "mathv360k", images)
        if rec is None:
            skipped[why] = skipped.get(why, 0) + 1
        else:
            kept.append((raw, rec.answer))
    random.Random(seed).shuffle(kept)
    half = len(kept) // 2
    if len(kept) - half <= test_id + val:  # and at least one unlabeled record
        raise DatasetError(f"{source}: {len(kept)} usable records leave too few for {test_id} test-ID + {val} "
                           f"validation (skipped: {skipped or 'none'}); lower --test-id / --val")
    parts = {"labeled": kept[:half], "test_id": kept[half:half + test_id],
             "val": kept[half + test_id:half + test_id + val], "unlabeled": kept[half + test_id + val:]}
    _link_images(folder / "data_images", root)
    for name, pairs in parts.items():
        atomic_write_json(folder / f"{name}.json", [_unlabeled(raw, answer) if name == "unlabeled" else raw
                                                    for raw, answer in pairs])
    summary = {"source": str(source.resolve()), "image_root": str(root.resolve()), "seed": seed,
               "sizes": {k: len(v) for k, v in parts.items()}, "skipped": skipped}
    atomic_write_json(folder / "split.json", summary)
    return summary


def _unlabeled(raw: dict, answer: str) -> dict:
    """The record without its gpt turn; the answer (choice text for multi-choice) kept as meta.oracle_answer."""
    return {**raw, "conversations": [t for t in raw["conversations"] if t.get("from") != "gpt"],
            "meta": {**(raw.get("meta") or {}), "oracle_answer": answer}}


def _link_images(link: Path, root: Path) -> None:
    """`link` -> root, so the split files' image paths resolve as they do beside SOURCE."""
    if link.resolve() == root.resolve() or link.parent.resolve() == root.resolve():
        return  # already there (splitting in place), or the images lie beside the split files
    if link.exists() and not link.is_symlink():
        raise DatasetError(f"{link} exists and is not a link to the image root {root}; choose another OUT")
    link.parent.mkdir(parents=True, exist_ok=True)
    tmp = link.with_name(f".{link.name}.tmp")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(root.resolve(), target_is_directory=True)
    os.replace(tmp, link)


def write_mathvista(source, out, split: str = "testmini") -> dict:
    """MathVista as published (hub parquet with decoded image bytes, or the GitHub JSON with its images) ->
    `out`/mathvista/testmini.json + images/, the layout data.path reads. Every field of a record is kept and
    `query` (the official prompt, Hint line included) is built where absent; images are copied or decoded
    into `out`, never written into SOURCE. Returns the records the loader keeps and those it skips."""
    source, folder = Path(source), Path(out) / "mathvista"
    if folder.resolve().is_relative_to(source.resolve() if source.is_dir() else source.parent.resolve()):
        raise DatasetError(f"{out}: OUT lies inside SOURCE {source}; the source folder is only read")
    store, rows = ImageStore(folder / "images"), {}
    for file in table_files(source, f"{split}*", "mathvista"):
        file_rows = read_rows(file)
        require(file_rows, file, ("pid", "question", "answer", "question_type", "answer_type"), "mathvista")
        store.search = (file.parent, source if source.is_dir() else source.parent)
        for row in file_rows:
            item = mathvista_item(row, store, {})
            if item["image"] and not Path(item["image"]).is_relative_to(store.folder):  # a file under SOURCE
                item["image"] = store.write(item["pid"], Path(item["image"]).read_bytes())
            if item["image"]:
                item["image"] = str(Path(item["image"]).relative_to(folder))
            rows[item["pid"]] = _plain(item)
    atomic_write_json(folder / f"{split}.json", rows)
    records, skipped = read_mathvista(folder / f"{split}.json")
    return {"records": len(records), "skipped": dict(skipped), "out": str(folder / f"{split}.json")}


def _plain(value):
    """A parquet row's values (numpy scalars and arrays inside) as plain JSON values."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalar or array
        return _plain(value.tolist())
    if isinstance(value, float) and value != value:  # NaN: an empty cell
        return None
    return value
