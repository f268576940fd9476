"""The SLURM runner: submitit jobs, submit-and-exit by default.

Each group of runs that shares its last stage gets one stage job (data -> base -> warm-up [-> prm], skipped when
already built); its runs go in as one job array that depends on it (afterok). Run and stage jobs are
Checkpointable: on timeout or preemption submitit requeues them and a run resumes from its last checkpoint
(after an iteration, or inside one: checkpoint.every_steps, checkpoint.rollout_batches). A run on more than one GPU (slurm.gpus_per_node > 1 or slurm.nodes > 1) is a TorchrunJob
instead (runners.torchrun): torchrun on each node, one rank per GPU. The cluster is named explicitly:
submitit's AutoExecutor would pick SLURM by itself whenever `srun` is on PATH.
"""
from __future__ import annotations

import logging
import time
from collections import defaultdict
from pathlib import Path

import submitit

from harness.config import RunConfig, SlurmConfig
from harness.configio import from_dict, to_dict
from harness.io import atomic_write_json
from harness.loop.evolve import run
from harness.loop.rundir import RunDir
from harness.stages.graph import prepare, stages
from runners import RUNNERS
from runners.sacct import ACTIVE, slurm_state
from runners.torchrun import TorchrunJob, is_multi_gpu, launch_parameters

log = logging.getLogger("harness")


class StageJob(submitit.helpers.Checkpointable):
    """Builds the shared stages of a run config (each stage is locked and cached). Checkpointable like RunJob: on
    timeout or preemption it is requeued; the base stage goes on after its last finished pass, a stage built
    without checkpoints (data, warm-up, PRM) starts again, and finished stages are reused."""

    def __init__(self, config: dict):
        self.config = config

    def __call__(self) -> str:
        return str(prepare(from_dict(RunConfig, self.config)).warmup)


class RunJob(submitit.helpers.Checkpointable):
    """One run. Checkpointable: on timeout or preemption submitit resubmits this same call, and the
    run resumes after its last finished iteration (it checkpoints itself every iteration)."""

    def __init__(self, config: dict, label: str):
        self.config, self.label = config, label

    def __call__(self) -> str:
        return str(run(from_dict(RunConfig, self.config), self.label))


def executor(folder: Path, s: SlurmConfig, name: str, dependency: str | None = None):
    """A submitit executor for the configured resources."""
    ex = submitit.AutoExecutor(folder=folder, cluster="slurm", slurm_max_num_timeout=s.max_requeues)
    extra = dict(s.additional_parameters)
    if dependency:
        extra["dependency"] = dependency
    ex.update_parameters(name=name, nodes=s.nodes, cpus_per_task=s.cpus_per_task, gpus_per_node=s.gpus_per_node,
                         mem_gb=s.mem_gb, timeout_min=s.timeout_min, slurm_array_parallelism=s.array_parallelism,
                         slurm_partition=s.partition, slurm_setup=list(s.setup), slurm_additional_parameters=extra,
                         slurm_signal_delay_s=s.signal_delay_s)
    return ex


def _needs_submission(spec) -> bool:
    status = RunDir(spec.path).status()
    if status["state"] == "done":
        return False
    job = status.get("slurm_job_id")
    return not (job and status["state"] in ("pending", "running") and slurm_state(job) in ACTIVE)


@RUNNERS.register("slurm")
def run_slurm(sw, wait: bool = False) -> int:
    """Submit what is not done or already queued; with wait, block until the jobs end."""
    folder = sw.folder / "slurm"
    groups = defaultdict(list)
    for spec in sw.runs:
        if _needs_submission(spec):
            groups[_last_stage_path(spec.config)].append(spec)
    jobs = {}
    for last_stage, specs in groups.items():
        cfg = specs[0].config
        multi_gpu, dependency = is_multi_gpu(cfg.slurm), None
        if not (last_stage / "DONE.json").is_file():
            stage_ex = executor(folder, cfg.slurm, f"{sw.name}-stages")
            if multi_gpu:  # one process builds the stages: one node, one GPU
                stage_ex.update_parameters(nodes=1, gpus_per_node=1)
            stage_job = stage_ex.submit(StageJob(to_dict(cfg)))
            dependency = f"afterok:{stage_job.job_id}"
            log.info("stage job %s builds %s", stage_job.job_id, last_stage.name)
        ex = executor(folder, cfg.slurm, sw.name, dependency)
        if multi_gpu:
            ex.update_parameters(**launch_parameters(cfg.slurm))
        with ex.batch():
            submitted = [ex.submit(_job(s, multi_gpu)) for s in specs]
        for spec, job in zip(specs, submitted):
            rd = RunDir(spec.path)
            rd.init(spec.config, spec.label)
            rd.set_status("pending", slurm_job_id=job.job_id, pid=None, error=None)
            jobs[job.job_id] = spec.label
    atomic_write_json(sw.folder / "slurm_jobs.json", jobs)
    log.info("submitted %d run jobs to SLURM (%s); follow with: harness status %s", len(jobs), folder, sw.folder)
    return _wait(sw, jobs) if wait else 0


def _job(spec, multi_gpu: bool):
    """A run's job: a plain RunJob, or torchrun over all the job's GPUs (one rank per GPU)."""
    if multi_gpu:
        return TorchrunJob(to_dict(spec.config), spec.label, str(spec.path))
    return RunJob(to_dict(spec.config), spec.label)


def _last_stage_path(cfg: RunConfig) -> Path:
    return stages(cfg)[-1].path


def _wait(sw, jobs: dict) -> int:
    from tqdm.auto import tqdm

    with tqdm(total=len(jobs), desc="runs finished", unit="run") as bar:
        while True:
            states = {j: slurm_state(j) for j in jobs}
            finished = sum(s not in ACTIVE and s is not None for s in states.values())
            bar.n = finished
            bar.refresh()
            if finished == len(jobs):
                break
            time.sleep(5)
    failed = [s for s in sw.runs if RunDir(s.path).status()["state"] != "done"]
    for spec in failed:
        log.error("%s (seed %s) did not finish; see %s", spec.label, spec.seed, RunDir(spec.path).log_path)
    return len(failed)

