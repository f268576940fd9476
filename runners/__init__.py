"""Execution of planned sweeps: `local` (in this process, one run after another) and `slurm`
(submitit jobs: shared stages first, then a job array of runs depending on them)."""
from harness.registry import Registry

RUNNERS = Registry("executor")

from runners import local, slurm  # noqa: E402,F401  registers the runners
