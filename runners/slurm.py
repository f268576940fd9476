"""The SLURM runner (submitit). Filled in with the sweep engine's SLURM support."""
from __future__ import annotations

from runners import RUNNERS


@RUNNERS.register("slurm")
def run_slurm(sw, wait: bool = False) -> int:
    raise NotImplementedError("executor=slurm is not implemented yet")
