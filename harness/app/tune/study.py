"""The study: optuna storage in the study folder, and a worker loop that many processes may run at once.

Storage is `results/<name>/study.db` (SQLite through optuna's RDBStorage) for local work, or
`results/<name>/journal.log` (optuna's JournalStorage on a JournalFileBackend, safe on the shared file
systems of SLURM clusters, where SQLite is not) for worker jobs.

Every worker claims its next trial under one file lock in the study folder. Holding it, the worker
  1. fails RUNNING trials whose worker is gone (a dead process on this host, or a SLURM job that is no
     longer active) - the trace of a kill;
  2. re-queues the point of every failed trial (same parameters, so a run trial resumes its run folder),
     except points that failed with an error since this worker started: those wait for the next
     invocation instead of failing in a loop;
  3. stops when the study has its complete trials (or, for the grid, nothing is left that is not done,
     running or queued);
  4. asks the sampler (optuna's GridSampler walks the grid; queued retries come first), refuses a point
     that another trial already holds (complete: the value is copied, not re-evaluated; running: the new
     trial is pruned) and records itself as the trial's worker;
and evaluates with the lock released. So no point is evaluated twice whatever the number of workers,
and running the same command again resumes: complete trials are kept, interrupted ones re-run.
"""
from __future__ import annotations

import itertools
import logging
import os
import socket
import time
from datetime import datetime
from pathlib import Path
from typing import Callable

import optuna
from optuna.trial import FrozenTrial, TrialState

from harness.app.tune.objectives import finite, measure
from harness.app.tune.spec import Tune, trial_label
from harness.io import append_jsonl
from harness.loop.liveness import pid_alive
from harness.stages.cache import file_lock
from runners.sacct import ACTIVE, slurm_state

log = logging.getLogger("harness")
MAX_DUPLICATES = 50  # consecutive proposals of held points before a worker gives up (a tiny tpe space)


def storage(tune: Tune):
    """The study's storage object (see the module doc for which one)."""
    folder, kind = tune.folder, tune.spec.storage
    if kind == "auto":
        existing = [k for k, f in (("journal", "journal.log"), ("sqlite", "study.db")) if (folder / f).exists()]
        kind = existing[0] if existing else ("journal" if tune.config.executor == "slurm" else "sqlite")
    if kind == "journal":
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(str(folder / "journal.log")))
    url = f"sqlite:///{(folder / 'study.db').resolve()}" if kind == "sqlite" else kind
    # a generous busy timeout: several workers write to one SQLite file
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else None
    return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)


class _GridSampler(optuna.samplers.GridSampler):
    """optuna's GridSampler without its `study.stop()` after each trial: that works only inside
    `study.optimize`, and here the worker loop decides when the study is done."""

    def after_trial(self, study, trial, state, values) -> None:
        pass


def sampler(tune: Tune, worker: int, trials: int) -> optuna.samplers.BaseSampler:
    """GridSampler with the spec's seed in every worker (grid ids must mean the same points everywhere);
    TPE seeded per worker and per resume, so workers and invocations draw different points, and a fresh
    single-worker study is reproducible."""
    s = tune.spec.sampler
    if s.kind == "grid":
        return _GridSampler(tune.grid, seed=s.seed)
    return optuna.samplers.TPESampler(seed=s.seed + 1000 * worker + trials)


def open_study(tune: Tune, worker: int = 0) -> optuna.Study:
    """Create or load the study (under the lock: concurrent first creations race on SQLite tables)."""
    tune.folder.mkdir(parents=True, exist_ok=True)
    with file_lock(lock_path(tune)):
        study = optuna.create_study(study_name=tune.name, storage=storage(tune), direction=tune.spec.direction,
                                    load_if_exists=True)
        study.sampler = sampler(tune, worker, len(study.get_trials(deepcopy=False)))
        return study


def lock_path(tune: Tune) -> Path:
    return tune.folder / ".study.lock"


# --------------------------------------------------------------------------- workers and liveness

def worker_id() -> str:
    """host:pid, plus :job inside a SLURM job."""
    job = os.environ.get("SLURM_JOB_ID")
    return f"{socket.gethostname()}:{os.getpid()}" + (f":{job}" if job else "")


def worker_alive(worker: str | None) -> bool:
    """Whether the worker holding a RUNNING trial may still be working on it.

    A process on this host is checked directly; a SLURM job through accounting. A process on another
    host outside SLURM cannot be checked and counts as alive (its trial is failed by the next
    invocation on that host, or use SLURM workers)."""
    if not worker:
        return False  # killed between asking and claiming: impossible for a live worker (both under the lock)
    host, pid, *job = worker.split(":")
    if host == socket.gethostname() and not job:
        return int(pid) != os.getpid() and pid_alive(int(pid))
    if job:
        state = slurm_state(job[0])
        if state is not None:
            return state in ACTIVE
        return host != socket.gethostname() or pid_alive(int(pid))
    return True


def _key(params: dict) -> tuple:
    return tuple(sorted(params.items()))


