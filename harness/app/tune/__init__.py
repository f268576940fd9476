"""`harness tune`: optuna searches over run-config keys, resumable and parallel.

    spec.py        the tuning spec (base config, fixed overrides, search space, objective, sampler), validated at once
    objectives.py  what a trial measures: a run's validation metric, or a cheap evaluation registered by name
    study.py       the optuna storage in the study folder and the worker loop (claims, liveness, retries)
    report.py      best.yaml, trials.csv and optuna's plots
    launch.py      local worker processes or SLURM worker jobs, then the report

A trial is a normal run config (base + set + command line + the trial's parameters), so a trial that
trains runs through `harness.loop.evolve.run` into a deterministic run folder and shares cached stages
with every sweep; running the same command again resumes the study.
"""
