"""`harness sweep --dry-run` of a 10,000-run grid: this tree against an earlier commit, side by side.

    python benchmarks/sweep_planning.py [--before 4211172] [--seeds 10] [--timeout 600]

The grid is what a researcher would run on a cluster: seeds x iteration intervals x PRM thresholds x sampling
temperatures (10 x 5 x 10 x 20 = 10,000 runs; --seeds scales it), written to a temp folder with ablations/base.yaml
as its base. Each side runs the whole command in a fresh process (interpreter start, imports, expansion and
validation of every run, the stage plan, the memory estimate and the printed plan) and is timed from outside; the
same command on a one-run grid shows what is not planning (the interpreter and the imports: torch and transformers
count the model's parameters for the memory estimate).
"before" is the command of an earlier commit (default: 4211172, the commit before issue 21's layering), extracted
with `git archive` into the temp folder; --before '' skips it. The load average is printed: the cores may be shared.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GRID = """name: planning
base: {base}
seeds: {seeds}
runs:
  - label: "interval {{method.interval}} alpha {{select.alpha}} T {{rollout.temperature}}"
    set: {{reward_model.kind: prm, select.operator: threshold}}
    grid:
      method.interval: [1.0, 0.5, 0.25, 0.125, 0.0625]
      select.alpha: [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
      rollout.temperature: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8,
                            1.9, 2.0]
"""
ONE_RUN = """name: planning
base: {base}
runs:
  - label: one
    set: {{reward_model.kind: prm, select.operator: threshold}}
"""


def dry_run(tree: Path, grid: Path, results: Path, timeout: int) -> tuple[float | None, str]:
    """Seconds of `python -m harness.cli sweep GRID --dry-run` run in `tree` (its harness package), and its last
    output line (or why it did not finish)."""
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    try:
        out = subprocess.run([sys.executable, "-m", "harness.cli", "sweep", str(grid), "--dry-run",
                              f"results_dir={results}"], cwd=tree, env=env, capture_output=True, text=True,
                             timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"did not finish in {timeout} s"
    seconds = time.perf_counter() - start
    if out.returncode:
        return None, f"exit {out.returncode}: {out.stderr.strip().splitlines()[-1:]}"
    return seconds, out.stdout.splitlines()[0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", default="4211172", help="git ref to compare with ('' to skip)")
    p.add_argument("--seeds", type=int, default=10, help="seeds of the grid (1,000 runs each)")
    p.add_argument("--timeout", type=int, default=600, help="seconds allowed to each side")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        grid, one = tmp / "planning.yaml", tmp / "one.yaml"
        grid.write_text(GRID.format(base=ROOT / "ablations" / "base.yaml", seeds=list(range(args.seeds))))
        one.write_text(ONE_RUN.format(base=ROOT / "ablations" / "base.yaml"))
        sides = []
        if args.before:
            before = tmp / "before"
            before.mkdir()
            archive = subprocess.run(["git", "archive", args.before], cwd=ROOT, capture_output=True, check=True)
            subprocess.run(["tar", "-x", "-C", str(before)], input=archive.stdout, check=True)
            sides.append((f"before ({args.before})", before))
        sides.append(("after (this tree)", ROOT))
        print(f"{1000 * args.seeds} runs; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"  {'':22s} {'1 run':>9s} {f'{1000 * args.seeds} runs':>11s}")
        rows = []
        for name, tree in sides:
            floor, _ = dry_run(tree, one, tmp / "results", args.timeout)
            seconds, line = dry_run(tree, grid, tmp / "results", args.timeout)
            rows.append((name, seconds, line))
            shown = [f"{x:7.1f} s" if x is not None else "      - " for x in (floor, seconds)]
            print(f"  {name:22s} {shown[0]:>9s} {shown[1]:>11s}   {line}")
        if len(rows) == 2 and all(r[1] for r in rows):
            print(f"  speed-up {rows[0][1] / rows[1][1]:.1f}x")


if __name__ == "__main__":
    main()
