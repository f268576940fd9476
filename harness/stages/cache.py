"""Shared, cached stages: a folder keyed by a hash of exactly the config it depends on plus its inputs' keys.

A finished stage (its DONE marker exists) is never recomputed; a file lock makes sure two processes
never compute the same stage at once; a stage is built in a hidden temporary folder and renamed
into place, so a killed build never looks finished. A long build (the base model) checkpoints into
`resume_folder(path)` and a restarted build goes on from there.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from harness.io import atomic_write_json

log = logging.getLogger(__name__)
DONE = "DONE.json"


def config_hash(payload: dict, n: int = 10) -> str:
    """A short stable hash of JSON-able config."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:n]


def stage_path(cache: Path, name: str, payload: dict) -> Path:
    """The stage's folder: <cache>/<name>-<hash of payload>."""
    key = (str(cache), name, repr(payload))
    if key not in _PATHS:  # equal reprs are equal payloads
        if len(_PATHS) > 10_000:
            _PATHS.clear()
        _PATHS[key] = Path(cache) / f"{name}-{config_hash(payload)}"
    return _PATHS[key]


# (cache, name, repr(payload)) -> folder: the runs of a sweep share a few stages, and planning 10,000 of them
# should not serialise and hash the same payloads 10,000 times (repr is several times quicker than the JSON).
_PATHS: dict[tuple[str, str, str], Path] = {}


def resume_folder(path: Path) -> Path:
    """Where a long stage build keeps checkpoints that a restarted build goes on from (removed once it is done)."""
    path = Path(path)
    return path.with_name(f".{path.name}.resume")


def is_done(path: Path) -> bool:
    return (Path(path) / DONE).is_file()


@contextmanager
def file_lock(path: Path):
    """An exclusive advisory lock held for the duration of the block (released if the process dies)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def ensure_stage(path: Path, payload: dict, build: Callable[[Path], dict | None]) -> Path:
    """Return the finished stage folder, building it with build(tmp_folder) first if needed."""
    path = Path(path)
    if is_done(path):
        return path
    with file_lock(path.with_name(f".{path.name}.lock")):
        if is_done(path):  # another process finished it while we waited
            return path
        tmp = path.with_name(f".{path.name}.partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        atomic_write_json(tmp / "stage.json", payload)
        t0 = time.time()
        log.info("building stage %s", path.name)
        info = build(tmp) or {}
        atomic_write_json(tmp / DONE, {"seconds": round(time.time() - t0, 1), "pid": os.getpid(), **info})
        shutil.rmtree(path, ignore_errors=True)
        os.replace(tmp, path)
        shutil.rmtree(resume_folder(path), ignore_errors=True)
        log.info("stage %s done in %.0f s", path.name, time.time() - t0)
    return path

