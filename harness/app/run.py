"""`harness run`: one config end to end (resumes if interrupted)."""
from __future__ import annotations

from harness.config import load_config
from harness.loop.evolve import run


def command(args) -> int:
    path = run(load_config(args.config, args.overrides), args.label)
    print(f"results: {path}")
    return 0
