"""Real SLURM jobs through submitit, against the loopback cluster of runners/slurm_cluster/start.sh.

Skipped (with the reason) when the SLURM client tools are missing or the cluster is not up.
Start it first (as root):  runners/slurm_cluster/start.sh
Every wait is bounded, so a broken cluster fails a test instead of hanging the run.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

submitit = pytest.importorskip("submitit")

DEFAULT_SLURM_CONF = "/var/lib/harness-slurm/etc/slurm.conf"  # written by start.sh
TEST_TIMEOUT_S = 60


def _slurm_env() -> dict:
    env = dict(os.environ)
    if "SLURM_CONF" not in env and os.path.exists(DEFAULT_SLURM_CONF):
        env["SLURM_CONF"] = DEFAULT_SLURM_CONF
    return env


def _cluster_unavailable() -> str | None:
    """Why the tests cannot run here, or None when the cluster answers."""
    for tool in ("sinfo", "sbatch", "sacct", "scancel", "scontrol"):
        if shutil.which(tool) is None:
            return f"{tool} not on PATH (start the cluster: runners/slurm_cluster/start.sh)"
    env = _slurm_env()
    try:
        nodes = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=10, env=env)
        acct = subprocess.run(["sacct", "-n", "-X", "-S", "now-1minutes"], capture_output=True, text=True,
                              timeout=15, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"SLURM cluster not answering ({exc}); run runners/slurm_cluster/start.sh"
    if nodes.returncode != 0:
        return f"sinfo failed: {(nodes.stderr or nodes.stdout).strip()[:200]} (run runners/slurm_cluster/start.sh)"
    if not any(s.startswith(("idle", "mixed", "allocated", "completing")) for s in nodes.stdout.split()):
        return f"no usable SLURM node (states: {nodes.stdout.split()}); run runners/slurm_cluster/start.sh"
    if acct.returncode != 0:
        return f"sacct failed, accounting is off: {acct.stderr.strip()[:200]} (submitit needs it)"
    return None


_REASON = _cluster_unavailable()
pytestmark = pytest.mark.skipif(_REASON is not None, reason=_REASON or "")


@pytest.fixture(autouse=True, scope="module")
def _slurm_setup():
    """SLURM_CONF for submitit's sbatch/sacct calls; test-module code is pickled by value for the jobs."""
    import cloudpickle

    with pytest.MonkeyPatch.context() as mp:
        env = _slurm_env()
        if "SLURM_CONF" in env:
            mp.setenv("SLURM_CONF", env["SLURM_CONF"])
        # The job's interpreter cannot import this test module (tests/ is not on its path).
        cloudpickle.register_pickle_by_value(sys.modules[__name__])
        try:
            yield
        finally:
            cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def _executor(folder: Path, **params):
    # cluster="slurm" explicitly: AutoExecutor would also pick slurm whenever srun is on PATH,
    # but being explicit makes a missing cluster fail loudly instead of running locally.
    executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
    executor.update_parameters(**{"timeout_min": 5, "slurm_partition": "debug", "cpus_per_task": 1, **params})
    return executor


def _scancel_quietly(job) -> None:
    subprocess.run(["scancel", str(job.job_id)], capture_output=True, timeout=15)


