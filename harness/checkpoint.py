"""Per-iteration training checkpoints: model, optimizer, scheduler, RNG states and the data cursor.

A checkpoint is written into a temporary folder and swapped in with renames, so a kill at any
moment leaves either the previous or the new checkpoint, never a half-written one.
"""
from __future__ import annotations

import random
import shutil
from pathlib import Path

import torch

from harness.io import atomic_write_json, read_json

CURRENT, PREVIOUS, PARTIAL = "checkpoint", "checkpoint.prev", "checkpoint.partial"


def save(run_dir: Path, model, processor, optimizer, scheduler, state: dict) -> None:
    """Write the training state of a finished iteration."""
    run_dir = Path(run_dir)
    tmp = run_dir / PARTIAL
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp / "model")
    processor.save_pretrained(tmp / "model")
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "torch_rng": torch.get_rng_state()}, tmp / "trainer.pt")
    atomic_write_json(tmp / "state.json", {**state, "python_rng": list(random.getstate()[1])})
    cur, prev = run_dir / CURRENT, run_dir / PREVIOUS
    shutil.rmtree(prev, ignore_errors=True)
    if cur.exists():
        cur.rename(prev)
    tmp.rename(cur)
    shutil.rmtree(prev, ignore_errors=True)


def latest(run_dir: Path) -> Path | None:
    """The newest complete checkpoint folder, if any (a kill between the two renames leaves only .prev)."""
    for name in (CURRENT, PREVIOUS):
        path = Path(run_dir) / name
        if (path / "state.json").is_file():
            return path
    return None


def load_state(ckpt: Path) -> dict:
    return read_json(ckpt / "state.json")


def load_trainer(ckpt: Path, optimizer, scheduler) -> None:
    """Restore optimizer, scheduler and RNG states in place (weights_only: no pickled code is run)."""
    blob = torch.load(ckpt / "trainer.pt", weights_only=True)
    optimizer.load_state_dict(blob["optimizer"])
    scheduler.load_state_dict(blob["scheduler"])
    torch.set_rng_state(blob["torch_rng"])
