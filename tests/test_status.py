"""`harness status` reads a sweep folder, the folder of a plain `harness run` name, or one run folder."""
from __future__ import annotations

import pytest
import yaml

from harness.app.status import rows
from harness.cli import main
from harness.config import load_config
from harness.configio import ConfigError
from harness.loop.rundir import RunDir, run_path


def _run(results, label: str, seed: int, state: str, **status) -> RunDir:
    cfg = load_config(None, [f"results_dir={results}", f"seed={seed}"])
    rd = RunDir(run_path(cfg, label))
    rd.init(cfg, label)
    rd.set_status(state, **status)
    return rd


def test_status_of_a_run_name_folder_and_of_one_run(tmp_path, capsys):
    done = _run(tmp_path, "continuous seed 0", 0, "done", iteration=8, iterations=8)
    failed = _run(tmp_path, "continuous seed 1", 1, "failed", error="ValueError: boom")
    (tmp_path / "base" / "not-a-run").mkdir()  # a folder without config.yaml is no run
    got = {(r["label"], r["seed"], r["state"], r["iteration"]) for r in rows(tmp_path / "base")}
    assert got == {("continuous seed 0", 0, "done", "8/8"), ("continuous seed 1", 1, "failed", "0/?")}
    assert [r["log"] for r in rows(failed.path)] == [str(failed.log_path)]
    assert main(["status", str(done.path)]) == 0
    assert "continuous seed 0" in capsys.readouterr().out


def test_status_of_a_sweep_lists_its_manifest_in_order(tmp_path):
    runs = [_run(tmp_path, f"r{i}", i, "pending") for i in (2, 1)]
    (tmp_path / "base" / "sweep.yaml").write_text(yaml.safe_dump(
        {"runs": [{"label": f"r{i}", "seed": i, "path": str(rd.path)} for i, rd in zip((2, 1), runs)]}))
    assert [(r["label"], r["state"]) for r in rows(tmp_path / "base")] == [("r2", "pending"), ("r1", "pending")]


def test_a_folder_without_runs_is_refused_with_what_to_give(tmp_path):
    with pytest.raises(ConfigError, match="no runs here"):
        rows(tmp_path)
    assert main(["status", str(tmp_path)]) == 2
