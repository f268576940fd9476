"""Multi-GPU SLURM jobs: one `torchrun` per node, started by submitit, meeting on the job's first node.

A run whose slurm config asks for more than one GPU (gpus_per_node > 1 or nodes > 1) is submitted as a
TorchrunJob instead of a plain RunJob. The job keeps one SLURM task per node (submitit's default
tasks_per_node=1, so the sbatch parameters stay those of runners.slurm.executor); on each node that task
writes the run's resolved config and starts `python -m torch.distributed.run` with one process per GPU, all
ranks rendezvousing (c10d) on the first node of the allocation under the SLURM job id. Each rank runs
`harness run <config> --label <label>`, which resumes from the run's last checkpoint, so a requeued job
(Checkpointable, like RunJob) simply starts torchrun again.

`harness run` is rank-aware (harness.distributed): rank 0 builds the shared stages and writes the run folder;
every rank samples and evaluates its share and trains its share of each global batch with the configured
train.strategy (FSDP2 by default, harness/model/strategy.py).
"""
from __future__ import annotations

import subprocess
import sys
import zlib
from pathlib import Path

import submitit
import yaml

from harness.config import SlurmConfig
from harness.io import atomic_write_text

RDZV_PORT = 29500


def rdzv_port(job_id: str) -> int:
    """The rendezvous port of a job, from its id: jobs of an array that share a node must not share a port.
    Every node of the job computes the same one; it stays below the kernel's ephemeral range (32768+)."""
    return RDZV_PORT + zlib.crc32(job_id.encode()) % 2000


def is_multi_gpu(s: SlurmConfig) -> bool:
    """Whether a job of these resources needs torchrun (more than one GPU in all)."""
    return s.nodes > 1 or s.gpus_per_node > 1


def launch_parameters(s: SlurmConfig) -> dict:
    """The submitit resources of a torchrun job: one task per node that gets all the node's GPUs and CPUs."""
    return {"nodes": s.nodes, "tasks_per_node": 1, "gpus_per_node": s.gpus_per_node, "cpus_per_task": s.cpus_per_task}


def torchrun_command(config: Path, label: str, nodes: int, gpus_per_node: int, head: str, job_id: str,
                     port: int = RDZV_PORT) -> list[str]:
    """The per-node launch: torchrun (as `python -m torch.distributed.run`, the job's own interpreter) running
    `harness run` on every GPU; c10d rendezvous on `head`, so no node needs to know its rank in advance."""
    return [sys.executable, "-m", "torch.distributed.run", f"--nnodes={nodes}",
            f"--nproc-per-node={max(1, gpus_per_node)}", "--rdzv-backend=c10d", f"--rdzv-endpoint={head}:{port}",
            f"--rdzv-id={job_id}", "-m", "harness.cli", "run", str(config), "--label", label]


class TorchrunJob(submitit.helpers.Checkpointable):
    """One multi-GPU run: on each node, torchrun over the node's GPUs. Requeued on timeout like RunJob."""

    def __init__(self, config: dict, label: str, run_dir: str):
        self.config, self.label, self.run_dir = config, label, run_dir

    def __call__(self) -> str:
        env = submitit.JobEnvironment()
        # One file per node: nodes share the file system, and no two of them write the same file.
        path = Path(self.run_dir) / "launch" / f"config-node{env.node}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, yaml.safe_dump(self.config, sort_keys=False))
        gpus = self.config.get("slurm", {}).get("gpus_per_node", 1)
        job_id = str(env.job_id)
        cmd = torchrun_command(path, self.label, env.num_nodes, gpus, env.hostnames[0], job_id, rdzv_port(job_id))
        subprocess.run(cmd, check=True)
        return self.run_dir
