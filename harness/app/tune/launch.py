"""`harness tune`: validate the spec, start the workers (here, or as SLURM jobs), write the report.

Local: one worker runs in this process; `--workers N` starts N worker processes (spawned: each its own
torch threads, set model.threads so they fit the cores). `executor=slurm`: N worker jobs through
submitit on the study's journal storage, and the command exits (submit-and-exit like `harness sweep`);
each job writes the report when it finishes, and running the command again after the jobs end
re-runs what they left unfinished.
"""
from __future__ import annotations

import logging
import multiprocessing
from pathlib import Path

import yaml

from harness.app.tune.report import assignments, write_report
from harness.app.tune.spec import Tune, load_tune, resolved
from harness.app.tune.study import completed, open_study, work
from harness.configio import ConfigError
from harness.io import atomic_write_json, atomic_write_text
from runners.slurm import executor

log = logging.getLogger("harness")


def tune(spec_file: str | Path, overrides: list[str], workers: int = 1) -> int:
    """Run (or resume) a study; 0 when it has all its complete trials (or its worker jobs are submitted)."""
    if workers < 1:
        raise ConfigError(f"--workers {workers}: at least one worker is needed")
    t = load_tune(spec_file, overrides)  # every problem reported before anything starts
    t.folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(t.folder / "tune.yaml", yaml.safe_dump(resolved(t), sort_keys=False))
    if t.config.executor == "slurm":
        submit(t, workers)
        return 0
    if workers == 1:
        work(t)
    else:
        ctx = multiprocessing.get_context("spawn")
        procs = [ctx.Process(target=_local_worker, args=(str(t.file), t.cli, i), name=f"tune-worker-{i}")
                 for i in range(workers)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
    return summarize(t)


def command(args) -> int:
    """`harness tune`."""
    return tune(args.spec, args.overrides, workers=args.workers)


def summarize(t: Tune) -> int:
    """Write the report and print the best point; 0 when the study is complete."""
    study = open_study(t)
    files = write_report(study, t)
    complete = completed(study.get_trials(deepcopy=False))
    print(f"study {t.name}: {complete}/{t.budget} complete trials; {', '.join(str(f) for f in files.values())}")
    if complete:
        print(f"best {t.spec.objective} = {study.best_value:.6g}: {assignments(study.best_trial.params)}")
    return 0 if complete >= t.budget else 1


def _local_worker(spec_file: str, overrides: list[str], index: int) -> None:
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s [worker {index}] %(message)s", datefmt="%H:%M:%S")
    work(load_tune(spec_file, overrides), index)


class TuneWorker:
    """A SLURM worker job: the same loop as a local worker, on the study's shared storage."""

    def __init__(self, spec_file: str, overrides: list[str], index: int):
        self.spec_file, self.overrides, self.index = spec_file, overrides, index

    def __call__(self) -> int:
        t = load_tune(self.spec_file, self.overrides)
        done = work(t, self.index)
        write_report(open_study(t), t)
        return done


def submit(t: Tune, workers: int) -> list[str]:
    """Submit `workers` worker jobs; their ids go to slurm_jobs.json in the study folder."""
    ex = executor(t.folder / "slurm", t.config.slurm, f"{t.name}-tune")
    spec_file = str(Path(t.file).resolve())
    jobs = [ex.submit(TuneWorker(spec_file, t.cli, i)) for i in range(workers)]
    atomic_write_json(t.folder / "slurm_jobs.json", {j.job_id: f"tune worker {i}" for i, j in enumerate(jobs)})
    log.info("submitted %d tuning worker jobs (%s); the study: %s", len(jobs), ", ".join(j.job_id for j in jobs),
             t.folder)
    return [j.job_id for j in jobs]
