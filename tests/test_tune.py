"""`harness tune`: specs validated at once; the paper's alpha search on the tiny world; a killed study resumes
without re-running finished trials; two worker processes on one grid never evaluate a point twice."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter

import optuna
import pytest
from optuna.trial import TrialState

from harness.app.tune.spec import load_tune
from harness.configio import ConfigError, load_yaml

from conftest import TINY

PRM_TINY = ["reward_model.kind=prm", "prm.questions=24", "prm.responses=16", "prm.completions=2", "prm.epochs=2",
            "prm.policy_epochs=1", "prm.verifier_samples=4", "prm.holdout=0.25"]
ALPHAS = [round(0.1 * i, 1) for i in range(11)]


@pytest.fixture(scope="module")
def prm_results(tiny_results):
    """The session's tiny results folder with the tiny PRM stage built (shared by the tests below)."""
    from harness.config import load_config
    from harness.stages.graph import prepare

    prepare(load_config(None, TINY + PRM_TINY + [f"results_dir={tiny_results}"]))
    return tiny_results


def _events(folder):
    return [json.loads(line) for line in (folder / "evaluations.jsonl").read_text().splitlines()]


def _done_points(folder):
    return Counter(e["params"]["select.alpha"] for e in _events(folder) if e["event"] == "done")


def test_shipped_tuning_specs_load():
    import glob

    specs = [p for p in glob.glob("ablations/*.yaml") if "space" in load_yaml(p)]
    assert "ablations/prm_threshold.yaml" in specs
    for path in specs:
        assert load_tune(path).budget >= 1
    t = load_tune("ablations/prm_threshold.yaml")
    assert t.grid == {"select.alpha": ALPHAS} and t.budget == 11
    assert t.spec.sampler.kind == "grid" and t.spec.objective == "selection.f1" and t.spec.direction == "maximize"
    cfg = t.trial_config({"select.alpha": 0.3})
    assert (cfg.select.operator, cfg.select.alpha, cfg.reward_model.kind, cfg.name) == ("threshold", 0.3, "prm",
                                                                                       "prm_threshold")


def test_spec_problems_are_reported_at_once_with_file_and_key(tmp_path, capsys):
    from harness.cli import main

    spec = tmp_path / "bad.yaml"
    spec.write_text(textwrap.dedent("""
        base: nope.yaml
        set: {select.operatr: threshold}
        space:
          select.alpa: {type: float, low: 0.0, high: 1.0, step: 0.1}
          select.k: {type: int, low: 1, high: 3.5}
          method.kind: {type: categorical, choices: [sft, contnuous]}
          select.alpha: {type: float, low: 0.0, high: 1.0}
        objective: eval.final.test_id.accuracy
        sampler: {kind: grid}
        trials: 0
    """))
    with pytest.raises(ConfigError) as err:
        load_tune(spec)
    text = str(err.value)
    for expected in ["space.select.k.high: must be an integer, got 3.5", "trials: 0 is out of range",
                     "base: file not found: nope.yaml", "select.operatr: unknown key; did you mean 'select.operator'?",
                     "space.select.alpa: select.alpa: unknown key; did you mean 'select.alpha'?",
                     "space.method.kind: method.kind: Unknown training method 'contnuous'. Did you mean 'continuous'?",
                     "objective: 'eval.final.test_id.accuracy' is measured on a test split"]:
        assert expected in text, expected
    assert str(spec) in text
    # fixing the spec-level problems leaves the grid's need for a float step; test objectives need allow_test
    ok = tmp_path / "ok.yaml"
    ok.write_text("space: {select.alpha: {type: float, low: 0.0, high: 1.0}}\nobjective: eval.final.test_id.accuracy\n"
                  "sampler: {kind: grid}\n")
    with pytest.raises(ConfigError, match="space.select.alpha.step: the grid sampler needs a step"):
        load_tune(ok, ["allow_test=true"])
    assert load_tune(ok, ["allow_test=true", "sampler.kind=tpe", "trials=3"]).budget == 3
    assert main(["tune", str(spec), f"results_dir={tmp_path}/r"]) == 2  # the CLI: exit 2, nothing created
    assert "invalid tuning spec" in capsys.readouterr().err and not (tmp_path / "r").exists()


