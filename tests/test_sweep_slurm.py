"""`harness sweep executor=slurm` against the real loopback SLURM cluster (runners/slurm_cluster/start.sh):
a sweep end to end, a cancelled job reported as failed and retried, and a time limit that makes a run
checkpoint, requeue and resume from its last finished iteration. Skipped with the reason when no
cluster answers."""
from __future__ import annotations

import os
import subprocess
import textwrap
import time

import pytest
import yaml

from harness.app.status import rows
from harness.app.sweep import sweep
from harness.io import read_jsonl
from test_slurm_cluster import _REASON, _slurm_env
from test_sweep_local import _grid

pytestmark = pytest.mark.skipif(_REASON is not None, reason=_REASON or "")

SLURM = ["executor=slurm", "slurm.cpus_per_task=1", "slurm.mem_gb=2", "model.threads=1"]


@pytest.fixture(autouse=True)
def _conf(monkeypatch):
    monkeypatch.setenv("SLURM_CONF", _slurm_env().get("SLURM_CONF", ""))


def _one_run_grid(tmp_path, results, interval: float, passes: float):
    (tmp_path / "base.yaml").write_text("{}\n")
    path = tmp_path / "one.yaml"
    path.write_text(textwrap.dedent(f"""
        name: one
        base: base.yaml
        runs:
          - label: long
            set: {{method.kind: continuous, method.interval: {interval}, method.passes: {passes}}}
    """))
    from conftest import TINY
    return path, TINY + [f"results_dir={results}"] + SLURM


def _wait_until(predicate, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def test_slurm_sweep_end_to_end(tmp_path, tiny_results):
    grid, cli = _grid(tmp_path, tiny_results)
    assert sweep(grid, cli + SLURM + ["name=slurm-e2e"], wait=True) == 0
    states = rows(tiny_results / "slurm-e2e")
    assert [r["state"] for r in states] == ["done"] * 3
    assert all(r["job"] for r in states)


def test_cancelled_job_is_failed_then_retried(tmp_path, tiny_results):
    grid, cli = _one_run_grid(tmp_path, tiny_results, 0.125, 1.0)
    cli += ["name=slurm-cancel"]
    assert sweep(grid, cli) == 0  # submit and exit
    folder = tiny_results / "slurm-cancel"
    (job,) = [r["job"] for r in rows(folder)]
    subprocess.run(["scancel", str(job)], check=True)
    _wait_until(lambda: rows(folder)[0]["state"] == "failed", 60, "the cancelled run to show as failed")
    assert sweep(grid, cli, wait=True) == 0
    (row,) = rows(folder)
    assert row["state"] == "done" and row["job"] != job


@pytest.mark.slow  # timing-sensitive (the run must still be going 30 s in): passed alone, failed once in a full run
def test_time_limit_requeues_and_resumes(tmp_path, tiny_results):
    # A 1-minute limit with the checkpoint signal 30 s early: the job is signalled ~30 s in, mid-run.
    grid, cli = _one_run_grid(tmp_path, tiny_results, 0.0625, 30.0)  # 480 short iterations, ~1 minute
    cli += ["name=slurm-requeue", "slurm.timeout_min=1", "slurm.signal_delay_s=30"]
    assert sweep(grid, cli, wait=True) == 0
    folder = tiny_results / "slurm-requeue"
    run_dir = folder / os.path.basename(yaml.safe_load((folder / "sweep.yaml").read_text())["runs"][0]["path"])
    log = (run_dir / "run.log").read_text()
    assert "resuming after iteration" in log, log[-2000:]
    assert [r["iteration"] for r in read_jsonl(run_dir / "metrics.jsonl")] == list(range(1, 481))
    assert rows(folder)[0]["state"] == "done"
