"""The local runner: shared stages once, then the runs here, with no scheduler: one after the other, or
`local.jobs` at once, each in a fresh process of its own.

Finished runs are skipped, failed or interrupted ones are retried, runs claimed by another live
process are left alone, and one failing run never stops the others.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path

from harness.loop.evolve import run
from harness.loop.liveness import claimed_by_live_process
from harness.loop.rundir import RunDir
from harness.stages.graph import stages
from runners import RUNNERS

log = logging.getLogger("harness")


@RUNNERS.register("local")
def run_local(sw, wait: bool = True) -> int:
    """Execute the sweep; returns how many runs did not finish."""
    jobs = sw.runs[0].config.local.jobs if sw.runs else 1
    wide = _with_every_core(sw.runs, jobs) if jobs > 1 else {}
    broken = set()
    for planned in sw.stages:
        if planned.stage.done:
            continue
        try:
            wide.get(planned.stage.path, planned.stage).ensure()
        except Exception as exc:  # a broken stage fails its runs, not the others
            log.error("stage %s failed: %s", planned.stage.path.name, exc)
            broken |= set(planned.runs)
    failed, todo = 0, []
    for i, spec in enumerate(sw.runs, 1):
        rd = RunDir(spec.path)
        name = f"{spec.label} (seed {spec.seed})"
        status = rd.status()
        if status["state"] == "done":
            log.info("[%d/%d] %s: done, skipped", i, len(sw.runs), name)
            continue
        if claimed_by_live_process(status):
            log.info("[%d/%d] %s: running in process %s, left alone", i, len(sw.runs), name, status["pid"])
            failed += 1
            continue
        if name in broken:
            rd.init(spec.config, spec.label)
            rd.set_status("failed", error="a shared stage it needs failed; see the sweep output")
            failed += 1
            continue
        todo.append((f"[{i}/{len(sw.runs)}] {name}", spec))
    failed += _one_by_one(todo) if jobs == 1 or len(todo) < 2 else _at_once(todo, jobs)
    log.info("sweep %s: %d/%d runs done", sw.name, len(sw.runs) - failed, len(sw.runs))
    return failed


def _with_every_core(runs: list, jobs: int) -> dict:
    """The sweep's stages built with the threads of all `jobs` runs: they come first, built by this process alone,
    and a stage's key (so which runs share it) does not hold the thread count."""
    out = {}
    for spec in runs:
        cfg = spec.config
        for stage in stages(replace(cfg, model=replace(cfg.model, threads=jobs * cfg.model.threads))):
            out.setdefault(stage.path, stage)
    return out


def _one_by_one(todo: list) -> int:
    failed = 0
    for name, spec in todo:
        log.info("%s", name)
        try:
            run(spec.config, spec.label)
        except Exception as exc:
            log.error("%s failed: %s (log: %s)", name, exc, RunDir(spec.path).log_path)
            failed += 1
    return failed


def _at_once(todo: list, jobs: int) -> int:
    """`jobs` runs at a time, each in a fresh interpreter (spawned: torch's threads and MKL's settings start clean,
    and a finished run's memory goes back to the system). Their progress is in each run's log and in
    `harness status`; what a worker writes to the terminal goes to its run folder's console.log."""
    failed = 0
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"), max_tasks_per_child=1) as pool:
        futures = {pool.submit(_run_in_worker, spec.config, spec.label, spec.path): (name, spec) for name, spec in todo}
        log.info("%d runs, %d at a time (local.jobs); follow them with: harness status %s", len(todo), jobs,
                 todo[0][1].path.parent)
        for future in as_completed(futures):
            name, spec = futures[future]
            try:
                future.result()
                log.info("%s: done", name)
            except Exception as exc:
                log.error("%s failed: %s (log: %s)", name, exc, RunDir(spec.path).log_path)
                failed += 1
    return failed


def _run_in_worker(cfg, label: str, folder: Path) -> None:
    """One run in a worker process, its terminal output (progress bars, warnings) in the run folder's console.log:
    several runs' progress bars would write over each other on the sweep's terminal."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "console.log", "a") as out:
        os.dup2(out.fileno(), sys.stdout.fileno())
        os.dup2(out.fileno(), sys.stderr.fileno())
    run(cfg, label)
