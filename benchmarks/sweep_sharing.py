"""Wall time of a sweep with shared stages against the same runs executed one by one without sharing.

    python benchmarks/sweep_sharing.py [--grid ablations/training_method.yaml] [key=value ...]

Both sides run the same expanded runs from an empty results folder. "shared" is `harness sweep`:
data, base model and warm-up are built once. "unshared" gives every run its own results folder, so
each run rebuilds its own stages, as a script looping over configs would. Defaults to a small world
so it finishes in minutes on 2 cores; pass overrides for the real sizes.
"""
from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

from harness.app.grid import expand
from harness.app.sweep import sweep
from harness.config import load_config  # noqa: F401  (keeps the import cost out of the timings)
from harness.configio import parse_overrides
from harness.loop.evolve import run

SMALL = ["world.sizes.labeled=64", "world.sizes.unlabeled=8", "world.sizes.val=16", "world.sizes.test_id=64",
         "world.sizes.test_ood=64", "world.base_corpus=4000", "base.steps=400", "warmup.samples_per_query=8",
         "rollout.samples_per_query=8", "method.passes=1.0"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--grid", default="ablations/training_method.yaml")
    p.add_argument("overrides", nargs="*", help="key=value overrides (default: a small world)")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    overrides = args.overrides or SMALL
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.time()
        sweep(args.grid, overrides + [f"results_dir={tmp}/shared"])
        shared = time.time() - t0
        _, runs = expand(args.grid, parse_overrides(overrides))
        t0 = time.time()
        for i, spec in enumerate(runs):
            cfg = spec.config
            cfg.results_dir = str(Path(tmp) / f"unshared-{i}")
            run(cfg, spec.label)
        unshared = time.time() - t0
    print(f"{'runs':>6s} {'shared s':>10s} {'unshared s':>11s} {'ratio':>7s}")
    print(f"{len(runs):6d} {shared:10.1f} {unshared:11.1f} {unshared / shared:7.2f}x")


if __name__ == "__main__":
    main()
