"""`harness sweep` with the local executor: shared stages once, resumable, identical after a kill."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import textwrap

import yaml

from harness.app.status import format_rows, rows
from harness.app.sweep import sweep

from conftest import TINY


def _grid(tmp_path, results):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump({}))
    path = tmp_path / "grid.yaml"
    path.write_text(textwrap.dedent("""
        name: mini
        base: base.yaml
        seeds: [0]
        runs:
          - label: SFT
            set: {method.kind: sft}
          - label: "Continuous {method.interval:.4g}"
            set: {method.kind: continuous}
            grid: {method.interval: [0.5, 0.25]}
    """))
    return path, TINY + [f"results_dir={results}"]


def _results(folder):
    out = {}
    for r in yaml.safe_load((folder / "sweep.yaml").read_text())["runs"]:
        run = folder / os.path.basename(r["path"])
        out[r["label"]] = json.loads((run / "eval.json").read_text())["final"]
    return out


def test_sweep_runs_everything_then_reruns_nothing(tmp_path, tiny_results):
    grid, cli = _grid(tmp_path, tiny_results)
    assert sweep(grid, cli + ["name=mini-a"]) == 0
    folder = tiny_results / "mini-a"
    assert {r["state"] for r in rows(folder)} == {"done"}
    stamps = {p: p.stat().st_mtime_ns for p in folder.glob("*/eval.json")}
    t0 = time.time()
    assert sweep(grid, cli + ["name=mini-a"]) == 0
    assert time.time() - t0 < 10
    assert stamps == {p: p.stat().st_mtime_ns for p in folder.glob("*/eval.json")}
    assert "3 done" in format_rows(rows(folder))


def test_killed_sweep_resumes_to_identical_results(tmp_path, tiny_results):
    grid, cli = _grid(tmp_path, tiny_results)
    sweep(grid, cli + ["name=mini-straight"])
    cmd = [sys.executable, "-m", "harness.cli", "sweep", str(grid), *cli, "name=mini-killed"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    folder = tiny_results / "mini-killed"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:  # kill inside the second run
        if len(list(folder.glob("*/checkpoint/state.json"))) >= 2:
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert "interrupted" in {r["state"] for r in rows(folder)}
    assert sweep(grid, cli + ["name=mini-killed"]) == 0
    assert _results(folder) == _results(tiny_results / "mini-straight")


def test_runs_at_once_in_processes_of_their_own_end_identical_to_runs_one_after_the_other(tmp_path, tiny_results):
    grid, cli = _grid(tmp_path, tiny_results)
    sweep(grid, cli + ["name=mini-straight"])  # done already by the test above, or runs now
    assert sweep(grid, cli + ["name=mini-jobs", "local.jobs=2"]) == 0
    assert _results(tiny_results / "mini-jobs") == _results(tiny_results / "mini-straight")
    runs = [p for p in (tiny_results / "mini-jobs").iterdir() if p.is_dir()]
    assert len(runs) == 3 and all((p / "console.log").stat().st_size for p in runs)  # the workers' terminal output


def test_manifest_keeps_runs_of_earlier_invocations(tmp_path, tiny_results):
    grid, cli = _grid(tmp_path, tiny_results)
    sweep(grid, cli + ["name=mini-a"])  # done already by the first test, or runs now
    sweep(grid, cli + ["name=mini-a", "seeds=[1]"])
    listed = yaml.safe_load((tiny_results / "mini-a" / "sweep.yaml").read_text())["runs"]
    assert {r["seed"] for r in listed} == {0, 1}


def test_stage_keys_do_not_depend_on_how_results_dir_is_spelled(tmp_path, monkeypatch):
    from harness.config import load_config
    from harness.stages.graph import stages

    monkeypatch.chdir(tmp_path)
    relative = [s.path.name for s in stages(load_config(None, ["results_dir=results", "reward_model.kind=prm"]))]
    absolute = [s.path.name for s in stages(load_config(None, [f"results_dir={tmp_path / 'results'}",
                                                                "reward_model.kind=prm"]))]
    assert relative == absolute and len(relative) == 4


def test_local_jobs_is_set_once_per_sweep(tmp_path):
    import pytest

    from harness.app.sweep import load_sweep
    from harness.configio import ConfigError

    (tmp_path / "base.yaml").write_text(yaml.safe_dump({}))
    grid = tmp_path / "grid.yaml"
    grid.write_text("name: g\nbase: base.yaml\nruns:\n  - label: a\n    set: {local.jobs: 2}\n  - label: b\n")
    with pytest.raises(ConfigError, match=r"local.jobs: runs disagree \(\[1, 2\]\)"):
        load_sweep(grid, [])
    assert load_sweep(grid, ["local.jobs=2"]).runs[0].config.local.jobs == 2
