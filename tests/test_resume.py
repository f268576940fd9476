"""kill -9 in the middle of a run, run the same command again: it resumes and ends where an
uninterrupted run ends (same metrics, same weights, same eval.json)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from safetensors.torch import load_file

from harness.config import to_dict
from harness.evolve import run
from harness.io import read_jsonl
from harness.rundir import RunDir, run_path


def _without_timing(rows):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def _kill_after_first_checkpoint(cfg_file: Path, run_dir: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", str(cfg_file)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if (run_dir / "checkpoint" / "state.json").exists():
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed mid-way"


def test_kill_and_resume_equals_uninterrupted(tiny_config, tmp_path):
    straight = tiny_config("name=straight", "method.kind=continuous")
    killed = tiny_config("name=killed", "method.kind=continuous")
    cfg_file = tmp_path / "killed.yaml"
    cfg_file.write_text(yaml.safe_dump(to_dict(killed)))
    killed_dir = run_path(killed, "continuous seed 0")

    _kill_after_first_checkpoint(cfg_file, killed_dir)
    assert RunDir(killed_dir).status()["state"] == "running"  # what a kill leaves behind
    done_iterations = len(read_jsonl(killed_dir / "metrics.jsonl"))
    assert 1 <= done_iterations < 4

    run(killed)
    run(straight)
    a, b = run_path(straight, "continuous seed 0"), killed_dir
    rows_a, rows_b = read_jsonl(a / "metrics.jsonl"), read_jsonl(b / "metrics.jsonl")
    assert [r["iteration"] for r in rows_b] == [1, 2, 3, 4]
    assert _without_timing(rows_a) == _without_timing(rows_b)
    assert sum(r["sft_steps"] for r in rows_a) > 0  # the policy actually learned something to compare
    wa = load_file(a / "checkpoint" / "model" / "model.safetensors")
    wb = load_file(b / "checkpoint" / "model" / "model.safetensors")
    assert all((wa[k] == wb[k]).all() for k in wa)
    assert json.loads((a / "eval.json").read_text()) == json.loads((b / "eval.json").read_text())
    assert RunDir(b).status()["state"] == "done"


def test_finished_run_is_skipped(tiny_config):
    cfg = tiny_config("name=skip", "method.kind=sft")
    path = run(cfg)
    before = (path / "eval.json").stat().st_mtime_ns
    run(cfg)
    assert (path / "eval.json").stat().st_mtime_ns == before


def test_interrupted_inside_generate_and_inside_improve_resumes_to_the_same_results(tiny_config, monkeypatch):
    """checkpoint.every_steps=1 and rollout batches of 2 prompts: a run stopped after two rollout batches of
    iteration 2 and again after an Improve step of iteration 3 goes on from there, to the uninterrupted results."""
    from harness import checkpoint, sharded_rollout

    opts = ["method.kind=continuous", "method.optim.batch_size=2", "rollout.batch_sequences=8",
            "checkpoint.every_steps=1"]
    straight, cut = tiny_config("name=inside-straight", *opts), tiny_config("name=inside-cut", *opts)
    run(straight)
    cut_dir = run_path(cut, "continuous seed 0")
    real_write, real_save = sharded_rollout._write, checkpoint.save

    def dies_in_generate(store, mine, pending):
        real_write(store, mine, pending)
        if "iteration-2" in str(store) and len(list(store.iterdir())) == 2:
            raise KeyboardInterrupt  # as a SLURM time limit would, mid-Generate

    def dies_in_improve(run_dir, *args, **kwargs):
        real_save(run_dir, *args, **kwargs)
        if args[-1].get("improve") and args[-1]["iteration"] == 2:
            raise KeyboardInterrupt  # mid-Improve, right after its first step's checkpoint

    monkeypatch.setattr(sharded_rollout, "_write", dies_in_generate)
    with pytest.raises(KeyboardInterrupt):
        run(cut)
    assert len(list((cut_dir / "rollouts" / "iteration-2" / "generate-T1").iterdir())) == 2
    monkeypatch.setattr(sharded_rollout, "_write", real_write)
    monkeypatch.setattr(checkpoint, "save", dies_in_improve)
    with pytest.raises(KeyboardInterrupt):
        run(cut)
    assert checkpoint.load_state(cut_dir / "checkpoint")["improve"]["step"] == 1
    monkeypatch.setattr(checkpoint, "save", real_save)
    run(cut)

    a = run_path(straight, "continuous seed 0")
    assert _without_timing(read_jsonl(a / "metrics.jsonl")) == _without_timing(read_jsonl(cut_dir / "metrics.jsonl"))
    wa = load_file(a / "checkpoint" / "model" / "model.safetensors")
    wb = load_file(cut_dir / "checkpoint" / "model" / "model.safetensors")
    assert all((wa[k] == wb[k]).all() for k in wa)
    assert json.loads((a / "eval.json").read_text()) == json.loads((cut_dir / "eval.json").read_text())
    assert not (cut_dir / "rollouts").exists()
