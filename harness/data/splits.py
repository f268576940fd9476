"""The splits of a data folder (data.path, or the embedded world's data stage), read by the same loaders as the
real datasets: MathV360K-style labeled / unlabeled / val / test_id and a MathVista-style out-of-distribution test."""
from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

from harness.data.datasets import Record, read_mathv360k, read_mathvista, usable

SPLIT_FILES = {"labeled": "mathv360k/labeled.json", "unlabeled": "mathv360k/unlabeled.json",
               "val": "mathv360k/val.json", "test_id": "mathv360k/test_id.json",
               "test_ood": "mathvista/testmini.json"}
TEST_SPLITS = ("test_id", "test_ood")


def read_split(data: Path, name: str) -> tuple[list[Record], Counter]:
    """One split of a data folder, with the records skipped per reason."""
    path = Path(data) / SPLIT_FILES[name]
    if name == "test_ood":
        return read_mathvista(path)
    return read_mathv360k(path, labeled=name != "unlabeled")


def load_splits(data: Path) -> dict[str, list[Record]]:
    """Every split of a data folder: its usable records (bad ones logged by reason; none usable is an error)."""
    return {name: usable(*read_split(data, name), Path(data) / SPLIT_FILES[name]) for name in SPLIT_FILES}


def eval_splits(splits: dict[str, list[Record]]) -> dict[str, list[Record]]:
    """The test splits of loaded splits."""
    return {k: splits[k] for k in TEST_SPLITS}


def seeded_sample(records: list[Record], n: int, tag: str) -> list[Record]:
    """All of `records` when n is 0 or covers them, else a sample of n seeded by `tag`, in the split's order."""
    if not n or n >= len(records):
        return records
    return [records[i] for i in sorted(random.Random(tag).sample(range(len(records)), n))]
