"""`harness status`: one line per run (label, seed, state, iteration, last metric, log) of a sweep, of the runs of
a `harness run` name, or of one run folder."""
from __future__ import annotations

from pathlib import Path

import yaml

from harness.configio import ConfigError
from harness.loop.liveness import claimed_by_live_process
from harness.loop.rundir import RunDir
from runners.sacct import ACTIVE, slurm_state


def run_state(status: dict) -> str:
    """The state to show. A run whose local process died is 'interrupted'; a SLURM run whose job ended
    without finishing (cancelled, failed, out of memory...) is 'failed'."""
    state = status.get("state", "pending")
    if state not in ("pending", "running"):
        return state
    job = status.get("slurm_job_id")
    if job:
        slurm = slurm_state(job)
        return state if slurm in ACTIVE or slurm is None else "failed"
    if state == "running" and not claimed_by_live_process(status):
        return "interrupted"
    return state


def runs_in(folder: Path) -> list[dict]:
    """(label, seed, path) of the runs a folder holds: a sweep's (listed in its sweep.yaml), one run folder's, or
    the run folders of a `harness run` name (results/<name>/, one per label and config)."""
    folder = Path(folder)
    manifest = folder / "sweep.yaml"
    if manifest.is_file():
        return [{**r, "path": Path(r["path"])} for r in yaml.safe_load(manifest.read_text())["runs"]]
    candidates = [folder] if RunDir(folder).config_path.is_file() else sorted(p for p in folder.glob("*") if p.is_dir())
    runs = []
    for path in candidates:
        config = yaml.safe_load(RunDir(path).config_path.read_text()) if RunDir(path).config_path.is_file() else None
        if config:
            runs.append({"label": config["label"], "seed": config["seed"], "path": path})
    if not runs:
        raise ConfigError([f"{folder}: no runs here (no sweep.yaml, no run folder with a config.yaml); give "
                           "results/<sweep>, results/<name> or results/<name>/<run>"])
    return runs


def rows(folder: Path) -> list[dict]:
    """Status rows of every run in a sweep folder, a `harness run` name's folder, or one run folder."""
    out = []
    for run in runs_in(folder):
        rd = RunDir(run["path"])
        status = rd.status()
        summaries = [r for r in rd.metrics() if "metric" not in r]  # not the per-temperature dynamics rows
        last = summaries[-1] if summaries else {}
        out.append({"label": run["label"], "seed": run["seed"], "state": run_state(status),
                    "iteration": f"{status.get('iteration', last.get('iteration', 0))}/{status.get('iterations', '?')}",
                    "val": last.get("val_greedy_accuracy"), "error": status.get("error"),
                    "log": str(rd.log_path), "job": status.get("slurm_job_id")})
    return out


def format_rows(rs: list[dict]) -> str:
    head = f"{'run':28s} {'seed':>4s} {'state':11s} {'iter':>7s} {'val acc':>7s}  log"
    lines = [head]
    for r in rs:
        val = f"{r['val']:.3f}" if isinstance(r["val"], float) else "-"
        state = r["state"] + (f" ({r['job']})" if r["job"] else "")
        lines.append(f"{r['label']:28s} {r['seed']:>4d} {state:11s} {r['iteration']:>7s} {val:>7s}  {r['log']}")
        if r["state"] == "failed" and r["error"]:
            lines.append(f"{'':28s}      error: {r['error']}")
    counts = {}
    for r in rs:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    lines.append(", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    return "\n".join(lines)


def command(args) -> int:
    print(format_rows(rows(args.folder)))
    return 0
