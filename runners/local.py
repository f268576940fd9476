"""The local runner: shared stages once, then every run in turn, here, with no scheduler.

Finished runs are skipped, failed or interrupted ones are retried, runs claimed by another live
process are left alone, and one failing run never stops the others.
"""
from __future__ import annotations

import logging

from harness.loop.evolve import run
from harness.loop.liveness import claimed_by_live_process
from harness.loop.rundir import RunDir
from runners import RUNNERS

log = logging.getLogger("harness")


@RUNNERS.register("local")
def run_local(sw, wait: bool = True) -> int:
    """Execute the sweep; returns how many runs did not finish."""
    broken = set()
    for planned in sw.stages:
        if planned.stage.done:
            continue
        try:
            planned.stage.ensure()
        except Exception as exc:  # a broken stage fails its runs, not the others
            log.error("stage %s failed: %s", planned.stage.path.name, exc)
            broken |= set(planned.runs)
    failed = 0
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
        log.info("[%d/%d] %s", i, len(sw.runs), name)
        try:
            run(spec.config, spec.label)
        except Exception as exc:
            log.error("%s failed: %s (log: %s)", name, exc, rd.log_path)
            failed += 1
    log.info("sweep %s: %d/%d runs done", sw.name, len(sw.runs) - failed, len(sw.runs))
    return failed
