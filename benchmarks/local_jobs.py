"""Wall time of the same runs of a sweep one after the other (local.jobs=1, --threads torch threads each) vs. at
once (local.jobs=--jobs, --threads / --jobs threads each), side by side in one invocation, on the stages cached in
--results (built first, untimed).

    python benchmarks/local_jobs.py [--runs 2] [--jobs 2] [--threads 2] [--results results] [key=value ...]

The runs are seeds 100.. of ablations/base.yaml (continuous, 25% interval) plus the key=value overrides; both
variants run the same seeds in sweep folders of their own (bench-one-by-one, bench-at-once under --results), so
a second invocation finds them done: remove those folders to measure again. See benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from anywhere without installing

from harness.app.sweep import load_sweep, sweep  # noqa: E402
from harness.stages.graph import prepare  # noqa: E402


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2, help="cores to use: threads per run one by one")
    ap.add_argument("--results", default="results")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args(argv)
    if args.threads % args.jobs:
        ap.error("--jobs must divide --threads")
    with tempfile.TemporaryDirectory() as tmp:
        grid = Path(tmp) / "grid.yaml"
        grid.write_text(f"name: bench\nbase: {ROOT / 'ablations/base.yaml'}\nseeds: {list(range(100, 100 + args.runs))}\n"
                        "runs:\n  - label: Continuous\n    set: {method.kind: continuous}\n")
        common = [f"results_dir={args.results}", *args.overrides]
        prepare(load_sweep(grid, common).runs[0].config)  # stages first, untimed
        variants = {"one by one": [f"model.threads={args.threads}", "local.jobs=1", "name=bench-one-by-one"],
                    "at once": [f"model.threads={args.threads // args.jobs}", f"local.jobs={args.jobs}",
                                "name=bench-at-once"]}
        seconds = {}
        for name, extra in variants.items():
            t0 = time.perf_counter()
            if sweep(grid, common + extra):
                sys.exit(f"{name}: a run failed; see its run.log")
            seconds[name] = time.perf_counter() - t0
    print(f"{args.runs} runs on {args.threads} cores (stages cached):")
    print(f"  one by one, {args.threads} threads each:          {seconds['one by one']:7.1f} s")
    print(f"  at once, {args.jobs} jobs x {args.threads // args.jobs} threads each:      {seconds['at once']:7.1f} s")
    print(f"  speed-up {seconds['one by one'] / seconds['at once']:.2f}x")


if __name__ == "__main__":
    main()
