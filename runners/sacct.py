"""What SLURM's accounting says about a job (`harness status`, the tune workers' liveness and the slurm runner ask)."""
from __future__ import annotations

import subprocess

ACTIVE = ("PENDING", "RUNNING", "REQUEUED", "RESIZING", "SUSPENDED", "CONFIGURING", "COMPLETING")


def slurm_state(job_id: str) -> str | None:
    """The job's state from accounting (sacct), e.g. RUNNING, CANCELLED; None if unknown."""
    try:
        out = subprocess.run(["sacct", "-j", str(job_id), "-X", "-n", "-P", "-o", "State"],
                             capture_output=True, text=True, timeout=30).stdout.split()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out[-1].split()[0] if out else None