def test_selection_f1_prefers_the_threshold_that_separates_good_from_lucky_responses():
    """The cheap proxy neither keeps everything (alpha=0) nor nothing (alpha=1) when scores are informative,
    and keeps everything when they are not."""
    from harness.config import SelectConfig
    from harness.app.tune.objectives import selection_metrics

    def queries(good, bad, other):  # per query: one response reasoning right, two lucky ones; min step score
        return [{"responses": [f"g{i}", f"b{i}", f"c{i}"], "good": [True, False, False],
                 "steps": [[good, 0.99], [bad, 0.99], [other, 0.99]]} for i in range(5)]

    def f1(qs, alpha):
        return selection_metrics(qs, SelectConfig(operator="threshold", alpha=alpha), "min", 0)["f1"]

    informative = {a: f1(queries(0.75, 0.35, 0.1), a) for a in ALPHAS}
    assert max(informative, key=informative.get) == 0.4 and informative[0.4] == 1.0
    assert informative[0.0] == 0.5 and informative[1.0] == 0.0
    useless = {a: f1(queries(0.5, 0.5, 0.5), a) for a in ALPHAS}
    assert max(useless, key=useless.get) == 0.0  # nothing to separate: keep everything (the `all` operator)
    unknown = [{"responses": ["a"], "good": [None], "steps": [[0.5]]}]  # real data: no gold steps
    assert selection_metrics(unknown, SelectConfig(operator="threshold"), "min", 0)["f1"] is None


def test_alpha_search_writes_best_trials_and_plots(prm_results):
    """The paper's alpha enumeration with the cheap objective: pi_0's validation samples once, 11 trials."""
    from harness.app.tune.launch import tune

    cli = TINY + PRM_TINY + [f"results_dir={prm_results}"]
    assert tune("ablations/prm_threshold.yaml", cli) == 0
    folder = prm_results / "prm_threshold"
    study = optuna.load_study(study_name="prm_threshold", storage=f"sqlite:///{folder / 'study.db'}")
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert sorted(t.params["select.alpha"] for t in complete) == ALPHAS
    assert all(0 <= t.value <= 1 and t.user_attrs["precision"] is not None for t in complete)
    assert len(list(folder.glob("val_samples-*.json"))) == 1  # sampled and scored once, re-used by every trial

    best = load_yaml(folder / "best.yaml")
    assert best == {"reward_model": {"kind": "prm"}, "select": {"operator": "threshold",
                                                                "alpha": study.best_params["select.alpha"]}}
    assert "# harness run" in (folder / "best.yaml").read_text()
    import pandas as pd

    trials = pd.read_csv(folder / "trials.csv")
    assert len(trials) == 11 and set(trials.state) == {"COMPLETE"}
    assert {"params_select.alpha", "user_attrs_f1", "user_attrs_kept", "user_attrs_coverage"} <= set(trials.columns)
    assert trials.sort_values("params_select.alpha").user_attrs_kept.is_monotonic_decreasing  # higher alpha keeps less
    for name in ("history", "slice"):
        png = folder / "plots" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000

    t0 = time.time()  # a finished study: the same command again evaluates nothing
    assert tune("ablations/prm_threshold.yaml", cli) == 0
    assert len(study.get_trials()) == 11 and len([e for e in _events(folder) if e["event"] == "start"]) == 11
    assert time.time() - t0 < 30


def _spec(tmp_path, name, objective, alphas_step, extra=""):
    spec = tmp_path / f"{name}.yaml"
    spec.write_text(textwrap.dedent(f"""
        name: {name}
        space:
          select.alpha: {{type: float, low: 0.0, high: 1.0, step: {alphas_step}}}
        objective: {objective}
        sampler: {{kind: grid}}
    """) + extra)
    return spec


