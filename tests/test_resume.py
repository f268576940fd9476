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
from harness.io import read_jsonl
from harness.loop.evolve import run
from harness.loop.rundir import RunDir, run_path
from harness.rollout import sharded as sharded_rollout
from harness.train import checkpoint


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


def _interrupted_run_equals_straight(tiny_config, monkeypatch, name: str, opts: list[str], patch) -> Path:
    """Run `opts` straight, and again with `patch` (module, attribute, replacement) making it stop once; then
    resume the stopped run and check it ends exactly like the straight one. Returns the resumed run's folder."""
    straight, cut = tiny_config(f"name={name}-straight", *opts), tiny_config(f"name={name}-cut", *opts)
    label = f"{straight.method.kind} seed 0"
    run(straight)
    with monkeypatch.context() as m:
        m.setattr(*patch)
        with pytest.raises(KeyboardInterrupt):
            run(cut)
    a, b = run_path(straight, label), run_path(cut, label)
    stopped = checkpoint.load_state(b / "checkpoint")
    run(cut)
    assert _without_timing(read_jsonl(a / "metrics.jsonl")) == _without_timing(read_jsonl(b / "metrics.jsonl"))
    wa = load_file(a / "checkpoint" / "model" / "model.safetensors")
    wb = load_file(b / "checkpoint" / "model" / "model.safetensors")
    assert all((wa[k] == wb[k]).all() for k in wa)
    assert json.loads((a / "eval.json").read_text()) == json.loads((b / "eval.json").read_text())
    assert not (b / "rollouts").exists()
    return stopped


def test_stopped_inside_generate_resumes_from_its_rollout_batches(tiny_config, monkeypatch):
    """Rollout batches of 2 prompts (4 per iteration): stopped after 2 batches of iteration 2, the resumed run
    goes on from them and ends like the straight run."""
    real_write, kept = sharded_rollout._write, []

    def stops_in_iteration_2(store, mine, pending):
        real_write(store, mine, pending)
        if "iteration-2" in str(store) and len(list(store.iterdir())) == 2:
            kept.extend(sorted(p.name for p in store.iterdir()))
            raise KeyboardInterrupt  # as a SLURM time limit would, mid-Generate

    stopped = _interrupted_run_equals_straight(
        tiny_config, monkeypatch, "in-generate", ["method.kind=continuous", "rollout.batch_sequences=8"],
        (sharded_rollout, "_write", stops_in_iteration_2))
    assert stopped["iteration"] == 1 and kept == ["batch-000000.json", "batch-000001.json"]


def test_stopped_inside_improve_resumes_from_its_step_checkpoint(tiny_config, monkeypatch):
    """checkpoint.every_steps=1, SFT on the 8 given answers of each iteration at batch 2 (4 steps): stopped right
    after step 1 of iteration 2 was checkpointed, the resumed run does steps 2-4 and ends like the straight run."""
    real_save = checkpoint.save

    def stops_after_a_step(run_dir, *args, **kwargs):
        real_save(run_dir, *args, **kwargs)
        if args[-1].get("improve") and args[-1]["iteration"] == 1:
            raise KeyboardInterrupt

    stopped = _interrupted_run_equals_straight(
        tiny_config, monkeypatch, "in-improve", ["method.kind=sft", "method.optim.batch_size=2",
                                                 "checkpoint.every_steps=1"],
        (checkpoint, "save", stops_after_a_step))
    assert stopped["iteration"] == 1 and stopped["improve"]["step"] == 1
