"""Execution of planned sweeps: `local` (in this process, one run after another) and `slurm`
(submitit jobs: shared stages first, then a job array of runs depending on them). Each module of this package
registers its runner in RUNNERS, found on first use."""
from harness.registry import Registry

RUNNERS = Registry("executor", __name__)
