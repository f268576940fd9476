"""Pre-trained embedded bases shipped with the harness (the default recipe's and each model preset's), so a fresh
clone starts self-evolving from the base the README's tables were computed from instead of spending 10-35 minutes
of 2 CPU cores pre-training it (like a paper that starts from a released LMM).

A released base is a finished base stage folder, verbatim, in harness/stages/released/<stage folder name>. It
stands in for a stage of exactly that key (the hash of its own stage.json must give its name) and only with
`base.released` (the default); `base.released=false` pre-trains here, into a stage folder of its own key.
Pre-training the same key on another CPU rounds differently: a released base is one sample of its recipe.

To release a new one (a change to the default base recipe, the world or the model changes the key, and
tests/test_released_base.py then fails): run `harness run ablations/base.yaml`, which pre-trains the new key's
base into results/_stages/base-<key>, copy that folder here and remove the old one.
"""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from harness.stages.cache import DONE, config_hash

log = logging.getLogger(__name__)
RELEASED = Path(__file__).with_name("released")


def find(name: str) -> Path | None:
    """The released stage folder named `name`, if one is shipped and its stage.json hashes to that name."""
    folder = RELEASED / name
    if not (folder / DONE).is_file():
        return None
    stored = json.loads((folder / "stage.json").read_text())
    if f"{name.rsplit('-', 1)[0]}-{config_hash(stored)}" != name:
        log.warning("released stage %s: its stage.json does not hash to its name; ignored", folder)
        return None
    return folder


def copy(folder: Path, out: Path) -> dict:
    """Copy a released stage's files into `out` (the stage's build folder); the record its DONE.json keeps."""
    for item in folder.iterdir():
        if item.name in (DONE, "stage.json"):  # the cache writes both for the stage it builds
            continue
        (shutil.copytree if item.is_dir() else shutil.copy2)(item, out / item.name)
    done = json.loads((folder / DONE).read_text())
    log.info("base: the released %s (pre-trained in %s s when it was released); base.released=false pre-trains "
             "one here", folder.name, done.get("seconds"))
    return {**{k: v for k, v in done.items() if k not in ("seconds", "pid")},
            "released": {"from": str(folder.relative_to(RELEASED.parents[2])), "build_seconds": done.get("seconds")}}