def fail_dead(study: optuna.Study) -> None:
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = t.user_attrs.get("worker")
        if not worker_alive(worker):
            optuna.Trial(study, t._trial_id).set_user_attr("interrupted", True)
            study.tell(t.number, state=TrialState.FAIL)
            log.info("trial %d %s: its worker %s is gone; marked failed", t.number, t.params, worker)


def requeue(study: optuna.Study, started: datetime) -> None:
    """Queue the parameters of failed points again (see the module doc for which)."""
    groups: dict[tuple, list[FrozenTrial]] = {}
    for t in study.get_trials(deepcopy=False):
        groups.setdefault(_key(t.params), []).append(t)
    for key, trials in groups.items():
        if not key:  # killed inside `ask`, before its point was chosen: nothing to resume (the sampler proposes it)
            continue
        if any(t.state in (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING) for t in trials):
            continue
        failed = [t for t in trials if t.state == TrialState.FAIL]
        if not failed or any("error" in t.user_attrs and t.datetime_complete and t.datetime_complete >= started
                             for t in failed):
            continue
        study.enqueue_trial(failed[-1].params, user_attrs={"retry_of": failed[-1].number})
        log.info("trial %d %s failed or was interrupted: queued again", failed[-1].number, failed[-1].params)


def completed(trials: list[FrozenTrial]) -> int:
    """Complete trials that were evaluated (a re-proposed point whose value was copied does not count)."""
    return sum(t.state == TrialState.COMPLETE and "duplicate_of" not in t.user_attrs for t in trials)


def wanted(study: optuna.Study, tune: Tune) -> bool:
    """Whether this worker should start another trial."""
    trials = study.get_trials(deepcopy=False)
    count = lambda *states: sum(t.state in states for t in trials)  # noqa: E731
    if completed(trials) + count(TrialState.RUNNING) >= tune.budget:
        return False
    if count(TrialState.WAITING) or tune.grid is None:
        return True
    held = {_key(t.params) for t in trials}
    return any(_key(p) not in held for p in grid_points(tune))


def grid_points(tune: Tune) -> list[dict]:
    keys = list(tune.grid)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(tune.grid[k] for k in keys))]


def claim(study: optuna.Study, tune: Tune, started: datetime) -> optuna.Trial | None:
    """The next trial for this worker, or None when the study needs no more (call under the lock)."""
    fail_dead(study)
    requeue(study, started)
    for _ in range(MAX_DUPLICATES):
        if not wanted(study, tune):
            return None
        trial = study.ask(tune.distributions())
        twin = next((t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING))
                     if t.number != trial.number and _key(t.params) == _key(trial.params)), None)
        if twin is None:
            trial.set_user_attr("worker", worker_id())
            return trial
        trial.set_user_attr("duplicate_of", twin.number)
        if twin.state == TrialState.COMPLETE:  # the sampler re-proposed a done point: its value, no evaluation
            study.tell(trial, twin.value)
        else:
            study.tell(trial, state=TrialState.PRUNED)
        log.info("trial %d %s: held by trial %d (%s); not evaluated", trial.number, trial.params, twin.number,
                 twin.state.name)
    log.warning("the sampler keeps proposing points other trials hold; this worker stops")
    return None


def evaluate(study: optuna.Study, trial: optuna.Trial, tune: Tune, objective: Callable) -> None:
    """Run the objective; the trial ends COMPLETE, or FAIL with its error (an interrupt re-raises)."""
    params, events = dict(trial.params), tune.folder / "evaluations.jsonl"
    note = {"trial": trial.number, "params": params, "worker": trial.user_attrs["worker"]}
    append_jsonl(events, [{**note, "event": "start", "time": time.time()}])
    log.info("trial %d: %s", trial.number, params)
    try:
        value, attrs = objective(tune, params)
        if not finite(value):
            raise ValueError(f"objective {tune.spec.objective} gave {value!r}")
    except Exception as exc:
        log.exception("trial %d %s failed", trial.number, params)
        trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:2000])
        study.tell(trial, state=TrialState.FAIL)
        append_jsonl(events, [{**note, "event": "fail", "time": time.time()}])
        return
    except BaseException:  # interrupted, not failed: the next invocation runs it again
        study.tell(trial, state=TrialState.FAIL)
        raise
    for k, v in attrs.items():
        trial.set_user_attr(k, v)
    study.tell(trial, value)
    append_jsonl(events, [{**note, "event": "done", "value": value, "time": time.time()}])
    log.info("trial %d %s: %s = %.4g", trial.number, params, tune.spec.objective, value)


def trial_objective(tune: Tune, params: dict) -> tuple[float, dict]:
    """The spec's objective for one parameter point: its run config through harness.app.tune.objectives."""

    return measure(tune.spec.objective, tune.trial_config(params), trial_label(params), tune.folder)


def work(tune: Tune, worker: int = 0, objective: Callable = trial_objective) -> int:
    """One worker (index `worker` of those started together): claim and evaluate trials until the study
    needs no more; returns how many it evaluated."""
    started = datetime.now()
    study = open_study(tune, worker)
    done = 0
    while True:
        with file_lock(lock_path(tune)):
            trial = claim(study, tune, started)
        if trial is None:
            return done
        evaluate(study, trial, tune, objective)
        done += 1