def _call_within(fn, timeout_s: float):
    """Run fn() in a thread; return ("ok", value) / ("error", exception); fail the test if it hangs."""
    box: dict = {}

    def target():
        try:
            box["ok"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        pytest.fail(f"call did not return within {timeout_s}s (would hang forever)")
    return ("ok", box["ok"]) if "ok" in box else ("error", box["error"])


def _result_within(job, timeout_s: float = TEST_TIMEOUT_S):
    try:
        kind, value = _call_within(job.result, timeout_s)
    except BaseException:
        _scancel_quietly(job)
        raise
    if kind == "error":
        raise value
    return value


def _wait_until(predicate, timeout_s: float, what: str, poll_s: float = 0.25):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(poll_s)
    pytest.fail(f"timed out after {timeout_s}s waiting for {what}")


def _sacct_state(job) -> str:
    return job.get_info(mode="force").get("State", "UNKNOWN")


_UNFINISHED_STATES = {"PENDING", "RUNNING", "COMPLETING", "REQUEUED", "UNKNOWN"}


def _final_sacct_state(job, timeout_s: float = 30) -> str:
    """The job's state once SLURM has finished it: submitit writes the result before the job's
    process exits, so right after `result()` sacct can still say RUNNING (or COMPLETING)."""
    _wait_until(lambda: _sacct_state(job) not in _UNFINISHED_STATES, timeout_s, "sacct to report a final state")
    return _sacct_state(job)


# ----------------------------------------------------------------------------- job bodies

def _add(a: int, b: int) -> dict:
    return {"sum": a + b, "job_id": os.environ.get("SLURM_JOB_ID"), "python": sys.executable}


def _sleep(seconds: float) -> str:
    time.sleep(seconds)
    return "woke up"


class _SleepOnFirstRun(submitit.helpers.Checkpointable):
    """First run: leave a marker and sleep (to be requeued); later runs: return how often SLURM restarted it."""

    def __init__(self, marker: str) -> None:
        self.marker = marker
        self.progress = "submitted"

    def __call__(self) -> dict:
        restarts = int(os.environ.get("SLURM_RESTART_COUNT", "0"))
        if not os.path.exists(self.marker):
            self.progress = "ran once"  # in the checkpoint only if submitit checkpointed us
            Path(self.marker).write_text(os.environ.get("SLURM_JOB_ID", "?"))
            time.sleep(300)
            return {"restarts": restarts, "progress": "slept through"}
        return {"restarts": restarts, "progress": self.progress}


# ----------------------------------------------------------------------------- tests

def test_tiny_function_returns_result(tmp_path):
    executor = _executor(tmp_path)
    start = time.monotonic()
    job = executor.submit(_add, 2, 3)
    out = _result_within(job)
    latency = time.monotonic() - start
    assert out["sum"] == 5
    assert out["job_id"] == str(job.job_id).split("_")[0]
    assert out["python"] == sys.executable  # the job ran the submitting interpreter
    assert _final_sacct_state(job) == "COMPLETED"
    print(f"submit-to-result latency: {latency:.2f}s")


def test_scancel_makes_result_raise_not_hang(tmp_path):
    executor = _executor(tmp_path)
    job = executor.submit(_sleep, 300)
    try:
        _wait_until(lambda: _sacct_state(job) == "RUNNING", 30, "the job to start running")
        subprocess.run(["scancel", str(job.job_id)], check=True, timeout=15)
        with pytest.raises(submitit.core.utils.UncompletedJobError):
            _result_within(job, TEST_TIMEOUT_S)
        _wait_until(lambda: _sacct_state(job).startswith("CANCELLED"), 20, "sacct to report CANCELLED")
        assert job.state.startswith("CANCELLED")
        assert job.done()
    finally:
        _scancel_quietly(job)


def test_impossible_job_is_rejected_at_submit(tmp_path):
    # EnforcePartLimits=ALL: a request the node can never satisfy fails in sbatch instead of pending forever.
    executor = _executor(tmp_path, cpus_per_task=(os.cpu_count() or 1) + 64)
    with pytest.raises(Exception):
        job = executor.submit(_add, 1, 1)
        _scancel_quietly(job)


def test_scontrol_requeue_reruns_checkpointable_job(tmp_path):
    marker = tmp_path / "first-run-started"
    executor = _executor(tmp_path)
    job = executor.submit(_SleepOnFirstRun(str(marker)))
    try:
        _wait_until(marker.exists, 30, "the first run to start")
        subprocess.run(["scontrol", "requeue", str(job.job_id)], check=True, timeout=15)
        out = _result_within(job, 2 * TEST_TIMEOUT_S)  # the requeued job waits cred_expire, more under load
        assert out["restarts"] >= 1
        assert out["progress"] == "submitted"  # plain requeue: no checkpoint, the original callable ran again
        assert _final_sacct_state(job) == "COMPLETED"
    finally:
        _scancel_quietly(job)


def test_time_limit_signal_checkpoints_and_requeues(tmp_path):
    """A real 1-minute time limit: SLURM sends USR2 `slurm_signal_delay_s` before the end (--signal),
    submitit checkpoints the callable, requeues the job, and the second run resumes from the checkpoint."""
    marker = tmp_path / "first-run-started"
    executor = _executor(tmp_path, timeout_min=1, slurm_signal_delay_s=55)  # USR2 ~5 s after the start
    job = executor.submit(_SleepOnFirstRun(str(marker)))
    try:
        _wait_until(marker.exists, 30, "the first run to start")
        # slurmctld checks time limits periodically, then the requeued job waits cred_expire (10 s).
        out = _result_within(job, 90)
        assert out["restarts"] >= 1
        assert out["progress"] == "ran once"  # the state came back from submitit's checkpoint
        assert _final_sacct_state(job) == "COMPLETED"
        log = job.paths.stdout.read_text()
        assert "Caught signal SIGUSR2" in log and "timed-out" in log
    finally:
        _scancel_quietly(job)