def test_killed_study_resumes_without_rerunning_finished_trials(tmp_path, tiny_results):
    """kill -9 of `harness tune` during its second trial (a full run per trial); the same command then
    finishes the study: the finished trial is not evaluated again, the interrupted one re-runs in its own
    (deterministic) run folder."""
    spec = _spec(tmp_path, "tune-kill", "val_greedy_accuracy", 1.0, extra=textwrap.dedent("""
        set: {reward_model.kind: oracle, select.operator: threshold, method.interval: 1.0, method.passes: 0.25}
    """))
    folder = tiny_results / "tune-kill"
    storage = f"sqlite:///{folder / 'study.db'}"
    cmd = [sys.executable, "-m", "harness.cli", "tune", str(spec), *TINY, f"results_dir={tiny_results}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, finished = time.time() + 300, []
    while time.time() < deadline and proc.poll() is None and not finished:
        try:
            finished = optuna.load_study(study_name="tune-kill", storage=storage).get_trials(
                states=(TrialState.COMPLETE,))
        except Exception:  # no study yet
            pass
        if finished:
            os.kill(proc.pid, signal.SIGKILL)
        time.sleep(0.1)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the study ended before it could be killed"
    assert len(finished) == 1
    (done,) = finished
    stamp = os.stat(f"{done.user_attrs['run']}/eval.json").st_mtime_ns
    events_before = len(_events(folder))

    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "2/2 complete trials" in out.stdout
    after = _events(folder)[events_before:]
    assert [e["params"]["select.alpha"] for e in after if e["event"] == "start"] == [1.0 - done.params["select.alpha"]]
    assert _done_points(folder) == {0.0: 1, 1.0: 1}  # each point evaluated to the end exactly once
    assert os.stat(f"{done.user_attrs['run']}/eval.json").st_mtime_ns == stamp  # its run was not touched
    trials = optuna.load_study(study_name="tune-kill", storage=storage).get_trials()
    states = Counter(t.state for t in trials)  # FAIL: the killed trial (unless the kill fell between two trials)
    assert states[TrialState.COMPLETE] == 2 and states[TrialState.FAIL] <= 1 and sum(states.values()) <= 3
    assert all(t.user_attrs.get("interrupted") for t in trials if t.state == TrialState.FAIL)
    assert len(list(folder.glob("*/status.json"))) == 2  # the re-run trial resumed its run folder
    assert all(json.loads(p.read_text())["state"] == "done" for p in folder.glob("*/status.json"))


SLOW_WORKER = """
import os, sys, time
from pathlib import Path
import harness.app.tune.objectives as objectives

barrier, real = Path(sys.argv[1]), objectives.measure


def measure(*args, **kwargs):  # the real objective, made slow enough for the two workers to overlap
    if not (barrier / str(os.getpid())).exists():
        (barrier / str(os.getpid())).touch()
        deadline = time.time() + 120
        while len(list(barrier.iterdir())) < 2 and time.time() < deadline:
            time.sleep(0.05)  # the first evaluation of each worker waits until both workers hold a trial
    time.sleep(0.2)
    return real(*args, **kwargs)


objectives.measure = measure
from harness.cli import main
sys.exit(main(sys.argv[2:]))
"""


def test_two_workers_never_evaluate_a_grid_point_twice(tmp_path, prm_results):
    """Two independent `harness tune` processes on one journal storage share the 11-point grid."""
    spec = _spec(tmp_path, "tune-parallel", "selection.f1", 0.1,
                 extra="set: {reward_model.kind: prm, select.operator: threshold}\nstorage: journal\n")
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    cmd = [sys.executable, "-c", SLOW_WORKER, str(barrier), "tune", str(spec), *TINY, *PRM_TINY,
           f"results_dir={prm_results}"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs[0][1][-2000:] + outs[1][1][-2000:]
    folder = prm_results / "tune-parallel"
    assert _done_points(folder) == {a: 1 for a in ALPHAS}  # every grid point evaluated exactly once
    workers = Counter(e["worker"] for e in _events(folder) if e["event"] == "done")
    assert len(workers) == 2 and sum(workers.values()) == 11  # both took part
    from optuna.storages.journal import JournalFileBackend

    storage = optuna.storages.JournalStorage(JournalFileBackend(str(folder / "journal.log")))
    trials = optuna.load_study(study_name="tune-parallel", storage=storage).get_trials()
    assert Counter(t.state for t in trials) == {TrialState.COMPLETE: 11}
    assert (folder / "best.yaml").exists() and not (folder / "study.db").exists()


def test_slurm_worker_jobs_share_a_journal_study(tmp_path, prm_results, monkeypatch):
    """executor=slurm submits worker jobs (submit and exit) on the journal storage; each point once."""
    from test_slurm_cluster import _REASON, _slurm_env

    if _REASON is not None:
        pytest.skip(_REASON)
    from runners.sacct import ACTIVE, slurm_state
    from harness.app.tune.launch import tune

    monkeypatch.setenv("SLURM_CONF", _slurm_env().get("SLURM_CONF", ""))
    cli = TINY + PRM_TINY + [f"results_dir={prm_results}", "name=tune-slurm", "executor=slurm",
                             "slurm.cpus_per_task=1", "slurm.mem_gb=2", "model.threads=1"]
    assert tune("ablations/prm_threshold.yaml", cli, workers=2) == 0
    folder = prm_results / "tune-slurm"
    jobs = json.loads((folder / "slurm_jobs.json").read_text())
    assert len(jobs) == 2
    deadline = time.time() + 300
    while time.time() < deadline and any(slurm_state(j) in ACTIVE or slurm_state(j) is None for j in jobs):
        time.sleep(1)
    assert {slurm_state(j) for j in jobs} == {"COMPLETED"}
    assert _done_points(folder) == {a: 1 for a in ALPHAS}
    assert (folder / "journal.log").exists() and (folder / "best.yaml").exists()


def test_a_trial_killed_before_its_point_was_chosen_is_not_queued_again():
    """A kill inside optuna's `ask` leaves a trial without parameters; the next worker fails it and re-queues the
    points of interrupted trials. There is no point to re-queue (the grid sampler of a study refuses an empty one);
    the sampler proposes it again."""
    from datetime import datetime

    from harness.app.tune.study import requeue

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()  # what the killed worker left: created, no parameter suggested yet
    study.tell(trial.number, state=TrialState.FAIL)
    interrupted = study.ask({"x": optuna.distributions.CategoricalDistribution([0.0, 1.0])})
    study.tell(interrupted.number, state=TrialState.FAIL)
    requeue(study, datetime.now())
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert [t.system_attrs["fixed_params"] for t in waiting] == [interrupted.params]  # the chosen point only
